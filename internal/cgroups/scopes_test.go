package cgroups

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	podP3    = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
	podP4    = "0b1c2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e"
	pod3Path = "/kubepods.slice/kubepods-pod9a8b7c6d_5e4f_4a3b_8c2d_1e0f9a8b7c6d.slice"
	pod4Path = "/kubepods/pod" + podP4
	job78    = "/slurm/uid_1000/job_78"
)

// fixtureScopes is what Scopes finds in testdata/cgroup.
var fixtureScopes = []Scope{
	{Path: pod1Path, PodUID: podP1, QOSClass: "burstable"},
	{Path: pod3Path, PodUID: podP3, QOSClass: "guaranteed"},
	{Path: pod2Path, PodUID: podP2, QOSClass: "besteffort"},
	{Path: pod4Path, PodUID: podP4, QOSClass: "guaranteed"},
	{Path: job78, SlurmJobID: "78"},
	{Path: jobPath, SlurmJobID: "4242"},
	{Path: "/system.slice/slurmstepd.scope/job_4243", SlurmJobID: "4243"},
}

func TestScopesFixtureTree(t *testing.T) {
	got, err := Scopes(fixtureCgroup)
	require.NoError(t, err)
	assert.Equal(t, fixtureScopes, got, "both drivers' pods of every QoS class, both Slurm layouts; no container, step or docker scope")
	for _, s := range got {
		_, err := ReadUsage(fixtureCgroup, s.Path)
		assert.NoError(t, err, "%s: a scope's path is ReadUsage's", s.Path)
	}
}

func TestScopesNotV2(t *testing.T) {
	for _, root := range []string{filepath.Join("testdata", "cgroupv1"), filepath.Join("testdata", "nowhere")} {
		got, err := Scopes(root)
		require.ErrorIs(t, err, ErrNotV2, root)
		assert.Empty(t, got)
	}
}

// newRoot is an empty cgroup v2 root holding the given directories.
func newRoot(t *testing.T, dirs ...string) string {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu io memory pids\n"), 0o644))
	for _, d := range dirs {
		require.NoError(t, os.MkdirAll(filepath.Join(root, filepath.FromSlash(d)), 0o755))
	}
	return root
}

func TestScopesNothingThere(t *testing.T) {
	got, err := Scopes(newRoot(t, "/system.slice/cron.service", "/user.slice"))
	require.NoError(t, err, "a host without pods or Slurm")
	assert.Empty(t, got)
}

func TestScopesBounded(t *testing.T) {
	uid := "11111111_2222_4333_8444_555555555555"
	root := newRoot(t,
		// Too deep: below a slice that is no QoS class.
		"/kubepods.slice/kubepods-burstable.slice/other.slice/kubepods-burstable-pod"+uid+".slice",
		// Not pods: a malformed UID, a container scope where a pod belongs.
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podnot-a-uid.slice",
		"/kubepods/besteffort/"+ctrC,
		// job_ outside slurmstepd.scope, a step where a job belongs, a uid that is no uid_N.
		"/system.slice/job_1",
		"/system.slice/slurmstepd.scope/step_0",
		"/slurm/users/job_2",
		// The one scope.
		"/kubepods/burstable/pod11111111-2222-4333-8444-555555555555",
	)
	elsewhere := newRoot(t, "/kubepods-pod"+uid+".slice", "/kubepods/pod11111111-2222-4333-8444-666666666666", "/job_3")
	// Symbolic links are not followed: not a pod's, not the kubepods cgroup's, not slurmstepd.scope's.
	require.NoError(t, os.Symlink(filepath.Join(elsewhere, "kubepods-pod"+uid+".slice"), filepath.Join(root, "kubepods.slice", "kubepods-pod"+uid+".slice")))
	require.NoError(t, os.Symlink(filepath.Join(elsewhere, "kubepods"), filepath.Join(root, "kubepods.slice", "kubepods-besteffort.slice")))
	require.NoError(t, os.Symlink(elsewhere, filepath.Join(root, "system.slice", "slurmstepd.scope", "job_3")))
	linked := newRoot(t)
	require.NoError(t, os.Symlink(filepath.Join(elsewhere, "kubepods"), filepath.Join(linked, "kubepods")))

	got, err := Scopes(root)
	require.NoError(t, err)
	assert.Equal(t, []Scope{{Path: "/kubepods/burstable/pod11111111-2222-4333-8444-555555555555", PodUID: "11111111-2222-4333-8444-555555555555", QOSClass: "burstable"}}, got)

	got, err = Scopes(linked)
	require.NoError(t, err)
	assert.Empty(t, got, "a linked kubepods is not followed")
}

// A QoS cgroup that cannot be listed is passed over; the other pods come
// back with the error.
func TestScopesUnlistable(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.CopyFS(root, os.DirFS(fixtureCgroup)))
	unreadable(t, filepath.Join(root, "kubepods.slice", "kubepods-burstable.slice"))
	got, err := Scopes(root)
	require.ErrorIs(t, err, ErrPermission)
	assert.Equal(t, fixtureScopes[1:], got)
}
