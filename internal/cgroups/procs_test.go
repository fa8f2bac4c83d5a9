package cgroups

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProcsFixtureTree(t *testing.T) {
	for _, tc := range []struct {
		name string
		path string
		want []int
	}{
		{"systemd pod: both containers", pod1Path, []int{101, 102, 103}},
		{"systemd pod: one container", pod1Path + "/cri-containerd-" + ctrA + ".scope", []int{101, 102}},
		{"cgroupfs pod", pod2Path, []int{201}},
		{"docker container", "/system.slice/docker-" + ctrD + ".scope", []int{301, 502}},
		{"Slurm job: both steps, slurmstepd's and the tasks'", jobPath, []int{401, 402, 405, 406, 410, 411}},
		{"Slurm step", jobPath + "/step_0", []int{402, 405, 406, 411}},
		{"Slurm step's tasks", jobPath + "/step_0/user", []int{402, 405, 406}},
		{"the neighbour job", "/system.slice/slurmstepd.scope/job_4243", []int{499}},
		{"no processes", "/system.slice/idle.service", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Procs(fixtureCgroup, tc.path)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestProcsErrors(t *testing.T) {
	for _, tc := range []struct {
		name, root, path string
		err              error
	}{
		{"the cgroup vanished", fixtureCgroup, "/system.slice/slurmstepd.scope/job_1", ErrNotFound},
		{"cgroup v1 only", filepath.Join("testdata", "cgroupv1"), "/docker/" + ctrE, ErrNotV2},
		{"outside the cgroup namespace", fixtureCgroup, jobPath + "/../job_4243", ErrOutsideNamespace},
		{"not pids", fixtureCgroup, "/system.slice/broken-procs.service", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Procs(tc.root, tc.path)
			require.ErrorIs(t, err, tc.err)
			assert.Empty(t, got)
		})
	}
}

// A step that ends between the listing of the job's directory and the read
// of its cgroup.procs is skipped; an unreadable one is passed over and
// reported.
func TestProcsDescendants(t *testing.T) {
	t.Run("vanished", func(t *testing.T) {
		root := t.TempDir()
		require.NoError(t, os.CopyFS(root, os.DirFS(fixtureCgroup)))
		require.NoError(t, os.Remove(filepath.Join(root, jobPath, "step_0", "user", "task_1", "cgroup.procs")))
		got, err := Procs(root, jobPath)
		require.NoError(t, err)
		assert.Equal(t, []int{401, 402, 405, 410, 411}, got)
	})
	t.Run("unreadable", func(t *testing.T) {
		root := t.TempDir()
		require.NoError(t, os.CopyFS(root, os.DirFS(fixtureCgroup)))
		unreadable(t, filepath.Join(root, jobPath, "step_0", "user", "task_1", "cgroup.procs"))
		got, err := Procs(root, jobPath)
		require.ErrorIs(t, err, ErrPermission)
		assert.Equal(t, []int{401, 402, 405, 410, 411}, got, "all the others")
	})
	t.Run("unreadable directory", func(t *testing.T) {
		root := t.TempDir()
		require.NoError(t, os.CopyFS(root, os.DirFS(fixtureCgroup)))
		dir := filepath.Join(root, jobPath, "step_0", "user")
		unreadable(t, dir)
		got, err := Procs(root, jobPath)
		require.ErrorIs(t, err, ErrPermission)
		assert.Equal(t, []int{401, 410, 411}, got, "step_0/user/* are not listed")
	})
}
