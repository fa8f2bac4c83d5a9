package mlflowexporter

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// export is one SDK export of a run: every metric type, steps first..first+n-1
// of each, each point's value naming its metric and step.
func export(run string, first, n int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("mlflow.run.name", run)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("train")
	g := sm.Metrics().AppendEmpty()
	g.SetName("loss")
	s := sm.Metrics().AppendEmpty()
	s.SetName("tokens")
	s.SetEmptySum().SetIsMonotonic(true)
	s.Sum().SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	h := sm.Metrics().AppendEmpty()
	h.SetName("latency")
	h.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	gp := g.SetEmptyGauge().DataPoints()
	for step := first; step < first+n; step++ {
		p := gp.AppendEmpty()
		p.Attributes().PutInt("step", int64(step))
		p.SetDoubleValue(float64(step))
		q := s.Sum().DataPoints().AppendEmpty()
		q.Attributes().PutInt("step", int64(step))
		q.SetIntValue(int64(step))
		r := h.Histogram().DataPoints().AppendEmpty()
		r.Attributes().PutInt("step", int64(step))
		r.SetCount(uint64(step))
	}
	return md
}

// pointsOf lists a batch's points as "run/metric/step" in order.
func pointsOf(t *testing.T, r xexporterhelper.Request) []string {
	t.Helper()
	md, err := r.(*encodedBatch).decode()
	require.NoError(t, err)
	var out []string
	for _, rm := range md.ResourceMetrics().All() {
		run, _ := rm.Resource().Attributes().Get("mlflow.run.name")
		for _, sm := range rm.ScopeMetrics().All() {
			require.Equal(t, "train", sm.Scope().Name())
			for _, m := range sm.Metrics().All() {
				var steps []pcommon.Map
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					for _, p := range m.Gauge().DataPoints().All() {
						steps = append(steps, p.Attributes())
					}
				case pmetric.MetricTypeSum:
					require.True(t, m.Sum().IsMonotonic(), "a split sum keeps its description")
					require.Equal(t, pmetric.AggregationTemporalityDelta, m.Sum().AggregationTemporality())
					for _, p := range m.Sum().DataPoints().All() {
						steps = append(steps, p.Attributes())
					}
				case pmetric.MetricTypeHistogram:
					require.Equal(t, pmetric.AggregationTemporalityDelta, m.Histogram().AggregationTemporality())
					for _, p := range m.Histogram().DataPoints().All() {
						steps = append(steps, p.Attributes())
					}
				}
				for _, a := range steps {
					step, _ := a.Get("step")
					out = append(out, fmt.Sprintf("%s/%s/%d", run.Str(), m.Name(), step.Int()))
				}
			}
		}
	}
	return out
}

func TestEncodedBatchMergeSplit(t *testing.T) {
	items, bytes := exporterhelper.RequestSizerTypeItems, exporterhelper.RequestSizerTypeBytes
	for _, tc := range []struct {
		name     string
		exports  []pmetric.Metrics
		maxSize  int
		sizer    exporterhelper.RequestSizerType
		wantLens []int // items per returned request
	}{
		{"merge without a limit", []pmetric.Metrics{export("a", 0, 5), export("a", 5, 5)}, 0, items, []int{30}},
		{"under the limit", []pmetric.Metrics{export("a", 0, 5), export("a", 5, 5)}, 1000, items, []int{30}},
		{"exactly full", []pmetric.Metrics{export("a", 0, 5), export("a", 5, 5)}, 30, items, []int{30}},
		{"cut inside an export, inside a metric", []pmetric.Metrics{export("a", 0, 5), export("a", 5, 5)}, 7, items, []int{7, 7, 7, 7, 2}},
		{"cut between metrics", []pmetric.Metrics{export("a", 0, 4), export("b", 0, 4)}, 8, items, []int{8, 8, 8}},
		{"one big export", []pmetric.Metrics{export("a", 0, 400)}, 1000, items, []int{1000, 200}},
		{"many small exports fill requests", []pmetric.Metrics{export("a", 0, 100), export("a", 100, 100), export("a", 200, 100), export("a", 300, 100)}, 1000, items, []int{1000, 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for _, md := range tc.exports {
				c := pmetric.NewMetrics()
				md.CopyTo(c)
				want = append(want, pointsOf(t, newEncodedBatch(c))...)
			}
			var b xexporterhelper.Request = newEncodedBatch(tc.exports[0])
			out, err := b.MergeSplit(context.Background(), tc.maxSize, tc.sizer, nil)
			require.NoError(t, err)
			for _, md := range tc.exports[1:] {
				last := out[len(out)-1]
				more, err := last.MergeSplit(context.Background(), tc.maxSize, tc.sizer, newEncodedBatch(md))
				require.NoError(t, err)
				out = append(out[:len(out)-1], more...)
			}
			var got []string
			var lens []int
			for _, r := range out {
				lens = append(lens, r.ItemsCount())
				pts := pointsOf(t, r)
				assert.Len(t, pts, r.ItemsCount(), "ItemsCount is what the request holds")
				got = append(got, pts...)
			}
			assert.Equal(t, tc.wantLens, lens)
			assert.Equal(t, want, got, "every point once, in arrival order")
		})
	}
	t.Run("bytes", func(t *testing.T) {
		b := newEncodedBatch(export("a", 0, 300))
		full := b.BytesSize()
		out, err := b.MergeSplit(context.Background(), full/3, bytes, nil)
		require.NoError(t, err)
		total := 0
		for _, r := range out {
			assert.LessOrEqual(t, r.BytesSize(), full/3)
			total += r.ItemsCount()
		}
		assert.Equal(t, 900, total)
		assert.GreaterOrEqual(t, len(out), 3)
	})
	t.Run("a point over max_size", func(t *testing.T) {
		_, err := newEncodedBatch(export("a", 0, 1)).MergeSplit(context.Background(), 3, bytes, nil)
		require.Error(t, err)
	})
}

// Held points are kept encoded: far smaller than the pdata they came as.
func TestEncodedBatchHoldsPointsEncoded(t *testing.T) {
	b := newEncodedBatch(export("a", 0, 10))
	out, err := b.MergeSplit(context.Background(), 1000, exporterhelper.RequestSizerTypeItems, newEncodedBatch(export("a", 10, 10)))
	require.NoError(t, err)
	require.Len(t, out, 1)
	held := out[0].(*encodedBatch)
	assert.False(t, held.hasMD, "a batch holds no pdata")
	assert.Len(t, held.chunks, 2)
	assert.Less(t, held.bytes/held.items, 64, "bytes per held point")
}

// The persistent queue stores the request with its client metadata (the
// run partition), as exporterhelper's own metrics request does.
func TestEncodedBatchEncoding(t *testing.T) {
	ctx := client.NewContext(context.Background(), client.Info{Metadata: client.NewMetadata(map[string][]string{runPartitionKey: {"run-a"}})})
	enc := encodedBatchSettings().Encoding
	data, err := enc.Marshal(ctx, newEncodedBatch(export("a", 0, 3)))
	require.NoError(t, err)
	gotCtx, r, err := enc.Unmarshal(data)
	require.NoError(t, err)
	assert.Equal(t, []string{"run-a"}, client.FromContext(gotCtx).Metadata.Get(runPartitionKey))
	assert.Equal(t, pointsOf(t, newEncodedBatch(export("a", 0, 3))), pointsOf(t, r))

	// A queue written without the context envelope still loads.
	plain, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(export("a", 0, 2))
	require.NoError(t, err)
	_, r, err = enc.Unmarshal(plain)
	require.NoError(t, err)
	assert.Equal(t, 6, r.ItemsCount())
}

func TestEncodedBatchOnError(t *testing.T) {
	b := newEncodedBatch(export("a", 0, 5))
	assert.Same(t, b, b.OnError(errors.New("down")), "a whole failure retries the whole batch")
	failed := export("b", 0, 2)
	r := b.OnError(consumererror.NewMetrics(errors.New("b failed"), failed))
	assert.Equal(t, []string{"b/loss/0", "b/loss/1", "b/tokens/0", "b/tokens/1", "b/latency/0", "b/latency/1"}, pointsOf(t, r))
}

func BenchmarkEncodedBatchHold(b *testing.B) {
	// One run's minute: 60 exports of 10 series x 2 steps, then decoded.
	exports := make([]pmetric.Metrics, 60)
	for i := range exports {
		exports[i] = export("a", 2*i, 2)
	}
	b.ReportAllocs()
	for b.Loop() {
		var r xexporterhelper.Request = newEncodedBatch(exports[0])
		for _, md := range exports[1:] {
			c := pmetric.NewMetrics()
			md.CopyTo(c)
			out, _ := r.MergeSplit(context.Background(), 1000, exporterhelper.RequestSizerTypeItems, newEncodedBatch(c))
			r = out[len(out)-1]
		}
		if _, err := r.(*encodedBatch).decode(); err != nil {
			b.Fatal(err)
		}
	}
}
