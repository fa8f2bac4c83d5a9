package tracking

import (
	"context"
	"testing"
	"time"
)

// BenchmarkRunLogMetrics measures what a training step pays per LogMetrics
// call of 4 metrics: validation, declaration lookup and the buffer append.
func BenchmarkRunLogMetrics(b *testing.B) {
	exp := &fakeExporter{}
	tr, err := New(Config{
		TrackingURI: b.TempDir(),
		Logging:     Logging{Metrics: []Declaration{{"train_loss", "float"}, {"val_loss", "float"}, {"acc", "float"}, {"epoch", "int"}}},
		OTLP:        OTLP{ExportInterval: 10 * time.Millisecond, BufferSize: 1 << 22},
	}, WithMetricExporter(exp), WithLogger(quietLogger))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = tr.Close(context.Background()) }()
	run, err := tr.StartRun(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	m := map[string]float64{"train_loss": 0.5, "val_loss": 0.4, "acc": 0.9, "epoch": 3}
	b.ReportAllocs()
	step := int64(0)
	for b.Loop() {
		step++
		if err := run.LogMetrics(m, Step(step)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if rep, err := run.End(context.Background(), "FINISHED"); err != nil || !rep.Complete() {
		b.Fatalf("%v %v", rep, err)
	}
}
