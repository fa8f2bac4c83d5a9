// Package translate turns OTLP metrics into MLflow records: which run a
// resource belongs to, and the metric points, params, tags and run-end events
// it carries. It does no I/O; the rules it applies are documented in
// docs/mapping.md, which is the contract.
package translate

import (
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/gpuset"

	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// Special metric names carrying run information instead of values.
const (
	MetricParams = "mlflow.params"
	MetricTags   = "mlflow.tags"
	MetricRunEnd = "mlflow.run.end"

	// AttrStatus is the attribute of mlflow.run.end points giving the end status.
	AttrStatus = "status"
	// attrOverflow marks the point into which an SDK folds series beyond its
	// cardinality limit: an aggregate of unrelated series, not a value.
	attrOverflow = "otel.metric.overflow"
)

// DropReason names why a point or entity was not written.
type DropReason int

const (
	DropFiltered DropReason = iota
	DropNoRecordedValue
	DropSDKOverflow
	DropEmptyMetric
	DropTypeMismatch
	DropInvalidStep
	DropNoRunIdentity
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{
	"filtered", "no_recorded_value", "sdk_overflow", "empty_metric",
	"declared_type_mismatch", "invalid_step", "no_run_identity",
}

func (r DropReason) String() string { return dropReasonNames[r] }

// Stats counts what a translation dropped or altered, by reason.
type Stats struct {
	Dropped [numDropReasons]int
	// Truncated counts param and tag values cut to MLflow's length limits.
	Truncated int
}

// Point is a metric point plus whether its step came from the data.
type Point struct {
	mlflow.Metric
	// ExplicitStep is false when the point had no step attribute; the
	// exporter then derives the step from the run (see docs/mapping.md).
	ExplicitStep bool
	// Writer identifies the resource the point came from (a hash of its
	// attributes): the exporter deduplicates each writer's series apart.
	Writer uint64 `json:"-"`
}

// RunEnd asks for the run to end.
type RunEnd struct {
	Status mlflow.RunStatus
	TimeMs int64
}

// ResourceData is what one ResourceMetrics contributes to one run.
type ResourceData struct {
	Identity Identity
	HostName string
	// PID is the resource's process.pid, 0 when absent.
	PID int64
	// ContainerID is the resource's container.id, "" when absent.
	ContainerID string `json:"-"`
	// Pod is the Kubernetes pod the resource's process runs in (the
	// downward API's k8s.pod.uid, k8s.pod.name, k8s.namespace.name), and
	// SlurmJobID its Slurm job (slurm.job.id): where its GPUs are looked up.
	Pod        PodRef `json:"-"`
	SlurmJobID string `json:"-"`
	// VisibleDevices is the resource's gpuset.Attr (the GPUs the process
	// sees), HasVisibleDevices whether it was set.
	VisibleDevices    string `json:"-"`
	HasVisibleDevices bool   `json:"-"`
	// Backend is where the sender's own MLflow client writes
	// (mlflow.BackendAttr), "" when it does not say.
	Backend string
	Points  []Point
	Params  []mlflow.Param
	Tags    []mlflow.Tag
	End     *RunEnd
	// EarliestMs is the earliest point timestamp, the start time of a new run.
	EarliestMs int64
	// Writer is the hash of the resource's attributes (Point.Writer).
	Writer uint64 `json:"-"`
}

// Options configure a Translator.
type Options struct {
	StepAttribute      string
	KeyStyle           KeyStyle
	IgnoreAttributes   []string
	HistogramQuantiles []float64
	DefaultExperiment  string
	DefaultRunName     string
	ResourceTags       []string
	Filter             *Filter
}

// systemTags maps semantic-convention resource attributes onto MLflow's
// system tags, which its UI shows in dedicated places.
var systemTags = []struct{ attr, tag string }{
	{"vcs.ref.head.revision", "mlflow.source.git.commit"},
	{"vcs.ref.head.name", "mlflow.source.git.branch"},
	{"vcs.repository.url.full", "mlflow.source.git.repoURL"},
	{"process.executable.name", "mlflow.source.name"},
	// Later entries replace earlier ones of the same tag: user.name wins
	// over enduser.id.
	{"enduser.id", "mlflow.user"},
	{"user.name", "mlflow.user"},
}

// Translator is safe for concurrent use.
type Translator struct {
	opts   Options
	ignore map[string]struct{}
	qs     []quantileKey

	mu     sync.RWMutex
	keys   map[string]string // identity of a series -> its MLflow key
	owners map[string]string // MLflow key -> identity of the series that has it

	scratch sync.Pool
}

type quantileKey struct {
	q      float64
	suffix string
}

// maxKeyCache bounds the series-to-key cache; past it the cache restarts,
// which costs only recomputation.
const maxKeyCache = 1 << 16

// New returns a Translator. Options must have been validated by the config.
func New(opts Options) *Translator {
	t := &Translator{opts: opts, ignore: map[string]struct{}{}, keys: map[string]string{}, owners: map[string]string{}}
	if t.opts.KeyStyle == "" {
		t.opts.KeyStyle = KeyStyleKeyValue
	}
	if t.opts.DefaultExperiment == "" {
		t.opts.DefaultExperiment = mlflow.DefaultExperimentName
	}
	for _, a := range opts.IgnoreAttributes {
		t.ignore[a] = struct{}{}
	}
	t.ignore[opts.StepAttribute] = struct{}{}
	for _, q := range opts.HistogramQuantiles {
		t.qs = append(t.qs, quantileKey{q, QuantileSuffix(q)})
	}
	t.scratch.New = func() any { return &scratch{} }
	return t
}

// QuantileSuffix names a quantile as a key suffix: 0.5 -> ".p50", 0.999 -> ".p99_9".
func QuantileSuffix(q float64) string {
	// Shift the decimal point of q's shortest decimal form rather than
	// format q*100, which binary floating point makes 7.000000000000001
	// for 0.07.
	s := strconv.FormatFloat(q*100, 'f', -1, 64)
	if mant, exp, ok := strings.Cut(strconv.FormatFloat(q, 'e', -1, 64), "e"); ok {
		if e, err := strconv.Atoi(exp); err == nil {
			if p, err := strconv.ParseFloat(mant+"e"+strconv.Itoa(e+2), 64); err == nil {
				s = strconv.FormatFloat(p, 'f', -1, 64)
			}
		}
	}
	return ".p" + strings.ReplaceAll(s, ".", "_")
}

type attrKV struct{ k, v string }

type scratch struct {
	attrs   []attrKV
	lookup  []byte
	kb      keyBuilder
	buckets []bucket
}

// Resource translates one ResourceMetrics. now stands in for points without
// a timestamp. The result is never nil; a resource that names no run has a
// zero Identity, and the caller drops it as no_run_identity.
func (t *Translator) Resource(rm pmetric.ResourceMetrics, now time.Time, stats *Stats) *ResourceData {
	rd := &ResourceData{}
	t.resource(rm.Resource().Attributes(), rd, stats)
	sc := t.scratch.Get().(*scratch)
	defer t.scratch.Put(sc)
	nowMs := now.UnixMilli()
	sms := rm.ScopeMetrics()
	// Sized up front: growing the slice point by point copied every point
	// about twice and was most of the bytes allocated per export.
	rd.Points = make([]Point, 0, ResourcePointCount(rm))
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			t.metric(ms.At(j), rd, nowMs, sc, stats)
		}
	}
	return rd
}

func (t *Translator) resource(attrs pcommon.Map, rd *ResourceData, stats *Stats) {
	str := func(k string) string {
		if v, ok := attrs.Get(k); ok {
			return v.AsString()
		}
		return ""
	}
	id := Identity{RunID: str(AttrRunID)}
	if id.RunID == "" {
		id.ExperimentID = str(AttrExperimentID)
		if id.ExperimentID == "" {
			id.ExperimentName = str(AttrExperimentName)
			if id.ExperimentName == "" {
				id.ExperimentName = t.opts.DefaultExperiment
			}
		}
		id.RunName = str(AttrRunName)
		if id.RunName == "" {
			id.RunName = t.opts.DefaultRunName
		}
		if id.RunName == "" {
			id.RunName = str(AttrServiceName)
		}
		id.ParentRunID = str(AttrParentRunID)
		if id.ParentRunID == "" {
			id.ParentRunName = str(AttrParentRunName)
		}
		if id.RunName == "" {
			id = Identity{} // nothing names a run
		}
	}
	rd.Identity = id
	rd.Writer = writerOf(attrs)
	rd.HostName = str(AttrHostName)
	rd.Backend = str(mlflow.BackendAttr)
	if v, ok := attrs.Get("process.pid"); ok && v.Type() == pcommon.ValueTypeInt {
		rd.PID = v.Int()
	}
	if v, ok := attrs.Get(gpuset.Attr); ok {
		rd.VisibleDevices, rd.HasVisibleDevices = v.AsString(), true
	}
	rd.ContainerID = str("container.id")
	rd.Pod = PodRef{UID: str(AttrPodUID), Namespace: str(AttrNamespace), Name: str(AttrPodName)}
	rd.SlurmJobID = str(AttrSlurmJobID)

	for _, k := range t.opts.ResourceTags {
		if v, ok := attrs.Get(k); ok {
			rd.Tags = append(rd.Tags, t.tag(k, v.AsString(), stats))
		}
	}
	for _, st := range systemTags {
		if v, ok := attrs.Get(st.attr); ok && v.AsString() != "" {
			rd.Tags = setTag(rd.Tags, t.tag(st.tag, v.AsString(), stats))
		}
	}
	attrs.Range(func(k string, v pcommon.Value) bool {
		switch {
		case strings.HasPrefix(k, AttrParamPrefix) && len(k) > len(AttrParamPrefix):
			rd.Params = append(rd.Params, t.param(k[len(AttrParamPrefix):], v.AsString(), stats))
		case strings.HasPrefix(k, AttrTagPrefix) && len(k) > len(AttrTagPrefix):
			rd.Tags = setTag(rd.Tags, t.tag(k[len(AttrTagPrefix):], v.AsString(), stats))
		}
		return true
	})
}

// writerOf hashes a resource's attribute set, in any order (FNV-1a of each
// attribute, summed).
func writerOf(attrs pcommon.Map) uint64 {
	var sum uint64
	attrs.Range(func(k string, v pcommon.Value) bool {
		h := uint64(14695981039346656037)
		add := func(s string) {
			for i := 0; i < len(s); i++ {
				h = (h ^ uint64(s[i])) * 1099511628211
			}
			h = (h ^ 0xff) * 1099511628211
		}
		add(k)
		if v.Type() == pcommon.ValueTypeStr {
			add(v.Str())
		} else {
			add(v.AsString())
		}
		sum += h
		return true
	})
	return sum
}

// setTag replaces an existing tag of the same key: a later, more specific
// source (mlflow.tag.*) wins over a mapped one.
func setTag(tags []mlflow.Tag, tag mlflow.Tag) []mlflow.Tag {
	for i := range tags {
		if tags[i].Key == tag.Key {
			tags[i] = tag
			return tags
		}
	}
	return append(tags, tag)
}

func (t *Translator) param(k, v string, stats *Stats) mlflow.Param {
	return mlflow.Param{Key: SanitizeKey(k), Value: truncateValue(v, mlflow.MaxParamValueLength, stats)}
}

func (t *Translator) tag(k, v string, stats *Stats) mlflow.Tag {
	return mlflow.Tag{Key: SanitizeKey(k), Value: truncateValue(v, mlflow.MaxTagValueLength, stats)}
}

// truncateValue cuts v to limit characters, as MLflow 2.17+ does on the
// server; older servers would reject the whole batch instead.
func truncateValue(v string, limit int, stats *Stats) string {
	if len(v) <= limit || utf8.RuneCountInString(v) <= limit {
		return v
	}
	stats.Truncated++
	return mlflow.TruncateRunes(v, limit)
}

func (t *Translator) metric(m pmetric.Metric, rd *ResourceData, nowMs int64, sc *scratch, stats *Stats) {
	name := m.Name()
	switch name {
	case MetricParams, MetricTags, MetricRunEnd:
		t.infoMetric(m, rd, nowMs, stats)
		return
	}
	ok, declared := t.opts.Filter.Allows(name)
	if !ok {
		stats.Dropped[DropFiltered] += DataPointCount(m)
		return
	}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		t.numberPoints(name, m.Gauge().DataPoints(), declared, rd, nowMs, sc, stats)
	case pmetric.MetricTypeSum:
		// Cumulative sums are logged as the running total they carry; delta
		// sums as the increment of their interval (see docs/mapping.md).
		t.numberPoints(name, m.Sum().DataPoints(), declared, rd, nowMs, sc, stats)
	case pmetric.MetricTypeHistogram:
		t.histogramPoints(name, m.Histogram().DataPoints(), rd, nowMs, sc, stats)
	case pmetric.MetricTypeExponentialHistogram:
		t.expHistogramPoints(name, m.ExponentialHistogram().DataPoints(), rd, nowMs, sc, stats)
	case pmetric.MetricTypeSummary:
		t.summaryPoints(name, m.Summary().DataPoints(), rd, nowMs, sc, stats)
	default:
		stats.Dropped[DropEmptyMetric]++
	}
}

// ResourcePointCount is the number of data points of every metric of rm.
func ResourcePointCount(rm pmetric.ResourceMetrics) int {
	n := 0
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			n += DataPointCount(ms.At(j))
		}
	}
	return n
}

// DataPointCount is the number of data points of m, whatever its type.
func DataPointCount(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}

// infoMetric handles mlflow.params, mlflow.tags and mlflow.run.end, whose
// points carry run information in their attributes.
func (t *Translator) infoMetric(m pmetric.Metric, rd *ResourceData, nowMs int64, stats *Stats) {
	forEachPointAttrs(m, func(attrs pcommon.Map, ts pcommon.Timestamp) {
		switch m.Name() {
		case MetricParams:
			attrs.Range(func(k string, v pcommon.Value) bool {
				rd.Params = append(rd.Params, t.param(k, v.AsString(), stats))
				return true
			})
		case MetricTags:
			attrs.Range(func(k string, v pcommon.Value) bool {
				rd.Tags = setTag(rd.Tags, t.tag(k, v.AsString(), stats))
				return true
			})
		case MetricRunEnd:
			status := mlflow.RunStatusFinished
			if v, ok := attrs.Get(AttrStatus); ok {
				if s := mlflow.RunStatus(strings.ToUpper(v.AsString())); s.Terminal() {
					status = s
				}
			}
			end := &RunEnd{Status: status, TimeMs: tsMs(ts, nowMs)}
			if rd.End == nil || end.TimeMs >= rd.End.TimeMs {
				rd.End = end
			}
		}
	})
}

// NumberPoints returns the points of a gauge or sum; ok is false for the
// other metric types.
func NumberPoints(m pmetric.Metric) (dps pmetric.NumberDataPointSlice, ok bool) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints(), true
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints(), true
	}
	return dps, false
}

func forEachPointAttrs(m pmetric.Metric, fn func(pcommon.Map, pcommon.Timestamp)) {
	dps, ok := NumberPoints(m)
	if !ok {
		return
	}
	for i := 0; i < dps.Len(); i++ {
		fn(dps.At(i).Attributes(), dps.At(i).Timestamp())
	}
}

func tsMs(ts pcommon.Timestamp, nowMs int64) int64 {
	if ts == 0 {
		return nowMs
	}
	// Divide as unsigned: OTLP timestamps are fixed64, and converting one
	// past 2262 to int64 first gave MLflow a negative or zero timestamp.
	return int64(uint64(ts) / uint64(time.Millisecond))
}

// pointBase checks the common parts of a data point: flags, SDK overflow
// marker, step, timestamp. It returns false for points to drop.
func (t *Translator) pointBase(attrs pcommon.Map, flags pmetric.DataPointFlags, ts pcommon.Timestamp, nowMs int64, stats *Stats, n int) (step int64, explicit bool, ms int64, ok bool) {
	if flags.NoRecordedValue() {
		stats.Dropped[DropNoRecordedValue] += n
		return 0, false, 0, false
	}
	if v, has := attrs.Get(attrOverflow); has && v.Bool() {
		stats.Dropped[DropSDKOverflow] += n
		return 0, false, 0, false
	}
	if t.opts.StepAttribute != "" {
		if v, has := attrs.Get(t.opts.StepAttribute); has {
			s, valid := parseStep(v)
			if valid {
				step, explicit = s, true
			} else {
				// The point still lands, with the derived step.
				stats.Dropped[DropInvalidStep]++
			}
		}
	}
	return step, explicit, tsMs(ts, nowMs), true
}

func parseStep(v pcommon.Value) (int64, bool) {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int(), v.Int() >= 0
	case pcommon.ValueTypeDouble:
		d := v.Double()
		if d >= 0 && d <= math.MaxInt64/2 && d == math.Trunc(d) {
			return int64(d), true
		}
	case pcommon.ValueTypeStr:
		n, err := strconv.ParseInt(strings.TrimSpace(v.Str()), 10, 64)
		return n, err == nil && n >= 0
	}
	return 0, false
}

func (t *Translator) add(rd *ResourceData, key string, value float64, ts, step int64, explicit bool) {
	rd.Points = append(rd.Points, Point{Metric: mlflow.Metric{Key: key, Value: value, Timestamp: ts, Step: step}, ExplicitStep: explicit, Writer: rd.Writer})
	if rd.EarliestMs == 0 || ts < rd.EarliestMs {
		rd.EarliestMs = ts
	}
}

func (t *Translator) numberPoints(name string, dps pmetric.NumberDataPointSlice, declared string, rd *ResourceData, nowMs int64, sc *scratch, stats *Stats) {
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		step, explicit, ts, ok := t.pointBase(dp.Attributes(), dp.Flags(), dp.Timestamp(), nowMs, stats, 1)
		if !ok {
			continue
		}
		var v float64
		switch dp.ValueType() {
		case pmetric.NumberDataPointValueTypeInt:
			v = float64(dp.IntValue())
		case pmetric.NumberDataPointValueTypeDouble:
			v = dp.DoubleValue()
		default:
			stats.Dropped[DropNoRecordedValue]++
			continue
		}
		if declared == DeclaredInt && v != math.Trunc(v) {
			stats.Dropped[DropTypeMismatch]++
			continue
		}
		t.add(rd, t.seriesKey(name, "", dp.Attributes(), sc), v, ts, step, explicit)
	}
}

// pointAdder checks a histogram or summary point (pointBase) and returns
// the function that adds one of its parts, name+suffix, as a metric point.
func (t *Translator) pointAdder(name string, attrs pcommon.Map, flags pmetric.DataPointFlags, ts pcommon.Timestamp, rd *ResourceData, nowMs int64, sc *scratch, stats *Stats) (func(suffix string, v float64), bool) {
	step, explicit, ms, ok := t.pointBase(attrs, flags, ts, nowMs, stats, 1)
	if !ok {
		return nil, false
	}
	return func(suffix string, v float64) {
		t.add(rd, t.seriesKey(name, suffix, attrs, sc), v, ms, step, explicit)
	}, true
}

// histogramStats is what histograms of both kinds have in common.
type histogramStats interface {
	Count() uint64
	HasSum() bool
	Sum() float64
	HasMin() bool
	Min() float64
	HasMax() bool
	Max() float64
}

// addStats writes a histogram's .count, .sum, .mean, .min and .max.
func addStats(add func(suffix string, v float64), dp histogramStats) {
	add(".count", float64(dp.Count()))
	if dp.HasSum() {
		add(".sum", dp.Sum())
		if dp.Count() > 0 {
			add(".mean", dp.Sum()/float64(dp.Count()))
		}
	}
	if dp.HasMin() {
		add(".min", dp.Min())
	}
	if dp.HasMax() {
		add(".max", dp.Max())
	}
}

func (t *Translator) histogramPoints(name string, dps pmetric.HistogramDataPointSlice, rd *ResourceData, nowMs int64, sc *scratch, stats *Stats) {
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		add, ok := t.pointAdder(name, dp.Attributes(), dp.Flags(), dp.Timestamp(), rd, nowMs, sc, stats)
		if !ok {
			continue
		}
		addStats(add, dp)
		if len(t.qs) == 0 || dp.Count() == 0 || dp.BucketCounts().Len() == 0 {
			continue
		}
		if dp.ExplicitBounds().Len() == 0 && (!dp.HasMin() || !dp.HasMax()) {
			// One bucket with no bound to close it: any quantile would be
			// invented (it used to be 0).
			continue
		}
		sc.buckets = clampBuckets(explicitBuckets(sc.buckets[:0], dp), dp.HasMin(), dp.Min(), dp.HasMax(), dp.Max())
		for _, q := range t.qs {
			add(q.suffix, quantile(sc.buckets, dp.Count(), q.q))
		}
	}
}

func (t *Translator) expHistogramPoints(name string, dps pmetric.ExponentialHistogramDataPointSlice, rd *ResourceData, nowMs int64, sc *scratch, stats *Stats) {
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		add, ok := t.pointAdder(name, dp.Attributes(), dp.Flags(), dp.Timestamp(), rd, nowMs, sc, stats)
		if !ok {
			continue
		}
		addStats(add, dp)
		if len(t.qs) == 0 || dp.Count() == 0 {
			continue
		}
		sc.buckets = clampBuckets(exponentialBuckets(sc.buckets[:0], dp), dp.HasMin(), dp.Min(), dp.HasMax(), dp.Max())
		for _, q := range t.qs {
			add(q.suffix, quantile(sc.buckets, dp.Count(), q.q))
		}
	}
}

func (t *Translator) summaryPoints(name string, dps pmetric.SummaryDataPointSlice, rd *ResourceData, nowMs int64, sc *scratch, stats *Stats) {
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		add, ok := t.pointAdder(name, dp.Attributes(), dp.Flags(), dp.Timestamp(), rd, nowMs, sc, stats)
		if !ok {
			continue
		}
		add(".count", float64(dp.Count()))
		add(".sum", dp.Sum())
		qv := dp.QuantileValues()
		for j := 0; j < qv.Len(); j++ {
			add(QuantileSuffix(qv.At(j).Quantile()), qv.At(j).Value())
		}
	}
}

// seriesKey returns the MLflow key of a series: metric name, suffix and the
// folded point attributes. Results are cached by the exact series identity,
// so a steady stream of points costs one map lookup each.
func (t *Translator) seriesKey(name, suffix string, attrs pcommon.Map, sc *scratch) string {
	sc.attrs = sc.attrs[:0]
	if t.opts.KeyStyle != KeyStyleIgnore {
		attrs.Range(func(k string, v pcommon.Value) bool {
			if _, skip := t.ignore[k]; skip || k == attrOverflow {
				return true
			}
			var s string
			if v.Type() == pcommon.ValueTypeStr {
				s = v.Str()
			} else {
				s = v.AsString()
			}
			sc.attrs = append(sc.attrs, attrKV{k, s})
			return true
		})
		if len(sc.attrs) > 1 {
			slices.SortFunc(sc.attrs, func(a, b attrKV) int { return strings.Compare(a.k, b.k) })
		}
	}
	// Length prefixes, not separators: names and values may contain any
	// byte, NUL included, and two series must never share a cache entry.
	lk := appendLenPrefixed(sc.lookup[:0], name)
	lk = appendLenPrefixed(lk, suffix)
	for _, a := range sc.attrs {
		lk = appendLenPrefixed(lk, a.k)
		lk = appendLenPrefixed(lk, a.v)
	}
	sc.lookup = lk
	t.mu.RLock()
	key, ok := t.keys[string(lk)]
	t.mu.RUnlock()
	if ok {
		return key
	}
	kb := &sc.kb
	kb.reset()
	kb.addName(name + suffix)
	for _, a := range sc.attrs {
		kb.addAttr(t.opts.KeyStyle, a.k, a.v)
	}
	key = kb.String()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.keys) >= maxKeyCache {
		t.keys = make(map[string]string, len(t.keys)/2)
		t.owners = make(map[string]string, len(t.keys)/2)
	}
	// Folding can make two series meet, e.g. loss{a_b=c} and loss{a=b_c}
	// both give loss/a_b_c. The later one gets the hash suffix, so series
	// never merge into one MLflow key.
	if owner, taken := t.owners[key]; taken && owner != string(lk) && !kb.lossy {
		kb.lossy = true
		key = kb.String()
	}
	t.keys[string(lk)] = key
	t.owners[key] = string(lk)
	return key
}

func appendLenPrefixed(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Key folds a metric name and point attributes into an MLflow key by the
// same rules as data points (used for system metrics without an MLflow name).
func (t *Translator) Key(name string, attrs pcommon.Map) string {
	sc := t.scratch.Get().(*scratch)
	defer t.scratch.Put(sc)
	return t.seriesKey(name, "", attrs, sc)
}

// Resource attributes that place a process on a node.
const (
	AttrPodUID     = "k8s.pod.uid"
	AttrPodName    = "k8s.pod.name"
	AttrNamespace  = "k8s.namespace.name"
	AttrSlurmJobID = "slurm.job.id"
)

// PodRef names a Kubernetes pod; the zero value names none.
type PodRef struct {
	UID, Namespace, Name string
}

// IsZero reports that no pod is named.
func (p PodRef) IsZero() bool { return p.UID == "" && p.Name == "" }
