package metadata

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Resource attribute keys.
const (
	ResAttrHostName        = "host.name"
	ResAttrHwID            = "hw.id"
	ResAttrHwName          = "hw.name"
	ResAttrHwModel         = "hw.model"
	ResAttrHwVendor        = "hw.vendor"
	ResAttrHwDriverVersion = "hw.driver_version"
	ResAttrHwParent        = "hw.parent"
	ResAttrHwType          = "hw.type"
	ResAttrHwGpuIndex      = "hw.gpu.index"
	ResAttrHwGpuMigIndex   = "hw.gpu.mig.index"
)

// ResourceBuilder assembles the attributes of one resource (the host, one GPU
// or one MIG instance).
type ResourceBuilder struct {
	res pcommon.Resource
}

// NewResourceBuilder returns an empty builder.
func NewResourceBuilder() *ResourceBuilder {
	return &ResourceBuilder{res: pcommon.NewResource()}
}

func (rb *ResourceBuilder) setStr(k, v string) {
	if v != "" {
		rb.res.Attributes().PutStr(k, v)
	}
}

// SetHostName sets host.name.
func (rb *ResourceBuilder) SetHostName(v string) { rb.setStr(ResAttrHostName, v) }

// SetHwID sets hw.id, the stable identity of a GPU (its UUID) or MIG instance.
func (rb *ResourceBuilder) SetHwID(v string) { rb.setStr(ResAttrHwID, v) }

// SetHwName sets hw.name, a short human-readable name such as "gpu0".
func (rb *ResourceBuilder) SetHwName(v string) { rb.setStr(ResAttrHwName, v) }

// SetHwModel sets hw.model (the NVML product name).
func (rb *ResourceBuilder) SetHwModel(v string) { rb.setStr(ResAttrHwModel, v) }

// SetHwVendor sets hw.vendor.
func (rb *ResourceBuilder) SetHwVendor(v string) { rb.setStr(ResAttrHwVendor, v) }

// SetHwDriverVersion sets hw.driver_version.
func (rb *ResourceBuilder) SetHwDriverVersion(v string) { rb.setStr(ResAttrHwDriverVersion, v) }

// SetHwParent sets hw.parent, the hw.id of the physical GPU of a MIG instance.
func (rb *ResourceBuilder) SetHwParent(v string) { rb.setStr(ResAttrHwParent, v) }

// SetHwType sets hw.type.
func (rb *ResourceBuilder) SetHwType(v string) { rb.setStr(ResAttrHwType, v) }

// SetHwGpuIndex sets hw.gpu.index, the NVML index (neither the CUDA index nor
// stable across reboots, hence not the identity).
func (rb *ResourceBuilder) SetHwGpuIndex(v int) {
	rb.res.Attributes().PutInt(ResAttrHwGpuIndex, int64(v))
}

// SetHwGpuMigIndex sets hw.gpu.mig.index, the MIG slot on the parent GPU.
func (rb *ResourceBuilder) SetHwGpuMigIndex(v int) {
	rb.res.Attributes().PutInt(ResAttrHwGpuMigIndex, int64(v))
}

// Emit returns the resource and resets the builder.
func (rb *ResourceBuilder) Emit() pcommon.Resource {
	r := rb.res
	rb.res = pcommon.NewResource()
	return r
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
