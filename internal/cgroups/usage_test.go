package cgroups

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadUsageFixtureTree(t *testing.T) {
	for _, tc := range []struct {
		name string
		path string
		want Usage
	}{
		{"systemd pod, all containers", pod1Path, Usage{
			HasCPU: true, CPUUsageUsec: 3500000, CPUUserUsec: 3000000, CPUSystemUsec: 500000,
			HasMemory: true, MemoryCurrent: 3221225472, HasMemoryMax: true, MemoryMax: 8589934592,
			HasIO: true, IO: IOStat{ReadBytes: 1300, WriteBytes: 2400, ReadOps: 13, WriteOps: 24},
		}},
		{"systemd pod, one container without a limit", pod1Path + "/cri-containerd-" + ctrB + ".scope", Usage{
			HasCPU: true, CPUUsageUsec: 500000, CPUUserUsec: 400000, CPUSystemUsec: 100000,
			HasMemory: true, MemoryCurrent: 221225472, HasMemoryMax: true, MemoryMax: Unlimited,
			HasIO: true, // no line yet: no I/O
		}},
		{"cgroupfs pod's container", pod2Path + "/" + ctrC, Usage{
			HasCPU: true, CPUUsageUsec: 700, CPUUserUsec: 600, CPUSystemUsec: 100,
			HasMemory: true, MemoryCurrent: 4096, HasMemoryMax: true, MemoryMax: Unlimited,
			HasIO: true, IO: IOStat{ReadBytes: 4096, ReadOps: 1},
		}},
		{"docker container", "/system.slice/docker-" + ctrD + ".scope", Usage{
			HasCPU: true, CPUUsageUsec: 42, CPUUserUsec: 40, CPUSystemUsec: 2,
			HasMemory: true, MemoryCurrent: 1048576, HasMemoryMax: true, MemoryMax: Unlimited,
			HasIO: true,
		}},
		{"Slurm job", jobPath, Usage{
			HasCPU: true, CPUUsageUsec: 2000000, CPUUserUsec: 1900000, CPUSystemUsec: 100000,
			HasMemory: true, MemoryCurrent: 17179869184, HasMemoryMax: true, MemoryMax: 68719476736,
			HasIO: true, IO: IOStat{ReadBytes: 10, WriteBytes: 20, ReadOps: 1, WriteOps: 2},
		}},
		{"no memory or io controller", "/system.slice/cron.service", Usage{
			HasCPU: true, CPUUsageUsec: 77, CPUUserUsec: 70, CPUSystemUsec: 7,
		}},
		{"memory.current without memory.max", "/system.slice", Usage{
			HasCPU: true, CPUUsageUsec: 100, CPUUserUsec: 50, CPUSystemUsec: 50,
			HasMemory: true, MemoryCurrent: 100, HasIO: true,
		}},
		{"the root cgroup", "/", Usage{
			HasCPU: true, CPUUsageUsec: 9000000000, CPUUserUsec: 6000000000, CPUSystemUsec: 3000000000,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadUsage(fixtureCgroup, tc.path)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)

			r := NewUsageReader(fixtureCgroup, AllUsageFiles)
			defer r.Close()
			for i := range 2 {
				got, err := r.Read(tc.path)
				require.NoError(t, err)
				assert.Equal(t, tc.want, got, "a UsageReader, read %d", i)
			}
		})
	}
}

func TestReadUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name, root, path string
		err              error
		partial          Usage
	}{
		{"the cgroup vanished", fixtureCgroup, pod1Path + "/cri-containerd-" + ctrC + ".scope", ErrNotFound, Usage{}},
		{"cgroup v1 only", filepath.Join("testdata", "cgroupv1"), "/docker/" + ctrE, ErrNotV2, Usage{}},
		{"no cgroup hierarchy at all", filepath.Join("testdata", "nowhere"), "/", ErrNotV2, Usage{}},
		{"outside the cgroup namespace", fixtureCgroup, "/../../kubepods.slice", ErrOutsideNamespace, Usage{}},
		{"a relative path", fixtureCgroup, "kubepods.slice", ErrMalformed, Usage{}},
		{"cpu.stat without usage", fixtureCgroup, "/system.slice/broken-cpu.service", ErrMalformed, Usage{}},
		{"memory.current not a number", fixtureCgroup, "/system.slice/broken-mem.service", ErrMalformed,
			Usage{HasCPU: true, CPUUsageUsec: 1, CPUUserUsec: 1}},
		{"io.stat not numbers", fixtureCgroup, "/system.slice/broken-io.service", ErrMalformed,
			Usage{HasCPU: true, CPUUsageUsec: 1, CPUUserUsec: 1, HasMemory: true, MemoryCurrent: 1, HasMemoryMax: true, MemoryMax: Unlimited}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadUsage(tc.root, tc.path)
			require.ErrorIs(t, err, tc.err)
			assert.Equal(t, tc.partial, got, "what was read before the error")

			r := NewUsageReader(tc.root, AllUsageFiles)
			defer r.Close()
			for i := range 2 {
				got, rerr := r.Read(tc.path)
				require.ErrorIs(t, rerr, tc.err)
				assert.Equal(t, err.Error(), rerr.Error(), "a UsageReader, read %d", i)
				assert.Equal(t, tc.partial, got, "a UsageReader, read %d", i)
			}
		})
	}
}

// copyCgroup copies one fixture cgroup directory (its files, not its
// descendants) into a temporary cgroup v2 root.
func copyCgroup(t testing.TB, path string) string {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu io memory pids\n"), 0o644))
	require.NoError(t, os.CopyFS(filepath.Join(root, path), os.DirFS(filepath.Join(fixtureCgroup, path))))
	return root
}

func TestReadUsageUnreadable(t *testing.T) {
	for _, file := range []string{"cpu.stat", "memory.current", "memory.max", "io.stat"} {
		t.Run(file, func(t *testing.T) {
			root := copyCgroup(t, jobPath)
			unreadable(t, filepath.Join(root, jobPath, file))
			_, err := ReadUsage(root, jobPath)
			require.ErrorIs(t, err, ErrPermission)
			assert.ErrorIs(t, err, fs.ErrPermission)

			r := NewUsageReader(root, AllUsageFiles)
			defer r.Close()
			for range 2 {
				_, err := r.Read(jobPath)
				require.ErrorIs(t, err, ErrPermission)
				assert.ErrorIs(t, err, fs.ErrPermission)
			}
		})
	}
}

func TestReadUsageNotADirectory(t *testing.T) {
	root := copyCgroup(t, jobPath)
	require.NoError(t, os.Remove(filepath.Join(root, jobPath, "io.stat")))
	require.NoError(t, os.Mkdir(filepath.Join(root, jobPath, "io.stat"), 0o755))
	u, err := ReadUsage(root, jobPath)
	require.ErrorIs(t, err, ErrUnreadable)
	assert.True(t, u.HasMemoryMax, "read before io.stat")
	assert.False(t, u.HasIO)
}
