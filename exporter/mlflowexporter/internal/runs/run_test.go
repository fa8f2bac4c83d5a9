package runs

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/translate"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

const t0ms = int64(1_800_000_000_000)

func testRun() *Run {
	return newRun("run", "0", t0ms, translate.Identity{ExperimentName: "e", RunName: "r"}, true, 0)
}

// sp is a point with an explicit step from writer w.
func sp(w uint64, key string, step int64, v float64, ts int64) translate.Point {
	return translate.Point{Metric: mlflow.Metric{Key: key, Value: v, Timestamp: ts, Step: step}, ExplicitStep: true, Writer: w}
}

// dp is a point without step attribute (step derived from its time).
func dp(w uint64, key string, v float64, ts int64) translate.Point {
	return translate.Point{Metric: mlflow.Metric{Key: key, Value: v, Timestamp: ts}, Writer: w}
}

// export prepares points and commits the first `land` metrics of the
// batch (all when land < 0), as the exporter does part by part; it
// returns what was committed.
func export(r *Run, pts []translate.Point, land int) []mlflow.Metric {
	b, _ := r.Prepare(pts, nil, nil)
	if land < 0 || land > len(b.Metrics) {
		land = len(b.Metrics)
	}
	for _, part := range mlflow.Pack(mlflow.Batch{Metrics: b.Metrics[:land]}) {
		r.Commit(part)
	}
	return b.Metrics[:land]
}

// cumulativeFlush is what a cumulative SDK exports at flush f: every step
// recorded so far (0..n-1), stamped with the flush time, in no particular
// order.
func cumulativeFlush(w uint64, key string, n int, f int) []translate.Point {
	var pts []translate.Point
	for s := n - 1; s >= 0; s-- {
		pts = append(pts, sp(w, key, int64(s), float64(s)/10, t0ms+int64(f)*1000))
	}
	return pts
}

type landed map[string][]int64 // key -> steps written, in writing order

func (l landed) add(ms []mlflow.Metric) {
	for _, m := range ms {
		l[m.Key] = append(l[m.Key], m.Step)
	}
}

func seq(lo, hi int64) []int64 {
	var out []int64
	for s := lo; s < hi; s++ {
		out = append(out, s)
	}
	return out
}

func TestDedupWritesEachPointOnce(t *testing.T) {
	tests := []struct {
		name string
		// exports are applied in order; land[i] says how many metrics of
		// export i land (-1: all).
		exports [][]translate.Point
		land    []int
		want    landed
		// values, when set, are the values written for key "k" in order.
		values []float64
	}{
		{
			name: "cumulative re-export of N steps K times writes N points",
			exports: func() [][]translate.Point {
				var out [][]translate.Point
				for f := 1; f <= 5; f++ { // K=5 flushes, 10 new steps each
					out = append(out, cumulativeFlush(1, "loss", f*10, f))
				}
				return out
			}(),
			want: landed{"loss": seq(0, 50)},
		},
		{
			name: "two cumulative flushes batched into one export",
			exports: [][]translate.Point{
				cumulativeFlush(1, "loss", 5, 1),
				append(cumulativeFlush(1, "loss", 10, 2), cumulativeFlush(1, "loss", 15, 3)...),
			},
			want: landed{"loss": seq(0, 15)},
		},
		{
			name: "cumulative flush delivered after a newer one is not written again",
			exports: [][]translate.Point{
				cumulativeFlush(1, "loss", 5, 1),
				cumulativeFlush(1, "loss", 10, 2),
				cumulativeFlush(1, "loss", 20, 4),
				cumulativeFlush(1, "loss", 15, 3), // a retry that lost the race
			},
			want: landed{"loss": seq(0, 20)},
		},
		{
			name: "explicit-step gauges, many points per series per flush (delta SDK, tracking API)",
			exports: [][]translate.Point{
				{sp(1, "loss", 0, 1, t0ms), sp(1, "loss", 1, 2, t0ms+1), sp(1, "acc", 0, 3, t0ms), sp(1, "acc", 1, 4, t0ms+1)},
				{sp(1, "loss", 2, 1, t0ms+2), sp(1, "loss", 3, 2, t0ms+3), sp(1, "acc", 2, 3, t0ms+2)},
			},
			want: landed{"loss": seq(0, 4), "acc": seq(0, 3)},
		},
		{
			name: "a batch delivered after a later one still lands (several queue consumers)",
			exports: [][]translate.Point{
				{sp(1, "loss", 10, 1, t0ms+10), sp(1, "loss", 11, 2, t0ms+11)},
				{sp(1, "loss", 0, 1, t0ms), sp(1, "loss", 1, 2, t0ms+1)},
				{sp(1, "loss", 0, 1, t0ms), sp(1, "loss", 1, 2, t0ms+1)}, // and its retry
			},
			want: landed{"loss": {10, 11, 0, 1}},
		},
		{
			name: "retry after a partly written export writes only the rest",
			exports: [][]translate.Point{
				func() []translate.Point {
					var pts []translate.Point
					for s := int64(0); s < 2500; s++ {
						pts = append(pts, sp(1, "loss", s, float64(s), t0ms+s))
					}
					return pts
				}(),
				func() []translate.Point {
					var pts []translate.Point
					for s := int64(0); s < 2500; s++ {
						pts = append(pts, sp(1, "loss", s, float64(s), t0ms+s))
					}
					return pts
				}(),
			},
			land: []int{1000, -1},
			want: landed{"loss": seq(0, 2500)},
		},
		{
			name: "equal timestamps, different values (derived steps)",
			exports: [][]translate.Point{
				{dp(1, "k", 1, t0ms+500)},
				{dp(1, "k", 2, t0ms+500), dp(1, "k", 1, t0ms+500)},
				{dp(1, "k", 2, t0ms+500), dp(1, "k", 3, t0ms+500)},
			},
			want:   landed{"k": {0, 0, 0}},
			values: []float64{1, 2, 3},
		},
		{
			name: "equal step, different value (explicit steps): both written, each once",
			exports: [][]translate.Point{
				{sp(1, "k", 7, 1, t0ms)},
				{sp(1, "k", 7, 2, t0ms+1000)},
				{sp(1, "k", 7, 1, t0ms+2000), sp(1, "k", 7, 2, t0ms+2000)},
			},
			want:   landed{"k": {7, 7}},
			values: []float64{1, 2},
		},
		{
			name: "cumulative sum without step: a point per flush, retries not written again",
			exports: [][]translate.Point{
				{dp(1, "k", 1, t0ms+1000)},
				{dp(1, "k", 3, t0ms+2000)},
				{dp(1, "k", 1, t0ms+1000), dp(1, "k", 3, t0ms+2000)}, // both flushes again
				{dp(1, "k", 6, t0ms+3000)},
			},
			want:   landed{"k": {1, 2, 3}},
			values: []float64{1, 3, 6},
		},
		{
			name: "two writers interleaving steps of one key (cumulative), each step once",
			exports: func() [][]translate.Point {
				var out [][]translate.Point
				for f := 1; f <= 4; f++ {
					for w := uint64(1); w <= 2; w++ {
						var pts []translate.Point
						for i := 0; i < f*3; i++ {
							s := int64(2*i) + int64(w-1)
							pts = append(pts, sp(w, "loss", s, float64(s), t0ms+int64(f)*1000))
						}
						out = append(out, pts)
					}
				}
				return out
			}(),
			want: landed{"loss": seq(0, 24)},
		},
		{
			name: "the same point twice in one export is written once",
			exports: [][]translate.Point{
				{sp(1, "k", 1, 5, t0ms), sp(1, "k", 1, 5, t0ms), dp(1, "d", 5, t0ms), dp(1, "d", 5, t0ms)},
			},
			want: landed{"k": {1}, "d": {0}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := testRun()
			got := landed{}
			var values []float64
			for i, pts := range tc.exports {
				land := -1
				if i < len(tc.land) {
					land = tc.land[i]
				}
				ms := export(r, pts, land)
				got.add(ms)
				for _, m := range ms {
					if m.Key == "k" {
						values = append(values, m.Value)
					}
				}
			}
			for k, steps := range tc.want {
				g := got[k]
				if !slices.IsSorted(tc.want[k]) {
					assert.Equal(t, steps, g, k)
					continue
				}
				sorted := slices.Clone(g)
				slices.Sort(sorted)
				assert.Equal(t, steps, sorted, k)
			}
			assert.Len(t, got, len(tc.want))
			if tc.values != nil {
				assert.Equal(t, tc.values, values)
			}
		})
	}
}

// TestDedupAfterRestart: a restarted collector adopts the run (its latest
// metrics) and the persistent queue re-delivers what was queued.
func TestDedupAfterRestart(t *testing.T) {
	before := testRun()
	export(before, cumulativeFlush(1, "loss", 10, 1), -1)
	export(before, cumulativeFlush(1, "loss", 20, 2), -1) // landed, not acknowledged

	// What MLflow holds as latest metric of the key: the newest step.
	latest := mlflow.Metric{Key: "loss", Value: 1.9, Timestamp: t0ms + 2000, Step: 19}
	r := testRun()
	r.adopt(mlflow.RunData{Metrics: []mlflow.Metric{latest}})

	// Re-delivered: the landed flush, then the next one.
	assert.Empty(t, export(r, cumulativeFlush(1, "loss", 20, 2), -1), "re-delivered flush that had landed")
	assert.Equal(t, seq(20, 25), steps(export(r, cumulativeFlush(1, "loss", 25, 3), -1)))

	// A delta sender: a queued batch older than what landed is not lost.
	d := testRun()
	d.adopt(mlflow.RunData{Metrics: []mlflow.Metric{{Key: "acc", Value: 9, Timestamp: t0ms + 9, Step: 9}}})
	var old, again []translate.Point
	for s := int64(0); s < 5; s++ {
		old = append(old, sp(1, "acc", s, float64(s), t0ms+s))
	}
	for s := int64(8); s < 12; s++ {
		again = append(again, sp(1, "acc", s, float64(s), t0ms+s))
	}
	assert.Equal(t, seq(0, 5), steps(export(d, old, -1)), "queued, never landed")
	assert.Equal(t, []int64{10, 11}, steps(export(d, again, -1)), "landed up to step 9 (the latest metric), re-delivered")
}

func steps(ms []mlflow.Metric) []int64 {
	var out []int64
	for _, m := range ms {
		out = append(out, m.Step)
	}
	return out
}

func TestPreparedBatchIsSortedByStep(t *testing.T) {
	r := testRun()
	var pts []translate.Point
	for s := int64(99); s >= 0; s-- {
		for _, k := range []string{"b", "a", "c"} {
			pts = append(pts, sp(uint64(s%3), k, (s*7)%100, float64(s), t0ms+s))
		}
	}
	b, _ := r.Prepare(pts, nil, nil)
	require.Len(t, b.Metrics, 300)
	assert.True(t, slices.IsSortedFunc(b.Metrics, func(x, y mlflow.Metric) int {
		if x.Step != y.Step {
			return int(x.Step - y.Step)
		}
		if x.Key < y.Key {
			return -1
		}
		if x.Key > y.Key {
			return 1
		}
		return int(x.Timestamp - y.Timestamp)
	}))
}

// heapAfterGC returns the live heap: the least of a few readings after a
// GC (sync.Pool buffers go after two; runtime bookkeeping comes and goes).
func heapAfterGC() uint64 {
	var ms runtime.MemStats
	least := uint64(math.MaxUint64)
	for range 5 {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		least = min(least, ms.HeapAlloc)
	}
	return least
}

// TestDedupMemoryDoesNotGrowWithSteps measures the bytes dedup keeps per
// series after 1k and after 100k steps of each series (README,
// "Performance"): at most 256 bytes per series, whatever the steps. What
// a run holds is the live heap with the run minus the live heap once the
// run is dropped (runtime bookkeeping that comes and goes stays out).
func TestDedupMemoryDoesNotGrowWithSteps(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 5M points")
	}
	const series = 50
	keys := make([]string, series)
	for i := range keys {
		keys[i] = fmt.Sprintf("train/metric_%02d", i) // as long as typical keys
	}
	pts := make([]translate.Point, 0, series*1000)
	perSeries := func(steps int64) (float64, int) {
		r := testRun()
		for step := int64(0); step < steps; step += 1000 {
			pts = pts[:0]
			for _, k := range keys {
				for s := step; s < step+1000; s++ {
					pts = append(pts, sp(7, k, s, float64(s), t0ms+s))
				}
			}
			export(r, pts, -1)
		}
		n := r.Series()
		with := heapAfterGC()
		runtime.KeepAlive(r)
		r = nil
		without := heapAfterGC()
		return float64(int64(with)-int64(without)) / series, n
	}
	at1k, n1 := perSeries(1000)
	at100k, n100 := perSeries(100_000)
	t.Logf("dedup state: %.0f bytes/series after 1k steps, %.0f after 100k steps (%d series)", at1k, at100k, series)
	require.Equal(t, series, n1)
	require.Equal(t, series, n100)
	assert.LessOrEqual(t, at100k, 256.0)
	assert.LessOrEqual(t, at100k-at1k, 16.0, "grows with steps")
	runtime.KeepAlive(keys)
	runtime.KeepAlive(pts)
}

// TestRunStateMemory measures what an active run costs besides its series
// and its own params and tags (README, "Performance"): at most 2 KB.
func TestRunStateMemory(t *testing.T) {
	const n = 2000
	runs := make([]*Run, n)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%032x", i)
	}
	base := heapAfterGC()
	for i := range runs {
		r := newRun(ids[i], "123456789", t0ms, translate.Identity{ExperimentName: "exp", RunName: ids[i]}, true, 4096)
		r.hosts["node-1"] = time.Now() // a host and a pid, as Manager.Observe records
		r.pids[4242] = struct{}{}
		r.SinceFirst("node-1\x00cpu", 1)
		runs[i] = r
	}
	perRun := float64(heapAfterGC()-base) / n
	t.Logf("run state: %.0f bytes/run (without series, params and tags)", perRun)
	assert.LessOrEqual(t, perRun, 2048.0)
	runtime.KeepAlive(runs)
}
