package cgroups

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fixtures' names (testdata/README.md).
const (
	ctrA  = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
	ctrB  = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"
	ctrC  = "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3"
	ctrD  = "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4"
	ctrE  = "e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5"
	ctrF  = "f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6"
	podP1 = "6b2d1a4c-5e3f-4a7b-9c8d-0e1f2a3b4c5d"
	podP2 = "d4c3b2a1-0f9e-4d8c-b7a6-958473625140"

	pod1Path = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6b2d1a4c_5e3f_4a7b_9c8d_0e1f2a3b4c5d.slice"
	pod2Path = "/kubepods/besteffort/pod" + podP2
	jobPath  = "/system.slice/slurmstepd.scope/job_4242"
)

var (
	fixtureProc   = filepath.Join("testdata", "proc")
	fixtureCgroup = filepath.Join("testdata", "cgroup")
)

func TestIdentifyFixtureTree(t *testing.T) {
	for _, tc := range []struct {
		name string
		pid  int
		want Identity
		err  error
	}{
		{"systemd pod, container A", 101, Identity{NSpid: 1, Cgroup: Cgroup{
			Path: pod1Path + "/cri-containerd-" + ctrA + ".scope", Unified: true,
			Names: Names{
				PodUID: podP1, QOSClass: "burstable", PodPath: pod1Path,
				ContainerID: ctrA, ContainerRuntime: "containerd", ContainerPath: pod1Path + "/cri-containerd-" + ctrA + ".scope",
			},
		}}, nil},
		{"systemd pod, second process of A", 102, Identity{NSpid: 7, Cgroup: Cgroup{
			Path: pod1Path + "/cri-containerd-" + ctrA + ".scope", Unified: true,
			Names: Names{
				PodUID: podP1, QOSClass: "burstable", PodPath: pod1Path,
				ContainerID: ctrA, ContainerRuntime: "containerd", ContainerPath: pod1Path + "/cri-containerd-" + ctrA + ".scope",
			},
		}}, nil},
		{"systemd pod, container B", 103, Identity{NSpid: 1, Cgroup: Cgroup{
			Path: pod1Path + "/cri-containerd-" + ctrB + ".scope", Unified: true,
			Names: Names{
				PodUID: podP1, QOSClass: "burstable", PodPath: pod1Path,
				ContainerID: ctrB, ContainerRuntime: "containerd", ContainerPath: pod1Path + "/cri-containerd-" + ctrB + ".scope",
			},
		}}, nil},
		{"cgroupfs pod", 201, Identity{NSpid: 1, Cgroup: Cgroup{
			Path: pod2Path + "/" + ctrC, Unified: true,
			Names: Names{
				PodUID: podP2, QOSClass: "besteffort", PodPath: pod2Path,
				ContainerID: ctrC, ContainerPath: pod2Path + "/" + ctrC,
			},
		}}, nil},
		{"docker outside Kubernetes", 301, Identity{NSpid: 1, Cgroup: Cgroup{
			Path: "/system.slice/docker-" + ctrD + ".scope", Unified: true,
			Names: Names{ContainerID: ctrD, ContainerRuntime: "docker", ContainerPath: "/system.slice/docker-" + ctrD + ".scope"},
		}}, nil},
		{"Slurm v2 batch step", 401, Identity{Cgroup: Cgroup{
			Path: jobPath + "/step_batch/user/task_0", Unified: true,
			Names: Names{SlurmJobID: "4242", SlurmStep: "batch", SlurmJobPath: jobPath},
		}}, nil},
		{"Slurm v2 step 0", 402, Identity{Cgroup: Cgroup{
			Path: jobPath + "/step_0/user/task_0", Unified: true,
			Names: Names{SlurmJobID: "4242", SlurmStep: "0", SlurmJobPath: jobPath},
		}}, nil},
		{"Slurm v1 only: the cpu,cpuacct line", 403, Identity{Cgroup: Cgroup{
			Path: "/slurm/uid_1000/job_77/step_1/task_0", V1: true,
			Names: Names{SlurmJobID: "77", SlurmStep: "1", SlurmJobPath: "/slurm/uid_1000/job_77"},
		}}, nil},
		{"PID namespace, no container", 501, Identity{NSpid: 33, Cgroup: Cgroup{
			Path: "/user.slice/user-1000.slice/session-3.scope", Unified: true,
		}}, nil},
		{"three PID namespace levels: the innermost", 502, Identity{NSpid: 9, Cgroup: Cgroup{
			Path: "/system.slice/docker-" + ctrD + ".scope", Unified: true,
			Names: Names{ContainerID: ctrD, ContainerRuntime: "docker", ContainerPath: "/system.slice/docker-" + ctrD + ".scope"},
		}}, nil},
		{"hybrid, empty unified line: cpu,cpuacct before memory", 701, Identity{NSpid: 1, Cgroup: Cgroup{
			Path: "/docker/" + ctrE, V1: true,
			Names: Names{ContainerID: ctrE, ContainerRuntime: "docker", ContainerPath: "/docker/" + ctrE},
		}}, nil},
		{"hybrid, the unified line names it", 702, Identity{NSpid: 1, Cgroup: Cgroup{
			Path: "/system.slice/docker-" + ctrE + ".scope", Unified: true, V1: true,
			Names: Names{ContainerID: ctrE, ContainerRuntime: "docker", ContainerPath: "/system.slice/docker-" + ctrE + ".scope"},
		}}, nil},
		{"exited between the reads", 601, Identity{}, ErrNotFound},
		{"no such process", 999, Identity{}, ErrNotFound},
		{"pid 0", 0, Identity{}, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Identify(fixtureProc, tc.pid)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				assert.ErrorIs(t, err, fs.ErrNotExist, "the cause is kept")
				assert.Equal(t, tc.pid, got.PID)
				assert.Zero(t, got.NSpid)
				assert.Empty(t, got.Path)
				return
			}
			require.NoError(t, err)
			tc.want.PID = tc.pid
			tc.want.StartTime = uint64(100000 + tc.pid)
			assert.Equal(t, tc.want, got)
		})
	}
}

// The fixture process whose status and cgroup are gone still has its start
// time (stat was read).
func TestIdentifyKeepsWhatItRead(t *testing.T) {
	id, err := Identify(fixtureProc, 601)
	require.ErrorIs(t, err, ErrNotFound)
	assert.Equal(t, uint64(100601), id.StartTime)
	assert.Contains(t, err.Error(), filepath.Join("601", "status"), "the first file that failed")
}

// copyProc copies fixture processes into a temporary /proc.
func copyProc(t testing.TB, pids ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, pid := range pids {
		require.NoError(t, os.CopyFS(filepath.Join(root, pid), os.DirFS(filepath.Join(fixtureProc, pid))))
	}
	return root
}

// unreadable makes path unreadable (mode 0), skipping as root, whom modes
// do not stop.
func unreadable(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() == 0 {
		t.Skip("root reads files of mode 0")
	}
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.NoError(t, os.Chmod(path, 0))
	t.Cleanup(func() { _ = os.Chmod(path, fi.Mode().Perm()) })
}

func TestIdentifyUnreadable(t *testing.T) {
	t.Run("cgroup", func(t *testing.T) {
		root := copyProc(t, "101")
		unreadable(t, filepath.Join(root, "101", "cgroup"))
		id, err := Identify(root, 101)
		require.ErrorIs(t, err, ErrPermission)
		assert.ErrorIs(t, err, fs.ErrPermission)
		assert.Equal(t, 1, id.NSpid, "status was read")
		assert.Empty(t, id.Path)
	})
	t.Run("status", func(t *testing.T) {
		root := copyProc(t, "101")
		unreadable(t, filepath.Join(root, "101", "status"))
		id, err := Identify(root, 101)
		require.ErrorIs(t, err, ErrPermission)
		assert.Zero(t, id.NSpid)
		assert.Equal(t, ctrA, id.ContainerID, "cgroup was read")
	})
	t.Run("stat", func(t *testing.T) {
		root := copyProc(t, "101")
		unreadable(t, filepath.Join(root, "101", "stat"))
		id, err := Identify(root, 101)
		require.ErrorIs(t, err, ErrPermission)
		assert.Equal(t, Identity{PID: 101}, id)
	})
}

func TestIdentifyOddFiles(t *testing.T) {
	root := copyProc(t, "101")
	dir := filepath.Join(root, "101")

	// status a directory: neither missing nor forbidden.
	require.NoError(t, os.Remove(filepath.Join(dir, "status")))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "status"), 0o755))
	id, err := Identify(root, 101)
	require.ErrorIs(t, err, ErrUnreadable)
	assert.Equal(t, ctrA, id.ContainerID)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "stat"), []byte("101 (python) S 1 2\n"), 0o644))
	_, err = Identify(root, 101)
	require.ErrorIs(t, err, ErrMalformed)
	_, err = ReadStartTime(root, 101)
	require.ErrorIs(t, err, ErrMalformed)
}

func TestReadStartTime(t *testing.T) {
	v, err := ReadStartTime(fixtureProc, 101)
	require.NoError(t, err)
	assert.Equal(t, uint64(100101), v)
	_, err = ReadStartTime(fixtureProc, 999)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = ReadStartTime(fixtureProc, -1)
	require.ErrorIs(t, err, ErrNotFound)
}

func TestParseStartTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"7 (a) b) c) S " + strings.Repeat("0 ", 18) + "4711 0 0\n", 4711, true}, // the command ends at the last ')'
		{"7 (a) S " + strings.Repeat("0 ", 18) + "4711\n", 4711, true},
		{"7 (a) S " + strings.Repeat("0 ", 18) + "4711", 4711, true},
		{"7 (a) S 0 0\n", 0, false},
		{"7 (a) S " + strings.Repeat("0 ", 18) + "x 0\n", 0, false},
		{"7 (a) S " + strings.Repeat("0 ", 18), 0, false},
		{"garbage", 0, false},
		{"", 0, false},
	} {
		v, err := ParseStartTime([]byte(tc.in))
		if !tc.ok {
			assert.Error(t, err, "%q", tc.in)
			continue
		}
		require.NoError(t, err, "%q", tc.in)
		assert.Equal(t, tc.want, v, "%q", tc.in)
	}
}

func TestParseNSpid(t *testing.T) {
	for in, want := range map[string]int{
		"Name:\tx\nNSpid:\t12345\t42\n": 42,
		"NSpid:\t5\t4\t3\n":             3,
		"NSpid:\t5\n":                   0, // the /proc mount's own namespace
		"NSpid:\n":                      0,
		"Name:\tx\n":                    0, // kernel < 4.1
		"NSpid:\t5\tx\n":                0,
		"NSpid:\t5\t0\n":                0,
		"NSpid:\t5\t-1\n":               0,
		"":                              0,
	} {
		assert.Equal(t, want, ParseNSpid([]byte(in)), "%q", in)
	}
}

// The container ids of /proc/<pid>/cgroup, as the GPU receiver's procns.go
// found them before it used this package.
func TestParseProcCgroupContainerID(t *testing.T) {
	id, other := ctrA, ctrB
	for in, want := range map[string]string{
		"0::/docker/" + id + "\n":                                                      id,
		"0::/system.slice/docker-" + id + ".scope\n":                                   id,
		"0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-" + id + ".scope\n":     id,
		"0::/kubepods.slice/kubepods-besteffort.slice/x.slice/crio-" + id + ".scope\n": id,
		"0::/kubepods/besteffort/pod0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/" + id + "\n": id,
		"0::/machine.slice/libpod-" + id + ".scope/container\n":                        id,
		"0::/kubepods.slice/kubepods-pod1.slice/crio-conmon-" + id + ".scope\n":        "",
		"12:memory:/docker/" + id + "\n0::/\n":                                         id,
		"12:memory:/docker/" + other + "\n0::/system.slice/docker-" + id + ".scope\n":  id,
		"0::/user.slice/user-1000.slice/session-1.scope\n":                             "",
		"0::/docker/" + strings.ToUpper(id) + "\n":                                     "",
		"0::/docker/" + id[:63] + "\n":                                                 "",
		"0::/docker/" + id + "0\n":                                                     "",
		"garbage\n":                                                                    "",
		"0:\n":                                                                         "",
		"":                                                                             "",
		"0::/docker/" + id + "\r\n":                                                    id,
		"0::/docker/" + id:                                                             id,
	} {
		assert.Equal(t, want, ParseProcCgroup([]byte(in)).ContainerID, "%q", in)
	}
}

func TestParseProcCgroupLines(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want Cgroup
	}{
		{"v2", "0::/system.slice/cron.service\n", Cgroup{Path: "/system.slice/cron.service", Unified: true}},
		{"v2 root", "0::/\n", Cgroup{Path: "/", Unified: true}},
		{"hybrid naming nothing: the unified line", "4:cpu,cpuacct:/user.slice\n0::/user.slice/session-1.scope\n",
			Cgroup{Path: "/user.slice/session-1.scope", Unified: true, V1: true}},
		{"v1 naming nothing: the cpu line", "7:pids:/user.slice/a\n4:cpuacct,cpu:/user.slice/b\n", Cgroup{Path: "/user.slice/b", V1: true}},
		{"v1 naming nothing: pids before the rest", "9:memory:/m\n7:pids:/p\n1:name=systemd:/s\n", Cgroup{Path: "/p", V1: true}},
		{"v1 naming nothing, no cpu nor pids: file order", "9:memory:/m\n1:name=systemd:/s\n", Cgroup{Path: "/m", V1: true}},
		{"v1: pids names it, cpu does not", "4:cpu,cpuacct:/\n7:pids:/docker/" + ctrA + "\n", Cgroup{Path: "/docker/" + ctrA, V1: true,
			Names: Names{ContainerID: ctrA, ContainerRuntime: "docker", ContainerPath: "/docker/" + ctrA}}},
		{"path with a colon", "0::/a:b/c\n", Cgroup{Path: "/a:b/c", Unified: true}},
		{"empty", "", Cgroup{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ParseProcCgroup([]byte(tc.in)))
		})
	}
}

func TestParsePath(t *testing.T) {
	const (
		uid  = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
		uidu = "0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0"
	)
	for _, tc := range []struct {
		name string
		path string
		want Names
	}{
		{"systemd guaranteed", "/kubepods.slice/kubepods-pod" + uidu + ".slice/cri-containerd-" + ctrA + ".scope", Names{
			PodUID: uid, QOSClass: "guaranteed", PodPath: "/kubepods.slice/kubepods-pod" + uidu + ".slice",
			ContainerID: ctrA, ContainerRuntime: "containerd", ContainerPath: "/kubepods.slice/kubepods-pod" + uidu + ".slice/cri-containerd-" + ctrA + ".scope",
		}},
		{"systemd besteffort, crio", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidu + ".slice/crio-" + ctrB + ".scope", Names{
			PodUID: uid, QOSClass: "besteffort", PodPath: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidu + ".slice",
			ContainerID: ctrB, ContainerRuntime: "crio", ContainerPath: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidu + ".slice/crio-" + ctrB + ".scope",
		}},
		{"systemd pod slice only", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidu + ".slice", Names{
			PodUID: uid, QOSClass: "burstable", PodPath: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidu + ".slice",
		}},
		{"systemd, the uid in upper case", "/kubepods.slice/kubepods-pod" + strings.ToUpper(uidu) + ".slice", Names{
			PodUID: uid, QOSClass: "guaranteed", PodPath: "/kubepods.slice/kubepods-pod" + strings.ToUpper(uidu) + ".slice",
		}},
		{"systemd, crio-conmon names the pod only", "/kubepods.slice/kubepods-pod" + uidu + ".slice/crio-conmon-" + ctrA + ".scope", Names{
			PodUID: uid, QOSClass: "guaranteed", PodPath: "/kubepods.slice/kubepods-pod" + uidu + ".slice",
		}},
		{"systemd, cri-dockerd", "/kubepods.slice/kubepods-pod" + uidu + ".slice/docker-" + ctrA + ".scope", Names{
			PodUID: uid, QOSClass: "guaranteed", PodPath: "/kubepods.slice/kubepods-pod" + uidu + ".slice",
			ContainerID: ctrA, ContainerRuntime: "docker", ContainerPath: "/kubepods.slice/kubepods-pod" + uidu + ".slice/docker-" + ctrA + ".scope",
		}},
		{"systemd slice with a containerd name", "/system.slice/containerd.service/kubepods-burstable-pod" + uidu + ".slice:cri-containerd:" + ctrA, Names{
			PodUID: uid, QOSClass: "burstable", PodPath: "/system.slice/containerd.service/kubepods-burstable-pod" + uidu + ".slice:cri-containerd:" + ctrA,
			ContainerID: ctrA, ContainerRuntime: "containerd", ContainerPath: "/system.slice/containerd.service/kubepods-burstable-pod" + uidu + ".slice:cri-containerd:" + ctrA,
		}},
		{"cgroupfs guaranteed", "/kubepods/pod" + uid + "/" + ctrA, Names{
			PodUID: uid, QOSClass: "guaranteed", PodPath: "/kubepods/pod" + uid,
			ContainerID: ctrA, ContainerPath: "/kubepods/pod" + uid + "/" + ctrA,
		}},
		{"cgroupfs burstable", "/kubepods/burstable/pod" + uid + "/" + ctrA, Names{
			PodUID: uid, QOSClass: "burstable", PodPath: "/kubepods/burstable/pod" + uid,
			ContainerID: ctrA, ContainerPath: "/kubepods/burstable/pod" + uid + "/" + ctrA,
		}},
		{"cgroupfs static pod (32 hex digits)", "/kubepods/besteffort/pod0123456789abcdef0123456789abcdef/" + ctrA, Names{
			PodUID: "0123456789abcdef0123456789abcdef", QOSClass: "besteffort", PodPath: "/kubepods/besteffort/pod0123456789abcdef0123456789abcdef",
			ContainerID: ctrA, ContainerPath: "/kubepods/besteffort/pod0123456789abcdef0123456789abcdef/" + ctrA,
		}},
		{"a pod element outside kubepods names nothing", "/pod" + uid + "/x", Names{}},
		{"a bad uid names nothing", "/kubepods/pod" + uid[:35] + "/x", Names{}},
		{"a uid with underscores in cgroupfs names nothing", "/kubepods/pod" + uidu, Names{}},
		{"a dashed uid in a systemd slice names nothing", "/kubepods.slice/kubepods-pod" + uid + ".slice", Names{}},
		{"kind: the inner pod wins",
			"/kubepods/burstable/pod" + uid + "/" + ctrA + "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod6b2d1a4c_5e3f_4a7b_9c8d_0e1f2a3b4c5d.slice/cri-containerd-" + ctrB + ".scope",
			Names{
				PodUID: podP1, QOSClass: "besteffort",
				PodPath:     "/kubepods/burstable/pod" + uid + "/" + ctrA + "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod6b2d1a4c_5e3f_4a7b_9c8d_0e1f2a3b4c5d.slice",
				ContainerID: ctrB, ContainerRuntime: "containerd",
				ContainerPath: "/kubepods/burstable/pod" + uid + "/" + ctrA + "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod6b2d1a4c_5e3f_4a7b_9c8d_0e1f2a3b4c5d.slice/cri-containerd-" + ctrB + ".scope",
			}},
		{"podman", "/machine.slice/libpod-" + ctrA + ".scope/container", Names{
			ContainerID: ctrA, ContainerRuntime: "podman", ContainerPath: "/machine.slice/libpod-" + ctrA + ".scope",
		}},
		{"docker cgroupfs", "/docker/" + ctrA, Names{ContainerID: ctrA, ContainerRuntime: "docker", ContainerPath: "/docker/" + ctrA}},
		{"Slurm v2", "/system.slice/slurmstepd.scope/job_12/step_extern/user/task_special", Names{
			SlurmJobID: "12", SlurmStep: "extern", SlurmJobPath: "/system.slice/slurmstepd.scope/job_12",
		}},
		{"Slurm v2, slurmstepd's own cgroup", "/system.slice/slurmstepd.scope/job_12/step_0/slurm", Names{
			SlurmJobID: "12", SlurmStep: "0", SlurmJobPath: "/system.slice/slurmstepd.scope/job_12",
		}},
		{"Slurm v2, multiple slurmd", "/system.slice/node1_slurmstepd.scope/job_12/step_interactive/user/task_0", Names{
			SlurmJobID: "12", SlurmStep: "interactive", SlurmJobPath: "/system.slice/node1_slurmstepd.scope/job_12",
		}},
		{"Slurm v2, the job alone", "/system.slice/slurmstepd.scope/job_12", Names{
			SlurmJobID: "12", SlurmJobPath: "/system.slice/slurmstepd.scope/job_12",
		}},
		{"Slurm v2, slurmstepd itself", "/system.slice/slurmstepd.scope/system", Names{}},
		{"Slurm v1", "/slurm/uid_1000/job_77/step_1/task_0", Names{SlurmJobID: "77", SlurmStep: "1", SlurmJobPath: "/slurm/uid_1000/job_77"}},
		{"Slurm v1, step not directly below the job", "/slurm/uid_1000/job_77/x/step_1", Names{SlurmJobID: "77", SlurmJobPath: "/slurm/uid_1000/job_77"}},
		{"job_ outside Slurm names nothing", "/system.slice/job_77/step_1", Names{}},
		{"job_ without digits names nothing", "/slurm/job_x/step_1", Names{}},
		{"a docker container in a Slurm job", "/system.slice/slurmstepd.scope/job_5/step_0/user/task_0/docker-" + ctrA + ".scope", Names{
			SlurmJobID: "5", SlurmStep: "0", SlurmJobPath: "/system.slice/slurmstepd.scope/job_5",
			ContainerID: ctrA, ContainerRuntime: "docker", ContainerPath: "/system.slice/slurmstepd.scope/job_5/step_0/user/task_0/docker-" + ctrA + ".scope",
		}},
		{"outside the reader's cgroup namespace", "/../../kubepods-besteffort-pod" + uidu + ".slice/cri-containerd-" + ctrA + ".scope", Names{
			PodUID: uid, QOSClass: "besteffort", PodPath: "/../../kubepods-besteffort-pod" + uidu + ".slice",
			ContainerID: ctrA, ContainerRuntime: "containerd", ContainerPath: "/../../kubepods-besteffort-pod" + uidu + ".slice/cri-containerd-" + ctrA + ".scope",
		}},
		{"root", "/", Names{}},
		{"empty", "", Names{}},
		{"double slashes", "//docker//" + ctrA, Names{ContainerID: ctrA, ContainerRuntime: "docker", ContainerPath: "//docker//" + ctrA}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ParsePath(tc.path)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.want != Names{}, got.Named())
		})
	}
}

func TestErrorsWrapOneSentinel(t *testing.T) {
	sentinels := []error{ErrNotFound, ErrPermission, ErrUnreadable, ErrMalformed, ErrNotV2, ErrOutsideNamespace}
	_, e1 := Identify(fixtureProc, 999)
	_, e2 := ReadUsage(filepath.Join("testdata", "cgroupv1"), "/docker/x")
	_, e3 := ReadUsage(fixtureCgroup, "/../x")
	_, e4 := ReadUsage(fixtureCgroup, "x")
	for _, err := range []error{e1, e2, e3, e4} {
		n := 0
		for _, s := range sentinels {
			if errors.Is(err, s) {
				n++
			}
		}
		assert.Equal(t, 1, n, "%v", err)
	}
}
