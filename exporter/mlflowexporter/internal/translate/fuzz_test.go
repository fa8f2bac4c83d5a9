package translate

import (
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// fuzzMetrics builds one resource that puts every fuzzer-chosen string and
// number where the translator reads one: metric names, attribute names and
// values, resource params and tags, steps of every type, bucket layouts and
// quantiles.
func fuzzMetrics(name, attrKey, attrVal, resKey, resVal, stepStr string, stepInt int64, val, q float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	ra := rm.Resource().Attributes()
	ra.PutStr("service.name", "svc")
	ra.PutStr(resKey, resVal)
	ra.PutStr(AttrParamPrefix+attrKey, attrVal)
	ra.PutStr(AttrTagPrefix+attrKey, resVal)
	ra.PutStr("user.name", attrVal)
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()

	g := addGauge(ms, name)
	for _, step := range []func(dp pmetric.NumberDataPoint){
		func(dp pmetric.NumberDataPoint) { dp.Attributes().PutInt("step", stepInt) },
		func(dp pmetric.NumberDataPoint) { dp.Attributes().PutStr("step", stepStr) },
		func(dp pmetric.NumberDataPoint) { dp.Attributes().PutDouble("step", val) },
	} {
		dp := g.AppendEmpty()
		dp.SetDoubleValue(val)
		dp.SetTimestamp(1_700_000_000_000_000_000)
		dp.Attributes().PutStr(attrKey, attrVal)
		dp.Attributes().PutStr(resKey, stepStr)
		step(dp)
	}

	h := ms.AppendEmpty()
	h.SetName(name + "/" + attrVal)
	hdp := h.SetEmptyHistogram().DataPoints().AppendEmpty()
	hdp.SetCount(uint64(stepInt) & 0xffff)
	hdp.SetSum(val)
	hdp.SetMin(q)
	hdp.SetMax(val)
	hdp.ExplicitBounds().FromRaw([]float64{q, val})
	hdp.BucketCounts().FromRaw([]uint64{uint64(stepInt) & 0xff, 1, uint64(stepInt>>8) & 0xff})
	hdp.Attributes().PutStr(attrKey, attrVal)

	e := ms.AppendEmpty()
	e.SetName(attrVal)
	edp := e.SetEmptyExponentialHistogram().DataPoints().AppendEmpty()
	edp.SetScale(int32(stepInt%31) - 10)
	edp.SetCount(uint64(stepInt) & 0xffff)
	edp.SetZeroCount(uint64(stepInt) & 0x3)
	edp.Positive().SetOffset(int32(stepInt >> 16))
	edp.Positive().BucketCounts().FromRaw([]uint64{uint64(stepInt) & 0xf, 2})
	edp.Negative().SetOffset(int32(stepInt >> 32))
	edp.Negative().BucketCounts().FromRaw([]uint64{3})

	s := ms.AppendEmpty()
	s.SetName(attrKey)
	sdp := s.SetEmptySummary().DataPoints().AppendEmpty()
	qv := sdp.QuantileValues().AppendEmpty()
	qv.SetQuantile(q)
	qv.SetValue(val)
	sdp.Attributes().PutStr(resKey, resVal)

	addGauge(ms, MetricParams).AppendEmpty().Attributes().PutStr(attrKey, attrVal)
	addGauge(ms, MetricTags).AppendEmpty().Attributes().PutStr(resKey, resVal)
	addGauge(ms, MetricRunEnd).AppendEmpty().Attributes().PutStr(AttrStatus, attrVal)
	return md
}

func FuzzTranslate(f *testing.F) {
	f.Add("loss", "split", "val", "host.name", "h1", "7", int64(3), 0.5, 0.99)
	f.Add("a:b", "x/y", "..", "", "", "-1", int64(-1), 2.5, 0.07)
	f.Add("", "", "", "mlflow.param.", "mlflow.tag.", " 12 ", int64(1<<40), -1e308, 1e300)
	f.Fuzz(func(t *testing.T, name, attrKey, attrVal, resKey, resVal, stepStr string, stepInt int64, val, q float64) {
		for _, style := range []KeyStyle{KeyStyleKeyValue, KeyStyleValue, KeyStyleIgnore} {
			opts := Options{
				StepAttribute:      "step",
				KeyStyle:           style,
				HistogramQuantiles: []float64{0.5, q},
				ResourceTags:       []string{resKey, "service.name"},
			}
			tr := New(opts)
			var st Stats
			md := fuzzMetrics(name, attrKey, attrVal, resKey, resVal, stepStr, stepInt, val, q)
			rd := tr.Resource(md.ResourceMetrics().At(0), testNow, &st)
			checkLimits(t, rd)
			// The key cache must give what a cold translator computes.
			var st2 Stats
			again := tr.Resource(md.ResourceMetrics().At(0), testNow, &st2)
			cold := New(opts).Resource(md.ResourceMetrics().At(0), testNow, &st2)
			if len(again.Points) != len(rd.Points) || len(cold.Points) != len(rd.Points) {
				t.Fatalf("point counts differ: %d, %d, %d", len(rd.Points), len(again.Points), len(cold.Points))
			}
			for i := range rd.Points {
				if again.Points[i].Key != rd.Points[i].Key || cold.Points[i].Key != rd.Points[i].Key {
					t.Fatalf("key of point %d not deterministic: %q, %q, %q", i, rd.Points[i].Key, again.Points[i].Key, cold.Points[i].Key)
				}
			}
		}
	})
}

func checkLimits(t *testing.T, rd *ResourceData) {
	t.Helper()
	for _, p := range rd.Points {
		mlflowAccepts(t, p.Key)
		if p.Step < 0 {
			t.Fatalf("point %q has negative step %d", p.Key, p.Step)
		}
	}
	for _, p := range rd.Params {
		mlflowAccepts(t, p.Key)
		if n := utf8.RuneCountInString(p.Value); n > mlflow.MaxParamValueLength {
			t.Fatalf("param %q value has %d characters", p.Key, n)
		}
	}
	for _, tg := range rd.Tags {
		mlflowAccepts(t, tg.Key)
		if n := utf8.RuneCountInString(tg.Value); n > mlflow.MaxTagValueLength {
			t.Fatalf("tag %q value has %d characters", tg.Key, n)
		}
	}
	if rd.End != nil && !rd.End.Status.Terminal() {
		t.Fatalf("run end with status %q", rd.End.Status)
	}
}
