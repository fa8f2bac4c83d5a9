package mlflowexporter

// Figures (this 2-core VM, shared with other builds; reproduce with
//   go test -run '^$' -bench BenchmarkPush -benchmem -cpu 1 ./exporter/mlflowexporter/
// ) are recorded in README.md "Performance".

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/runs"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/restclient"
)

// encodingStore is a backend that encodes every log-batch exactly as the
// REST client puts it on the wire and then discards it: the benchmark
// measures the exporter's CPU per point without a network.
type encodingStore struct {
	mlflow.Store
	buf     []byte
	batches int
	points  int
}

func (s *encodingStore) LogBatch(_ context.Context, runID string, b mlflow.Batch) error {
	s.buf = restclient.AppendLogBatch(s.buf[:0], runID, b)
	s.batches++
	s.points += len(b.Metrics)
	return nil
}

func (s *encodingStore) Close() error { return nil }

// BenchmarkPush measures translate + dedup + pack + JSON encode for a
// training export of 1000 steps x 10 metrics (new steps every iteration,
// as a delta SDK sends them).
func BenchmarkPush(b *testing.B) {
	cfg := createDefaultConfig().(*Config)
	e, err := newExporter(cfg, exportertest.NewNopSettings(metadata.Type))
	if err != nil {
		b.Fatal(err)
	}
	store := &encodingStore{}
	e.store = store
	e.runs = runs.NewManager(store, runs.Settings{DedupWindow: cfg.DedupWindow})
	_ = componenttest.NewNopHost()
	ctx := context.Background()
	const steps, names = 1000, 10
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("mlflow.run.id", "0123456789abcdef0123456789abcdef")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	var dps []pmetric.NumberDataPoint
	for n := 0; n < names; n++ {
		m := ms.AppendEmpty()
		m.SetName(fmt.Sprintf("train/metric_%d", n))
		g := m.SetEmptyGauge()
		for s := 0; s < steps; s++ {
			dp := g.DataPoints().AppendEmpty()
			dp.SetDoubleValue(float64(s) * 0.001)
			dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Unix(1_800_000_000, 0)))
			dp.Attributes().PutInt("step", int64(s))
			dps = append(dps, dp)
		}
	}
	// Resolve the explicit run once (GetRun) without a server.
	e.runs = runs.NewManager(&explicitRunStore{encodingStore: store}, runs.Settings{DedupWindow: cfg.DedupWindow})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, dp := range dps {
			dp.Attributes().PutInt("step", int64(i*steps+j%steps))
		}
		if err := e.pushMetrics(ctx, md); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	pts := float64(b.N * steps * names)
	b.ReportMetric(pts/b.Elapsed().Seconds(), "points/s")
	b.ReportMetric(float64(store.batches)*1000/float64(store.points), "requests/1000points")
}

// BenchmarkPushCumulative is the same training export as a cumulative SDK
// sends it: each push carries the previous 1000 steps of every metric again
// (stamped with the flush time) and 1000 new ones. points/s counts every
// point received, re-exports included; half of them are written.
func BenchmarkPushCumulative(b *testing.B) {
	cfg := createDefaultConfig().(*Config)
	e, err := newExporter(cfg, exportertest.NewNopSettings(metadata.Type))
	if err != nil {
		b.Fatal(err)
	}
	store := &encodingStore{}
	e.store = store
	e.runs = runs.NewManager(&explicitRunStore{encodingStore: store}, runs.Settings{DedupWindow: cfg.DedupWindow})
	ctx := context.Background()
	const steps, names = 2000, 10
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("mlflow.run.id", "0123456789abcdef0123456789abcdef")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	var dps []pmetric.NumberDataPoint
	for n := 0; n < names; n++ {
		m := ms.AppendEmpty()
		m.SetName(fmt.Sprintf("train/metric_%d", n))
		g := m.SetEmptyGauge()
		for s := 0; s < steps; s++ {
			dps = append(dps, g.DataPoints().AppendEmpty())
		}
	}
	set := func(i int) {
		for j, dp := range dps {
			s := int64(i*steps/2 + j%steps) // steps i*1000 .. i*1000+1999
			dp.SetDoubleValue(float64(s) * 0.001)
			dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Unix(1_800_000_000+int64(i), 0)))
			dp.Attributes().PutInt("step", s)
		}
	}
	set(0)
	if err := e.pushMetrics(ctx, md); err != nil {
		b.Fatal(err)
	}
	written := store.points
	b.ReportAllocs()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		set(i)
		if err := e.pushMetrics(ctx, md); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if got, want := store.points-written, b.N*steps/2*names; got != want {
		b.Fatalf("wrote %d points, want %d (each step once)", got, want)
	}
	b.ReportMetric(float64(b.N*steps*names)/b.Elapsed().Seconds(), "points/s")
}

type explicitRunStore struct{ *encodingStore }

func (s *explicitRunStore) GetRun(_ context.Context, id string) (*mlflow.Run, error) {
	return &mlflow.Run{Info: mlflow.RunInfo{RunID: id, ExperimentID: "0", LifecycleStage: mlflow.LifecycleActive}}, nil
}
