package gpureceiver

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"

	"github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver/internal/golden"
	"github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver/internal/metadata"
)

func TestCPUUtilization(t *testing.T) {
	tests := []struct {
		name      string
		prev, cur cpu.TimesStat
		want      map[string]float64
		ok        bool
	}{
		{
			name: "busy half user half idle",
			prev: cpu.TimesStat{User: 10, Idle: 10},
			cur:  cpu.TimesStat{User: 15, Idle: 15},
			want: map[string]float64{"user": 0.5, "idle": 0.5},
			ok:   true,
		},
		{
			name: "irq and softirq fold into interrupt, guest is not counted twice",
			prev: cpu.TimesStat{User: 0, System: 0, Irq: 0, Softirq: 0, Iowait: 0, Steal: 0, Nice: 0, Guest: 0},
			cur:  cpu.TimesStat{User: 4, System: 2, Irq: 1, Softirq: 1, Iowait: 1, Steal: 0.5, Nice: 0.5, Guest: 3, GuestNice: 0.5},
			want: map[string]float64{"user": 0.4, "system": 0.2, "interrupt": 0.2, "iowait": 0.1, "steal": 0.05, "nice": 0.05},
			ok:   true,
		},
		{
			name: "counter going backwards counts as zero",
			prev: cpu.TimesStat{User: 100, Idle: 10},
			cur:  cpu.TimesStat{User: 50, Idle: 20},
			want: map[string]float64{"idle": 1},
			ok:   true,
		},
		{
			name: "no time passed",
			prev: cpu.TimesStat{User: 1, Idle: 1},
			cur:  cpu.TimesStat{User: 1, Idle: 1},
			ok:   false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shares, ok := cpuUtilization(tt.prev, tt.cur)
			require.Equal(t, tt.ok, ok)
			if !ok {
				return
			}
			sum := 0.0
			for i, mode := range cpuModes {
				assert.InDelta(t, tt.want[mode.String()], shares[i], 1e-12, mode.String())
				sum += shares[i]
			}
			assert.InDelta(t, 1, sum, 1e-12, "modes must add up to 1")
		})
	}
}

func TestMemoryStates(t *testing.T) {
	tests := []struct {
		name                        string
		vm                          mem.VirtualMemoryStat
		used, free, buffers, cached uint64
	}{
		{
			name: "psutil used = total - free - buffers - cached",
			// gopsutil's own Used (total - available) would be 600 here.
			vm:   mem.VirtualMemoryStat{Total: 1000, Free: 100, Buffers: 50, Cached: 250, Available: 400, Used: 600},
			used: 600, free: 100, buffers: 50, cached: 250,
		},
		{
			name: "differs from gopsutil Used",
			vm:   mem.VirtualMemoryStat{Total: 16000, Free: 2000, Buffers: 1000, Cached: 5000, Available: 9000, Used: 7000},
			used: 8000, free: 2000, buffers: 1000, cached: 5000,
		},
		{
			name: "inconsistent reading does not underflow",
			vm:   mem.VirtualMemoryStat{Total: 100, Free: 90, Buffers: 10, Cached: 10},
			used: 0, free: 90, buffers: 10, cached: 10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			used, free, buffers, cached := memoryStates(&tt.vm)
			assert.Equal(t, []uint64{tt.used, tt.free, tt.buffers, tt.cached}, []uint64{used, free, buffers, cached})
		})
	}
}

func TestProcessCPUUtilization(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name      string
		prev, cur procCPUSample
		cpus      int
		want      float64
		ok        bool
	}{
		{"one core busy of four", procCPUSample{10, t0}, procCPUSample{20, t0.Add(10 * time.Second)}, 4, 0.25, true},
		{"two cores busy of two", procCPUSample{0, t0}, procCPUSample{4, t0.Add(2 * time.Second)}, 2, 1, true},
		{"pid reused, time went backwards", procCPUSample{50, t0}, procCPUSample{1, t0.Add(time.Second)}, 1, 0, true},
		{"no wall time", procCPUSample{0, t0}, procCPUSample{1, t0}, 1, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := processCPUUtilization(tt.prev, tt.cur, tt.cpus)
			require.Equal(t, tt.ok, ok)
			assert.InDelta(t, tt.want, got, 1e-12)
		})
	}
}

// fakeHost is a deterministic host: each call to cpuTimes advances the
// counters by the same step, so every scrape sees the same utilisation.
type fakeHost struct {
	cpuCalls int
	failMem  bool
}

func (f *fakeHost) install(h *hostScraper) {
	h.cpuCount = func(context.Context, bool) (int, error) { return 4, nil }
	h.cpuTimes = func(context.Context, bool) ([]cpu.TimesStat, error) {
		f.cpuCalls++
		n := float64(f.cpuCalls)
		return []cpu.TimesStat{{CPU: "cpu-total", User: 6 * n, System: 2 * n, Idle: 11 * n, Iowait: n}}, nil
	}
	h.virtualMemory = func(context.Context) (*mem.VirtualMemoryStat, error) {
		if f.failMem {
			return nil, errors.New("meminfo unreadable")
		}
		return &mem.VirtualMemoryStat{Total: 64 << 30, Free: 8 << 30, Buffers: 1 << 30, Cached: 15 << 30, Available: 30 << 30, Used: 34 << 30}, nil
	}
	h.diskUsage = func(_ context.Context, path string) (*disk.UsageStat, error) {
		if path == "/missing" {
			return nil, os.ErrNotExist
		}
		return &disk.UsageStat{Path: path, Total: 1000 << 20, Used: 600 << 20, Free: 350 << 20}, nil
	}
	h.diskIO = func(context.Context, ...string) (map[string]disk.IOCountersStat, error) {
		return map[string]disk.IOCountersStat{
			"nvme0n1": {Name: "nvme0n1", ReadBytes: 1 << 30, WriteBytes: 2 << 30},
			"loop0":   {Name: "loop0", ReadBytes: 5},
			"sda":     {Name: "sda", ReadBytes: 10, WriteBytes: 20},
		}, nil
	}
	h.netIO = func(context.Context, bool) ([]net.IOCountersStat, error) {
		return []net.IOCountersStat{
			{Name: "lo", BytesSent: 1, BytesRecv: 1},
			{Name: "eth0", BytesSent: 3000, BytesRecv: 5000},
		}, nil
	}
	h.loadAvg = func(context.Context) (*load.AvgStat, error) {
		return &load.AvgStat{Load1: 1.5, Load5: 1.25, Load15: 0.75}, nil
	}
	h.procCPU = func(_ context.Context, pid int32) (*cpu.TimesStat, error) {
		if pid == 404 {
			return nil, errors.New("process not found")
		}
		n := float64(f.cpuCalls)
		return &cpu.TimesStat{User: 15 * n, System: 5 * n}, nil
	}
	h.procRSS = func(_ context.Context, pid int32) (uint64, error) {
		if pid == 404 {
			return 0, errors.New("process not found")
		}
		return 512 << 20, nil
	}
}

var testStart = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)

func scrapeHostOnce(t *testing.T, cfg *Config, f *fakeHost, scrapes int) (pmetric.Metrics, error) {
	t.Helper()
	h := newHostScraper(cfg, newWarnLimiter(zap.NewNop(), time.Minute, time.Now))
	f.install(h)
	now := testStart
	h.start(context.Background(), now)
	mb := metadata.NewMetricsBuilder(cfg.Metrics, component.BuildInfo{Version: "test"}, pcommon.NewTimestampFromTime(now))
	var (
		md  pmetric.Metrics
		err error
	)
	for range scrapes {
		now = now.Add(10 * time.Second)
		rb := metadata.NewResourceBuilder()
		rb.SetHostName("test-host")
		err = h.scrape(context.Background(), mb.NewResource(rb.Emit(), pcommon.NewTimestampFromTime(now)), mb, now)
		md = mb.Emit()
	}
	return md, err
}

func TestHostScrapeGolden(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.MountPoints = []string{"/", "/data"}
	cfg.PIDs = []int32{4242}
	md, err := scrapeHostOnce(t, cfg, &fakeHost{}, 2)
	require.NoError(t, err)
	golden.Assert(t, filepath.Join("testdata", "golden", "host_fake.yaml"), md, golden.Options{KeepTimestamps: true})
}

func TestHostScrapePartialErrors(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.MountPoints = []string{"/", "/missing"}
	cfg.PIDs = []int32{404}
	md, err := scrapeHostOnce(t, cfg, &fakeHost{failMem: true}, 1)
	require.Error(t, err)
	var pe scrapererror.PartialScrapeError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 3+2, pe.Failed, "memory (3 metrics) and one filesystem (2 metrics) failed")
	assert.Contains(t, err.Error(), `read filesystem usage of "/missing"`)
	// A vanished process is expected at the end of a run: no error, no series.
	names := metricNames(md)
	assert.NotContains(t, names, "process.memory.usage")
	assert.NotContains(t, names, "system.memory.usage")
	assert.Contains(t, names, "system.filesystem.usage")
	assert.Contains(t, names, "system.cpu.utilization")
}

func TestHostScrapeDisabledMetricsSkipCalls(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	for id := range metadata.MetricCount {
		cfg.Metrics.SetEnabled(id, false)
	}
	cfg.Metrics.SetEnabled(metadata.SystemCPULoadAverage1m, true)
	h := newHostScraper(cfg, newWarnLimiter(zap.NewNop(), time.Minute, time.Now))
	(&fakeHost{}).install(h)
	boom := func(string) { t.Helper(); t.Fatal("disabled metric's source was called") }
	h.virtualMemory = func(context.Context) (*mem.VirtualMemoryStat, error) { boom("mem"); return nil, nil }
	h.diskIO = func(context.Context, ...string) (map[string]disk.IOCountersStat, error) {
		boom("disk")
		return nil, nil
	}
	h.netIO = func(context.Context, bool) ([]net.IOCountersStat, error) { boom("net"); return nil, nil }
	h.diskUsage = func(context.Context, string) (*disk.UsageStat, error) { boom("fs"); return nil, nil }
	mb := metadata.NewMetricsBuilder(cfg.Metrics, component.BuildInfo{}, 1)
	require.NoError(t, h.scrape(context.Background(), mb.NewResource(pcommon.NewResource(), 2), mb, testStart))
	assert.Equal(t, []string{"system.cpu.load_average.1m"}, metricNames(mb.Emit()))
}

// TestHostScrapeReal runs gopsutil against this machine.
func TestHostScrapeReal(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.PIDs = []int32{int32(os.Getpid())}
	h := newHostScraper(cfg, newWarnLimiter(zap.NewNop(), time.Minute, time.Now))
	h.start(context.Background(), time.Now())
	mb := metadata.NewMetricsBuilder(cfg.Metrics, component.BuildInfo{}, 1)
	require.NoError(t, h.scrape(context.Background(), mb.NewResource(pcommon.NewResource(), 2), mb, time.Now()))
	md := mb.Emit()
	names := metricNames(md)
	for _, want := range []string{
		"system.memory.usage", "system.memory.limit", "system.memory.utilization",
		"system.filesystem.usage", "system.filesystem.utilization",
		"system.cpu.load_average.1m", "process.memory.usage",
	} {
		assert.Contains(t, names, want)
	}
	// The four memory states partition the total.
	var total, sum int64
	for _, m := range allMetrics(md) {
		switch m.Name() {
		case "system.memory.limit":
			total = m.Sum().DataPoints().At(0).IntValue()
		case "system.memory.usage":
			for _, dp := range m.Sum().DataPoints().All() {
				sum += dp.IntValue()
			}
		case "process.memory.usage":
			assert.Positive(t, m.Sum().DataPoints().At(0).IntValue(), "this test's own RSS")
		}
	}
	assert.Positive(t, total)
	assert.Equal(t, total, sum)
}

func allMetrics(md pmetric.Metrics) []pmetric.Metric {
	var out []pmetric.Metric
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				out = append(out, m)
			}
		}
	}
	return out
}

func metricNames(md pmetric.Metrics) []string {
	var out []string
	for _, m := range allMetrics(md) {
		out = append(out, m.Name())
	}
	return out
}
