package gpureceiver

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"
	"github.com/shirou/gopsutil/v4/process"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"

	"github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver/internal/metadata"
)

// hostScraper reads host metrics through gopsutil. Every gopsutil call sits in
// a field so tests can inject fixed readings.
type hostScraper struct {
	mountPoints []string
	pids        []int32
	warn        *warnLimiter

	cpuTimes      func(ctx context.Context, perCPU bool) ([]cpu.TimesStat, error)
	cpuCount      func(ctx context.Context, logical bool) (int, error)
	virtualMemory func(ctx context.Context) (*mem.VirtualMemoryStat, error)
	diskUsage     func(ctx context.Context, path string) (*disk.UsageStat, error)
	diskIO        func(ctx context.Context, names ...string) (map[string]disk.IOCountersStat, error)
	netIO         func(ctx context.Context, perNIC bool) ([]net.IOCountersStat, error)
	loadAvg       func(ctx context.Context) (*load.AvgStat, error)
	procCPU       func(ctx context.Context, pid int32) (*cpu.TimesStat, error)
	procRSS       func(ctx context.Context, pid int32) (uint64, error)

	// prevCPU is this scraper's own baseline: cpu.Percent keeps one
	// package-global snapshot that every other caller in the process moves.
	prevCPU  *cpu.TimesStat
	prevProc map[int32]procCPUSample
	numCPU   int
	// memTotal is the physical memory as last read, 0 until then.
	memTotal uint64
}

type procCPUSample struct {
	seconds float64
	at      time.Time
}

func newHostScraper(cfg *Config, warn *warnLimiter) *hostScraper {
	return &hostScraper{
		mountPoints:   cfg.MountPoints,
		pids:          cfg.PIDs,
		warn:          warn,
		cpuTimes:      cpu.TimesWithContext,
		cpuCount:      cpu.CountsWithContext,
		virtualMemory: mem.VirtualMemoryWithContext,
		diskUsage:     disk.UsageWithContext,
		diskIO:        readDiskIO,
		netIO:         net.IOCountersWithContext,
		loadAvg:       load.AvgWithContext,
		procCPU: func(ctx context.Context, pid int32) (*cpu.TimesStat, error) {
			p, err := process.NewProcessWithContext(ctx, pid)
			if err != nil {
				return nil, err
			}
			return p.TimesWithContext(ctx)
		},
		procRSS: func(ctx context.Context, pid int32) (uint64, error) {
			p, err := process.NewProcessWithContext(ctx, pid)
			if err != nil {
				return 0, err
			}
			m, err := p.MemoryInfoWithContext(ctx)
			if err != nil {
				return 0, err
			}
			return m.RSS, nil
		},
		prevProc: make(map[int32]procCPUSample),
	}
}

// start takes the CPU baselines so that the first scrape already has a delta.
func (h *hostScraper) start(ctx context.Context, now time.Time) {
	if n, err := h.cpuCount(ctx, true); err == nil && n > 0 {
		h.numCPU = n
	} else {
		h.numCPU = 1
	}
	if t, err := h.cpuTimes(ctx, false); err == nil && len(t) > 0 {
		h.prevCPU = &t[0]
	}
	for _, pid := range h.pids {
		if t, err := h.procCPU(ctx, pid); err == nil {
			h.prevProc[pid] = procCPUSample{seconds: t.User + t.System, at: now}
		}
	}
}

func (h *hostScraper) scrape(ctx context.Context, rr *metadata.ResourceRecorder, mb *metadata.MetricsBuilder, now time.Time) error {
	var errs scrapererror.ScrapeErrors
	if mb.Enabled(metadata.SystemCPUUtilization) {
		if err := h.scrapeCPU(ctx, rr); err != nil {
			errs.AddPartial(1, err)
		}
	}
	if mb.Enabled(metadata.SystemCPULoadAverage1m) || mb.Enabled(metadata.SystemCPULoadAverage5m) || mb.Enabled(metadata.SystemCPULoadAverage15m) {
		if a, err := h.loadAvg(ctx); err != nil {
			errs.AddPartial(3, fmt.Errorf("read load average: %w", err))
		} else {
			rr.RecordDouble(metadata.SystemCPULoadAverage1m, a.Load1)
			rr.RecordDouble(metadata.SystemCPULoadAverage5m, a.Load5)
			rr.RecordDouble(metadata.SystemCPULoadAverage15m, a.Load15)
		}
	}
	if mb.Enabled(metadata.SystemMemoryUsage) || mb.Enabled(metadata.SystemMemoryLimit) || mb.Enabled(metadata.SystemMemoryUtilization) {
		if err := h.scrapeMemory(ctx, rr); err != nil {
			errs.AddPartial(3, err)
		}
	}
	if mb.Enabled(metadata.SystemFilesystemUsage) || mb.Enabled(metadata.SystemFilesystemUtilization) {
		for _, mp := range h.mountPoints {
			if err := h.scrapeFilesystem(ctx, rr, mp); err != nil {
				errs.AddPartial(2, err)
			}
		}
	}
	if mb.Enabled(metadata.SystemDiskIo) {
		if err := h.scrapeDiskIO(ctx, rr); err != nil {
			errs.AddPartial(1, err)
		}
	}
	if mb.Enabled(metadata.SystemNetworkIo) {
		if err := h.scrapeNetIO(ctx, rr); err != nil {
			errs.AddPartial(1, err)
		}
	}
	h.scrapeProcesses(ctx, rr, mb, now)
	return errs.Combine()
}

var cpuModes = [...]metadata.AttributeCPUMode{
	metadata.AttributeCPUModeUser,
	metadata.AttributeCPUModeNice,
	metadata.AttributeCPUModeSystem,
	metadata.AttributeCPUModeIdle,
	metadata.AttributeCPUModeIowait,
	metadata.AttributeCPUModeInterrupt,
	metadata.AttributeCPUModeSteal,
}

// cpuUtilization splits the CPU time between two readings into the shares of
// each mode (cpuModes order). Guest time is already inside user and nice on
// Linux, so it is not added again. A counter that went backwards (CPU
// hot-unplug) counts as zero; ok is false when no time passed.
func cpuUtilization(prev, cur cpu.TimesStat) (shares [len(cpuModes)]float64, ok bool) {
	d := func(a, b float64) float64 { return max(b-a, 0) }
	deltas := [len(cpuModes)]float64{
		d(prev.User, cur.User),
		d(prev.Nice, cur.Nice),
		d(prev.System, cur.System),
		d(prev.Idle, cur.Idle),
		d(prev.Iowait, cur.Iowait),
		d(prev.Irq+prev.Softirq, cur.Irq+cur.Softirq),
		d(prev.Steal, cur.Steal),
	}
	var total float64
	for _, v := range deltas {
		total += v
	}
	if total <= 0 {
		return shares, false
	}
	for i, v := range deltas {
		shares[i] = v / total
	}
	return shares, true
}

func (h *hostScraper) scrapeCPU(ctx context.Context, rr *metadata.ResourceRecorder) error {
	t, err := h.cpuTimes(ctx, false)
	if err != nil {
		return fmt.Errorf("read CPU times: %w", err)
	}
	if len(t) == 0 {
		return fmt.Errorf("read CPU times: no data")
	}
	cur := t[0]
	prev := h.prevCPU
	h.prevCPU = &cur
	if prev == nil {
		return nil
	}
	shares, ok := cpuUtilization(*prev, cur)
	if !ok {
		return nil
	}
	for i, mode := range cpuModes {
		rr.RecordDouble(metadata.SystemCPUUtilization, shares[i], mode.Attr())
	}
	return nil
}

// memoryStates returns psutil's "used" (total - free - buffers - cached, what
// MLflow charts) and the other states, which then add up to the total.
// gopsutil v4's own Used is total - available since v4.25.8 and differs.
func memoryStates(vm *mem.VirtualMemoryStat) (used, free, buffers, cached uint64) {
	free, buffers, cached = vm.Free, vm.Buffers, vm.Cached
	if rest := free + buffers + cached; rest <= vm.Total {
		used = vm.Total - rest
	}
	return used, free, buffers, cached
}

func (h *hostScraper) scrapeMemory(ctx context.Context, rr *metadata.ResourceRecorder) error {
	vm, err := h.virtualMemory(ctx)
	if err != nil {
		return fmt.Errorf("read virtual memory: %w", err)
	}
	h.memTotal = vm.Total
	used, free, buffers, cached := memoryStates(vm)
	rr.RecordInt(metadata.SystemMemoryLimit, clampInt64(vm.Total))
	for _, s := range [...]struct {
		state metadata.AttributeSystemMemoryState
		v     uint64
	}{
		{metadata.AttributeSystemMemoryStateUsed, used},
		{metadata.AttributeSystemMemoryStateFree, free},
		{metadata.AttributeSystemMemoryStateBuffers, buffers},
		{metadata.AttributeSystemMemoryStateCached, cached},
	} {
		st := s.state.Attr()
		rr.RecordInt(metadata.SystemMemoryUsage, clampInt64(s.v), st)
		if vm.Total > 0 {
			rr.RecordDouble(metadata.SystemMemoryUtilization, float64(s.v)/float64(vm.Total), st)
		}
	}
	return nil
}

// totalMemory is the host's physical memory: as the memory scrape last read
// it, else read now (the memory metrics are disabled, or their read
// failed); 0 when it cannot be read.
func (h *hostScraper) totalMemory(ctx context.Context) uint64 {
	if h.memTotal == 0 {
		if vm, err := h.virtualMemory(ctx); err == nil {
			h.memTotal = vm.Total
		}
	}
	return h.memTotal
}

func (h *hostScraper) scrapeFilesystem(ctx context.Context, rr *metadata.ResourceRecorder, mountPoint string) error {
	u, err := h.diskUsage(ctx, mountPoint)
	if err != nil {
		return fmt.Errorf("read filesystem usage of %q: %w", mountPoint, err)
	}
	mp := metadata.Str(metadata.AttrSystemFilesystemMountpoint, mountPoint)
	var reserved uint64
	if u.Used+u.Free <= u.Total {
		reserved = u.Total - u.Used - u.Free
	}
	for _, s := range [...]struct {
		state metadata.AttributeSystemFilesystemState
		v     uint64
	}{
		{metadata.AttributeSystemFilesystemStateUsed, u.Used},
		{metadata.AttributeSystemFilesystemStateFree, u.Free},
		{metadata.AttributeSystemFilesystemStateReserved, reserved},
	} {
		rr.RecordInt(metadata.SystemFilesystemUsage, clampInt64(s.v), mp, s.state.Attr())
	}
	if u.Used+u.Free > 0 {
		rr.RecordDouble(metadata.SystemFilesystemUtilization, float64(u.Used)/float64(u.Used+u.Free), mp)
	}
	return nil
}

func (h *hostScraper) scrapeDiskIO(ctx context.Context, rr *metadata.ResourceRecorder) error {
	counters, err := h.diskIO(ctx)
	if err != nil {
		return fmt.Errorf("read disk I/O counters: %w", err)
	}
	names := make([]string, 0, len(counters))
	for name := range counters {
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") {
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		c := counters[name]
		dev := metadata.Str(metadata.AttrSystemDevice, name)
		rr.RecordInt(metadata.SystemDiskIo, clampInt64(c.ReadBytes), dev, metadata.AttributeDiskIoDirectionRead.Attr())
		rr.RecordInt(metadata.SystemDiskIo, clampInt64(c.WriteBytes), dev, metadata.AttributeDiskIoDirectionWrite.Attr())
	}
	return nil
}

func (h *hostScraper) scrapeNetIO(ctx context.Context, rr *metadata.ResourceRecorder) error {
	counters, err := h.netIO(ctx, true)
	if err != nil {
		return fmt.Errorf("read network I/O counters: %w", err)
	}
	for _, c := range counters {
		if c.Name == "lo" {
			continue
		}
		nic := metadata.Str(metadata.AttrNetworkInterfaceName, c.Name)
		rr.RecordInt(metadata.SystemNetworkIo, clampInt64(c.BytesSent), nic, metadata.AttributeNetworkIoDirectionTransmit.Attr())
		rr.RecordInt(metadata.SystemNetworkIo, clampInt64(c.BytesRecv), nic, metadata.AttributeNetworkIoDirectionReceive.Attr())
	}
	return nil
}

// scrapeProcesses reports the configured PIDs. A process that is gone is
// normal at the end of a training run, so it is a rate-limited warning and
// not a scrape error.
func (h *hostScraper) scrapeProcesses(ctx context.Context, rr *metadata.ResourceRecorder, mb *metadata.MetricsBuilder, now time.Time) {
	wantCPU, wantRSS := mb.Enabled(metadata.ProcessCPUUtilization), mb.Enabled(metadata.ProcessMemoryUsage)
	for _, pid := range h.pids {
		p := metadata.IntAttr(metadata.AttrProcessPID, int64(pid))
		if wantCPU {
			if t, err := h.procCPU(ctx, pid); err != nil {
				h.warn.Warn(fmt.Sprintf("pid/%d", pid), "Cannot read process CPU time", zap.Int32("process.pid", pid), zap.Error(err))
				delete(h.prevProc, pid)
			} else {
				cur := procCPUSample{seconds: t.User + t.System, at: now}
				if prev, ok := h.prevProc[pid]; ok {
					if v, ok := processCPUUtilization(prev, cur, h.numCPU); ok {
						rr.RecordDouble(metadata.ProcessCPUUtilization, v, p)
					}
				}
				h.prevProc[pid] = cur
			}
		}
		if wantRSS {
			if rss, err := h.procRSS(ctx, pid); err != nil {
				h.warn.Warn(fmt.Sprintf("pid/%d/rss", pid), "Cannot read process memory", zap.Int32("process.pid", pid), zap.Error(err))
			} else {
				rr.RecordInt(metadata.ProcessMemoryUsage, clampInt64(rss), p)
			}
		}
	}
}

// processCPUUtilization is CPU seconds over wall seconds over logical CPUs,
// as the semantic conventions define it (psutil's cpu_percent is this times
// 100 times the CPU count).
func processCPUUtilization(prev, cur procCPUSample, numCPU int) (float64, bool) {
	wall := cur.at.Sub(prev.at).Seconds()
	if wall <= 0 || numCPU <= 0 {
		return 0, false
	}
	used := max(cur.seconds-prev.seconds, 0)
	return used / wall / float64(numCPU), true
}

// clampInt64 converts an unsigned counter to OTLP's int64 without wrapping
// to a negative number.
func clampInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}
