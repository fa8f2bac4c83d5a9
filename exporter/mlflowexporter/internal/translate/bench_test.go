package translate

// Measured 2026-11-26 on the shared 2-core AMD EPYC dev machine, go1.26.8
// linux/amd64, with a load average of 10-12 from other builds, so the
// wall-clock rates (points/s) swing by 2x between runs; points/cpu-s
// divides by this process's CPU time instead and is the per-core figure:
//
//	go test -run '^$' -bench . -benchmem -count 3 -cpu 1 ./exporter/mlflowexporter/internal/translate/
//
//	BenchmarkTranslate (warm key cache)  4.2-6.0 M points/cpu-s, 1.7-4.8 M points/s wall,
//	                                     7 allocs/op = 0.0035 allocs/point, 98.6 kB/op
//	BenchmarkTranslateColdCache          2.2-2.5 M points/s wall, 643 allocs/op, 123 kB/op
//
// The 7 allocations per export are the ResourceData, its Points slice, the
// resource tag slice and closures in resource(); none is per point. CPU
// profile (-cpuprofile): about 40% in the series-key cache lookup
// (mapaccess2_faststr + hashing of the length-prefixed lookup key), 35% in
// appending points, the rest in pdata accessors and step parsing. Before
// ResourceData.Points was sized up front it was 19 allocs and 319 kB/op.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// benchExport is a realistic export from a training process: 1000 gauge
// points over 10 metric names, each with a step attribute, and 1000 points
// with the step and one extra attribute (a GPU index).
func benchExport() pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "trainer")
	rm.Resource().Attributes().PutStr("mlflow.run.name", "bench")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	ts := uint64(1_700_000_000_000_000_000)
	for m := 0; m < 10; m++ {
		dps := addGauge(ms, fmt.Sprintf("train/metric_%d", m))
		for i := 0; i < 100; i++ {
			dp := dps.AppendEmpty()
			dp.SetDoubleValue(float64(i) * 0.01)
			dp.SetTimestamp(pcommon.Timestamp(ts + uint64(i)*1_000_000))
			dp.Attributes().PutInt("step", int64(i))
		}
	}
	for m := 0; m < 10; m++ {
		dps := addGauge(ms, fmt.Sprintf("gpu/metric_%d", m))
		for i := 0; i < 100; i++ {
			dp := dps.AppendEmpty()
			dp.SetDoubleValue(float64(i))
			dp.SetTimestamp(pcommon.Timestamp(ts + uint64(i)*1_000_000))
			dp.Attributes().PutInt("step", int64(i/8))
			dp.Attributes().PutInt("gpu", int64(i%8))
		}
	}
	return md
}

func BenchmarkTranslate(b *testing.B) {
	md := benchExport()
	rm := md.ResourceMetrics().At(0)
	tr := New(defaultOptions())
	now := time.Unix(1_700_000_000, 0)
	const points = 2000
	var st Stats
	b.ReportAllocs()
	var cpu0 time.Duration
	for i := 0; b.Loop(); i++ {
		if i == 0 {
			// The first iteration warms the key cache, as the first export
			// of a run does; steady state is what counts.
			cpu0 = processCPUTime()
		}
		rd := tr.Resource(rm, now, &st)
		if len(rd.Points) != points {
			b.Fatalf("%d points", len(rd.Points))
		}
	}
	b.ReportMetric(float64(points)*float64(b.N)/b.Elapsed().Seconds(), "points/s")
	if cpu := processCPUTime() - cpu0; cpu0 > 0 && cpu > 0 {
		// Includes GC and the benchmark's own overhead: a lower bound.
		b.ReportMetric(float64(points)*float64(b.N-1)/cpu.Seconds(), "points/cpu-s")
	}
	b.ReportMetric(float64(testing.AllocsPerRun(10, func() { tr.Resource(rm, now, &st) }))/points, "allocs/point")
}

// BenchmarkTranslateColdCache is the first export of a run: every series
// key is built and sanitised once.
func BenchmarkTranslateColdCache(b *testing.B) {
	md := benchExport()
	rm := md.ResourceMetrics().At(0)
	now := time.Unix(1_700_000_000, 0)
	opts := defaultOptions()
	var st Stats
	b.ReportAllocs()
	for b.Loop() {
		New(opts).Resource(rm, now, &st)
	}
	b.ReportMetric(2000*float64(b.N)/b.Elapsed().Seconds(), "points/s")
}

func BenchmarkSanitizeKey(b *testing.B) {
	for _, in := range []string{"train/loss", "gpu.utilization/gpu_0:x", strings.Repeat("k", 300)} {
		b.Run(fmt.Sprint(len(in)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				SanitizeKey(in)
			}
		})
	}
}
