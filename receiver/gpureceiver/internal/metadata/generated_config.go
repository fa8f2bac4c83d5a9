// Written by hand in the layout mdatagen generates (mdatagen is not available
// to this project); ../../metadata.yaml describes the same metrics and
// TestMetadataConsistency fails when the two drift apart.

package metadata

import (
	"fmt"
	"reflect"
	"strings"
)

// MetricConfig is the per-metric switch under metrics::<name>.
type MetricConfig struct {
	Enabled bool `mapstructure:"enabled"`
}

// MetricsConfig has one field per metric so that a misspelt metric name in
// the collector configuration is rejected instead of silently ignored.
type MetricsConfig struct {
	HwGpuUtilization                 MetricConfig `mapstructure:"hw.gpu.utilization"`
	HwGpuMemoryControllerUtilization MetricConfig `mapstructure:"hw.gpu.memory_controller.utilization"`
	HwGpuMemoryUsage                 MetricConfig `mapstructure:"hw.gpu.memory.usage"`
	HwGpuMemoryLimit                 MetricConfig `mapstructure:"hw.gpu.memory.limit"`
	HwGpuMemoryUtilization           MetricConfig `mapstructure:"hw.gpu.memory.utilization"`
	HwTemperature                    MetricConfig `mapstructure:"hw.temperature"`
	HwPower                          MetricConfig `mapstructure:"hw.power"`
	HwGpuPowerLimit                  MetricConfig `mapstructure:"hw.gpu.power.limit"`
	HwEnergy                         MetricConfig `mapstructure:"hw.energy"`
	HwGpuClockFrequency              MetricConfig `mapstructure:"hw.gpu.clock.frequency"`
	HwGpuClockThrottled              MetricConfig `mapstructure:"hw.gpu.clock.throttled"`
	HwGpuIo                          MetricConfig `mapstructure:"hw.gpu.io"`
	HwGpuNvlinkIo                    MetricConfig `mapstructure:"hw.gpu.nvlink.io"`
	HwErrors                         MetricConfig `mapstructure:"hw.errors"`
	HwGpuProcessMemoryUsage          MetricConfig `mapstructure:"hw.gpu.process.memory.usage"`
	HwGpuProcessUtilization          MetricConfig `mapstructure:"hw.gpu.process.utilization"`
	HwGpuSmActivity                  MetricConfig `mapstructure:"hw.gpu.sm.activity"`
	HwGpuSmOccupancy                 MetricConfig `mapstructure:"hw.gpu.sm.occupancy"`
	HwGpuTensorActivity              MetricConfig `mapstructure:"hw.gpu.tensor.activity"`
	HwGpuDramBandwidthUtilization    MetricConfig `mapstructure:"hw.gpu.dram.bandwidth.utilization"`
	SystemCPUUtilization             MetricConfig `mapstructure:"system.cpu.utilization"`
	SystemCPULoadAverage1m           MetricConfig `mapstructure:"system.cpu.load_average.1m"`
	SystemCPULoadAverage5m           MetricConfig `mapstructure:"system.cpu.load_average.5m"`
	SystemCPULoadAverage15m          MetricConfig `mapstructure:"system.cpu.load_average.15m"`
	SystemMemoryUsage                MetricConfig `mapstructure:"system.memory.usage"`
	SystemMemoryLimit                MetricConfig `mapstructure:"system.memory.limit"`
	SystemMemoryUtilization          MetricConfig `mapstructure:"system.memory.utilization"`
	SystemFilesystemUsage            MetricConfig `mapstructure:"system.filesystem.usage"`
	SystemFilesystemUtilization      MetricConfig `mapstructure:"system.filesystem.utilization"`
	SystemDiskIo                     MetricConfig `mapstructure:"system.disk.io"`
	SystemNetworkIo                  MetricConfig `mapstructure:"system.network.io"`
	ProcessCPUUtilization            MetricConfig `mapstructure:"process.cpu.utilization"`
	ProcessMemoryUsage               MetricConfig `mapstructure:"process.memory.usage"`
	ContainerCPUUtilization          MetricConfig `mapstructure:"container.cpu.utilization"`
	ContainerMemoryUsage             MetricConfig `mapstructure:"container.memory.usage"`
	ContainerMemoryUtilization       MetricConfig `mapstructure:"container.memory.utilization"`
	ContainerDiskIo                  MetricConfig `mapstructure:"container.disk.io"`
}

// fieldIndex maps a MetricID to its MetricsConfig field. It is derived from
// the mapstructure tags so the struct and Descriptors cannot drift apart
// unnoticed: a mismatch panics at package init, which every test hits.
var fieldIndex = func() [MetricCount]int {
	var idx [MetricCount]int
	t := reflect.TypeFor[MetricsConfig]()
	if t.NumField() != int(MetricCount) {
		panic(fmt.Sprintf("metadata: MetricsConfig has %d fields, want %d", t.NumField(), MetricCount))
	}
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("mapstructure"), ",")
		id, ok := ByName(tag)
		if !ok {
			panic(fmt.Sprintf("metadata: MetricsConfig field %s names unknown metric %q", t.Field(i).Name, tag))
		}
		idx[id] = i
	}
	return idx
}()

func (c *MetricsConfig) field(id MetricID) *MetricConfig {
	return reflect.ValueOf(c).Elem().Field(fieldIndex[id]).Addr().Interface().(*MetricConfig)
}

// DefaultMetricsConfig returns every switch at its documented default.
func DefaultMetricsConfig() MetricsConfig {
	var c MetricsConfig
	for id := range MetricCount {
		c.field(id).Enabled = Descriptors[id].DefaultEnabled
	}
	return c
}

// Enabled reports the switch of one metric.
func (c *MetricsConfig) Enabled(id MetricID) bool {
	return c.field(id).Enabled
}

// SetEnabled flips the switch of one metric (used by tests and callers that
// build configs in code).
func (c *MetricsConfig) SetEnabled(id MetricID, on bool) {
	c.field(id).Enabled = on
}

// EnabledSet snapshots the switches into an array, so that the scrape path
// does not pay for reflection.
func (c *MetricsConfig) EnabledSet() [MetricCount]bool {
	var s [MetricCount]bool
	for id := range MetricCount {
		s[id] = c.Enabled(id)
	}
	return s
}

// AnyGPUEnabled reports whether at least one NVML-backed metric is enabled.
func (c *MetricsConfig) AnyGPUEnabled() bool {
	for id := range MetricCount {
		if Descriptors[id].GPU && c.Enabled(id) {
			return true
		}
	}
	return false
}
