package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openFDs is the number of this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(fds)
}

// addPod makes a burstable pod's cgroup with its four files.
func addPod(t *testing.T, root string, i int) {
	t.Helper()
	dir := filepath.Join(root, "kubepods.slice", "kubepods-burstable.slice", fmt.Sprintf("kubepods-burstable-pod6b2d1a4c_5e3f_4a7b_9c8d_%012x.slice", i))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for name, data := range map[string]string{
		"cpu.stat":       fmt.Sprintf("usage_usec %d\nuser_usec %d\nsystem_usec 0\n", i, i),
		"memory.current": "4096\n",
		"memory.max":     "max\n",
		"io.stat":        "259:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644))
	}
}

func removePod(t *testing.T, root string, i int) {
	t.Helper()
	require.NoError(t, os.RemoveAll(filepath.Join(root, "kubepods.slice", "kubepods-burstable.slice", fmt.Sprintf("kubepods-burstable-pod6b2d1a4c_5e3f_4a7b_9c8d_%012x.slice", i))))
}

// Pods come and go over 30 scrapes: the reader holds the files of the
// latest scrape's pods, four each, and no more; Close gives them all back.
func TestUsageReaderFilesBounded(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu io memory\n"), 0o644))
	const live = 10
	for i := range live {
		addPod(t, root, i)
	}
	before := openFDs(t)
	r := NewUsageReader(root, AllUsageFiles)
	for scrape := range 30 {
		// One pod ends and one starts; another ends after the listing.
		removePod(t, root, scrape)
		addPod(t, root, scrape+live)
		scopes, err := Scopes(root)
		require.NoError(t, err)
		require.Len(t, scopes, live)
		removePod(t, root, scrape+1)
		read := 0
		for _, sc := range scopes {
			u, err := r.Read(sc.Path)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			require.NoError(t, err)
			require.True(t, u.HasCPU && u.HasMemory && u.HasMemoryMax && u.HasIO)
			read++
		}
		addPod(t, root, scrape+1)
		require.Equal(t, live-1, read, "scrape %d: the pod removed after the listing is not read", scrape)
		r.Sweep()
		assert.Equal(t, 4*read, r.held, "scrape %d", scrape)
		assert.Equal(t, before+r.held, openFDs(t), "scrape %d: open files", scrape)
	}
	r.Close()
	assert.Zero(t, r.held)
	assert.Equal(t, before, openFDs(t), "all closed")
}

// Past its bound a reader opens and closes each file as ReadUsage does.
func TestUsageReaderMaxHeld(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu io memory\n"), 0o644))
	r := NewUsageReader(root, AllUsageFiles)
	defer r.Close()
	require.Positive(t, r.maxHeld)
	require.LessOrEqual(t, r.maxHeld, maxHeldFiles)
	n := r.maxHeld/4 + 5
	for i := range n {
		addPod(t, root, i)
	}
	scopes, err := Scopes(root)
	require.NoError(t, err)
	require.Len(t, scopes, n)
	before := openFDs(t)
	for range 2 {
		for i, sc := range scopes {
			u, err := r.Read(sc.Path)
			require.NoError(t, err)
			require.Equal(t, uint64(i), u.CPUUsageUsec, sc.Path)
		}
		r.Sweep()
		assert.Equal(t, r.maxHeld, r.held)
		assert.Equal(t, before+r.maxHeld, openFDs(t))
	}
}

// A low limit on open files bounds the files held to a quarter of it.
func TestUsageReaderOpenFileLimit(t *testing.T) {
	var old syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old))
	low := old
	low.Cur = min(old.Cur, 400)
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low))
	defer func() { require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)) }()
	r := NewUsageReader(fixtureCgroup, AllUsageFiles)
	defer r.Close()
	assert.Equal(t, int(low.Cur)/4, r.maxHeld)
}

// Reading held files allocates nothing.
func TestUsageReaderNoAllocs(t *testing.T) {
	r := NewUsageReader(fixtureCgroup, AllUsageFiles)
	defer r.Close()
	_, err := r.Read(pod1Path)
	require.NoError(t, err)
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		if _, err := r.Read(pod1Path); err != nil {
			t.Fatal(err)
		}
	}))
}

// Where a controller's file was not there, a reader on cgroupfs looks for
// it again once cgroup.controllers lists the controller, not before.
func TestUsageReaderControllersGate(t *testing.T) {
	root := copyCgroup(t, jobPath)
	dir := filepath.Join(root, jobPath)
	write := func(name, data string) {
		t.Helper()
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644))
	}
	require.NoError(t, os.Remove(filepath.Join(dir, "io.stat")))
	write("cgroup.controllers", "cpu memory pids\n")
	r := NewUsageReader(root, AllUsageFiles)
	defer r.Close()
	u, err := r.Read(jobPath)
	require.NoError(t, err)
	require.True(t, u.HasMemory && u.HasMemoryMax && !u.HasIO)
	cg := r.cgroups[jobPath]
	cg.files[cpuStatFile].kernfs = true // as on cgroupfs
	assert.Equal(t, IOStatFile, cg.absent)

	write("io.stat", "8:0 rbytes=7 wbytes=0 rios=1 wios=0\n") // no io in cgroup.controllers: no cgroupfs would do that
	u, err = r.Read(jobPath)
	require.NoError(t, err)
	assert.False(t, u.HasIO, "not looked for")
	assert.True(t, u.HasMemory)
	assert.True(t, cg.files[controllersFile].isHeld())
	assert.Equal(t, 4, r.held, "cpu.stat, memory.current, memory.max, cgroup.controllers")

	write("cgroup.controllers", "cpu io memory pids\n")
	u, err = r.Read(jobPath)
	require.NoError(t, err)
	assert.True(t, u.HasIO)
	assert.Equal(t, uint64(7), u.IO.ReadBytes)
	assert.Zero(t, cg.absent)
	assert.False(t, cg.files[controllersFile].isHeld(), "not needed any more")
	assert.Equal(t, 4, r.held)
}

func TestControllerFiles(t *testing.T) {
	assert.Equal(t, AllUsageFiles, controllerFiles([]byte("cpuset cpu io memory hugetlb pids rdma misc\n")))
	assert.Equal(t, MemoryCurrentFile|MemoryMaxFile, controllerFiles([]byte("memory")))
	assert.Equal(t, IOStatFile, controllerFiles([]byte("cpu io\n")))
	assert.Zero(t, controllerFiles([]byte("\n")))
	assert.Zero(t, controllerFiles([]byte("iommu memoryless")))
}

// cgroup2Mount is where a cgroup v2 hierarchy is mounted ("" when none).
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	for s := bufio.NewScanner(f); s.Scan(); {
		// ID parent major:minor root mountpoint options... - fstype source super
		pre, post, ok := strings.Cut(s.Text(), " - ")
		if f, g := strings.Fields(pre), strings.Fields(post); ok && len(f) >= 5 && len(g) >= 1 && g[0] == "cgroup2" {
			return f[4]
		}
	}
	return ""
}

// On a real cgroupfs (as root, where a cgroup can be made): a held file
// re-read from offset 0 gives the kernel's new figures, a removed
// cgroup's held files read ENODEV and the reader says ErrNotFound, and a
// cgroup made again at the same path is read anew.
func TestUsageReaderCgroupfs(t *testing.T) {
	mnt := cgroup2Mount(t)
	if mnt == "" || os.Geteuid() != 0 {
		t.Skip("needs root and a cgroup v2 mount")
	}
	path := fmt.Sprintf("/otelcol-mlflow-cgroups-test-%d", os.Getpid())
	dir := filepath.Join(mnt, path)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot make a cgroup: %v", err)
	}
	t.Cleanup(func() { _ = os.Remove(dir) })

	r := NewUsageReader(mnt, AllUsageFiles)
	defer r.Close()
	u, err := r.Read(path)
	require.NoError(t, err)
	require.True(t, u.HasCPU)
	require.Positive(t, r.held)
	// A controller's file that is not there is looked for again only
	// while cgroup.controllers lists the controller.
	ctl, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	require.NoError(t, err)
	_, err = r.Read(path)
	require.NoError(t, err)
	cg := r.cgroups[path]
	assert.Equal(t, cg.absent&^controllerFiles(ctl), cg.absent, "absent: %q", ctl)
	assert.Equal(t, cg.absent != 0, cg.files[controllersFile].isHeld())

	// A busy process in the cgroup for a while.
	busy := exec.Command("sh", "-c", "while :; do :; done")
	require.NoError(t, busy.Start())
	stopBusy := sync.OnceFunc(func() { _ = busy.Process.Kill(); _ = busy.Wait() })
	t.Cleanup(stopBusy) // never leave a spinning shell behind a failed step
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(fmt.Sprint(busy.Process.Pid)), 0o644); err != nil {
		t.Skipf("cannot move a process into the test cgroup (a container's delegation rules): %v", err)
	}
	time.Sleep(100 * time.Millisecond) // the busy shell's CPU time in the cgroup
	stopBusy()
	u2, err := r.Read(path)
	require.NoError(t, err)
	assert.Greater(t, u2.CPUUsageUsec, u.CPUUsageUsec, "the held cpu.stat, read again")

	fd := r.cgroups[path].files[cpuStatFile].fd
	require.NoError(t, os.Remove(dir))
	_, err = syscall.Pread(fd, make([]byte, 64), 0)
	require.ErrorIs(t, err, syscall.ENODEV, "a removed cgroup's open file")
	_, err = r.Read(path)
	require.ErrorIs(t, err, ErrNotFound)
	assert.Zero(t, r.held)

	require.NoError(t, os.Mkdir(dir, 0o755))
	u3, err := r.Read(path)
	require.NoError(t, err)
	assert.Less(t, u3.CPUUsageUsec, u2.CPUUsageUsec, "the new cgroup's")
}
