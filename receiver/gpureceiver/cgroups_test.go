package gpureceiver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/cgroups"
	"github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver/internal/golden"
	"github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver/internal/metadata"
)

// The cgroup v2 fixture of package cgroups (its testdata/README.md): pods
// P1 (burstable) and P3 (guaranteed) of the systemd driver, P2 (besteffort)
// and P4 (guaranteed) of the cgroupfs driver, Slurm jobs 4242 and 4243
// (cgroup/v2 plugin) and 78 (the v1 plugin's layout).
var cgroupFixture = filepath.Join("..", "..", "internal", "cgroups", "testdata", "cgroup")

const (
	cgP1   = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6b2d1a4c_5e3f_4a7b_9c8d_0e1f2a3b4c5d.slice"
	cgP2   = "/kubepods/besteffort/podd4c3b2a1-0f9e-4d8c-b7a6-958473625140"
	cgP3   = "/kubepods.slice/kubepods-pod9a8b7c6d_5e4f_4a3b_8c2d_1e0f9a8b7c6d.slice"
	cgP4   = "/kubepods/pod0b1c2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e"
	cgJ42  = "/system.slice/slurmstepd.scope/job_4242"
	cgJ43  = "/system.slice/slurmstepd.scope/job_4243"
	cgJ78  = "/slurm/uid_1000/job_78"
	uidP1  = "6b2d1a4c-5e3f-4a7b-9c8d-0e1f2a3b4c5d"
	uidP2  = "d4c3b2a1-0f9e-4d8c-b7a6-958473625140"
	uidP3  = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
	uidP4  = "0b1c2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e"
	cgGiB  = uint64(1) << 30
	hostGi = 64 // fakeHost's memory, GiB; it has 4 logical CPUs
)

// noGPUs stands in for the GPU side, which these tests do not look at.
type noGPUs struct{}

func (noGPUs) start(context.Context)                                       {}
func (noGPUs) scrape(context.Context, *metadata.MetricsBuilder, time.Time) {}
func (noGPUs) shutdown() error                                             { return nil }

// cgroupRig is the whole scraper on a fake host (fakeHost), a fake clock
// and a cgroup root.
type cgroupRig struct {
	s    *gpuScraper
	root string
	now  time.Time
	logs *observer.ObservedLogs
}

// newCgroupRig starts a scraper reading root; with only, every metric but
// the container.* ones is off; then tweak, if any, changes the config.
func newCgroupRig(t testing.TB, root string, only bool, tweak ...func(*Config)) *cgroupRig {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.CgroupRoot = root
	if only {
		for id := range metadata.MetricCount {
			cfg.Metrics.SetEnabled(id, strings.HasPrefix(metadata.Descriptors[id].Name, "container."))
		}
	}
	for _, f := range tweak {
		f(cfg)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	r := &cgroupRig{root: root, now: testStart, logs: logs}
	r.s = newScraper(cfg, zap.New(core), component.BuildInfo{Version: "test"}, func() time.Time { return r.now })
	r.s.hostname = func() (string, error) { return "test-host", nil }
	(&fakeHost{}).install(r.s.host)
	r.s.newGPU = func(gpuSettings) gpuCollector { return noGPUs{} }
	require.NoError(t, r.s.start(context.Background(), nil))
	t.Cleanup(func() { _ = r.s.shutdown(context.Background()) })
	return r
}

// scrape scrapes 10 s after the previous one.
func (r *cgroupRig) scrape(t testing.TB) pmetric.Metrics {
	t.Helper()
	r.now = r.now.Add(10 * time.Second)
	md, err := r.s.scrape(context.Background())
	require.NoError(t, err, "nothing about cgroups is a scrape error")
	return md
}

// copyFixture is a writable copy of the fixture cgroup tree.
func copyFixture(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.CopyFS(root, os.DirFS(cgroupFixture)))
	return root
}

// set writes a cgroup file (the kernel's counters moving on).
func set(t testing.TB, root, cgroup, file, data string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(root, filepath.FromSlash(cgroup), file), []byte(data), 0o644))
}

func cpuStat(usageUsec uint64) string {
	return fmt.Sprintf("usage_usec %d\nuser_usec %d\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n", usageUsec, usageUsec)
}

// scopeKey names a pod's or job's resource: "pod/<uid>", "job/<id>", or
// "host".
func scopeKey(rm pmetric.ResourceMetrics) string {
	a := rm.Resource().Attributes()
	if v, ok := a.Get("k8s.pod.uid"); ok {
		return "pod/" + v.Str()
	}
	if v, ok := a.Get("slurm.job.id"); ok {
		return "job/" + v.Str()
	}
	return "host"
}

// cgroupPoints is every data point by scope, metric and direction:
// "pod/<uid> container.disk.io read".
func cgroupPoints(t testing.TB, md pmetric.Metrics) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, rm := range md.ResourceMetrics().All() {
		scope := scopeKey(rm)
		if scope != "host" {
			h, ok := rm.Resource().Attributes().Get("host.name")
			assert.True(t, ok && h.Str() == "test-host", "%s: host.name", scope)
			assert.Equal(t, 2, rm.Resource().Attributes().Len(), "%s: host.name and the pod or job only", scope)
		}
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				var dps pmetric.NumberDataPointSlice
				if m.Type() == pmetric.MetricTypeSum {
					dps = m.Sum().DataPoints()
				} else {
					dps = m.Gauge().DataPoints()
				}
				for _, dp := range dps.All() {
					k := scope + " " + m.Name()
					if d, ok := dp.Attributes().Get("disk.io.direction"); ok {
						k += " " + d.Str()
					}
					if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
						out[k] = dp.IntValue()
					} else {
						out[k] = dp.DoubleValue()
					}
				}
			}
		}
	}
	return out
}

// TestCgroupScrapeFixture: two scrapes 10 s apart of the fixture's pods and
// jobs, the counters moved on in between; the CPU share is exact.
func TestCgroupScrapeFixture(t *testing.T) {
	root := copyFixture(t)
	r := newCgroupRig(t, root, true)

	first := cgroupPoints(t, r.scrape(t))
	assert.Equal(t, map[string]any{
		"pod/" + uidP1 + " container.memory.usage":       int64(3 * cgGiB),
		"pod/" + uidP1 + " container.memory.utilization": 0.375, // 3 GiB of memory.max 8 GiB
		"pod/" + uidP1 + " container.disk.io read":       int64(1300),
		"pod/" + uidP1 + " container.disk.io write":      int64(2400),
		"pod/" + uidP2 + " container.memory.usage":       int64(4096),
		"pod/" + uidP2 + " container.memory.utilization": 4096.0 / float64(hostGi*cgGiB), // memory.max "max": the node's memory
		"pod/" + uidP2 + " container.disk.io read":       int64(0),                       // its io.stat has no line
		"pod/" + uidP2 + " container.disk.io write":      int64(0),
		"pod/" + uidP3 + " container.memory.usage":       int64(cgGiB),
		"pod/" + uidP3 + " container.memory.utilization": 0.25,
		"pod/" + uidP3 + " container.disk.io read":       int64(512),
		"pod/" + uidP3 + " container.disk.io write":      int64(1024),
		"pod/" + uidP4 + " container.memory.usage":       int64(2 * cgGiB),
		"pod/" + uidP4 + " container.memory.utilization": 0.5,
		"pod/" + uidP4 + " container.disk.io read":       int64(0),
		"pod/" + uidP4 + " container.disk.io write":      int64(8192),
		"job/4242 container.memory.usage":                int64(16 * cgGiB),
		"job/4242 container.memory.utilization":          0.25,
		"job/4242 container.disk.io read":                int64(10),
		"job/4242 container.disk.io write":               int64(20),
		// job 4243: cpu.stat only (no memory or io controller there), and
		// no CPU share before a second reading: no resource at all.
		"job/78 container.memory.usage":       int64(1 << 20),
		"job/78 container.memory.utilization": float64(1<<20) / float64(hostGi*cgGiB),
		"job/78 container.disk.io read":       int64(0),
		"job/78 container.disk.io write":      int64(0),
	}, first, "the first scrape: no CPU share yet")

	// 10 s on 4 CPUs = 40 CPU-seconds of the node.
	for _, c := range []struct {
		path  string
		usage uint64
	}{
		{cgP1, 3500000 + 20_000_000}, // half the node
		{cgP2, 700 + 4_000_000},
		{cgP3, 1000000},             // idle
		{cgP4, 250000 + 10_000_000}, // a quarter
		{cgJ42, 2000000 + 40_000_000},
		{cgJ43, 1 + 1_000_000},
		{cgJ78, 5000 + 2_000_000},
	} {
		set(t, root, c.path, "cpu.stat", cpuStat(c.usage))
	}
	set(t, root, cgP1, "memory.current", fmt.Sprint(4*cgGiB))
	set(t, root, cgP1, "io.stat", "259:0 rbytes=5000 wbytes=9000 rios=10 wios=20 dbytes=0 dios=0\n8:0 rbytes=300 wbytes=400 rios=3 wios=4 dbytes=0 dios=0\n")

	md := r.scrape(t)
	second := cgroupPoints(t, md)
	for k, want := range map[string]float64{
		"pod/" + uidP1: 0.5,
		"pod/" + uidP2: 0.1,
		"pod/" + uidP3: 0,
		"pod/" + uidP4: 0.25,
		"job/4242":     1,
		"job/4243":     0.025,
		"job/78":       0.05,
	} {
		assert.Equal(t, want, second[k+" container.cpu.utilization"], k)
	}
	assert.Equal(t, int64(4*cgGiB), second["pod/"+uidP1+" container.memory.usage"])
	assert.Equal(t, 0.5, second["pod/"+uidP1+" container.memory.utilization"])
	assert.Equal(t, int64(5300), second["pod/"+uidP1+" container.disk.io read"], "summed over the devices")
	assert.Equal(t, int64(9400), second["pod/"+uidP1+" container.disk.io write"])
	assert.Len(t, second, len(first)+7, "a CPU share for each of the 7 scopes")
	assert.Zero(t, r.logs.Len(), "%v", r.logs.All())
	golden.Assert(t, filepath.Join("testdata", "golden", "cgroups_fixture.yaml"), md, golden.Options{KeepTimestamps: true})
}

// The host's metrics stay as they are; the pods' and jobs' come as
// resources of their own next to it.
func TestCgroupScrapeWithHostMetrics(t *testing.T) {
	r := newCgroupRig(t, copyFixture(t), false)
	md := r.scrape(t)
	scopes := map[string]bool{}
	for _, rm := range md.ResourceMetrics().All() {
		scopes[scopeKey(rm)] = true
	}
	assert.Equal(t, map[string]bool{
		"host": true, "pod/" + uidP1: true, "pod/" + uidP2: true, "pod/" + uidP3: true, "pod/" + uidP4: true, "job/4242": true, "job/78": true,
	}, scopes)
	names := metricNames(md)
	assert.Contains(t, names, "system.cpu.utilization")
	assert.Contains(t, names, "system.network.io", "the node's network counters stay the host's")
}

// A pod that ended between two scrapes, or between the listing and the
// read, is left out without a word; its CPU baseline is forgotten.
func TestCgroupVanished(t *testing.T) {
	root := copyFixture(t)
	r := newCgroupRig(t, root, true)
	r.scrape(t)
	require.Contains(t, r.s.cgroups.prev, cgP2)

	require.NoError(t, os.RemoveAll(filepath.Join(root, filepath.FromSlash(cgP2))))
	list := r.s.cgroups.scopes
	r.s.cgroups.scopes = func(root string) ([]cgroups.Scope, error) {
		s, err := list(root)
		// P4 ends after the listing.
		require.NoError(t, os.RemoveAll(filepath.Join(root, filepath.FromSlash(cgP4))))
		return s, err
	}
	got := cgroupPoints(t, r.scrape(t))
	for k := range got {
		assert.NotContains(t, k, uidP2)
		assert.NotContains(t, k, uidP4)
	}
	assert.Contains(t, got, "pod/"+uidP1+" container.cpu.utilization")
	assert.NotContains(t, r.s.cgroups.prev, cgP2, "forgotten")
	assert.NotContains(t, r.s.cgroups.prev, cgP4, "forgotten")
	assert.Len(t, r.s.cgroups.prev, 5)
	assert.Zero(t, r.logs.Len(), "%v", r.logs.All())

	// A new cgroup of the same path starts with a baseline, not a share.
	require.NoError(t, os.CopyFS(filepath.Join(root, filepath.FromSlash(cgP4)), os.DirFS(filepath.Join(cgroupFixture, filepath.FromSlash(cgP4)))))
	r.s.cgroups.scopes = list
	got = cgroupPoints(t, r.scrape(t))
	assert.Contains(t, got, "pod/"+uidP4+" container.memory.usage")
	assert.NotContains(t, got, "pod/"+uidP4+" container.cpu.utilization")
}

// A file that cannot be read costs its own figures only, and is logged
// once; the pod's other figures and the other pods' are reported.
func TestCgroupUnreadableFile(t *testing.T) {
	root := copyFixture(t)
	// No reading the kernel would refuse to root: a directory where
	// io.stat belongs.
	io := filepath.Join(root, filepath.FromSlash(cgP1), "io.stat")
	require.NoError(t, os.Remove(io))
	require.NoError(t, os.Mkdir(io, 0o755))
	r := newCgroupRig(t, root, true)
	r.scrape(t)
	got := cgroupPoints(t, r.scrape(t))
	assert.Contains(t, got, "pod/"+uidP1+" container.cpu.utilization")
	assert.Contains(t, got, "pod/"+uidP1+" container.memory.usage")
	assert.NotContains(t, got, "pod/"+uidP1+" container.disk.io read")
	assert.Contains(t, got, "pod/"+uidP3+" container.disk.io read")
	require.Equal(t, 1, r.logs.Len(), "once for two scrapes: %v", r.logs.All())
	e := r.logs.All()[0]
	assert.Equal(t, zapcore.WarnLevel, e.Level)
	assert.Equal(t, cgP1, e.ContextMap()["cgroup"])
}

func TestCgroupPermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads files of mode 0")
	}
	root := copyFixture(t)
	require.NoError(t, os.Chmod(filepath.Join(root, filepath.FromSlash(cgP3), "memory.current"), 0))
	require.NoError(t, os.Chmod(filepath.Join(root, filepath.FromSlash(cgJ42), "cpu.stat"), 0))
	r := newCgroupRig(t, root, true)
	r.scrape(t)
	got := cgroupPoints(t, r.scrape(t))
	assert.Contains(t, got, "pod/"+uidP3+" container.cpu.utilization")
	assert.NotContains(t, got, "pod/"+uidP3+" container.memory.usage")
	assert.NotContains(t, got, "job/4242 container.cpu.utilization", "cpu.stat is read first: nothing of the job")
	assert.Contains(t, got, "pod/"+uidP1+" container.memory.usage")
	assert.Equal(t, 1, r.logs.Len(), "one line for every cgroup denied the same way: %v", r.logs.All())
}

// A host without cgroup v2 at cgroup_root (cgroup v1, macOS, a wrong path)
// says so once and reports the host as without cgroup_root.
func TestCgroupNoV2(t *testing.T) {
	for _, root := range []string{
		filepath.Join("..", "..", "internal", "cgroups", "testdata", "cgroupv1"),
		filepath.Join(t.TempDir(), "nowhere"),
	} {
		t.Run(filepath.Base(root), func(t *testing.T) {
			abs, err := filepath.Abs(root)
			require.NoError(t, err)
			r := newCgroupRig(t, abs, false)
			for range 3 {
				md := r.scrape(t)
				assert.Equal(t, 1, md.ResourceMetrics().Len(), "the host only")
				assert.Contains(t, metricNames(md), "system.memory.usage")
			}
			require.Equal(t, 1, r.logs.Len(), "%v", r.logs.All())
			assert.Contains(t, r.logs.All()[0].Message, "No cgroup v2 hierarchy at cgroup_root")
			assert.Equal(t, zapcore.InfoLevel, r.logs.All()[0].Level)
		})
	}
}

// With every container.* metric off, cgroup_root is not read.
func TestCgroupMetricsOffSkipsReads(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.CgroupRoot = cgroupFixture
	for _, id := range cgroupMetrics {
		cfg.Metrics.SetEnabled(id, false)
	}
	s := newScraper(cfg, zap.NewNop(), component.BuildInfo{}, time.Now)
	(&fakeHost{}).install(s.host)
	s.newGPU = func(gpuSettings) gpuCollector { return noGPUs{} }
	s.cgroups.scopes = func(string) ([]cgroups.Scope, error) { t.Fatal("listed"); return nil, nil }
	require.NoError(t, s.start(context.Background(), nil))
	defer func() { _ = s.shutdown(context.Background()) }()
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, md.ResourceMetrics().Len())
}

// Without cgroup_root nothing is read (the default).
func TestCgroupOffByDefault(t *testing.T) {
	s := newScraper(createDefaultConfig().(*Config), zap.NewNop(), component.BuildInfo{}, time.Now)
	assert.Nil(t, s.cgroups)
}

// With container.disk.io off io.stat is not read: one that cannot be read
// is not noticed. The memory files are read for the memory metrics only.
func TestCgroupReadsOnlyEnabledMetricsFiles(t *testing.T) {
	root := copyFixture(t)
	io := filepath.Join(root, filepath.FromSlash(cgP1), "io.stat")
	require.NoError(t, os.Remove(io))
	require.NoError(t, os.Mkdir(io, 0o755))
	r := newCgroupRig(t, root, true, func(cfg *Config) { cfg.Metrics.SetEnabled(metadata.ContainerDiskIo, false) })
	r.scrape(t)
	got := cgroupPoints(t, r.scrape(t))
	assert.Contains(t, got, "pod/"+uidP1+" container.memory.usage")
	assert.NotContains(t, got, "pod/"+uidP1+" container.disk.io read")
	assert.Zero(t, r.logs.Len(), "%v", r.logs.All())

	for _, tc := range []struct {
		enabled []metadata.MetricID
		want    cgroups.UsageFiles
	}{
		{cgroupMetrics[:], cgroups.AllUsageFiles},
		{[]metadata.MetricID{metadata.ContainerCPUUtilization}, 0},
		{[]metadata.MetricID{metadata.ContainerMemoryUsage}, cgroups.MemoryCurrentFile},
		{[]metadata.MetricID{metadata.ContainerMemoryUtilization}, cgroups.MemoryCurrentFile | cgroups.MemoryMaxFile},
		{[]metadata.MetricID{metadata.ContainerDiskIo}, cgroups.IOStatFile},
	} {
		cfg := createDefaultConfig().(*Config)
		for id := range metadata.MetricCount {
			cfg.Metrics.SetEnabled(id, slices.Contains(tc.enabled, id))
		}
		assert.Equal(t, tc.want, usageFiles(metadata.NewMetricsBuilder(cfg.Metrics, component.BuildInfo{}, 0)), "%v", tc.enabled)
	}
}

// openFDs is the number of this process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(fds)
}

// The scraper keeps the files of the latest scrape's pods open, four each,
// while pods start and end (some between the listing and the read), and
// closes them at shutdown.
func TestCgroupHeldFilesBounded(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu io memory\n"), 0o644))
	pod := func(i int) string {
		return fmt.Sprintf("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6b2d1a4c_5e3f_4a7b_9c8d_%012x.slice", i)
	}
	add := func(i int) {
		dir := filepath.Join(root, filepath.FromSlash(pod(i)))
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for file, data := range map[string]string{"cpu.stat": cpuStat(uint64(i)), "memory.current": "4096\n", "memory.max": "max\n", "io.stat": ""} {
			require.NoError(t, os.WriteFile(filepath.Join(dir, file), []byte(data), 0o644))
		}
	}
	remove := func(i int) { require.NoError(t, os.RemoveAll(filepath.Join(root, filepath.FromSlash(pod(i))))) }
	const live = 8
	for i := range live {
		add(i)
	}
	r := newCgroupRig(t, root, true)
	before := openFDs(t)
	list := r.s.cgroups.scopes
	for n := range 20 {
		remove(n)
		add(n + live)
		r.s.cgroups.scopes = func(root string) ([]cgroups.Scope, error) {
			s, err := list(root)
			remove(n + 1) // it ends after the listing
			return s, err
		}
		got := cgroupPoints(t, r.scrape(t))
		add(n + 1)
		pods := map[string]bool{}
		for k := range got {
			pods[strings.Fields(k)[0]] = true
		}
		assert.Len(t, pods, live-1, "scrape %d", n)
		assert.Equal(t, before+4*(live-1), openFDs(t), "scrape %d: the files of the pods read", n)
	}
	assert.Zero(t, r.logs.Len(), "%v", r.logs.All())
	require.NoError(t, r.s.shutdown(context.Background()))
	assert.Equal(t, before, openFDs(t), "closed at shutdown")
}

// benchPods is a cgroup v2 root with n burstable pods of the systemd driver,
// each with its four usage files and one container.
func benchPods(b *testing.B, n int) string {
	b.Helper()
	root := b.TempDir()
	write := func(path, data string) {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	write(filepath.Join(root, "cgroup.controllers"), "cpu io memory pids\n")
	for i := range n {
		pod := filepath.Join(root, "kubepods.slice", "kubepods-burstable.slice", fmt.Sprintf("kubepods-burstable-pod6b2d1a4c_5e3f_4a7b_9c8d_%012x.slice", i))
		if err := os.MkdirAll(filepath.Join(pod, fmt.Sprintf("cri-containerd-%064x.scope", i)), 0o755); err != nil {
			b.Fatal(err)
		}
		write(filepath.Join(pod, "cpu.stat"), cpuStat(3500000))
		write(filepath.Join(pod, "memory.current"), "3221225472\n")
		write(filepath.Join(pod, "memory.max"), "max\n")
		write(filepath.Join(pod, "io.stat"), "259:0 rbytes=1000 wbytes=2000 rios=10 wios=20 dbytes=0 dios=0\n")
	}
	return root
}

// BenchmarkScrapeCgroups50Pods is what cgroup_root adds to a scrape on a
// node of 50 pods: list them, read each one's four files, build 50
// resources of 5 points each.
func BenchmarkScrapeCgroups50Pods(b *testing.B) {
	r := newCgroupRig(b, benchPods(b, 50), true)
	b.ReportAllocs()
	for b.Loop() {
		r.now = r.now.Add(10 * time.Second)
		r.s.cgroups.scrape(context.Background(), r.s.mb, "test-host", 0, r.now)
		if md := r.s.mb.Emit(); md.ResourceMetrics().Len() != 50 {
			b.Fatal(md.ResourceMetrics().Len())
		}
	}
}
