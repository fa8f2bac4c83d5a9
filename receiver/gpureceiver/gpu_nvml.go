//go:build cgo

// NVML collector lifecycle: loading the library, discovering GPUs, MIG
// instances and GPM support, remembering what each device cannot do, walking
// the devices on every scrape and releasing everything at shutdown. The
// per-metric reads live in gpu_nvml_scrape.go and gpu_nvml_process.go.

package gpureceiver

import (
	"context"
	"fmt"
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

type gpmState struct {
	samples [2]nvml.GpmSample
	next    int
	have    bool
	lastAt  time.Time
	buf     *nvml.GpmMetricsGetType
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

// hasSymbols reports whether the library has every named symbol, looking up
// no further than the first missing one.
func (c *nvmlCollector) hasSymbols(names ...string) bool {
	for _, name := range names {
		if !c.hasSymbol(name) {
			return false
		}
	}
	return true
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
	if !c.hasSymbols("nvmlDeviceGetMigMode", "nvmlDeviceGetMaxMigDeviceCount", "nvmlDeviceGetMigDeviceHandleByIndex") {
		return
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
	if !c.hasSymbols("nvmlGpmQueryDeviceSupport", "nvmlGpmSampleAlloc", "nvmlGpmSampleGet", "nvmlGpmMetricsGet", "nvmlGpmSampleFree") {
		d.unsupported[capGPM] = true
		return
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

// freeGPM releases the device's GPM samples, if it has any.
func (d *gpuDevice) freeGPM() {
	if d.gpm != nil {
		freeSamples(d.gpm.samples[:])
		d.gpm = nil
	}
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
	rb.SetHwTypeGpu()
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
		c.scrapePhysical(d, mb.NewResource(c.withPods(copyResource(d.res), d.uuid), ts), mb, now)
		for _, m := range d.migs {
			if d.lost {
				break
			}
			rr := mb.NewResource(c.withPods(copyResource(m.res), m.uuid), ts)
			c.scrapeMemory(m, rr, mb)
			c.scrapeProcesses(m, rr, mb)
		}
		if d.lost {
			c.set.logger.Warn("GPU lost (fell off the bus or needs a reset): dropping it until the collector restarts",
				zap.String("hw.id", d.uuid), zap.Int("index", d.index))
			d.freeGPM()
			continue
		}
		kept = append(kept, d)
	}
	clear(c.devices[len(kept):])
	c.devices = kept
}

// withPods adds the pods the kubelet allocated the device to, when known.
func (c *nvmlCollector) withPods(res pcommon.Resource, uuid string) pcommon.Resource {
	if c.set.podsOf != nil {
		if pods, known := c.set.podsOf(uuid); known {
			metadata.PutPods(res, metadata.ResAttrOtelcolGpuPods, pods)
		}
	}
	return res
}

func copyResource(r pcommon.Resource) pcommon.Resource {
	out := pcommon.NewResource()
	r.CopyTo(out)
	return out
}

func (c *nvmlCollector) shutdown() error {
	if !c.initialized {
		return nil // never call into a library that did not initialise
	}
	for _, d := range c.devices {
		d.freeGPM()
	}
	c.devices = nil
	c.initialized = false
	if ret := c.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("shut down NVML: %w", ret)
	}
	return nil
}
