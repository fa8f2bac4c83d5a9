// Package sysmetrics turns host and GPU telemetry (resources that name no
// run, such as the gpu receiver's) into the values MLflow's "System metrics"
// tab charts: MLflow's exact keys and units (MB = bytes/1e6, percentages,
// watts) in mode "mlflow", or the OTel metric names in mode "otel". Which run
// receives them is the exporter's decision; see docs/mapping.md §9.
package sysmetrics

import (
	"fmt"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/translate"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/enum"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/gpuset"
)

// Mode selects the key scheme.
type Mode string

const (
	ModeMLflow Mode = "mlflow"
	ModeOTel   Mode = "otel"
	ModeOff    Mode = "off"
)

var modes = []Mode{ModeMLflow, ModeOTel, ModeOff}

// Valid reports a known mode.
func (m Mode) Valid() bool { return slices.Contains(modes, m) }

// UnmarshalText refuses an unknown mode when the config is read.
func (m *Mode) UnmarshalText(text []byte) (err error) {
	*m, err = enum.Parse(text, modes...)
	return err
}

// Value is one named value. Names have no "system/" prefix.
type Value struct {
	Name  string
	Value float64
}

// ProcValue is a value that belongs to one process.
type ProcValue struct {
	PID int64
	Value
}

// Snapshot is what one host-level resource reported at one scrape.
type Snapshot struct {
	Host string
	TsMs int64
	// Gauges are written as they are.
	Gauges []Value
	// Counters are running totals; the exporter writes their increase since
	// the run first saw them (MLflow's network_*_megabytes are "since the
	// run started").
	Counters []Value
	// Process values are written only to runs of that process.
	Process []ProcValue
	// GPU is the device of a GPU resource, nil for a host resource. Its
	// values' names start with GPUPrefix (MLflow's "gpu_<NVML index>_"), which
	// the exporter replaces with the index the run sees (Rename).
	GPU       *gpuset.GPU
	GPUPrefix string
	MIGIndex  int64
	// Scope, when not zero, is the pod or Slurm job whose cgroup the
	// resource's values measure (the gpu receiver's container.* metrics):
	// they go only into that pod's or job's runs, in place of the host's
	// CPU, memory and disk.
	Scope Scope
}

// Scope names a cgroup the gpu receiver measured: a Kubernetes pod
// (k8s.pod.uid) or a Slurm job (slurm.job.id).
type Scope struct {
	PodUID, SlurmJob string
}

// IsZero reports a host or GPU resource.
func (s Scope) IsZero() bool { return s.PodUID == "" && s.SlurmJob == "" }

// ScopedKeys are the MLflow keys a pod's or job's own values replace in
// its runs: the host's CPU, memory and disk I/O. Network, load and
// filesystems stay the host's (a pod's network namespace is not read).
var ScopedKeys = []string{"cpu_utilization_percentage", "system_memory_usage_megabytes", "system_memory_usage_percentage", "disk_read_megabytes", "disk_write_megabytes"}

// Rename gives a GPU value's name under the index a run sees: gpu_<pos>_, or
// gpu_<pos>_mig_<m>_ for a MIG instance seen through its parent GPU.
func (s *Snapshot) Rename(name string, pos int64, viaParent bool) string {
	if s.GPU == nil || !strings.HasPrefix(name, s.GPUPrefix) {
		return name
	}
	p := fmt.Sprintf("gpu_%d_", pos)
	if viaParent {
		p += fmt.Sprintf("mig_%d_", s.MIGIndex)
	}
	return p + name[len(s.GPUPrefix):]
}

// Empty reports a snapshot with nothing in it.
func (s *Snapshot) Empty() bool {
	return len(s.Gauges) == 0 && len(s.Counters) == 0 && len(s.Process) == 0
}

// KeyFunc folds a metric name and point attributes into a key (the
// exporter's translate rules), for metrics without an MLflow name.
type KeyFunc func(name string, attrs pcommon.Map) string

// Convert reads one resource. Points of one scrape share a timestamp; the
// latest one is used for the snapshot.
func Convert(rm pmetric.ResourceMetrics, host string, mode Mode, key KeyFunc) *Snapshot {
	s := &Snapshot{Host: host}
	attrs := rm.Resource().Attributes()
	prefix := gpuPrefix(attrs)
	if prefix != "" {
		s.GPU, s.GPUPrefix, s.MIGIndex = gpuOf(attrs), prefix, migIndex(attrs)
	} else {
		s.Scope = Scope{PodUID: str(attrs, "k8s.pod.uid"), SlurmJob: str(attrs, "slurm.job.id")}
	}
	c := converter{s: s, prefix: prefix, mode: mode, key: key, sums: map[string]float64{}}
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			c.metric(ms.At(j))
		}
	}
	c.finish()
	return s
}

// gpuPrefix names a GPU resource MLflow's way ("gpu_0_"), MIG instances
// under their parent ("gpu_0_mig_1_"); "" for a host resource.
func gpuPrefix(attrs pcommon.Map) string {
	idx, ok := attrs.Get("hw.gpu.index")
	if !ok {
		return ""
	}
	p := fmt.Sprintf("gpu_%d_", idx.Int())
	if mig, ok := attrs.Get("hw.gpu.mig.index"); ok {
		p += fmt.Sprintf("mig_%d_", mig.Int())
	}
	return p
}

// gpuOf is the device a GPU resource describes.
func gpuOf(attrs pcommon.Map) *gpuset.GPU {
	idx, _ := attrs.Get("hw.gpu.index")
	_, mig := attrs.Get("hw.gpu.mig.index")
	get := func(k string) string {
		if v, ok := attrs.Get(k); ok {
			return v.AsString()
		}
		return ""
	}
	return &gpuset.GPU{Index: idx.Int(), UUID: get("hw.id"), Parent: get("hw.parent"), MIG: mig}
}

func migIndex(attrs pcommon.Map) int64 {
	v, _ := attrs.Get("hw.gpu.mig.index")
	return v.Int()
}

type converter struct {
	s      *Snapshot
	prefix string
	mode   Mode
	key    KeyFunc
	// sums collect values that MLflow reports as one number over several
	// points (CPU busy share, network over interfaces, power for its ratio).
	sums      map[string]float64
	haveCPU   bool
	power     float64
	powerLim  float64
	havePower bool
	haveLimit bool
}

type point struct {
	v     float64
	attrs pcommon.Map
	ts    pcommon.Timestamp
}

func forEachNumber(m pmetric.Metric, fn func(point)) {
	dps, ok := translate.NumberPoints(m)
	if !ok {
		return
	}
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		if dp.Flags().NoRecordedValue() {
			continue
		}
		v := dp.DoubleValue()
		if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
			v = float64(dp.IntValue())
		}
		fn(point{v, dp.Attributes(), dp.Timestamp()})
	}
}

func isCounter(m pmetric.Metric) bool {
	return m.Type() == pmetric.MetricTypeSum && m.Sum().IsMonotonic() &&
		m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
}

func str(attrs pcommon.Map, k string) string {
	if v, ok := attrs.Get(k); ok {
		return v.AsString()
	}
	return ""
}

func (c *converter) gauge(name string, v float64) {
	c.s.Gauges = append(c.s.Gauges, Value{c.prefix + name, v})
}

func (c *converter) counter(name string, v float64) {
	c.s.Counters = append(c.s.Counters, Value{c.prefix + name, v})
}

func (c *converter) metric(m pmetric.Metric) {
	forEachNumber(m, func(p point) {
		if ms := int64(p.ts) / 1e6; ms > c.s.TsMs {
			c.s.TsMs = ms
		}
		if pid, ok := p.attrs.Get("process.pid"); ok {
			c.process(m.Name(), pid.Int(), p)
			return
		}
		if c.mode == ModeMLflow && c.mlflow(m.Name(), p) {
			return
		}
		name := c.key(m.Name(), p.attrs)
		if isCounter(m) {
			c.counter(name, p.v)
		} else {
			c.gauge(name, p.v)
		}
	})
}

func (c *converter) process(name string, pid int64, p point) {
	add := func(n string, v float64) {
		c.s.Process = append(c.s.Process, ProcValue{pid, Value{c.prefix + n, v}})
	}
	if c.mode == ModeMLflow {
		switch name {
		case "hw.gpu.process.memory.usage":
			add("process_memory_usage_megabytes", p.v/1e6)
			return
		case "hw.gpu.process.utilization":
			if str(p.attrs, "hw.gpu.task") == "general" {
				add("process_utilization_percentage", 100*p.v)
			}
			return
		case "process.cpu.utilization":
			// A share of the whole machine; MLflow's process_cpu_percentage
			// is per core, which the exporter cannot know, so the name differs.
			add("process_cpu_utilization_percentage", 100*p.v)
			return
		case "process.memory.usage":
			add("process_memory_rss_megabytes", p.v/1e6)
			return
		}
	}
	attrs := pcommon.NewMap()
	p.attrs.CopyTo(attrs)
	attrs.Remove("process.pid")
	add(c.key(name, attrs), p.v)
}

// mlflow maps a point onto MLflow's system metric names; false when the
// metric has no MLflow name (it is then written under its OTel name).
func (c *converter) mlflow(name string, p point) bool {
	switch name {
	// Host.
	case "system.cpu.utilization":
		c.haveCPU = true
		// psutil, which MLflow uses, counts iowait as idle.
		if mode := str(p.attrs, "cpu.mode"); mode != "idle" && mode != "iowait" {
			c.sums["cpu"] += p.v
		}
	case "system.memory.usage":
		if str(p.attrs, "system.memory.state") == "used" {
			c.gauge("system_memory_usage_megabytes", p.v/1e6)
		}
	case "system.memory.utilization":
		if str(p.attrs, "system.memory.state") == "used" {
			c.gauge("system_memory_usage_percentage", 100*p.v)
		}
	case "system.memory.limit":
		c.gauge("system_memory_total_megabytes", p.v/1e6)
	case "system.filesystem.usage":
		disk := diskName(str(p.attrs, "system.filesystem.mountpoint"))
		switch str(p.attrs, "system.filesystem.state") {
		case "used":
			c.gauge(disk+"_usage_megabytes", p.v/1e6)
		case "free":
			c.gauge(disk+"_available_megabytes", p.v/1e6)
		}
	case "system.filesystem.utilization":
		c.gauge(diskName(str(p.attrs, "system.filesystem.mountpoint"))+"_usage_percentage", 100*p.v)
	case "system.network.io":
		c.sums["network_"+str(p.attrs, "network.io.direction")+"_megabytes"] += p.v / 1e6
	case "system.disk.io":
		c.sums["disk_"+str(p.attrs, "disk.io.direction")+"_megabytes"] += p.v / 1e6
	// A pod's or Slurm job's cgroup (Scope).
	case "container.cpu.utilization":
		c.gauge("cpu_utilization_percentage", 100*p.v)
	case "container.memory.usage":
		c.gauge("system_memory_usage_megabytes", p.v/1e6)
	case "container.memory.utilization":
		c.gauge("system_memory_usage_percentage", 100*p.v)
	case "container.disk.io":
		c.sums["disk_"+str(p.attrs, "disk.io.direction")+"_megabytes"] += p.v / 1e6
	case "system.cpu.load_average.1m":
		c.gauge("load_average_1m", p.v)
	case "system.cpu.load_average.5m":
		c.gauge("load_average_5m", p.v)
	case "system.cpu.load_average.15m":
		c.gauge("load_average_15m", p.v)
	// GPU.
	case "hw.gpu.utilization":
		if str(p.attrs, "hw.gpu.task") == "general" {
			c.gauge("utilization_percentage", 100*p.v)
		}
	case "hw.gpu.memory.usage":
		c.gauge("memory_usage_megabytes", p.v/1e6)
	case "hw.gpu.memory.limit":
		c.gauge("memory_total_megabytes", p.v/1e6)
	case "hw.gpu.memory.utilization":
		c.gauge("memory_usage_percentage", 100*p.v)
	case "hw.gpu.memory_controller.utilization":
		c.gauge("memory_controller_utilization_percentage", 100*p.v)
	case "hw.power":
		c.power, c.havePower = p.v, true
		c.gauge("power_usage_watts", p.v)
	case "hw.gpu.power.limit":
		c.powerLim, c.haveLimit = p.v, true
		c.gauge("power_limit_watts", p.v)
	case "hw.temperature":
		c.gauge("temperature_celsius", p.v)
	case "hw.gpu.clock.frequency":
		c.gauge(str(p.attrs, "hw.gpu.clock.domain")+"_clock_mhz", p.v/1e6)
	case "hw.gpu.clock.throttled":
		c.gauge("throttle_"+str(p.attrs, "hw.gpu.clock.throttle_reason"), p.v)
	case "hw.energy":
		c.counter("energy_joules", p.v)
	case "hw.gpu.io":
		c.counter("pcie_"+str(p.attrs, "network.io.direction")+"_megabytes", p.v/1e6)
	case "hw.gpu.nvlink.io":
		c.counter("nvlink_"+str(p.attrs, "network.io.direction")+"_megabytes", p.v/1e6)
	case "hw.errors":
		c.counter("ecc_"+str(p.attrs, "error.type")+"_errors", p.v)
	case "hw.gpu.sm.activity":
		c.gauge("sm_active_percentage", 100*p.v)
	case "hw.gpu.sm.occupancy":
		c.gauge("sm_occupancy_percentage", 100*p.v)
	case "hw.gpu.tensor.activity":
		c.gauge("tensor_active_percentage", 100*p.v)
	case "hw.gpu.dram.bandwidth.utilization":
		c.gauge("dram_bandwidth_percentage", 100*p.v)
	default:
		return false
	}
	return true
}

// diskName is "disk" for "/" (MLflow's disk_* keys) and disk_<mount> for
// other mount points.
func diskName(mount string) string {
	if mount == "/" || mount == "" {
		return "disk"
	}
	var b strings.Builder
	b.WriteString("disk")
	for _, r := range mount {
		if r == '/' || r == '.' || r == '-' || r == ' ' {
			r = '_'
		}
		b.WriteRune(r)
	}
	return strings.TrimRight(b.String(), "_")
}

func (c *converter) finish() {
	if c.mode != ModeMLflow {
		return
	}
	if c.haveCPU {
		c.gauge("cpu_utilization_percentage", 100*c.sums["cpu"])
	}
	for _, k := range []string{"network_receive_megabytes", "network_transmit_megabytes", "disk_read_megabytes", "disk_write_megabytes"} {
		if v, ok := c.sums[k]; ok {
			c.counter(k, v)
		}
	}
	if c.havePower && c.haveLimit && c.powerLim > 0 {
		c.gauge("power_usage_percentage", 100*c.power/c.powerLim)
	}
}
