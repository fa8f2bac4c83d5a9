// Written by hand in the layout mdatagen generates (mdatagen is not available
// to this project); ../../metadata.yaml describes the same metrics and
// TestMetadataConsistency fails when the two drift apart.

package metadata

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

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
	ContainerCPUUtilization
	ContainerMemoryUsage
	ContainerMemoryUtilization
	ContainerDiskIo

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
		Attributes:  []string{AttrProcessPID, AttrProcessVPID, AttrContainerID, AttrK8sPodUID, AttrSlurmJobID},
	},
	HwGpuProcessUtilization: {
		Name: "hw.gpu.process.utilization", Unit: "1", Kind: Gauge, ValueType: Double, DefaultEnabled: true, GPU: true,
		Description: "Fraction of GPU time used by a process, averaged over the driver's samples since the previous scrape (not on MIG).",
		Attributes:  []string{AttrProcessPID, AttrProcessVPID, AttrContainerID, AttrK8sPodUID, AttrSlurmJobID, AttrHwGpuTask},
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
	ContainerCPUUtilization: {
		Name: "container.cpu.utilization", Unit: "1", Kind: Gauge, ValueType: Double, DefaultEnabled: true,
		Description: "CPU time of a pod's or Slurm job's cgroup (cpu.stat usage_usec) since the previous scrape divided by elapsed time and the number of logical CPUs of the node; from the second scrape of the cgroup on.",
	},
	ContainerMemoryUsage: {
		Name: "container.memory.usage", Unit: "By", Kind: Sum, ValueType: Int, DefaultEnabled: true,
		Description: "Memory charged to a pod's or Slurm job's cgroup, page cache included (memory.current).",
	},
	ContainerMemoryUtilization: {
		Name: "container.memory.utilization", Unit: "1", Kind: Gauge, ValueType: Double, DefaultEnabled: true,
		Description: "memory.current of a pod's or Slurm job's cgroup divided by its memory.max, or by the node's total memory when memory.max is max.",
	},
	ContainerDiskIo: {
		Name: "container.disk.io", Unit: "By", Kind: Sum, Monotonic: true, ValueType: Int, DefaultEnabled: true,
		Description: "Bytes a pod's or Slurm job's cgroup read from and wrote to block devices since it was created (io.stat rbytes and wbytes summed over devices).",
		Attributes:  []string{AttrDiskIoDirection},
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
	// AttrK8sPodUID is the pod UID in the process's cgroup path.
	AttrK8sPodUID = "k8s.pod.uid"
	// AttrSlurmJobID is the Slurm job in the process's cgroup path.
	AttrSlurmJobID = "slurm.job.id"
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

// Attribute values of the attributes that take a fixed set of values (enum in
// metadata.yaml). Each type's Attr method makes the data point attribute.

// AttributeHwGpuTask specifies the value hw.gpu.task attribute.
type AttributeHwGpuTask int

const (
	_ AttributeHwGpuTask = iota
	AttributeHwGpuTaskGeneral
	AttributeHwGpuTaskEncoder
	AttributeHwGpuTaskDecoder
)

// String returns the string representation of the AttributeHwGpuTask.
func (av AttributeHwGpuTask) String() string {
	switch av {
	case AttributeHwGpuTaskGeneral:
		return "general"
	case AttributeHwGpuTaskEncoder:
		return "encoder"
	case AttributeHwGpuTaskDecoder:
		return "decoder"
	}
	return ""
}

// Attr returns the hw.gpu.task data point attribute with this value.
func (av AttributeHwGpuTask) Attr() Attribute { return Str(AttrHwGpuTask, av.String()) }

// MapAttributeHwGpuTask is a helper map of string to AttributeHwGpuTask attribute value.
var MapAttributeHwGpuTask = map[string]AttributeHwGpuTask{
	"general": AttributeHwGpuTaskGeneral,
	"encoder": AttributeHwGpuTaskEncoder,
	"decoder": AttributeHwGpuTaskDecoder,
}

// AttributeHwGpuClockDomain specifies the value hw.gpu.clock.domain attribute.
type AttributeHwGpuClockDomain int

const (
	_ AttributeHwGpuClockDomain = iota
	AttributeHwGpuClockDomainSm
	AttributeHwGpuClockDomainMemory
)

// String returns the string representation of the AttributeHwGpuClockDomain.
func (av AttributeHwGpuClockDomain) String() string {
	switch av {
	case AttributeHwGpuClockDomainSm:
		return "sm"
	case AttributeHwGpuClockDomainMemory:
		return "memory"
	}
	return ""
}

// Attr returns the hw.gpu.clock.domain data point attribute with this value.
func (av AttributeHwGpuClockDomain) Attr() Attribute { return Str(AttrHwGpuClockDomain, av.String()) }

// MapAttributeHwGpuClockDomain is a helper map of string to AttributeHwGpuClockDomain attribute value.
var MapAttributeHwGpuClockDomain = map[string]AttributeHwGpuClockDomain{
	"sm":     AttributeHwGpuClockDomainSm,
	"memory": AttributeHwGpuClockDomainMemory,
}

// AttributeHwGpuClockThrottleReason specifies the value hw.gpu.clock.throttle_reason attribute.
type AttributeHwGpuClockThrottleReason int

const (
	_ AttributeHwGpuClockThrottleReason = iota
	AttributeHwGpuClockThrottleReasonIdle
	AttributeHwGpuClockThrottleReasonSwPowerCap
	AttributeHwGpuClockThrottleReasonHwSlowdown
	AttributeHwGpuClockThrottleReasonSwThermal
	AttributeHwGpuClockThrottleReasonHwThermal
	AttributeHwGpuClockThrottleReasonPowerBrake
)

// String returns the string representation of the AttributeHwGpuClockThrottleReason.
func (av AttributeHwGpuClockThrottleReason) String() string {
	switch av {
	case AttributeHwGpuClockThrottleReasonIdle:
		return "idle"
	case AttributeHwGpuClockThrottleReasonSwPowerCap:
		return "sw_power_cap"
	case AttributeHwGpuClockThrottleReasonHwSlowdown:
		return "hw_slowdown"
	case AttributeHwGpuClockThrottleReasonSwThermal:
		return "sw_thermal"
	case AttributeHwGpuClockThrottleReasonHwThermal:
		return "hw_thermal"
	case AttributeHwGpuClockThrottleReasonPowerBrake:
		return "power_brake"
	}
	return ""
}

// Attr returns the hw.gpu.clock.throttle_reason data point attribute with this value.
func (av AttributeHwGpuClockThrottleReason) Attr() Attribute {
	return Str(AttrHwGpuClockThrottleReason, av.String())
}

// MapAttributeHwGpuClockThrottleReason is a helper map of string to AttributeHwGpuClockThrottleReason attribute value.
var MapAttributeHwGpuClockThrottleReason = map[string]AttributeHwGpuClockThrottleReason{
	"idle":         AttributeHwGpuClockThrottleReasonIdle,
	"sw_power_cap": AttributeHwGpuClockThrottleReasonSwPowerCap,
	"hw_slowdown":  AttributeHwGpuClockThrottleReasonHwSlowdown,
	"sw_thermal":   AttributeHwGpuClockThrottleReasonSwThermal,
	"hw_thermal":   AttributeHwGpuClockThrottleReasonHwThermal,
	"power_brake":  AttributeHwGpuClockThrottleReasonPowerBrake,
}

// AttributeNetworkIoDirection specifies the value network.io.direction attribute.
type AttributeNetworkIoDirection int

const (
	_ AttributeNetworkIoDirection = iota
	AttributeNetworkIoDirectionTransmit
	AttributeNetworkIoDirectionReceive
)

// String returns the string representation of the AttributeNetworkIoDirection.
func (av AttributeNetworkIoDirection) String() string {
	switch av {
	case AttributeNetworkIoDirectionTransmit:
		return "transmit"
	case AttributeNetworkIoDirectionReceive:
		return "receive"
	}
	return ""
}

// Attr returns the network.io.direction data point attribute with this value.
func (av AttributeNetworkIoDirection) Attr() Attribute {
	return Str(AttrNetworkIoDirection, av.String())
}

// MapAttributeNetworkIoDirection is a helper map of string to AttributeNetworkIoDirection attribute value.
var MapAttributeNetworkIoDirection = map[string]AttributeNetworkIoDirection{
	"transmit": AttributeNetworkIoDirectionTransmit,
	"receive":  AttributeNetworkIoDirectionReceive,
}

// AttributeHwType specifies the value hw.type attribute.
type AttributeHwType int

const (
	_ AttributeHwType = iota
	AttributeHwTypeGpu
)

// String returns the string representation of the AttributeHwType.
func (av AttributeHwType) String() string {
	switch av {
	case AttributeHwTypeGpu:
		return "gpu"
	}
	return ""
}

// Attr returns the hw.type data point attribute with this value.
func (av AttributeHwType) Attr() Attribute { return Str(AttrHwType, av.String()) }

// MapAttributeHwType is a helper map of string to AttributeHwType attribute value.
var MapAttributeHwType = map[string]AttributeHwType{
	"gpu": AttributeHwTypeGpu,
}

// AttributeErrorType specifies the value error.type attribute.
type AttributeErrorType int

const (
	_ AttributeErrorType = iota
	AttributeErrorTypeCorrected
	AttributeErrorTypeUncorrected
)

// String returns the string representation of the AttributeErrorType.
func (av AttributeErrorType) String() string {
	switch av {
	case AttributeErrorTypeCorrected:
		return "corrected"
	case AttributeErrorTypeUncorrected:
		return "uncorrected"
	}
	return ""
}

// Attr returns the error.type data point attribute with this value.
func (av AttributeErrorType) Attr() Attribute { return Str(AttrErrorType, av.String()) }

// MapAttributeErrorType is a helper map of string to AttributeErrorType attribute value.
var MapAttributeErrorType = map[string]AttributeErrorType{
	"corrected":   AttributeErrorTypeCorrected,
	"uncorrected": AttributeErrorTypeUncorrected,
}

// AttributeCPUMode specifies the value cpu.mode attribute.
type AttributeCPUMode int

const (
	_ AttributeCPUMode = iota
	AttributeCPUModeUser
	AttributeCPUModeNice
	AttributeCPUModeSystem
	AttributeCPUModeIdle
	AttributeCPUModeIowait
	AttributeCPUModeInterrupt
	AttributeCPUModeSteal
)

// String returns the string representation of the AttributeCPUMode.
func (av AttributeCPUMode) String() string {
	switch av {
	case AttributeCPUModeUser:
		return "user"
	case AttributeCPUModeNice:
		return "nice"
	case AttributeCPUModeSystem:
		return "system"
	case AttributeCPUModeIdle:
		return "idle"
	case AttributeCPUModeIowait:
		return "iowait"
	case AttributeCPUModeInterrupt:
		return "interrupt"
	case AttributeCPUModeSteal:
		return "steal"
	}
	return ""
}

// Attr returns the cpu.mode data point attribute with this value.
func (av AttributeCPUMode) Attr() Attribute { return Str(AttrCPUMode, av.String()) }

// MapAttributeCPUMode is a helper map of string to AttributeCPUMode attribute value.
var MapAttributeCPUMode = map[string]AttributeCPUMode{
	"user":      AttributeCPUModeUser,
	"nice":      AttributeCPUModeNice,
	"system":    AttributeCPUModeSystem,
	"idle":      AttributeCPUModeIdle,
	"iowait":    AttributeCPUModeIowait,
	"interrupt": AttributeCPUModeInterrupt,
	"steal":     AttributeCPUModeSteal,
}

// AttributeSystemMemoryState specifies the value system.memory.state attribute.
type AttributeSystemMemoryState int

const (
	_ AttributeSystemMemoryState = iota
	AttributeSystemMemoryStateUsed
	AttributeSystemMemoryStateFree
	AttributeSystemMemoryStateBuffers
	AttributeSystemMemoryStateCached
)

// String returns the string representation of the AttributeSystemMemoryState.
func (av AttributeSystemMemoryState) String() string {
	switch av {
	case AttributeSystemMemoryStateUsed:
		return "used"
	case AttributeSystemMemoryStateFree:
		return "free"
	case AttributeSystemMemoryStateBuffers:
		return "buffers"
	case AttributeSystemMemoryStateCached:
		return "cached"
	}
	return ""
}

// Attr returns the system.memory.state data point attribute with this value.
func (av AttributeSystemMemoryState) Attr() Attribute { return Str(AttrSystemMemoryState, av.String()) }

// MapAttributeSystemMemoryState is a helper map of string to AttributeSystemMemoryState attribute value.
var MapAttributeSystemMemoryState = map[string]AttributeSystemMemoryState{
	"used":    AttributeSystemMemoryStateUsed,
	"free":    AttributeSystemMemoryStateFree,
	"buffers": AttributeSystemMemoryStateBuffers,
	"cached":  AttributeSystemMemoryStateCached,
}

// AttributeSystemFilesystemState specifies the value system.filesystem.state attribute.
type AttributeSystemFilesystemState int

const (
	_ AttributeSystemFilesystemState = iota
	AttributeSystemFilesystemStateUsed
	AttributeSystemFilesystemStateFree
	AttributeSystemFilesystemStateReserved
)

// String returns the string representation of the AttributeSystemFilesystemState.
func (av AttributeSystemFilesystemState) String() string {
	switch av {
	case AttributeSystemFilesystemStateUsed:
		return "used"
	case AttributeSystemFilesystemStateFree:
		return "free"
	case AttributeSystemFilesystemStateReserved:
		return "reserved"
	}
	return ""
}

// Attr returns the system.filesystem.state data point attribute with this value.
func (av AttributeSystemFilesystemState) Attr() Attribute {
	return Str(AttrSystemFilesystemState, av.String())
}

// MapAttributeSystemFilesystemState is a helper map of string to AttributeSystemFilesystemState attribute value.
var MapAttributeSystemFilesystemState = map[string]AttributeSystemFilesystemState{
	"used":     AttributeSystemFilesystemStateUsed,
	"free":     AttributeSystemFilesystemStateFree,
	"reserved": AttributeSystemFilesystemStateReserved,
}

// AttributeDiskIoDirection specifies the value disk.io.direction attribute.
type AttributeDiskIoDirection int

const (
	_ AttributeDiskIoDirection = iota
	AttributeDiskIoDirectionRead
	AttributeDiskIoDirectionWrite
)

// String returns the string representation of the AttributeDiskIoDirection.
func (av AttributeDiskIoDirection) String() string {
	switch av {
	case AttributeDiskIoDirectionRead:
		return "read"
	case AttributeDiskIoDirectionWrite:
		return "write"
	}
	return ""
}

// Attr returns the disk.io.direction data point attribute with this value.
func (av AttributeDiskIoDirection) Attr() Attribute { return Str(AttrDiskIoDirection, av.String()) }

// MapAttributeDiskIoDirection is a helper map of string to AttributeDiskIoDirection attribute value.
var MapAttributeDiskIoDirection = map[string]AttributeDiskIoDirection{
	"read":  AttributeDiskIoDirectionRead,
	"write": AttributeDiskIoDirectionWrite,
}

// ByName returns the MetricID of a metric name.
func ByName(name string) (MetricID, bool) {
	for id := range MetricCount {
		if Descriptors[id].Name == name {
			return id, true
		}
	}
	return 0, false
}

// Attribute is one data point attribute.
type Attribute struct {
	Key   string
	str   string
	num   int64
	isInt bool
}

// Str returns a string attribute.
func Str(k, v string) Attribute { return Attribute{Key: k, str: v} }

// IntAttr returns an integer attribute.
func IntAttr(k string, v int64) Attribute { return Attribute{Key: k, num: v, isInt: true} }

// MetricsBuilder collects the data points of one scrape into pmetric.Metrics,
// one ResourceMetrics per resource, honouring the per-metric switches.
type MetricsBuilder struct {
	enabled   [MetricCount]bool
	startTime pcommon.Timestamp
	version   string
	md        pmetric.Metrics
}

// NewMetricsBuilder returns a builder. startTime is the start timestamp of
// every cumulative sum.
func NewMetricsBuilder(cfg MetricsConfig, bi component.BuildInfo, startTime pcommon.Timestamp) *MetricsBuilder {
	return &MetricsBuilder{
		enabled:   cfg.EnabledSet(),
		startTime: startTime,
		version:   bi.Version,
		md:        pmetric.NewMetrics(),
	}
}

// Enabled reports whether a metric is switched on, so callers can skip the
// driver calls behind a disabled metric.
func (mb *MetricsBuilder) Enabled(id MetricID) bool { return mb.enabled[id] }

// ResourceRecorder records data points for one resource.
type ResourceRecorder struct {
	mb      *MetricsBuilder
	metrics pmetric.MetricSlice
	byID    [MetricCount]int // index+1 into metrics; 0 = not created yet
	now     pcommon.Timestamp
}

// NewResource starts a resource; its metrics are stamped with now.
func (mb *MetricsBuilder) NewResource(res pcommon.Resource, now pcommon.Timestamp) *ResourceRecorder {
	rm := mb.md.ResourceMetrics().AppendEmpty()
	res.MoveTo(rm.Resource())
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(ScopeName)
	sm.Scope().SetVersion(mb.version)
	return &ResourceRecorder{mb: mb, metrics: sm.Metrics(), now: now}
}

func (r *ResourceRecorder) metric(id MetricID) pmetric.Metric {
	if i := r.byID[id]; i > 0 {
		return r.metrics.At(i - 1)
	}
	d := &Descriptors[id]
	m := r.metrics.AppendEmpty()
	m.SetName(d.Name)
	m.SetDescription(d.Description)
	m.SetUnit(d.Unit)
	switch d.Kind {
	case Gauge:
		m.SetEmptyGauge()
	case Sum:
		s := m.SetEmptySum()
		s.SetIsMonotonic(d.Monotonic)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	}
	r.byID[id] = r.metrics.Len()
	return m
}

func (r *ResourceRecorder) point(id MetricID, attrs []Attribute) (pmetric.NumberDataPoint, bool) {
	if !r.mb.enabled[id] {
		return pmetric.NumberDataPoint{}, false
	}
	m := r.metric(id)
	var dp pmetric.NumberDataPoint
	if Descriptors[id].Kind == Sum {
		dp = m.Sum().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(r.mb.startTime)
	} else {
		dp = m.Gauge().DataPoints().AppendEmpty()
	}
	dp.SetTimestamp(r.now)
	for _, a := range attrs {
		if a.isInt {
			dp.Attributes().PutInt(a.Key, a.num)
		} else {
			dp.Attributes().PutStr(a.Key, a.str)
		}
	}
	return dp, true
}

// RecordDouble records a double data point; a disabled metric is ignored.
func (r *ResourceRecorder) RecordDouble(id MetricID, v float64, attrs ...Attribute) {
	if dp, ok := r.point(id, attrs); ok {
		dp.SetDoubleValue(v)
	}
}

// RecordInt records an integer data point; a disabled metric is ignored.
func (r *ResourceRecorder) RecordInt(id MetricID, v int64, attrs ...Attribute) {
	if dp, ok := r.point(id, attrs); ok {
		dp.SetIntValue(v)
	}
}

// Emit returns the collected metrics, leaving out resources without any data
// point, and resets the builder for the next scrape.
func (mb *MetricsBuilder) Emit() pmetric.Metrics {
	md := mb.md
	md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		return rm.ScopeMetrics().At(0).Metrics().Len() == 0
	})
	mb.md = pmetric.NewMetrics()
	return md
}
