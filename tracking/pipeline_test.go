package tracking

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
)

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

func testSink(runID string) *sink {
	return &sink{res: resource.NewSchemaless(attribute.String("mlflow.run.id", runID))}
}

func pts(s *sink, key string, n int, from int64) []point {
	var out []point
	for i := range n {
		out = append(out, point{sink: s, key: key, value: float64(i), step: from + int64(i), hasStep: true, time: time.UnixMilli(1000 + int64(i))})
	}
	return out
}

func TestPipelineExportsEachPointOnce(t *testing.T) {
	exp := &fakeExporter{}
	// An interval far beyond the test: only flushes export, so the counts
	// below do not depend on timing.
	p := newPipeline(exp, time.Hour, 100, quietLogger)
	a, b := testSink("a"), testSink("b")
	require.True(t, p.enqueue(a, pts(a, "loss", 3, 0)))
	require.True(t, p.enqueue(b, pts(b, "acc", 2, 10)))
	require.True(t, p.enqueue(a, []point{{sink: a, key: "lr", value: 0.1, time: time.UnixMilli(5)}}))
	require.NoError(t, p.flushSink(t.Context(), nil))

	require.ElementsMatch(t, []exportedPoint{
		{"a", "loss", 0, 0, true, 1000}, {"a", "loss", 1, 1, true, 1001}, {"a", "loss", 2, 2, true, 1002},
		{"b", "acc", 0, 10, true, 1000}, {"b", "acc", 1, 11, true, 1001},
		{"a", "lr", 0.1, 0, false, 5},
	}, exp.points())
	require.Equal(t, int64(4), a.sent.Load())
	require.Equal(t, int64(0), a.pending.Load())
	require.NoError(t, p.flushSink(t.Context(), nil))
	require.Len(t, exp.points(), 6, "a second flush re-exported points")

	lost, err := p.shutdown(t.Context(), time.Minute)
	require.NoError(t, err)
	require.Zero(t, lost)
	require.True(t, exp.shutdown)
}

func TestPipelineCollectorDown(t *testing.T) {
	exp := &fakeExporter{down: true}
	p := newPipeline(exp, time.Hour, 10, quietLogger)
	s := testSink("r")
	require.True(t, p.enqueue(s, pts(s, "loss", 6, 0)))
	// A call that does not fit is refused whole and counted.
	require.False(t, p.enqueue(s, pts(s, "loss", 5, 6)))
	require.True(t, p.enqueue(s, pts(s, "loss", 4, 11)))
	require.Equal(t, int64(5), s.dropped.Load())
	require.Equal(t, int64(10), s.pending.Load())

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	err := p.flushSink(ctx, s)
	cancel()
	require.ErrorContains(t, err, "connection refused")
	require.Equal(t, int64(10), s.pending.Load(), "points must stay buffered while the collector is down")
	require.Empty(t, exp.points())

	// The collector comes back: the buffer drains in order, once.
	exp.setDown(false)
	require.NoError(t, p.flushSink(t.Context(), s))
	got := exp.points()
	require.Len(t, got, 10)
	for i, pt := range got {
		want := int64(i)
		if i >= 6 {
			want = int64(i + 5)
		}
		require.Equal(t, want, pt.Step, "point %d", i)
	}
	require.Equal(t, int64(10), s.sent.Load())
	lost, err := p.shutdown(t.Context(), time.Minute)
	require.NoError(t, err)
	require.Zero(t, lost)
}

func TestPipelineShutdownCountsLost(t *testing.T) {
	exp := &fakeExporter{down: true}
	p := newPipeline(exp, time.Hour, 100, quietLogger)
	s := testSink("r")
	p.enqueue(s, pts(s, "loss", 7, 0))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	lost, err := p.shutdown(ctx, time.Minute)
	require.Error(t, err)
	require.Equal(t, 7, lost)
	require.Equal(t, int64(7), s.dropped.Load())
	require.Zero(t, s.pending.Load())
	// After shutdown nothing is taken, and that is counted too.
	require.False(t, p.enqueue(s, pts(s, "loss", 1, 9)))
	require.Equal(t, int64(8), s.dropped.Load())
}

func TestPipelineBackgroundExport(t *testing.T) {
	exp := &fakeExporter{}
	p := newPipeline(exp, time.Millisecond, 100, quietLogger)
	s := testSink("r")
	p.enqueue(s, pts(s, "loss", 3, 0))
	require.Eventually(t, func() bool { return s.sent.Load() == 3 }, 10*time.Second, time.Millisecond)
	lost, err := p.shutdown(t.Context(), time.Minute)
	require.NoError(t, err)
	require.Zero(t, lost)
}

func BenchmarkLogMetricsEnqueue(b *testing.B) {
	exp := &fakeExporter{}
	p := newPipeline(exp, 50*time.Millisecond, 1<<20, quietLogger)
	s := testSink("r")
	batch := pts(s, "loss", 4, 0)
	b.ReportAllocs()
	for b.Loop() {
		if !p.enqueue(s, batch) {
			_ = p.flushSink(context.Background(), s)
		}
	}
	b.StopTimer()
	_, _ = p.shutdown(context.Background(), time.Minute)
}
