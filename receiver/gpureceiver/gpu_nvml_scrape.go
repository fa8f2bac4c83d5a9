//go:build cgo

// Device metrics of one GPU or MIG instance: utilisation, memory, power,
// clocks, throttling, PCIe/NVLink counters, ECC errors and GPM.

package gpureceiver

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver/internal/metadata"
)

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
	bit    uint64
	reason metadata.AttributeHwGpuClockThrottleReason
}{
	{0x1, metadata.AttributeHwGpuClockThrottleReasonIdle},
	{0x4, metadata.AttributeHwGpuClockThrottleReasonSwPowerCap},
	{0x8, metadata.AttributeHwGpuClockThrottleReasonHwSlowdown},
	{0x20, metadata.AttributeHwGpuClockThrottleReasonSwThermal},
	{0x40, metadata.AttributeHwGpuClockThrottleReasonHwThermal},
	{0x80, metadata.AttributeHwGpuClockThrottleReasonPowerBrake},
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

func (c *nvmlCollector) scrapePhysical(d *gpuDevice, rr *metadata.ResourceRecorder, mb *metadata.MetricsBuilder, now time.Time) {
	c.scrapeUtilization(d, rr, mb, now)
	c.scrapeMemory(d, rr, mb)

	recordReading(c, d, rr, mb, metadata.HwTemperature, capTemperature, 1, func() (uint32, nvml.Return) { return d.h.GetTemperature(nvml.TEMPERATURE_GPU) })
	recordReading(c, d, rr, mb, metadata.HwPower, capPower, 1000, d.h.GetPowerUsage)                      // mW
	recordReading(c, d, rr, mb, metadata.HwGpuPowerLimit, capPowerLimit, 1000, d.h.GetEnforcedPowerLimit) // mW
	recordReading(c, d, rr, mb, metadata.HwEnergy, capEnergy, 1000, d.h.GetTotalEnergyConsumption)        // mJ
	if mb.Enabled(metadata.HwGpuClockFrequency) {
		for _, clk := range [...]struct {
			cp     capability
			typ    nvml.ClockType
			domain metadata.AttributeHwGpuClockDomain
		}{{capClockSM, nvml.CLOCK_SM, metadata.AttributeHwGpuClockDomainSm}, {capClockMem, nvml.CLOCK_MEM, metadata.AttributeHwGpuClockDomainMemory}} {
			if !c.want(d, clk.cp) {
				continue
			}
			if mhz, ret := d.h.GetClockInfo(clk.typ); c.ok(d, clk.cp, ret) {
				rr.RecordInt(metadata.HwGpuClockFrequency, int64(mhz)*1_000_000, clk.domain.Attr())
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

// recordReading records one NVML reading divided by div (milli-units to
// units), unless the metric is off or the device cannot provide it.
func recordReading[T uint32 | uint64](c *nvmlCollector, d *gpuDevice, rr *metadata.ResourceRecorder, mb *metadata.MetricsBuilder,
	id metadata.MetricID, cp capability, div float64, read func() (T, nvml.Return),
) {
	if !mb.Enabled(id) || !c.want(d, cp) {
		return
	}
	if v, ret := read(); c.ok(d, cp, ret) {
		rr.RecordDouble(id, float64(v)/div)
	}
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
			rr.RecordDouble(metadata.HwGpuUtilization, v, metadata.AttributeHwGpuTaskGeneral.Attr())
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
	since := c.sampleSince(*last, now)
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

// sampleSince is where a read of the driver's sample buffers starts: after the
// newest sample the previous scrape used, or one interval back on the first.
func (c *nvmlCollector) sampleSince(last uint64, now time.Time) uint64 {
	if last == 0 {
		return uint64(now.Add(-c.set.interval).UnixMicro())
	}
	return last
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
		rr.RecordInt(metadata.HwGpuClockThrottled, on, r.reason.Attr())
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

var directions = [2]metadata.AttributeNetworkIoDirection{metadata.AttributeNetworkIoDirectionTransmit, metadata.AttributeNetworkIoDirectionReceive}

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
		dir := directions[f.dir].Attr()
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
		cp    capability
		typ   nvml.MemoryErrorType
		error metadata.AttributeErrorType
	}{{capECCCorrected, nvml.MEMORY_ERROR_TYPE_CORRECTED, metadata.AttributeErrorTypeCorrected}, {capECCUncorrected, nvml.MEMORY_ERROR_TYPE_UNCORRECTED, metadata.AttributeErrorTypeUncorrected}} {
		if !c.want(d, e.cp) {
			continue
		}
		if n, ret := d.h.GetTotalEccErrors(e.typ, nvml.VOLATILE_ECC); c.ok(d, e.cp, ret) {
			rr.RecordInt(metadata.HwErrors, clampInt64(n),
				metadata.AttributeHwTypeGpu.Attr(), e.error.Attr())
		}
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
