//go:build cgo

package gpureceiver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver/internal/golden"
	"github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver/internal/metadata"
)

// Roles of the eight fake H100s.
const (
	gpuPCIeWrap   = 0 // 32-bit PCIe TX counter that wraps
	gpuNoECC      = 1 // ECC off: NOT_SUPPORTED, must be asked once
	gpuThrottled  = 2 // power cap and thermal throttling
	gpuPowerError = 3 // power read fails every time
	gpuNoSamples  = 4 // empty sample buffer: falls back to GetUtilizationRates
	gpuMIG        = 5 // MIG mode with two instances
	gpuNoGPM      = 6 // GPM unsupported, NVLink fields unsupported
	gpuLost       = 7 // falls off the bus after the first scrape
)

const gib = uint64(1) << 30

// mockMachine is dgxh100.New() with telemetry added; every value is a
// function of the test clock so that golden output is deterministic.
type mockMachine struct {
	srv            *server.Server
	clock          *time.Time
	start          time.Time
	lost           [8]bool
	callsWhileLost int
	eccCalls       [8]int
	gpmAlloc       int
	gpmFreed       int
}

func (m *mockMachine) tick() uint64 { return uint64(m.clock.Sub(m.start) / (10 * time.Second)) }

func (m *mockMachine) alive(i int) nvml.Return {
	if m.lost[i] {
		m.callsWhileLost++
		return nvml.ERROR_GPU_IS_LOST
	}
	return nvml.SUCCESS
}

func u32(v uint32) (b [8]byte) {
	binary.LittleEndian.PutUint32(b[:], v)
	return b
}

func u64(v uint64) (b [8]byte) {
	binary.LittleEndian.PutUint64(b[:], v)
	return b
}

// samples returns one sample per second after since up to now, alternating
// base-10 and base+10 so that a ten-second window averages to base.
func samples(since uint64, now time.Time, base uint32) []nvml.Sample {
	var out []nvml.Sample
	for s := now.Add(-30 * time.Second).Unix(); s <= now.Unix(); s++ {
		ts := uint64(s) * 1_000_000
		if ts <= since {
			continue
		}
		v := base - 10
		if s%2 == 1 {
			v = base + 10
		}
		out = append(out, nvml.Sample{TimeStamp: ts, SampleValue: u32(v)})
	}
	return out
}

func newMockMachine(clock *time.Time) *mockMachine {
	m := &mockMachine{srv: dgxh100.New(), clock: clock, start: *clock}
	m.srv.GpmSampleAllocFunc = func() (nvml.GpmSample, nvml.Return) {
		m.gpmAlloc++
		return &mock.GpmSample{FreeFunc: func() nvml.Return { m.gpmFreed++; return nvml.SUCCESS }}, nvml.SUCCESS
	}
	m.srv.GpmMetricsGetFunc = func(g *nvml.GpmMetricsGetType) nvml.Return {
		if g.Sample1 == nil || g.Sample2 == nil || g.Sample1 == g.Sample2 {
			return nvml.ERROR_INVALID_ARGUMENT
		}
		for k := range g.NumMetrics {
			g.Metrics[k].Value = float64(g.Metrics[k].MetricId) * 5 // SM 10%, occupancy 15%, tensor 25%, DRAM 50%
		}
		return nvml.SUCCESS
	}
	for i, dev := range m.srv.Devices {
		d := dev.(*server.Device)
		d.UUID = fmt.Sprintf("GPU-00000000-0000-0000-0000-00000000000%d", i)
		m.instrument(i, d)
	}
	return m
}

func (m *mockMachine) instrument(i int, d *server.Device) {
	d.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
		used := uint64(i+1) * gib
		return nvml.Memory{Total: 80 * gib, Used: used, Free: 80*gib - used}, m.alive(i)
	}
	d.GetSamplesFunc = func(typ nvml.SamplingType, since uint64) (nvml.ValueType, []nvml.Sample, nvml.Return) {
		if r := m.alive(i); r != nvml.SUCCESS {
			return 0, nil, r
		}
		switch {
		case i == gpuMIG:
			return 0, nil, nvml.ERROR_NOT_SUPPORTED
		case i == gpuNoSamples:
			return 0, nil, nvml.ERROR_NOT_FOUND
		case typ == nvml.GPU_UTILIZATION_SAMPLES:
			return nvml.VALUE_TYPE_UNSIGNED_INT, samples(since, *m.clock, uint32(20+10*i)), nvml.SUCCESS
		default:
			return nvml.VALUE_TYPE_UNSIGNED_INT, samples(since, *m.clock, uint32(10+5*i)), nvml.SUCCESS
		}
	}
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		if i == gpuMIG {
			return nvml.Utilization{}, nvml.ERROR_NOT_SUPPORTED
		}
		return nvml.Utilization{Gpu: 77, Memory: 33}, m.alive(i)
	}
	d.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return uint32(30 + i), m.alive(i) }
	d.GetPowerUsageFunc = func() (uint32, nvml.Return) {
		if i == gpuPowerError {
			return 0, nvml.ERROR_UNKNOWN
		}
		return uint32(300_000 + 10_000*i), m.alive(i)
	}
	d.GetEnforcedPowerLimitFunc = func() (uint32, nvml.Return) { return 700_000, m.alive(i) }
	d.GetTotalEnergyConsumptionFunc = func() (uint64, nvml.Return) {
		return 1_000_000_000 + m.tick()*5_000_000, m.alive(i) // 500 W over 10 s per tick
	}
	d.GetClockInfoFunc = func(typ nvml.ClockType) (uint32, nvml.Return) {
		switch typ {
		case nvml.CLOCK_SM:
			return 1980, m.alive(i)
		case nvml.CLOCK_MEM:
			return 2619, m.alive(i)
		}
		return 0, nvml.ERROR_INVALID_ARGUMENT
	}
	d.GetCurrentClocksEventReasonsFunc = func() (uint64, nvml.Return) {
		if i == gpuThrottled {
			return 0x4 | 0x20, m.alive(i)
		}
		return 0x1, m.alive(i)
	}
	d.GetFieldValuesFunc = func(values []nvml.FieldValue) nvml.Return {
		if r := m.alive(i); r != nvml.SUCCESS {
			return r
		}
		k := m.tick()
		for j := range values {
			v := &values[j]
			v.ValueType = uint32(nvml.VALUE_TYPE_UNSIGNED_LONG_LONG)
			switch v.FieldId {
			case nvml.FI_DEV_PCIE_COUNT_TX_BYTES:
				if i == gpuPCIeWrap {
					v.ValueType = uint32(nvml.VALUE_TYPE_UNSIGNED_INT)
					v.Value = u32(uint32(0xFFFFF000 + k*0x800))
				} else {
					v.Value = u64(1_000_000 * k)
				}
			case nvml.FI_DEV_PCIE_COUNT_RX_BYTES:
				v.Value = u64(2_000_000 * k)
			case nvml.FI_DEV_NVLINK_THROUGHPUT_DATA_TX, nvml.FI_DEV_NVLINK_THROUGHPUT_DATA_RX:
				if v.ScopeId != math.MaxUint32 {
					return nvml.ERROR_INVALID_ARGUMENT
				}
				if i == gpuNoGPM {
					v.NvmlReturn = uint32(nvml.ERROR_NOT_SUPPORTED)
					continue
				}
				v.Value = u64(1000 * k)
			}
		}
		return nvml.SUCCESS
	}
	d.GetTotalEccErrorsFunc = func(typ nvml.MemoryErrorType, _ nvml.EccCounterType) (uint64, nvml.Return) {
		if i == gpuNoECC {
			m.eccCalls[i]++
			return 0, nvml.ERROR_NOT_SUPPORTED
		}
		if typ == nvml.MEMORY_ERROR_TYPE_CORRECTED {
			return 2, m.alive(i)
		}
		return 0, m.alive(i)
	}
	d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		return []nvml.ProcessInfo{{Pid: uint32(1000 + i), UsedGpuMemory: uint64(i+1) * gib}}, m.alive(i)
	}
	d.GetProcessUtilizationFunc = func(since uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) {
		if r := m.alive(i); r != nvml.SUCCESS {
			return nil, r
		}
		switch i {
		case gpuMIG:
			return nil, nvml.ERROR_NOT_SUPPORTED
		case gpuNoSamples:
			return nil, nvml.ERROR_NOT_FOUND
		}
		var out []nvml.ProcessUtilizationSample
		for _, s := range samples(since, *m.clock, 0+10) {
			out = append(out, nvml.ProcessUtilizationSample{Pid: uint32(1000 + i), TimeStamp: s.TimeStamp, SmUtil: 30, MemUtil: 20, EncUtil: 0, DecUtil: 5})
		}
		return out, nvml.SUCCESS
	}
	d.GpmQueryDeviceSupportFunc = func() (nvml.GpmSupport, nvml.Return) {
		if i == gpuNoGPM {
			return nvml.GpmSupport{Version: 1}, nvml.SUCCESS
		}
		return nvml.GpmSupport{Version: 1, IsSupportedDevice: 1}, m.alive(i)
	}
	d.GpmSampleGetFunc = func(nvml.GpmSample) nvml.Return { return m.alive(i) }
	if i == gpuMIG {
		// Processes are charged to MIG instances; asking the parent would panic.
		d.GetComputeRunningProcessesFunc = nil
		d.GetProcessUtilizationFunc = nil
		d.MigMode = nvml.DEVICE_MIG_ENABLE
		d.GetMaxMigDeviceCountFunc = func() (int, nvml.Return) { return 7, nvml.SUCCESS }
		d.GetMigDeviceHandleByIndexFunc = func(j int) (nvml.Device, nvml.Return) {
			if j != 0 && j != 2 {
				return nil, nvml.ERROR_NOT_FOUND
			}
			// Strict: any call the receiver should not make on a MIG
			// handle panics because its Func is unset.
			return &mock.Device{
				GetUUIDFunc: func() (string, nvml.Return) {
					return fmt.Sprintf("MIG-00000000-0000-0000-0000-00000000005%d", j), nvml.SUCCESS
				},
				GetNameFunc: func() (string, nvml.Return) { return "NVIDIA H100 80GB HBM3 MIG 3g.40gb", nvml.SUCCESS },
				GetMemoryInfoFunc: func() (nvml.Memory, nvml.Return) {
					return nvml.Memory{Total: 40 * gib, Used: uint64(j+1) * gib, Free: 40*gib - uint64(j+1)*gib}, m.alive(i)
				},
				GetComputeRunningProcessesFunc: func() ([]nvml.ProcessInfo, nvml.Return) {
					return []nvml.ProcessInfo{{Pid: uint32(2000 + j), UsedGpuMemory: gib / 2, GpuInstanceId: uint32(j)}}, m.alive(i)
				},
			}, nvml.SUCCESS
		}
	}
}

func testGPUSettings(logger *zap.Logger, clock *time.Time) gpuSettings {
	cfg := metadata.DefaultMetricsConfig()
	return gpuSettings{
		logger:    logger,
		hostName:  "test-host",
		interval:  10 * time.Second,
		now:       func() time.Time { return *clock },
		warnEvery: 5 * time.Minute,
		enabled:   cfg.EnabledSet(),
		procRoot:  fixtureProc,
	}
}

func resourcesByID(md pmetric.Metrics) map[string]pmetric.ResourceMetrics {
	out := map[string]pmetric.ResourceMetrics{}
	for _, rm := range md.ResourceMetrics().All() {
		if id, ok := rm.Resource().Attributes().Get("hw.id"); ok {
			out[id.Str()] = rm
		}
	}
	return out
}

func findMetric(rm pmetric.ResourceMetrics, name string) (pmetric.Metric, bool) {
	for _, m := range rm.ScopeMetrics().At(0).Metrics().All() {
		if m.Name() == name {
			return m, true
		}
	}
	return pmetric.Metric{}, false
}

func TestNVMLMock8H100(t *testing.T) {
	clock := testStart
	m := newMockMachine(&clock)
	core, logs := observer.New(zapcore.DebugLevel)
	c := newNVMLCollector(m.srv, testGPUSettings(zap.New(core), &clock))
	c.start(context.Background())
	require.True(t, c.initialized)
	require.Len(t, c.devices, 8)
	require.Len(t, c.devices[gpuMIG].migs, 2)
	assert.Equal(t, 7, m.gpmAlloc/2, "two GPM samples per capable GPU")

	mb := metadata.NewMetricsBuilder(metadata.DefaultMetricsConfig(), component.BuildInfo{Version: "test"}, pcommon.NewTimestampFromTime(testStart))
	scrape := func() pmetric.Metrics {
		clock = clock.Add(10 * time.Second)
		c.scrape(context.Background(), mb, clock)
		return mb.Emit()
	}

	md1 := scrape()
	golden.Assert(t, filepath.Join("testdata", "golden", "gpu_mock_scrape1.yaml"), md1, golden.Options{KeepTimestamps: true})
	assert.Len(t, resourcesByID(md1), 10, "8 GPUs + 2 MIG instances")

	m.lost[gpuLost] = true
	md2 := scrape()
	golden.Assert(t, filepath.Join("testdata", "golden", "gpu_mock_scrape2.yaml"), md2, golden.Options{KeepTimestamps: true})
	md3 := scrape()

	res3 := resourcesByID(md3)
	assert.Len(t, res3, 9, "the lost GPU is dropped")
	assert.NotContains(t, res3, "GPU-00000000-0000-0000-0000-000000000007")
	assert.Equal(t, 1, m.callsWhileLost, "a lost GPU is not called again")
	assert.Equal(t, 1, logs.FilterMessageSnippet("GPU lost").Len())
	assert.Equal(t, 1, logs.FilterMessageSnippet("Cannot read /proc for a GPU process").Len(),
		"mock processes without a fixture /proc entry: logged once over three scrapes")

	assert.Equal(t, 2, m.eccCalls[gpuNoECC], "unsupported ECC asked once per counter, not every scrape")
	failed := logs.FilterMessage("NVML call failed").All()
	require.Len(t, failed, 1, "the failing power read is logged once in three scrapes")
	assert.Equal(t, "power usage", failed[0].ContextMap()["data"])

	// PCIe TX on GPU 0 wrapped at 2^32 between scrapes 1 and 2; the total keeps rising by 0x800.
	io, ok := findMetric(res3["GPU-00000000-0000-0000-0000-000000000000"], "hw.gpu.io")
	require.True(t, ok)
	var tx int64
	for _, dp := range io.Sum().DataPoints().All() {
		if v, _ := dp.Attributes().Get("network.io.direction"); v.Str() == "transmit" {
			tx = dp.IntValue()
		}
	}
	assert.Equal(t, int64(0xFFFFF800+2*0x800), tx)

	_, ok = findMetric(resourcesByID(md1)["GPU-00000000-0000-0000-0000-000000000000"], "hw.gpu.sm.activity")
	assert.False(t, ok, "GPM needs two samples")
	_, ok = findMetric(res3["GPU-00000000-0000-0000-0000-000000000006"], "hw.gpu.sm.activity")
	assert.False(t, ok, "no GPM on a GPU without support")

	require.NoError(t, c.shutdown())
	assert.Equal(t, m.gpmAlloc, m.gpmFreed, "every GPM sample freed, the lost GPU's included")
	assert.Len(t, m.srv.ShutdownCalls(), 1)
}

func TestNVMLInitFailureCallsNothingElse(t *testing.T) {
	for _, tt := range []struct {
		ret     nvml.Return
		level   zapcore.Level
		message string
	}{
		{nvml.ERROR_LIBRARY_NOT_FOUND, zapcore.InfoLevel, "No NVIDIA driver"},
		{nvml.ERROR_DRIVER_NOT_LOADED, zapcore.WarnLevel, "NVML initialisation failed"},
	} {
		t.Run(tt.ret.Error(), func(t *testing.T) {
			clock := testStart
			// Every Func but Init is nil: any further call panics, as the real
			// library would abort the process.
			lib := &mock.Interface{InitFunc: func() nvml.Return { return tt.ret }}
			core, logs := observer.New(zapcore.DebugLevel)
			c := newNVMLCollector(lib, testGPUSettings(zap.New(core), &clock))
			c.start(context.Background())
			mb := metadata.NewMetricsBuilder(metadata.DefaultMetricsConfig(), component.BuildInfo{}, 1)
			for range 3 {
				c.scrape(context.Background(), mb, clock)
			}
			assert.Equal(t, 0, mb.Emit().ResourceMetrics().Len())
			require.NoError(t, c.shutdown())
			require.Equal(t, 1, logs.Len(), "exactly one line")
			assert.Equal(t, tt.level, logs.All()[0].Level)
			assert.Contains(t, logs.All()[0].Message, tt.message)
			assert.Contains(t, logs.All()[0].Message, "host metrics continue")
		})
	}
}

// TestNVMLRealLibraryAbsent uses the real go-nvml binding. On a machine
// without libnvidia-ml (the CI machines here) Init fails with
// ERROR_LIBRARY_NOT_FOUND, and the collector must not call anything else:
// doing so would kill the test binary with a symbol lookup error.
func TestNVMLRealLibraryAbsent(t *testing.T) {
	clock := testStart
	core, logs := observer.New(zapcore.DebugLevel)
	c := newNVMLCollector(nvml.New(), testGPUSettings(zap.New(core), &clock))
	c.start(context.Background())
	if c.initialized {
		require.NoError(t, c.shutdown())
		t.Skip("this machine has an NVIDIA driver; the no-library path cannot be exercised here")
	}
	mb := metadata.NewMetricsBuilder(metadata.DefaultMetricsConfig(), component.BuildInfo{}, 1)
	c.scrape(context.Background(), mb, clock)
	assert.Equal(t, 0, mb.Emit().ResourceMetrics().Len())
	require.NoError(t, c.shutdown())
	require.Equal(t, 1, logs.Len())
	assert.Contains(t, logs.All()[0].Message, "No NVIDIA driver on this host")
}

func TestNVMLMissingSymbolsAreNotCalled(t *testing.T) {
	clock := testStart
	m := newMockMachine(&clock)
	m.srv.LookupSymbolFunc = func(sym string) error {
		if strings.HasPrefix(sym, "nvmlGpm") || sym == "nvmlDeviceGetCurrentClocksEventReasons" || sym == "nvmlDeviceGetMigMode" {
			return errors.New("undefined symbol " + sym)
		}
		return nil
	}
	m.srv.GpmSampleAllocFunc = nil
	for _, dev := range m.srv.Devices {
		d := dev.(*server.Device)
		d.GpmQueryDeviceSupportFunc = nil
		d.GpmSampleGetFunc = nil
		d.GetCurrentClocksEventReasonsFunc = nil
		d.GetCurrentClocksThrottleReasonsFunc = func() (uint64, nvml.Return) { return 0x8, nvml.SUCCESS }
		d.GetMigModeFunc = nil
		d.GetMaxMigDeviceCountFunc = nil
		d.GetMigDeviceHandleByIndexFunc = nil
		if d.GetComputeRunningProcessesFunc == nil {
			// Without MIG discovery the MIG GPU is scraped like any other.
			d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return nil, nvml.SUCCESS }
			d.GetProcessUtilizationFunc = func(uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) { return nil, nvml.ERROR_NOT_FOUND }
		}
	}
	c := newNVMLCollector(m.srv, testGPUSettings(zap.NewNop(), &clock))
	c.start(context.Background())
	assert.Empty(t, c.devices[gpuMIG].migs, "no MIG discovery without the MIG symbols")
	mb := metadata.NewMetricsBuilder(metadata.DefaultMetricsConfig(), component.BuildInfo{}, 1)
	for range 2 {
		clock = clock.Add(10 * time.Second)
		c.scrape(context.Background(), mb, clock)
	}
	md := mb.Emit()
	rm := resourcesByID(md)["GPU-00000000-0000-0000-0000-000000000000"]
	_, ok := findMetric(rm, "hw.gpu.sm.activity")
	assert.False(t, ok)
	th, ok := findMetric(rm, "hw.gpu.clock.throttled")
	require.True(t, ok, "falls back to the older throttle-reasons symbol")
	for _, dp := range th.Gauge().DataPoints().All() {
		reason, _ := dp.Attributes().Get("hw.gpu.clock.throttle_reason")
		assert.Equal(t, reason.Str() == "hw_slowdown", dp.IntValue() == 1, reason.Str())
	}
	require.NoError(t, c.shutdown())
}

func TestNVMLDisabledGPMAllocatesNothing(t *testing.T) {
	clock := testStart
	m := newMockMachine(&clock)
	set := testGPUSettings(zap.NewNop(), &clock)
	for _, id := range gpmTargets {
		set.enabled[id] = false
	}
	c := newNVMLCollector(m.srv, set)
	c.start(context.Background())
	assert.Zero(t, m.gpmAlloc)
	require.NoError(t, c.shutdown())
}

func TestWrapCounter(t *testing.T) {
	tests := []struct {
		name string
		bits uint
		raw  []uint64
		want []uint64
	}{
		{"64-bit monotonic", 64, []uint64{5, 10, 30}, []uint64{5, 10, 30}},
		{"32-bit wrap", 32, []uint64{math.MaxUint32 - 1, 3, 10}, []uint64{math.MaxUint32 - 1, math.MaxUint32 + 4, math.MaxUint32 + 11}},
		{"16-bit wrap", 16, []uint64{65530, 4}, []uint64{65530, 65540}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w wrapCounter
			for i, r := range tt.raw {
				assert.Equal(t, tt.want[i], w.update(r, tt.bits), "step %d", i)
			}
		})
	}
}

func TestSampleValue(t *testing.T) {
	tests := []struct {
		vt   nvml.ValueType
		b    [8]byte
		want float64
	}{
		{nvml.VALUE_TYPE_UNSIGNED_INT, u32(42), 42},
		{nvml.VALUE_TYPE_UNSIGNED_LONG_LONG, u64(1 << 40), 1 << 40},
		{nvml.VALUE_TYPE_DOUBLE, u64(math.Float64bits(12.5)), 12.5},
		{nvml.VALUE_TYPE_SIGNED_INT, u32(uint32(0xFFFFFFFF)), -1},
		{nvml.VALUE_TYPE_SIGNED_LONG_LONG, u64(math.MaxUint64), -1},
		{nvml.VALUE_TYPE_UNSIGNED_SHORT, u32(0x10007), 7},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, sampleValue(tt.vt, tt.b), "value type %d", tt.vt)
	}
	assert.True(t, math.IsNaN(sampleValue(nvml.VALUE_TYPE_COUNT, u32(1))))
}
