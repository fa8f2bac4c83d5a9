// Package metadata describes what the gpu receiver emits: its component type,
// every metric (name, unit, kind, default), the per-metric enable switches and
// the resource attributes. mdatagen is not available to this project, so this
// is the hand-written equivalent of what it would generate.
package metadata

import (
	"go.opentelemetry.io/collector/component"
)

// Type is the component type of the receiver in collector configuration.
var Type = component.MustNewType("gpu")

// ScopeName is the instrumentation scope every metric is emitted under.
const ScopeName = "github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver"

// MetricsStability is the stability level of the metrics signal.
const MetricsStability = component.StabilityLevelDevelopment

// Kind is the OTLP data type of a metric.
type Kind int

const (
	// Gauge is a point-in-time value.
	Gauge Kind = iota
	// Sum is a cumulative sum; Descriptor.Monotonic tells counters from up-down counters.
	Sum
)

// ValueType says whether data points carry integers or doubles.
type ValueType int

const (
	// Int data points.
	Int ValueType = iota
	// Double data points.
	Double
)

// MetricID indexes Descriptors; it is cheaper than looking metrics up by name
// on every data point.
type MetricID int

// The metrics the receiver can emit. Order is the documentation order.
const (
	HwGpuUtilization MetricID = iota
	HwGpuMemoryControllerUtilization
	HwGpuMemoryUsage
	HwGpuMemoryLimit
	HwGpuMemoryUtilization
	HwTemperature
	HwPower
	HwGpuPowerLimit
	HwEnergy
	HwGpuClockFrequency
	HwGpuClockThrottled
	HwGpuIo
	HwGpuNvlinkIo
	HwErrors
	HwGpuProcessMemoryUsage
	HwGpuProcessUtilization
	HwGpuSmActivity
	HwGpuSmOccupancy
	HwGpuTensorActivity
	HwGpuDramBandwidthUtilization
	SystemCPUUtilization
	SystemCPULoadAverage1m
	SystemCPULoadAverage5m
	SystemCPULoadAverage15m
	SystemMemoryUsage
	SystemMemoryLimit
	SystemMemoryUtilization
	SystemFilesystemUsage
	SystemFilesystemUtilization
	SystemDiskIo
	SystemNetworkIo
	ProcessCPUUtilization
	ProcessMemoryUsage

	// MetricCount is the number of metrics; it is not a metric.
	MetricCount
)

// Descriptor is the static description of one metric.
type Descriptor struct {
	Name        string
	Description string
	Unit        string
	Kind        Kind
	Monotonic   bool
	ValueType   ValueType
	// DefaultEnabled is the value of metrics::<name>::enabled when unset.
	DefaultEnabled bool
	// Attributes lists the data point attribute keys, for documentation and tests.
	Attributes []string
	// GPU is true for metrics that need NVML; when none of them is enabled the
	// receiver does not load the NVIDIA library at all.
	GPU bool
}

// Descriptors holds one entry per MetricID.
var Descriptors = [MetricCount]Descriptor{
	HwGpuUtilization: {
		Name: "hw.gpu.utilization", Unit: "1", Kind: Gauge, ValueType: Double, DefaultEnabled: true, GPU: true,
		Description: "Fraction of time a kernel ran on the GPU, averaged over the driver's samples since the previous scrape.",
		Attributes:  []string{AttrHwGpuTask},
	},
	HwGpuMemoryControllerUtilization: {
		Name: "hw.gpu.memory_controller.utilization", Unit: "1", Kind: Gauge, ValueType: Double, DefaultEnabled: true, GPU: true,
		Description: "Fraction of time device memory was read or written, averaged over the driver's samples since the previous scrape.",
	},
	HwGpuMemoryUsage: {
		Name: "hw.gpu.memory.usage", Unit: "By", Kind: Sum, ValueType: Int, DefaultEnabled: true, GPU: true,
		Description: "Device memory in use (NVML memory info v1 'used', reserved memory included; the value MLflow reports).",
	},
	HwGpuMemoryLimit: {
		Name: "hw.gpu.memory.limit", Unit: "By", Kind: Sum, ValueType: Int, DefaultEnabled: true, GPU: true,
		Description: "Total device memory.",
	},
	HwGpuMemoryUtilization: {
		Name: "hw.gpu.memory.utilization", Unit: "1", Kind: Gauge, ValueType: Double, DefaultEnabled: true, GPU: true,
		Description: "Device memory in use divided by total device memory.",
	},
	HwTemperature: {
		Name: "hw.temperature", Unit: "Cel", Kind: Gauge, ValueType: Double, DefaultEnabled: true, GPU: true,
		Description: "GPU die temperature.",
	},
	HwPower: {
		Name: "hw.power", Unit: "W", Kind: Gauge, ValueType: Double, DefaultEnabled: true, GPU: true,
		Description: "Power drawn by the GPU board.",
	},
	HwGpuPowerLimit: {
		Name: "hw.gpu.power.limit", Unit: "W", Kind: Gauge, ValueType: Double, DefaultEnabled: true, GPU: true,
		Description: "Power limit the driver enforces.",
	},
	HwEnergy: {
		Name: "hw.energy", Unit: "J", Kind: Sum, Monotonic: true, ValueType: Double, DefaultEnabled: true, GPU: true,
		Description: "Energy consumed by the GPU since the driver was loaded (Volta and newer).",
	},
	HwGpuClockFrequency: {
		Name: "hw.gpu.clock.frequency", Unit: "Hz", Kind: Gauge, ValueType: Int, DefaultEnabled: true, GPU: true,
		Description: "Current clock frequency.",
		Attributes:  []string{AttrHwGpuClockDomain},
	},
	HwGpuClockThrottled: {
		Name: "hw.gpu.clock.throttled", Unit: "1", Kind: Gauge, ValueType: Int, DefaultEnabled: true, GPU: true,
		Description: "1 while the given reason holds the clocks down, else 0.",
		Attributes:  []string{AttrHwGpuClockThrottleReason},
	},
	HwGpuIo: {
		Name: "hw.gpu.io", Unit: "By", Kind: Sum, Monotonic: true, ValueType: Int, DefaultEnabled: true, GPU: true,
		Description: "Bytes moved over PCIe (driver byte counters, wrap-corrected).",
		Attributes:  []string{AttrNetworkIoDirection},
	},
	HwGpuNvlinkIo: {
		Name: "hw.gpu.nvlink.io", Unit: "By", Kind: Sum, Monotonic: true, ValueType: Int, DefaultEnabled: true, GPU: true,
		Description: "Data bytes moved over all NVLink links together.",
		Attributes:  []string{AttrNetworkIoDirection},
	},
	HwErrors: {
		Name: "hw.errors", Unit: "{error}", Kind: Sum, Monotonic: true, ValueType: Int, DefaultEnabled: true, GPU: true,
		Description: "ECC memory errors since the driver was loaded (volatile counters).",
		Attributes:  []string{AttrHwType, AttrErrorType},
	},
	HwGpuProcessMemoryUsage: {
		Name: "hw.gpu.process.memory.usage", Unit: "By", Kind: Sum, ValueType: Int, DefaultEnabled: true, GPU: true,
		Description: "Device memory used by a compute process.",
		Attributes:  []string{AttrProcessPID, AttrProcessVPID, AttrContainerID},
	},
	HwGpuProcessUtilization: {
		Name: "hw.gpu.process.utilization", Unit: "1", Kind: Gauge, ValueType: Double, DefaultEnabled: true, GPU: true,
		Description: "Fraction of GPU time used by a process, averaged over the driver's samples since the previous scrape (not on MIG).",
		Attributes:  []string{AttrProcessPID, AttrProcessVPID, AttrContainerID, AttrHwGpuTask},
	},
	HwGpuSmActivity: {
		Name: "hw.gpu.sm.activity", Unit: "1", Kind: Gauge, ValueType: Double, DefaultEnabled: true, GPU: true,
		Description: "GPM: fraction of SMs with at least one warp resident, between two scrapes (Hopper and newer).",
	},
	HwGpuSmOccupancy: {
		Name: "hw.gpu.sm.occupancy", Unit: "1", Kind: Gauge, ValueType: Double, DefaultEnabled: true, GPU: true,
		Description: "GPM: resident warps relative to the maximum the SMs can hold (Hopper and newer).",
	},
	HwGpuTensorActivity: {
		Name: "hw.gpu.tensor.activity", Unit: "1", Kind: Gauge, ValueType: Double, DefaultEnabled: true, GPU: true,
		Description: "GPM: fraction of time any tensor pipe was active (Hopper and newer).",
	},
	HwGpuDramBandwidthUtilization: {
		Name: "hw.gpu.dram.bandwidth.utilization", Unit: "1", Kind: Gauge, ValueType: Double, DefaultEnabled: true, GPU: true,
		Description: "GPM: DRAM bandwidth used relative to the peak (Hopper and newer).",
	},
	SystemCPUUtilization: {
		Name: "system.cpu.utilization", Unit: "1", Kind: Gauge, ValueType: Double, DefaultEnabled: true,
		Description: "Share of CPU time per mode across all logical CPUs since the previous scrape; the modes sum to 1.",
		Attributes:  []string{AttrCPUMode},
	},
	SystemCPULoadAverage1m: {
		Name: "system.cpu.load_average.1m", Unit: "{thread}", Kind: Gauge, ValueType: Double, DefaultEnabled: true,
		Description: "Load average over 1 minute.",
	},
	SystemCPULoadAverage5m: {
		Name: "system.cpu.load_average.5m", Unit: "{thread}", Kind: Gauge, ValueType: Double, DefaultEnabled: true,
		Description: "Load average over 5 minutes.",
	},
	SystemCPULoadAverage15m: {
		Name: "system.cpu.load_average.15m", Unit: "{thread}", Kind: Gauge, ValueType: Double, DefaultEnabled: true,
		Description: "Load average over 15 minutes.",
	},
	SystemMemoryUsage: {
		Name: "system.memory.usage", Unit: "By", Kind: Sum, ValueType: Int, DefaultEnabled: true,
		Description: "Memory by state; 'used' is total-free-buffers-cached (psutil's and MLflow's 'used'); the four states sum to the total.",
		Attributes:  []string{AttrSystemMemoryState},
	},
	SystemMemoryLimit: {
		Name: "system.memory.limit", Unit: "By", Kind: Sum, ValueType: Int, DefaultEnabled: true,
		Description: "Total physical memory.",
	},
	SystemMemoryUtilization: {
		Name: "system.memory.utilization", Unit: "1", Kind: Gauge, ValueType: Double, DefaultEnabled: true,
		Description: "Memory by state divided by the total; state 'used' is MLflow's system_memory_usage_percentage / 100.",
		Attributes:  []string{AttrSystemMemoryState},
	},
	SystemFilesystemUsage: {
		Name: "system.filesystem.usage", Unit: "By", Kind: Sum, ValueType: Int, DefaultEnabled: true,
		Description: "Filesystem space by state for each configured mount point.",
		Attributes:  []string{AttrSystemFilesystemMountpoint, AttrSystemFilesystemState},
	},
	SystemFilesystemUtilization: {
		Name: "system.filesystem.utilization", Unit: "1", Kind: Gauge, ValueType: Double, DefaultEnabled: true,
		Description: "used / (used + free), free being what unprivileged users may still write (psutil's percent).",
		Attributes:  []string{AttrSystemFilesystemMountpoint},
	},
	SystemDiskIo: {
		Name: "system.disk.io", Unit: "By", Kind: Sum, Monotonic: true, ValueType: Int, DefaultEnabled: true,
		Description: "Bytes read from and written to each block device since boot (loop and ram devices left out).",
		Attributes:  []string{AttrSystemDevice, AttrDiskIoDirection},
	},
	SystemNetworkIo: {
		Name: "system.network.io", Unit: "By", Kind: Sum, Monotonic: true, ValueType: Int, DefaultEnabled: true,
		Description: "Bytes sent and received per network interface since boot (loopback left out).",
		Attributes:  []string{AttrNetworkInterfaceName, AttrNetworkIoDirection},
	},
	ProcessCPUUtilization: {
		Name: "process.cpu.utilization", Unit: "1", Kind: Gauge, ValueType: Double, DefaultEnabled: true,
		Description: "CPU time of a configured process since the previous scrape divided by elapsed time and the number of logical CPUs.",
		Attributes:  []string{AttrProcessPID},
	},
	ProcessMemoryUsage: {
		Name: "process.memory.usage", Unit: "By", Kind: Sum, ValueType: Int, DefaultEnabled: true,
		Description: "Resident set size of a configured process.",
		Attributes:  []string{AttrProcessPID},
	},
}

// Data point attribute keys.
const (
	AttrHwGpuTask                = "hw.gpu.task"
	AttrHwGpuClockDomain         = "hw.gpu.clock.domain"
	AttrHwGpuClockThrottleReason = "hw.gpu.clock.throttle_reason"
	AttrNetworkIoDirection       = "network.io.direction"
	AttrHwType                   = "hw.type"
	AttrErrorType                = "error.type"
	AttrProcessPID               = "process.pid"
	// AttrProcessVPID is the pid inside the process's own PID namespace
	// (innermost NSpid), set when that is not the host's.
	AttrProcessVPID = "process.vpid"
	// AttrContainerID is the container id in the process's cgroup path.
	AttrContainerID                = "container.id"
	AttrCPUMode                    = "cpu.mode"
	AttrSystemMemoryState          = "system.memory.state"
	AttrSystemFilesystemMountpoint = "system.filesystem.mountpoint"
	AttrSystemFilesystemState      = "system.filesystem.state"
	AttrSystemDevice               = "system.device"
	AttrDiskIoDirection            = "disk.io.direction"
	AttrNetworkInterfaceName       = "network.interface.name"
)

// ByName returns the MetricID of a metric name.
func ByName(name string) (MetricID, bool) {
	for id := range MetricCount {
		if Descriptors[id].Name == name {
			return id, true
		}
	}
	return 0, false
}
