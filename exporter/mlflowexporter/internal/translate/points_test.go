package translate

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func TestStep(t *testing.T) {
	tests := []struct {
		name         string
		stepAttr     string
		attrs        map[string]any
		wantStep     int64
		wantExplicit bool
		wantInvalid  int
	}{
		{"int", "step", map[string]any{"step": int64(12)}, 12, true, 0},
		{"zero", "step", map[string]any{"step": int64(0)}, 0, true, 0},
		{"max int", "step", map[string]any{"step": int64(math.MaxInt64)}, math.MaxInt64, true, 0},
		{"integral double", "step", map[string]any{"step": 3.0}, 3, true, 0},
		{"decimal string", "step", map[string]any{"step": "17"}, 17, true, 0},
		{"decimal string with spaces", "step", map[string]any{"step": " 8 "}, 8, true, 0},
		{"negative int", "step", map[string]any{"step": int64(-1)}, 0, false, 1},
		{"negative double", "step", map[string]any{"step": -2.0}, 0, false, 1},
		{"negative string", "step", map[string]any{"step": "-3"}, 0, false, 1},
		{"fractional double", "step", map[string]any{"step": 2.5}, 0, false, 1},
		{"NaN double", "step", map[string]any{"step": math.NaN()}, 0, false, 1},
		{"huge double", "step", map[string]any{"step": 1e30}, 0, false, 1},
		{"fractional string", "step", map[string]any{"step": "2.5"}, 0, false, 1},
		{"word", "step", map[string]any{"step": "ten"}, 0, false, 1},
		{"string overflow", "step", map[string]any{"step": "99999999999999999999"}, 0, false, 1},
		{"bool", "step", map[string]any{"step": true}, 0, false, 1},
		{"slice", "step", map[string]any{"step": []any{int64(1)}}, 0, false, 1},
		{"missing", "step", map[string]any{"epoch": int64(4)}, 0, false, 0},
		{"custom attribute", "epoch", map[string]any{"epoch": int64(4), "step": int64(9)}, 4, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := defaultOptions()
			opts.StepAttribute = tt.stepAttr
			rd, st := singleGauge(t, opts, "loss", tt.attrs)
			require.Len(t, rd.Points, 1, "an invalid step never drops the point")
			p := rd.Points[0]
			assert.Equal(t, tt.wantStep, p.Step)
			assert.Equal(t, tt.wantExplicit, p.ExplicitStep)
			assert.Equal(t, tt.wantInvalid, st.Dropped[DropInvalidStep])
			// The step attribute is never folded into the key, valid or not.
			if tt.stepAttr == "epoch" {
				assert.Equal(t, "loss/step_9", p.Key)
			} else if tt.name != "missing" {
				assert.Equal(t, "loss", p.Key)
			}
		})
	}
}

func TestTimestamp(t *testing.T) {
	tests := []struct {
		name string
		ns   uint64
		want int64
	}{
		{"nanoseconds to milliseconds", 1_700_000_123_456_789_012, 1_700_000_123_456},
		{"sub-millisecond truncated", 1_999_999, 1},
		{"zero is now", 0, testNow.UnixMilli()},
		{"future kept", 4_102_444_800_000_000_000, 4_102_444_800_000},
		// OTLP timestamps are fixed64; MLflow wants int64 milliseconds >= 0.
		{"beyond int64 nanoseconds", math.MaxUint64, math.MaxUint64 / 1_000_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := pmetric.NewMetrics()
			_, ms := newResource(md, map[string]any{"service.name": "svc"})
			addPoint(addGauge(ms, "m"), 1, tt.ns, nil)
			rd, _ := translateOne(t, defaultOptions(), md)
			require.Len(t, rd.Points, 1)
			assert.Equal(t, tt.want, rd.Points[0].Timestamp)
			assert.Equal(t, tt.want, rd.EarliestMs)
		})
	}
}

func TestNumberValues(t *testing.T) {
	tests := []struct {
		name string
		set  func(ms pmetric.MetricSlice)
		want float64
	}{
		{"gauge int", func(ms pmetric.MetricSlice) { addGauge(ms, "m").AppendEmpty().SetIntValue(-42) }, -42},
		{"gauge double", func(ms pmetric.MetricSlice) { addGauge(ms, "m").AppendEmpty().SetDoubleValue(0.125) }, 0.125},
		{"gauge NaN", func(ms pmetric.MetricSlice) { addGauge(ms, "m").AppendEmpty().SetDoubleValue(math.NaN()) }, math.NaN()},
		{"gauge +Inf", func(ms pmetric.MetricSlice) { addGauge(ms, "m").AppendEmpty().SetDoubleValue(math.Inf(1)) }, math.Inf(1)},
		{"gauge -Inf", func(ms pmetric.MetricSlice) { addGauge(ms, "m").AppendEmpty().SetDoubleValue(math.Inf(-1)) }, math.Inf(-1)},
		{"cumulative sum int", func(ms pmetric.MetricSlice) {
			m := ms.AppendEmpty()
			m.SetName("m")
			m.SetEmptySum().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			m.Sum().SetIsMonotonic(true)
			m.Sum().DataPoints().AppendEmpty().SetIntValue(1 << 40)
		}, 1 << 40},
		{"delta sum double is the increment", func(ms pmetric.MetricSlice) {
			m := ms.AppendEmpty()
			m.SetName("m")
			m.SetEmptySum().SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
			m.Sum().DataPoints().AppendEmpty().SetDoubleValue(2.5)
		}, 2.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := pmetric.NewMetrics()
			_, ms := newResource(md, map[string]any{"service.name": "svc"})
			tt.set(ms)
			rd, _ := translateOne(t, defaultOptions(), md)
			require.Len(t, rd.Points, 1)
			got := rd.Points[0].Value
			if math.IsNaN(tt.want) {
				assert.True(t, math.IsNaN(got), "got %v", got)
			} else {
				assert.Equal(t, tt.want, got)
			}
		})
	}
}

// A delta sum is never accumulated across exports: each export logs its own increment.
func TestDeltaSumNotAccumulated(t *testing.T) {
	tr := New(defaultOptions())
	for _, v := range []float64{3, 4} {
		md := pmetric.NewMetrics()
		_, ms := newResource(md, map[string]any{"service.name": "svc"})
		m := ms.AppendEmpty()
		m.SetName("m")
		m.SetEmptySum().SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		m.Sum().DataPoints().AppendEmpty().SetDoubleValue(v)
		var st Stats
		rd := tr.Resource(md.ResourceMetrics().At(0), testNow, &st)
		require.Len(t, rd.Points, 1)
		assert.Equal(t, v, rd.Points[0].Value)
	}
}

func TestDroppedPoints(t *testing.T) {
	md := pmetric.NewMetrics()
	_, ms := newResource(md, map[string]any{"service.name": "svc"})
	dps := addGauge(ms, "m")
	addPoint(dps, 1, 5_000_000, nil).SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	addPoint(dps, 2, 5_000_000, map[string]any{"otel.metric.overflow": true})
	dps.AppendEmpty().SetTimestamp(5_000_000) // no value at all
	addPoint(dps, 4, 7_000_000, map[string]any{"otel.metric.overflow": false})
	ms.AppendEmpty().SetName("empty")
	addGauge(ms, "no_points")

	h := ms.AppendEmpty()
	h.SetName("h")
	hdp := h.SetEmptyHistogram().DataPoints().AppendEmpty()
	hdp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	hdp.SetCount(3)
	s := ms.AppendEmpty()
	s.SetName("s")
	sdp := s.SetEmptySummary().DataPoints().AppendEmpty()
	sdp.Attributes().PutBool("otel.metric.overflow", true)
	e := ms.AppendEmpty()
	e.SetName("e")
	edp := e.SetEmptyExponentialHistogram().DataPoints().AppendEmpty()
	edp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))

	rd, st := translateOne(t, defaultOptions(), md)
	require.Len(t, rd.Points, 1)
	assert.Equal(t, "m", rd.Points[0].Key)
	assert.Equal(t, 4.0, rd.Points[0].Value)
	assert.Equal(t, int64(7), rd.EarliestMs, "dropped points take no part in the start time")

	var want Stats
	want.Dropped[DropNoRecordedValue] = 4
	want.Dropped[DropSDKOverflow] = 2
	want.Dropped[DropEmptyMetric] = 1
	assert.Equal(t, want, st)
}

func TestEarliestMs(t *testing.T) {
	md := pmetric.NewMetrics()
	_, ms := newResource(md, map[string]any{"service.name": "svc"})
	dps := addGauge(ms, "a")
	addPoint(dps, 1, 9_000_000, nil)
	addPoint(dps, 1, 3_000_000, map[string]any{"x": "1"})
	addPoint(addGauge(ms, "b"), 1, 5_000_000, nil)
	// Info metrics are not data: their timestamps do not start the run.
	addPoint(addGauge(ms, MetricParams), 0, 1_000_000, map[string]any{"k": "v"})
	rd, _ := translateOne(t, defaultOptions(), md)
	assert.Equal(t, int64(3), rd.EarliestMs)

	md = pmetric.NewMetrics()
	newResource(md, map[string]any{"service.name": "svc"})
	rd, _ = translateOne(t, defaultOptions(), md)
	assert.Zero(t, rd.EarliestMs, "no points, no start time")
	assert.Empty(t, rd.Points)
}

func TestDropReasonNames(t *testing.T) {
	// The names are the counter labels of docs/mapping.md.
	want := map[DropReason]string{
		DropFiltered: "filtered", DropNoRecordedValue: "no_recorded_value", DropSDKOverflow: "sdk_overflow",
		DropEmptyMetric: "empty_metric", DropTypeMismatch: "declared_type_mismatch",
		DropInvalidStep: "invalid_step", DropNoRunIdentity: "no_run_identity",
	}
	require.Len(t, want, int(numDropReasons))
	for r, name := range want {
		assert.Equal(t, name, r.String())
	}
}

// Translation must not modify its input: the same pmetric.Metrics may go to
// other exporters.
func TestInputUnchanged(t *testing.T) {
	md := pmetric.NewMetrics()
	_, ms := newResource(md, map[string]any{"service.name": "svc", "mlflow.param.lr": "0.1"})
	addPoint(addGauge(ms, "loss"), 1, 1, map[string]any{"step": int64(1), "a": "x/y"})
	before := pmetric.NewMetrics()
	md.CopyTo(before)
	translateOne(t, defaultOptions(), md)
	assert.Equal(t, before, md)
}
