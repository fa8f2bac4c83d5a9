//go:build cgo

package gpureceiver

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver/internal/metadata"
)

// nvmlLib is the part of nvml.Interface the receiver uses. nvml.New() and
// go-nvml's mock servers both satisfy it, which is how the tests drive the
// whole collector without a GPU.
type nvmlLib interface {
	Init() nvml.Return
	Shutdown() nvml.Return
	Extensions() nvml.ExtendedInterface
	SystemGetDriverVersion() (string, nvml.Return)
	DeviceGetCount() (int, nvml.Return)
	DeviceGetHandleByIndex(int) (nvml.Device, nvml.Return)
	GpmSampleAlloc() (nvml.GpmSample, nvml.Return)
	GpmMetricsGet(*nvml.GpmMetricsGetType) nvml.Return
}

func newGPUCollector(set gpuSettings) gpuCollector {
	return newNVMLCollector(nvml.New(), set)
}

// capability is one group of NVML calls whose support is remembered per
// device: once the driver says "not supported", it is never asked again.
type capability int

const (
	capUtilSamples capability = iota
	capMemCtrlSamples
	capUtilRates
	capMemory
	capTemperature
	capPower
	capPowerLimit
	capEnergy
	capClockSM
	capClockMem
	capThrottle
	capPCIe
	capNVLink
	capECCCorrected
	capECCUncorrected
	capProcesses
	capProcessUtil
	capGPM
	capCount
)

var capNames = [capCount]string{
	capUtilSamples:    "utilization samples",
	capMemCtrlSamples: "memory controller samples",
	capUtilRates:      "utilization rates",
	capMemory:         "memory info",
	capTemperature:    "temperature",
	capPower:          "power usage",
	capPowerLimit:     "enforced power limit",
	capEnergy:         "energy counter",
	capClockSM:        "SM clock",
	capClockMem:       "memory clock",
	capThrottle:       "clock event reasons",
	capPCIe:           "PCIe byte counters",
	capNVLink:         "NVLink throughput counters",
	capECCCorrected:   "corrected ECC errors",
	capECCUncorrected: "uncorrected ECC errors",
	capProcesses:      "compute processes",
	capProcessUtil:    "process utilization",
	capGPM:            "GPM",
}

// gpmMetrics are requested in this order; gpmTargets says where each goes.
var (
	gpmMetrics = [...]nvml.GpmMetricId{
		nvml.GPM_METRIC_SM_UTIL,
		nvml.GPM_METRIC_SM_OCCUPANCY,
		nvml.GPM_METRIC_ANY_TENSOR_UTIL,
		nvml.GPM_METRIC_DRAM_BW_UTIL,
	}
	gpmTargets = [...]metadata.MetricID{
		metadata.HwGpuSmActivity,
		metadata.HwGpuSmOccupancy,
		metadata.HwGpuTensorActivity,
		metadata.HwGpuDramBandwidthUtilization,
	}
)

// throttleReasons are the clock event bits worth a series each.
var throttleReasons = [...]struct {
	bit  uint64
	name string
}{
	{0x1, "idle"},
	{0x4, "sw_power_cap"},
	{0x8, "hw_slowdown"},
	{0x20, "sw_thermal"},
	{0x40, "hw_thermal"},
	{0x80, "power_brake"},
}

type gpmState struct {
	samples [2]nvml.GpmSample
	next    int
	have    bool
	lastAt  time.Time
	buf     *nvml.GpmMetricsGetType
}

// wrapCounter turns a driver counter that wraps at 2^bits into a monotonic
// total, starting from the first raw value seen.
type wrapCounter struct {
	last, total uint64
	primed      bool
}

func (w *wrapCounter) update(raw uint64, bits uint) uint64 {
	if !w.primed {
		w.primed, w.last, w.total = true, raw, raw
		return w.total
	}
	delta := raw - w.last
	if bits < 64 {
		delta &= (uint64(1) << bits) - 1
	}
	w.last = raw
	w.total += delta
	return w.total
}

type gpuDevice struct {
	h      nvml.Device
	index  int // NVML index, or MIG slot for a MIG instance
	uuid   string
	parent *gpuDevice
	migs   []*gpuDevice
	res    pcommon.Resource

	unsupported [capCount]bool
	lost        bool

	lastUtilTs, lastMemCtrlTs, lastProcTs uint64
	pcie, nvlink                          [2]wrapCounter // transmit, receive
	fields                                []nvml.FieldValue
	gpm                                   *gpmState
}

func (d *gpuDevice) root() *gpuDevice {
	if d.parent != nil {
		return d.parent
	}
	return d
}

type nvmlCollector struct {
	lib         nvmlLib
	set         gpuSettings
	warn        *warnLimiter
	initialized bool
	driver      string
	devices     []*gpuDevice
	symbols     map[string]bool
	// ns adds process.vpid and container.id to per-process points.
	ns *nsResolver
}

func newNVMLCollector(lib nvmlLib, set gpuSettings) *nvmlCollector {
	return &nvmlCollector{
		lib:     lib,
		set:     set,
		warn:    newWarnLimiter(set.logger, set.warnEvery, set.now),
		symbols: make(map[string]bool),
		ns:      newNSResolver(set.logger),
	}
}

func (c *nvmlCollector) start(context.Context) {
	ret := c.lib.Init()
	if ret != nvml.SUCCESS {
		// Any other NVML call now would kill the process (symbol lookup
		// error), Shutdown included, so the collector goes inert for good.
		if ret == nvml.ERROR_LIBRARY_NOT_FOUND {
			c.set.logger.Info("No NVIDIA driver on this host (libnvidia-ml.so.1 not found): GPU metrics disabled, host metrics continue")
		} else {
			c.set.logger.Warn("NVML initialisation failed: GPU metrics disabled, host metrics continue", zap.String("nvml_error", ret.Error()))
		}
		return
	}
	c.initialized = true
	c.discover()
}

func (c *nvmlCollector) hasSymbol(name string) bool {
	ok, seen := c.symbols[name]
	if !seen {
		ok = c.lib.Extensions().LookupSymbol(name) == nil
		c.symbols[name] = ok
	}
	return ok
}

func (c *nvmlCollector) discover() {
	driver, ret := c.lib.SystemGetDriverVersion()
	if ret == nvml.SUCCESS {
		c.driver = driver
	} else {
		c.set.logger.Warn("Cannot read the NVIDIA driver version", zap.String("nvml_error", ret.Error()))
	}
	n, ret := c.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		c.set.logger.Warn("Cannot count NVIDIA GPUs: GPU metrics disabled", zap.String("nvml_error", ret.Error()))
		return
	}
	migs, gpm := 0, 0
	for i := range n {
		h, ret := c.lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			c.set.logger.Warn("Skipping GPU: no handle", zap.Int("index", i), zap.String("nvml_error", ret.Error()))
			continue
		}
		uuid, ret := h.GetUUID()
		if ret != nvml.SUCCESS {
			c.set.logger.Warn("Skipping GPU: no UUID", zap.Int("index", i), zap.String("nvml_error", ret.Error()))
			continue
		}
		d := &gpuDevice{h: h, index: i, uuid: uuid}
		d.res = c.resource(d)
		c.discoverMIG(d)
		c.setupGPM(d)
		migs += len(d.migs)
		if d.gpm != nil {
			gpm++
		}
		c.devices = append(c.devices, d)
	}
	c.set.logger.Info("NVML ready",
		zap.String("driver_version", c.driver),
		zap.Int("gpus", len(c.devices)),
		zap.Int("mig_instances", migs),
		zap.Int("gpm_capable", gpm))
}

func (c *nvmlCollector) discoverMIG(d *gpuDevice) {
	// MIG arrived with driver 450; the calls abort the process on older ones.
	for _, sym := range []string{"nvmlDeviceGetMigMode", "nvmlDeviceGetMaxMigDeviceCount", "nvmlDeviceGetMigDeviceHandleByIndex"} {
		if !c.hasSymbol(sym) {
			return
		}
	}
	current, _, ret := d.h.GetMigMode()
	if ret != nvml.SUCCESS || current != nvml.DEVICE_MIG_ENABLE {
		return
	}
	maxCount, ret := d.h.GetMaxMigDeviceCount()
	if ret != nvml.SUCCESS {
		c.set.logger.Warn("MIG enabled but its instances cannot be counted", zap.String("hw.id", d.uuid), zap.String("nvml_error", ret.Error()))
		return
	}
	for j := range maxCount {
		mh, ret := d.h.GetMigDeviceHandleByIndex(j)
		if ret == nvml.ERROR_NOT_FOUND {
			continue // empty slot
		}
		if ret != nvml.SUCCESS {
			c.set.logger.Warn("Skipping MIG instance: no handle", zap.String("hw.parent", d.uuid), zap.Int("mig_index", j), zap.String("nvml_error", ret.Error()))
			continue
		}
		uuid, ret := mh.GetUUID()
		if ret != nvml.SUCCESS {
			c.set.logger.Warn("Skipping MIG instance: no UUID", zap.String("hw.parent", d.uuid), zap.Int("mig_index", j), zap.String("nvml_error", ret.Error()))
			continue
		}
		m := &gpuDevice{h: mh, index: j, uuid: uuid, parent: d}
		m.res = c.resource(m)
		d.migs = append(d.migs, m)
	}
}

func (c *nvmlCollector) setupGPM(d *gpuDevice) {
	want := false
	for _, id := range gpmTargets {
		want = want || c.set.enabled[id]
	}
	if !want {
		return
	}
	// GPM arrived with driver 520; an older library lacks the symbols and
	// calling through the binding would abort the process.
	for _, sym := range []string{"nvmlGpmQueryDeviceSupport", "nvmlGpmSampleAlloc", "nvmlGpmSampleGet", "nvmlGpmMetricsGet", "nvmlGpmSampleFree"} {
		if !c.hasSymbol(sym) {
			d.unsupported[capGPM] = true
			return
		}
	}
	sup, ret := d.h.GpmQueryDeviceSupport()
	if !c.ok(d, capGPM, ret) || sup.IsSupportedDevice == 0 {
		d.unsupported[capGPM] = true
		return
	}
	var g gpmState
	for i := range g.samples {
		s, ret := c.lib.GpmSampleAlloc()
		if ret != nvml.SUCCESS {
			c.set.logger.Warn("Cannot allocate GPM samples: GPM metrics off for this GPU", zap.String("hw.id", d.uuid), zap.String("nvml_error", ret.Error()))
			freeSamples(g.samples[:i])
			d.unsupported[capGPM] = true
			return
		}
		g.samples[i] = s
	}
	g.buf = new(nvml.GpmMetricsGetType)
	d.gpm = &g
}

func freeSamples(s []nvml.GpmSample) {
	for _, x := range s {
		if x != nil {
			_ = x.Free()
		}
	}
}

func (c *nvmlCollector) resource(d *gpuDevice) pcommon.Resource {
	rb := metadata.NewResourceBuilder()
	rb.SetHostName(c.set.hostName)
	rb.SetHwType("gpu")
	rb.SetHwID(d.uuid)
	rb.SetHwVendor("NVIDIA")
	rb.SetHwDriverVersion(c.driver)
	if name, ret := d.h.GetName(); ret == nvml.SUCCESS {
		rb.SetHwModel(name)
	}
	if d.parent == nil {
		rb.SetHwName(fmt.Sprintf("gpu%d", d.index))
		rb.SetHwGpuIndex(d.index)
	} else {
		rb.SetHwName(fmt.Sprintf("gpu%d/mig%d", d.parent.index, d.index))
		rb.SetHwParent(d.parent.uuid)
		rb.SetHwGpuIndex(d.parent.index)
		rb.SetHwGpuMigIndex(d.index)
	}
	return rb.Emit()
}

// ok sorts an NVML return into: data (true), permanently unsupported on this
// device, device lost, or a transient failure worth a rate-limited warning.
func (c *nvmlCollector) ok(d *gpuDevice, cp capability, ret nvml.Return) bool {
	switch ret {
	case nvml.SUCCESS:
		return true
	case nvml.ERROR_NOT_SUPPORTED, nvml.ERROR_NO_PERMISSION, nvml.ERROR_FUNCTION_NOT_FOUND:
		d.unsupported[cp] = true
		c.set.logger.Debug("GPU does not provide this data; not asking again",
			zap.String("hw.id", d.uuid), zap.String("data", capNames[cp]), zap.String("nvml_error", ret.Error()))
	case nvml.ERROR_GPU_IS_LOST:
		d.root().lost = true
	default:
		c.warn.Warn(d.uuid+"/"+capNames[cp], "NVML call failed",
			zap.String("hw.id", d.uuid), zap.String("data", capNames[cp]), zap.String("nvml_error", ret.Error()))
	}
	return false
}

func (c *nvmlCollector) want(d *gpuDevice, cp capability) bool {
	return !d.root().lost && !d.unsupported[cp]
}

func (c *nvmlCollector) scrape(ctx context.Context, mb *metadata.MetricsBuilder, now time.Time) {
	if !c.initialized {
		return
	}
	if mb.Enabled(metadata.HwGpuProcessMemoryUsage) || mb.Enabled(metadata.HwGpuProcessUtilization) {
		c.ns.begin(ctx, c.set.procRoot)
	}
	ts := pcommon.NewTimestampFromTime(now)
	kept := c.devices[:0]
	for _, d := range c.devices {
		c.scrapePhysical(d, mb.NewResource(copyResource(d.res), ts), mb, now)
		for _, m := range d.migs {
			if d.lost {
				break
			}
			rr := mb.NewResource(copyResource(m.res), ts)
			c.scrapeMemory(m, rr, mb)
			c.scrapeProcesses(m, rr, mb)
		}
		if d.lost {
			c.set.logger.Warn("GPU lost (fell off the bus or needs a reset): dropping it until the collector restarts",
				zap.String("hw.id", d.uuid), zap.Int("index", d.index))
			if d.gpm != nil {
				freeSamples(d.gpm.samples[:])
			}
			continue
		}
		kept = append(kept, d)
	}
	clear(c.devices[len(kept):])
	c.devices = kept
}

func copyResource(r pcommon.Resource) pcommon.Resource {
	out := pcommon.NewResource()
	r.CopyTo(out)
	return out
}

func (c *nvmlCollector) scrapePhysical(d *gpuDevice, rr *metadata.ResourceRecorder, mb *metadata.MetricsBuilder, now time.Time) {
	c.scrapeUtilization(d, rr, mb, now)
	c.scrapeMemory(d, rr, mb)

	if mb.Enabled(metadata.HwTemperature) && c.want(d, capTemperature) {
		if v, ret := d.h.GetTemperature(nvml.TEMPERATURE_GPU); c.ok(d, capTemperature, ret) {
			rr.RecordDouble(metadata.HwTemperature, float64(v))
		}
	}
	if mb.Enabled(metadata.HwPower) && c.want(d, capPower) {
		if v, ret := d.h.GetPowerUsage(); c.ok(d, capPower, ret) {
			rr.RecordDouble(metadata.HwPower, float64(v)/1000)
		}
	}
	if mb.Enabled(metadata.HwGpuPowerLimit) && c.want(d, capPowerLimit) {
		if v, ret := d.h.GetEnforcedPowerLimit(); c.ok(d, capPowerLimit, ret) {
			rr.RecordDouble(metadata.HwGpuPowerLimit, float64(v)/1000)
		}
	}
	if mb.Enabled(metadata.HwEnergy) && c.want(d, capEnergy) {
		if v, ret := d.h.GetTotalEnergyConsumption(); c.ok(d, capEnergy, ret) {
			rr.RecordDouble(metadata.HwEnergy, float64(v)/1000)
		}
	}
	if mb.Enabled(metadata.HwGpuClockFrequency) {
		for _, clk := range [...]struct {
			cp     capability
			typ    nvml.ClockType
			domain string
		}{{capClockSM, nvml.CLOCK_SM, "sm"}, {capClockMem, nvml.CLOCK_MEM, "memory"}} {
			if !c.want(d, clk.cp) {
				continue
			}
			if mhz, ret := d.h.GetClockInfo(clk.typ); c.ok(d, clk.cp, ret) {
				rr.RecordInt(metadata.HwGpuClockFrequency, int64(mhz)*1_000_000, metadata.Str(metadata.AttrHwGpuClockDomain, clk.domain))
			}
		}
	}
	c.scrapeThrottle(d, rr, mb)
	c.scrapeFields(d, rr, mb)
	c.scrapeECC(d, rr, mb)
	// With MIG on, processes are charged to their MIG instance; listing them
	// on the parent as well would count their memory twice.
	if len(d.migs) == 0 {
		c.scrapeProcesses(d, rr, mb)
		c.scrapeProcessUtilization(d, rr, mb, now)
	}
	c.scrapeGPM(d, rr, now)
}

func (c *nvmlCollector) scrapeUtilization(d *gpuDevice, rr *metadata.ResourceRecorder, mb *metadata.MetricsBuilder, now time.Time) {
	wantGPU, wantMem := mb.Enabled(metadata.HwGpuUtilization), mb.Enabled(metadata.HwGpuMemoryControllerUtilization)
	if !wantGPU && !wantMem {
		return
	}
	var rates *nvml.Utilization
	instant := func() *nvml.Utilization {
		if rates == nil && c.want(d, capUtilRates) {
			if u, ret := d.h.GetUtilizationRates(); c.ok(d, capUtilRates, ret) {
				rates = &u
			}
		}
		return rates
	}
	if wantGPU {
		v, ok := c.sampleAverage(d, nvml.GPU_UTILIZATION_SAMPLES, &d.lastUtilTs, capUtilSamples, now)
		if !ok {
			if u := instant(); u != nil {
				v, ok = float64(u.Gpu)/100, true
			}
		}
		if ok {
			rr.RecordDouble(metadata.HwGpuUtilization, v, metadata.Str(metadata.AttrHwGpuTask, "general"))
		}
	}
	if wantMem {
		v, ok := c.sampleAverage(d, nvml.MEMORY_UTILIZATION_SAMPLES, &d.lastMemCtrlTs, capMemCtrlSamples, now)
		if !ok {
			if u := instant(); u != nil {
				v, ok = float64(u.Memory)/100, true
			}
		}
		if ok {
			rr.RecordDouble(metadata.HwGpuMemoryControllerUtilization, v)
		}
	}
}

// sampleAverage averages the driver's ring buffer since the last sample used
// by the previous scrape (or one interval back on the first), which covers the
// whole interval instead of the last 1/6 s to 1 s that GetUtilizationRates sees.
func (c *nvmlCollector) sampleAverage(d *gpuDevice, typ nvml.SamplingType, last *uint64, cp capability, now time.Time) (float64, bool) {
	if !c.want(d, cp) {
		return 0, false
	}
	since := *last
	if since == 0 {
		since = uint64(now.Add(-c.set.interval).UnixMicro())
	}
	vt, samples, ret := d.h.GetSamples(typ, since)
	if ret == nvml.ERROR_NOT_FOUND {
		return 0, false // no sample since the last scrape
	}
	if !c.ok(d, cp, ret) {
		return 0, false
	}
	sum, n, newest := 0.0, 0, since
	for _, s := range samples {
		if s.TimeStamp <= since {
			continue
		}
		sum += sampleValue(vt, s.SampleValue)
		n++
		newest = max(newest, s.TimeStamp)
	}
	if n == 0 {
		return 0, false
	}
	*last = newest
	return sum / float64(n) / 100, true
}

// sampleValue decodes NVML's value union (native byte order; every platform
// with NVIDIA drivers is little-endian).
func sampleValue(vt nvml.ValueType, b [8]byte) float64 {
	switch vt {
	case nvml.VALUE_TYPE_DOUBLE:
		return math.Float64frombits(binary.LittleEndian.Uint64(b[:]))
	case nvml.VALUE_TYPE_UNSIGNED_INT:
		return float64(binary.LittleEndian.Uint32(b[:]))
	case nvml.VALUE_TYPE_UNSIGNED_LONG, nvml.VALUE_TYPE_UNSIGNED_LONG_LONG:
		return float64(binary.LittleEndian.Uint64(b[:]))
	case nvml.VALUE_TYPE_SIGNED_LONG_LONG:
		return float64(int64(binary.LittleEndian.Uint64(b[:])))
	case nvml.VALUE_TYPE_SIGNED_INT:
		return float64(int32(binary.LittleEndian.Uint32(b[:])))
	case nvml.VALUE_TYPE_UNSIGNED_SHORT:
		return float64(binary.LittleEndian.Uint16(b[:]))
	default:
		return math.NaN()
	}
}

// fieldUint decodes an unsigned field value and reports its width in bits.
func fieldUint(vt nvml.ValueType, b [8]byte) (uint64, uint, bool) {
	switch vt {
	case nvml.VALUE_TYPE_UNSIGNED_INT:
		return uint64(binary.LittleEndian.Uint32(b[:])), 32, true
	case nvml.VALUE_TYPE_UNSIGNED_LONG, nvml.VALUE_TYPE_UNSIGNED_LONG_LONG, nvml.VALUE_TYPE_SIGNED_LONG_LONG:
		return binary.LittleEndian.Uint64(b[:]), 64, true
	case nvml.VALUE_TYPE_UNSIGNED_SHORT:
		return uint64(binary.LittleEndian.Uint16(b[:])), 16, true
	default:
		return 0, 0, false
	}
}

func (c *nvmlCollector) scrapeMemory(d *gpuDevice, rr *metadata.ResourceRecorder, mb *metadata.MetricsBuilder) {
	if !mb.Enabled(metadata.HwGpuMemoryUsage) && !mb.Enabled(metadata.HwGpuMemoryLimit) && !mb.Enabled(metadata.HwGpuMemoryUtilization) {
		return
	}
	if !c.want(d, capMemory) {
		return
	}
	// v1 on purpose: its Used counts reserved memory, like nvidia-smi and
	// MLflow, and the symbol exists on every driver.
	m, ret := d.h.GetMemoryInfo()
	if !c.ok(d, capMemory, ret) {
		return
	}
	rr.RecordInt(metadata.HwGpuMemoryUsage, clampInt64(m.Used))
	rr.RecordInt(metadata.HwGpuMemoryLimit, clampInt64(m.Total))
	if m.Total > 0 {
		rr.RecordDouble(metadata.HwGpuMemoryUtilization, float64(m.Used)/float64(m.Total))
	}
}

func (c *nvmlCollector) scrapeThrottle(d *gpuDevice, rr *metadata.ResourceRecorder, mb *metadata.MetricsBuilder) {
	if !mb.Enabled(metadata.HwGpuClockThrottled) || !c.want(d, capThrottle) {
		return
	}
	var (
		mask uint64
		ret  nvml.Return
	)
	switch {
	case c.hasSymbol("nvmlDeviceGetCurrentClocksEventReasons"):
		mask, ret = d.h.GetCurrentClocksEventReasons()
	case c.hasSymbol("nvmlDeviceGetCurrentClocksThrottleReasons"):
		mask, ret = d.h.GetCurrentClocksThrottleReasons()
	default:
		ret = nvml.ERROR_FUNCTION_NOT_FOUND
	}
	if !c.ok(d, capThrottle, ret) {
		return
	}
	for _, r := range throttleReasons {
		var on int64
		if mask&r.bit != 0 {
			on = 1
		}
		rr.RecordInt(metadata.HwGpuClockThrottled, on, metadata.Str(metadata.AttrHwGpuClockThrottleReason, r.name))
	}
}

// Field ids and scopes of the I/O counters read in one GetFieldValues call.
// ScopeId MaxUint32 sums the NVLink counters over all links.
var ioFields = [...]struct {
	id    uint32
	scope uint32
	cp    capability
	dir   int // 0 transmit, 1 receive
	unit  uint64
}{
	{nvml.FI_DEV_PCIE_COUNT_TX_BYTES, 0, capPCIe, 0, 1},
	{nvml.FI_DEV_PCIE_COUNT_RX_BYTES, 0, capPCIe, 1, 1},
	{nvml.FI_DEV_NVLINK_THROUGHPUT_DATA_TX, math.MaxUint32, capNVLink, 0, 1024},
	{nvml.FI_DEV_NVLINK_THROUGHPUT_DATA_RX, math.MaxUint32, capNVLink, 1, 1024},
}

var directions = [2]string{"transmit", "receive"}

func (c *nvmlCollector) scrapeFields(d *gpuDevice, rr *metadata.ResourceRecorder, mb *metadata.MetricsBuilder) {
	wantPCIe := mb.Enabled(metadata.HwGpuIo) && c.want(d, capPCIe)
	wantNVLink := mb.Enabled(metadata.HwGpuNvlinkIo) && c.want(d, capNVLink)
	if !wantPCIe && !wantNVLink {
		return
	}
	d.fields = d.fields[:0]
	var which [len(ioFields)]int
	for i, f := range ioFields {
		if (f.cp == capPCIe && wantPCIe) || (f.cp == capNVLink && wantNVLink) {
			which[len(d.fields)] = i
			d.fields = append(d.fields, nvml.FieldValue{FieldId: f.id, ScopeId: f.scope})
		}
	}
	ret := d.h.GetFieldValues(d.fields)
	if ret != nvml.SUCCESS {
		if wantPCIe {
			c.ok(d, capPCIe, ret)
		}
		if wantNVLink {
			c.ok(d, capNVLink, ret)
		}
		return
	}
	for j, fv := range d.fields {
		f := ioFields[which[j]]
		if !c.ok(d, f.cp, nvml.Return(fv.NvmlReturn)) {
			continue
		}
		raw, bits, ok := fieldUint(nvml.ValueType(fv.ValueType), fv.Value)
		if !ok {
			continue
		}
		dir := metadata.Str(metadata.AttrNetworkIoDirection, directions[f.dir])
		if f.cp == capPCIe {
			rr.RecordInt(metadata.HwGpuIo, clampInt64(d.pcie[f.dir].update(raw, bits)), dir)
		} else {
			rr.RecordInt(metadata.HwGpuNvlinkIo, clampInt64(d.nvlink[f.dir].update(raw, bits)*f.unit), dir)
		}
	}
}

func (c *nvmlCollector) scrapeECC(d *gpuDevice, rr *metadata.ResourceRecorder, mb *metadata.MetricsBuilder) {
	if !mb.Enabled(metadata.HwErrors) {
		return
	}
	for _, e := range [...]struct {
		cp   capability
		typ  nvml.MemoryErrorType
		name string
	}{{capECCCorrected, nvml.MEMORY_ERROR_TYPE_CORRECTED, "corrected"}, {capECCUncorrected, nvml.MEMORY_ERROR_TYPE_UNCORRECTED, "uncorrected"}} {
		if !c.want(d, e.cp) {
			continue
		}
		if n, ret := d.h.GetTotalEccErrors(e.typ, nvml.VOLATILE_ECC); c.ok(d, e.cp, ret) {
			rr.RecordInt(metadata.HwErrors, clampInt64(n),
				metadata.Str(metadata.AttrHwType, "gpu"), metadata.Str(metadata.AttrErrorType, e.name))
		}
	}
}

func (c *nvmlCollector) scrapeProcesses(d *gpuDevice, rr *metadata.ResourceRecorder, mb *metadata.MetricsBuilder) {
	if !mb.Enabled(metadata.HwGpuProcessMemoryUsage) || !c.want(d, capProcesses) {
		return
	}
	procs, ret := d.h.GetComputeRunningProcesses()
	if !c.ok(d, capProcesses, ret) {
		return
	}
	for _, p := range procs {
		if p.UsedGpuMemory == math.MaxUint64 {
			continue // NVML_VALUE_NOT_AVAILABLE, e.g. without permission on Windows
		}
		rr.RecordInt(metadata.HwGpuProcessMemoryUsage, clampInt64(p.UsedGpuMemory), c.procAttrs(p.Pid)...)
	}
}

// procAttrs are a GPU process's point attributes: its host pid and, when it
// runs in another PID namespace, its pid there and its container (procns.go).
func (c *nvmlCollector) procAttrs(pid uint32) []metadata.Attribute {
	attrs := make([]metadata.Attribute, 1, 4)
	attrs[0] = metadata.IntAttr(metadata.AttrProcessPID, int64(pid))
	if vpid, cid, ok := c.ns.lookup(pid); ok {
		attrs = append(attrs, metadata.IntAttr(attrProcessVPID, vpid))
		if cid != "" {
			attrs = append(attrs, metadata.Str(attrContainerID, cid))
		}
	}
	return attrs
}

type procUtil struct {
	n            int
	sm, enc, dec float64
}

func (c *nvmlCollector) scrapeProcessUtilization(d *gpuDevice, rr *metadata.ResourceRecorder, mb *metadata.MetricsBuilder, now time.Time) {
	if !mb.Enabled(metadata.HwGpuProcessUtilization) || !c.want(d, capProcessUtil) {
		return
	}
	since := d.lastProcTs
	if since == 0 {
		since = uint64(now.Add(-c.set.interval).UnixMicro())
	}
	samples, ret := d.h.GetProcessUtilization(since)
	if ret == nvml.ERROR_NOT_FOUND {
		return // no process ran since the last scrape
	}
	if !c.ok(d, capProcessUtil, ret) {
		return
	}
	per := make(map[uint32]*procUtil, len(samples))
	order := make([]uint32, 0, len(samples))
	newest := since
	for _, s := range samples {
		if s.TimeStamp <= since {
			continue
		}
		u := per[s.Pid]
		if u == nil {
			u = &procUtil{}
			per[s.Pid] = u
			order = append(order, s.Pid)
		}
		u.n++
		u.sm += float64(s.SmUtil)
		u.enc += float64(s.EncUtil)
		u.dec += float64(s.DecUtil)
		newest = max(newest, s.TimeStamp)
	}
	d.lastProcTs = newest
	for _, pid := range order {
		u := per[pid]
		n := float64(u.n) * 100
		p := c.procAttrs(pid)
		k := len(p)
		p = append(p, metadata.Str(metadata.AttrHwGpuTask, "general"))
		rr.RecordDouble(metadata.HwGpuProcessUtilization, u.sm/n, p...)
		p[k] = metadata.Str(metadata.AttrHwGpuTask, "encoder")
		rr.RecordDouble(metadata.HwGpuProcessUtilization, u.enc/n, p...)
		p[k] = metadata.Str(metadata.AttrHwGpuTask, "decoder")
		rr.RecordDouble(metadata.HwGpuProcessUtilization, u.dec/n, p...)
	}
}

// scrapeGPM takes one GPM sample per scrape and derives the metrics from it
// and the previous one, so they cover the whole collection interval.
func (c *nvmlCollector) scrapeGPM(d *gpuDevice, rr *metadata.ResourceRecorder, now time.Time) {
	g := d.gpm
	if g == nil || !c.want(d, capGPM) {
		return
	}
	if g.have && now.Sub(g.lastAt) < gpmMinGap {
		return // keep the older sample until the gap is long enough
	}
	cur := g.samples[g.next]
	if ret := d.h.GpmSampleGet(cur); !c.ok(d, capGPM, ret) {
		g.have = false
		return
	}
	if g.have {
		buf := g.buf
		*buf = nvml.GpmMetricsGetType{
			Version:    nvml.GPM_METRICS_GET_VERSION,
			NumMetrics: uint32(len(gpmMetrics)),
			Sample1:    g.samples[1-g.next],
			Sample2:    cur,
		}
		for i, id := range gpmMetrics {
			buf.Metrics[i].MetricId = uint32(id)
		}
		if ret := c.lib.GpmMetricsGet(buf); c.ok(d, capGPM, ret) {
			for i, target := range gpmTargets {
				if m := buf.Metrics[i]; nvml.Return(m.NvmlReturn) == nvml.SUCCESS {
					rr.RecordDouble(target, m.Value/100)
				}
			}
		}
	}
	g.have, g.lastAt, g.next = true, now, 1-g.next
}

func (c *nvmlCollector) shutdown() error {
	if !c.initialized {
		return nil // never call into a library that did not initialise
	}
	for _, d := range c.devices {
		if d.gpm != nil {
			freeSamples(d.gpm.samples[:])
			d.gpm = nil
		}
	}
	c.devices = nil
	c.initialized = false
	if ret := c.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("shut down NVML: %w", ret)
	}
	return nil
}
