package sysmetrics

import (
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

var ts = pcommon.NewTimestampFromTime(time.UnixMilli(1_800_000_000_000))

// HostResource builds what the gpu receiver reports for a host.
func hostResource() pmetric.ResourceMetrics {
	rm := pmetric.NewResourceMetrics()
	rm.Resource().Attributes().PutStr("host.name", "node-1")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	gauge := func(name string, v float64, attrs map[string]any) {
		m := ms.AppendEmpty()
		m.SetName(name)
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetDoubleValue(v)
		dp.SetTimestamp(ts)
		_ = dp.Attributes().FromRaw(attrs)
	}
	sum := func(name string, v int64, monotonic bool, attrs map[string]any) {
		m := ms.AppendEmpty()
		m.SetName(name)
		s := m.SetEmptySum()
		s.SetIsMonotonic(monotonic)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := s.DataPoints().AppendEmpty()
		dp.SetIntValue(v)
		dp.SetTimestamp(ts)
		_ = dp.Attributes().FromRaw(attrs)
	}
	for mode, v := range map[string]float64{"user": 0.30, "system": 0.10, "idle": 0.50, "iowait": 0.05, "steal": 0.05} {
		gauge("system.cpu.utilization", v, map[string]any{"cpu.mode": mode})
	}
	sum("system.memory.usage", 4_000_000_000, false, map[string]any{"system.memory.state": "used"})
	sum("system.memory.usage", 1_000_000_000, false, map[string]any{"system.memory.state": "free"})
	gauge("system.memory.utilization", 0.25, map[string]any{"system.memory.state": "used"})
	sum("system.filesystem.usage", 50_000_000_000, false, map[string]any{"system.filesystem.mountpoint": "/", "system.filesystem.state": "used"})
	sum("system.filesystem.usage", 150_000_000_000, false, map[string]any{"system.filesystem.mountpoint": "/", "system.filesystem.state": "free"})
	gauge("system.filesystem.utilization", 0.25, map[string]any{"system.filesystem.mountpoint": "/"})
	gauge("system.filesystem.utilization", 0.5, map[string]any{"system.filesystem.mountpoint": "/data/ssd"})
	sum("system.network.io", 3_000_000, true, map[string]any{"network.interface.name": "eth0", "network.io.direction": "receive"})
	sum("system.network.io", 2_000_000, true, map[string]any{"network.interface.name": "eth1", "network.io.direction": "receive"})
	sum("system.network.io", 1_000_000, true, map[string]any{"network.interface.name": "eth0", "network.io.direction": "transmit"})
	gauge("system.cpu.load_average.1m", 1.5, nil)
	sum("process.memory.usage", 2_500_000_000, false, map[string]any{"process.pid": int64(42)})
	gauge("some.custom.metric", 7, map[string]any{"kind": "x"})
	return rm
}

func gpuResource() pmetric.ResourceMetrics {
	rm := pmetric.NewResourceMetrics()
	_ = rm.Resource().Attributes().FromRaw(map[string]any{"host.name": "node-1", "hw.id": "GPU-abc", "hw.gpu.index": int64(3)})
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	gauge := func(name string, v float64, attrs map[string]any) {
		m := ms.AppendEmpty()
		m.SetName(name)
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetDoubleValue(v)
		dp.SetTimestamp(ts)
		_ = dp.Attributes().FromRaw(attrs)
	}
	counter := func(name string, v int64, attrs map[string]any) {
		m := ms.AppendEmpty()
		m.SetName(name)
		s := m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := s.DataPoints().AppendEmpty()
		dp.SetIntValue(v)
		dp.SetTimestamp(ts)
		_ = dp.Attributes().FromRaw(attrs)
	}
	gauge("hw.gpu.utilization", 0.87, map[string]any{"hw.gpu.task": "general"})
	gauge("hw.gpu.memory.utilization", 0.5, nil)
	m := ms.AppendEmpty()
	m.SetName("hw.gpu.memory.usage")
	dp := m.SetEmptySum().DataPoints().AppendEmpty()
	dp.SetIntValue(40_000_000_000)
	dp.SetTimestamp(ts)
	gauge("hw.power", 350, nil)
	gauge("hw.gpu.power.limit", 700, nil)
	gauge("hw.temperature", 61, nil)
	gauge("hw.gpu.clock.frequency", 1_980_000_000, map[string]any{"hw.gpu.clock.domain": "sm"})
	counter("hw.energy", 123456, nil)
	gauge("hw.gpu.tensor.activity", 0.4, nil)
	gauge("hw.gpu.process.utilization", 0.6, map[string]any{"process.pid": int64(42), "hw.gpu.task": "general"})
	return rm
}

func toMap(vs []Value) map[string]float64 {
	m := map[string]float64{}
	for _, v := range vs {
		m[v.Name] = v.Value
	}
	return m
}

func key(name string, attrs pcommon.Map) string {
	k := name
	keys := []string{}
	attrs.Range(func(a string, v pcommon.Value) bool { keys = append(keys, a+"_"+v.AsString()); return true })
	sort.Strings(keys)
	for _, a := range keys {
		k += "/" + a
	}
	return k
}

func TestConvertHostMLflowNames(t *testing.T) {
	s := Convert(hostResource(), "node-1", ModeMLflow, key)
	assert.Equal(t, int64(1_800_000_000_000), s.TsMs)
	g := toMap(s.Gauges)
	assert.InDelta(t, 45.0, g["cpu_utilization_percentage"], 1e-9, "100 x (1 - idle - iowait)")
	assert.InDelta(t, 4000.0, g["system_memory_usage_megabytes"], 1e-9)
	assert.InDelta(t, 25.0, g["system_memory_usage_percentage"], 1e-9)
	assert.InDelta(t, 50000.0, g["disk_usage_megabytes"], 1e-9)
	assert.InDelta(t, 150000.0, g["disk_available_megabytes"], 1e-9)
	assert.InDelta(t, 25.0, g["disk_usage_percentage"], 1e-9)
	assert.InDelta(t, 50.0, g["disk_data_ssd_usage_percentage"], 1e-9)
	assert.InDelta(t, 1.5, g["load_average_1m"], 1e-9)
	assert.Equal(t, 7.0, g["some.custom.metric/kind_x"], "unknown metrics keep their OTel name")
	c := toMap(s.Counters)
	assert.InDelta(t, 5.0, c["network_receive_megabytes"], 1e-9, "summed over interfaces")
	assert.InDelta(t, 1.0, c["network_transmit_megabytes"], 1e-9)
	assert.Equal(t, []ProcValue{{42, Value{"process_memory_rss_megabytes", 2500}}}, s.Process)
}

func TestConvertGPUMLflowNames(t *testing.T) {
	s := Convert(gpuResource(), "node-1", ModeMLflow, key)
	g := toMap(s.Gauges)
	assert.InDelta(t, 87.0, g["gpu_3_utilization_percentage"], 1e-9)
	assert.InDelta(t, 40000.0, g["gpu_3_memory_usage_megabytes"], 1e-9)
	assert.InDelta(t, 50.0, g["gpu_3_memory_usage_percentage"], 1e-9)
	assert.Equal(t, 350.0, g["gpu_3_power_usage_watts"])
	assert.InDelta(t, 50.0, g["gpu_3_power_usage_percentage"], 1e-9, "usage / enforced limit")
	assert.Equal(t, 61.0, g["gpu_3_temperature_celsius"])
	assert.InDelta(t, 1980.0, g["gpu_3_sm_clock_mhz"], 1e-9)
	assert.InDelta(t, 40.0, g["gpu_3_tensor_active_percentage"], 1e-9)
	assert.Equal(t, 123456.0, toMap(s.Counters)["gpu_3_energy_joules"])
	assert.Equal(t, []ProcValue{{42, Value{"gpu_3_process_utilization_percentage", 60}}}, s.Process)
}

func TestConvertOTelNames(t *testing.T) {
	s := Convert(gpuResource(), "node-1", ModeOTel, key)
	g := toMap(s.Gauges)
	assert.Equal(t, 0.87, g["gpu_3_hw.gpu.utilization/hw.gpu.task_general"])
	assert.Equal(t, 350.0, g["gpu_3_hw.power"])
	assert.Equal(t, 123456.0, toMap(s.Counters)["gpu_3_hw.energy"])
}

func TestMIGPrefix(t *testing.T) {
	attrs := pcommon.NewMap()
	_ = attrs.FromRaw(map[string]any{"hw.gpu.index": int64(1), "hw.gpu.mig.index": int64(2)})
	assert.Equal(t, "gpu_1_mig_2_", gpuPrefix(attrs))
}
