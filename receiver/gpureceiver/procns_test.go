package gpureceiver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/shirou/gopsutil/v4/common"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

const (
	fixtureX       = "3f1c2b9e8d7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6"
	fixtureY       = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29180f7e6d5c4b3a2918f7e6d5c4b3"
	fixtureDocker  = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	fixtureCrio    = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"
	fixtureSystemd = "5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d"
)

var fixtureProc = filepath.Join("testdata", "proc")

func skipUnlessLinux(t testing.TB) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc namespaces are read on Linux only")
	}
}

func TestNSResolverFixtureTree(t *testing.T) {
	skipUnlessLinux(t)
	core, logs := observer.New(zapcore.DebugLevel)
	r := newNSResolver(zap.New(core))
	r.begin(context.Background(), fixtureProc)
	type want struct {
		vpid int64
		cid  string
		ok   bool
	}
	for pid, w := range map[uint32]want{
		1000:  {1, fixtureDocker, true},  // cgroup v1 cgroupfs /docker/<id>
		2000:  {5, fixtureCrio, true},    // systemd kubepods crio-<id>.scope
		12345: {42, fixtureX, true},      // systemd kubepods cri-containerd-<id>.scope
		777:   {42, fixtureY, true},      // cgroupfs /kubepods/burstable/pod<uid>/<id>
		3001:  {9, fixtureSystemd, true}, // three levels: the innermost wins
		3002:  {},                        // no NSpid line (kernel < 4.1)
		3003:  {},                        // the host's PID namespace
		3004:  {},                        // status unreadable
		3005:  {8, "", true},             // own PID namespace, no container
		4242:  {},                        // no such process
	} {
		vpid, cid, ok := r.lookup(pid)
		assert.Equal(t, w, want{vpid, cid, ok}, "pid %d", pid)
	}
	require.Equal(t, 1, logs.Len(), "unreadable entries are logged once")
	assert.Contains(t, logs.All()[0].Message, "HOST_PROC")
}

func TestNSResolverCachesByPidAndStartTime(t *testing.T) {
	skipUnlessLinux(t)
	root := t.TempDir()
	dir := filepath.Join(root, "12345")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, f := range []string{"stat", "status", "cgroup"} {
		b, err := os.ReadFile(filepath.Join(fixtureProc, "12345", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	r := newNSResolver(zap.NewNop())
	r.begin(context.Background(), root)
	vpid, cid, _ := r.lookup(12345)
	require.Equal(t, int64(42), vpid)
	require.Equal(t, fixtureX, cid)

	// Same process (same start time): status is not read again.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "status"), []byte("NSpid:\t12345\t99\n"), 0o644))
	r.begin(context.Background(), root)
	vpid, _, _ = r.lookup(12345)
	assert.Equal(t, int64(42), vpid, "cached while the start time is the same")

	// The pid was reused by another process: read afresh.
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stat"), []byte(strings.Replace(string(stat), " 112345 ", " 999999 ", 1)), 0o644))
	r.begin(context.Background(), root)
	vpid, cid, _ = r.lookup(12345)
	assert.Equal(t, int64(99), vpid, "a new start time is a new process")
	assert.Equal(t, fixtureX, cid)

	// Gone: no attributes, and the entry is dropped.
	require.NoError(t, os.RemoveAll(dir))
	r.begin(context.Background(), root)
	_, _, ok := r.lookup(12345)
	assert.False(t, ok)
	assert.Empty(t, r.cache)
}

func TestNSResolverDropsProcessesNotAskedFor(t *testing.T) {
	skipUnlessLinux(t)
	r := newNSResolver(zap.NewNop())
	r.begin(context.Background(), fixtureProc)
	r.lookup(12345)
	r.lookup(777)
	r.begin(context.Background(), fixtureProc)
	r.lookup(777)
	r.begin(context.Background(), fixtureProc)
	assert.Len(t, r.cache, 1, "12345 was not on any GPU in the previous scrape")
	assert.Contains(t, r.cache, uint32(777))
}

func TestNSResolverHonoursHostProc(t *testing.T) {
	skipUnlessLinux(t)
	r := newNSResolver(zap.NewNop())
	ctx := context.WithValue(context.Background(), common.EnvKey, common.EnvMap{common.HostProcEnvKey: fixtureProc})
	r.begin(ctx, "")
	vpid, cid, ok := r.lookup(12345)
	assert.True(t, ok)
	assert.Equal(t, int64(42), vpid)
	assert.Equal(t, fixtureX, cid)

	t.Setenv(string(common.HostProcEnvKey), fixtureProc)
	r = newNSResolver(zap.NewNop())
	r.begin(context.Background(), "")
	_, cid, _ = r.lookup(777)
	assert.Equal(t, fixtureY, cid)
}

// The parsers of stat, status and cgroup moved to internal/cgroups, with
// their tests (TestParseStartTime, TestParseNSpid,
// TestParseProcCgroupContainerID there).

// A cgroup file that cannot be read costs the container id only: the
// process keeps its namespaced pid, and the failure is logged once.
func TestNSResolverUnreadableCgroup(t *testing.T) {
	skipUnlessLinux(t)
	if os.Geteuid() == 0 {
		t.Skip("root reads files of mode 0")
	}
	root := t.TempDir()
	require.NoError(t, os.CopyFS(filepath.Join(root, "12345"), os.DirFS(filepath.Join(fixtureProc, "12345"))))
	require.NoError(t, os.Chmod(filepath.Join(root, "12345", "cgroup"), 0))
	core, logs := observer.New(zapcore.DebugLevel)
	r := newNSResolver(zap.New(core))
	r.begin(context.Background(), root)
	vpid, cid, ok := r.lookup(12345)
	assert.True(t, ok)
	assert.Equal(t, int64(42), vpid)
	assert.Empty(t, cid)
	r.begin(context.Background(), root)
	r.lookup(12345)
	assert.Equal(t, 1, logs.Len())
}

// BenchmarkNSResolver50Processes is the per-scrape cost of the attribution
// for 50 GPU processes, each seen on two metrics (memory and utilisation):
// one stat read per process once cached.
func BenchmarkNSResolver50Processes(b *testing.B) {
	skipUnlessLinux(b)
	root := b.TempDir()
	src := filepath.Join(fixtureProc, "12345")
	for i := range 50 {
		dir := filepath.Join(root, fmt.Sprint(10000+i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for _, f := range []string{"stat", "status", "cgroup"} {
			data, err := os.ReadFile(filepath.Join(src, f))
			if err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	r := newNSResolver(zap.NewNop())
	b.ReportAllocs()
	for b.Loop() {
		r.begin(context.Background(), root)
		for i := range 50 {
			for range 2 {
				if _, _, ok := r.lookup(uint32(10000 + i)); !ok {
					b.Fatal("no attributes")
				}
			}
		}
	}
}
