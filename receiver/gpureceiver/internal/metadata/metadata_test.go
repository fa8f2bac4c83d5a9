package metadata

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func TestDescriptorsComplete(t *testing.T) {
	names := map[string]bool{}
	for id := range MetricCount {
		d := Descriptors[id]
		require.NotEmpty(t, d.Name, "metric %d has no descriptor", id)
		assert.False(t, names[d.Name], "duplicate name %s", d.Name)
		names[d.Name] = true
		assert.NotEmpty(t, d.Unit, d.Name)
		assert.NotEmpty(t, d.Description, d.Name)
		assert.Equal(t, d.GPU, strings.HasPrefix(d.Name, "hw."), "%s: GPU flag must match the hw. namespace", d.Name)
		if d.Kind == Gauge {
			assert.False(t, d.Monotonic, "%s: a gauge cannot be monotonic", d.Name)
		}
		got, ok := ByName(d.Name)
		assert.True(t, ok)
		assert.Equal(t, id, got)
	}
	_, ok := ByName("no.such.metric")
	assert.False(t, ok)
}

func TestMetricsConfigFieldsMatchDescriptors(t *testing.T) {
	typ := reflect.TypeFor[MetricsConfig]()
	for i := range typ.NumField() {
		tag := typ.Field(i).Tag.Get("mapstructure")
		_, ok := ByName(tag)
		assert.True(t, ok, "field %s tag %q", typ.Field(i).Name, tag)
	}
	assert.Equal(t, int(MetricCount), typ.NumField())
}

func TestDefaultsAndSwitches(t *testing.T) {
	c := DefaultMetricsConfig()
	for id := range MetricCount {
		assert.Equal(t, Descriptors[id].DefaultEnabled, c.Enabled(id), Descriptors[id].Name)
	}
	assert.True(t, c.AnyGPUEnabled())
	c.SetEnabled(HwPower, false)
	assert.False(t, c.HwPower.Enabled, "SetEnabled must reach the named field")
	assert.False(t, c.EnabledSet()[HwPower])
	for id := range MetricCount {
		if Descriptors[id].GPU {
			c.SetEnabled(id, false)
		}
	}
	assert.False(t, c.AnyGPUEnabled())
}

func TestResourceBuilder(t *testing.T) {
	rb := NewResourceBuilder()
	rb.SetHostName("h")
	rb.SetHwID("GPU-1")
	rb.SetHwName("gpu0")
	rb.SetHwModel("NVIDIA H100")
	rb.SetHwVendor("NVIDIA")
	rb.SetHwDriverVersion("550.54.15")
	rb.SetHwParent("GPU-0")
	rb.SetHwTypeGpu()
	rb.SetHwGpuIndex(3)
	rb.SetHwGpuMigIndex(1)
	rb.SetHwModel("") // empty values are left out, not written as ""
	res := rb.Emit()
	assert.Equal(t, map[string]any{
		"host.name": "h", "hw.id": "GPU-1", "hw.name": "gpu0", "hw.model": "NVIDIA H100", "hw.vendor": "NVIDIA",
		"hw.driver_version": "550.54.15", "hw.parent": "GPU-0", "hw.type": "gpu", "hw.gpu.index": int64(3), "hw.gpu.mig.index": int64(1),
	}, res.Attributes().AsRaw())
	assert.Equal(t, 0, rb.Emit().Attributes().Len(), "Emit resets the builder")

	// A pod's and a Slurm job's resource: the one the cgroup names.
	rb.SetHostName("h")
	rb.SetK8sPodUID("6b2d1a4c-5e3f-4a7b-9c8d-0e1f2a3b4c5d")
	rb.SetSlurmJobID("")
	assert.Equal(t, map[string]any{"host.name": "h", "k8s.pod.uid": "6b2d1a4c-5e3f-4a7b-9c8d-0e1f2a3b4c5d"}, rb.Emit().Attributes().AsRaw())
	rb.SetSlurmJobID("4242")
	assert.Equal(t, map[string]any{"slurm.job.id": "4242"}, rb.Emit().Attributes().AsRaw())
}

func TestMetricsBuilder(t *testing.T) {
	cfg := DefaultMetricsConfig()
	cfg.SetEnabled(HwTemperature, false)
	mb := NewMetricsBuilder(cfg, component.BuildInfo{Version: "1.2.3"}, pcommon.Timestamp(100))
	assert.False(t, mb.Enabled(HwTemperature))

	rb := NewResourceBuilder()
	rb.SetHwID("GPU-0")
	rr := mb.NewResource(rb.Emit(), pcommon.Timestamp(200))
	rr.RecordDouble(HwTemperature, 40) // disabled: dropped
	rr.RecordInt(HwGpuIo, 5, Str(AttrNetworkIoDirection, "transmit"))
	rr.RecordInt(HwGpuIo, 7, Str(AttrNetworkIoDirection, "receive"))
	rr.RecordDouble(HwGpuProcessUtilization, 0.5, IntAttr(AttrProcessPID, 42), Str(AttrHwGpuTask, "general"))
	mb.NewResource(NewResourceBuilder().Emit(), pcommon.Timestamp(200)) // nothing recorded: left out

	md := mb.Emit()
	require.Equal(t, 1, md.ResourceMetrics().Len())
	sm := md.ResourceMetrics().At(0).ScopeMetrics().At(0)
	assert.Equal(t, ScopeName, sm.Scope().Name())
	assert.Equal(t, "1.2.3", sm.Scope().Version())
	require.Equal(t, 2, sm.Metrics().Len())

	io := sm.Metrics().At(0)
	assert.Equal(t, "hw.gpu.io", io.Name())
	assert.Equal(t, "By", io.Unit())
	require.Equal(t, pmetric.MetricTypeSum, io.Type())
	assert.True(t, io.Sum().IsMonotonic())
	assert.Equal(t, pmetric.AggregationTemporalityCumulative, io.Sum().AggregationTemporality())
	require.Equal(t, 2, io.Sum().DataPoints().Len())
	dp := io.Sum().DataPoints().At(1)
	assert.Equal(t, int64(7), dp.IntValue())
	assert.Equal(t, pcommon.Timestamp(100), dp.StartTimestamp())
	assert.Equal(t, pcommon.Timestamp(200), dp.Timestamp())

	pu := sm.Metrics().At(1)
	require.Equal(t, pmetric.MetricTypeGauge, pu.Type())
	gdp := pu.Gauge().DataPoints().At(0)
	assert.Equal(t, 0.5, gdp.DoubleValue())
	assert.Equal(t, pcommon.Timestamp(0), gdp.StartTimestamp(), "gauges carry no start time")
	assert.Equal(t, map[string]any{"process.pid": int64(42), "hw.gpu.task": "general"}, gdp.Attributes().AsRaw())

	assert.Equal(t, 0, mb.Emit().ResourceMetrics().Len(), "Emit resets the builder")
}
