package translate

import (
	"math"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// wantValues compares the translated points to expected key -> value pairs,
// exactly (no extra or missing keys), with a small tolerance for quantiles.
func wantValues(t *testing.T, rd *ResourceData, want map[string]float64) {
	t.Helper()
	got := map[string]float64{}
	for k, p := range pointMap(t, rd) {
		got[k] = p.Value
	}
	gotKeys, wantKeys := sortedKeys(got), sortedKeys(want)
	require.Equal(t, wantKeys, gotKeys)
	for k, w := range want {
		assert.InDelta(t, w, got[k], 1e-9, k)
	}
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func addHistogram(ms pmetric.MetricSlice, name string) pmetric.HistogramDataPoint {
	m := ms.AppendEmpty()
	m.SetName(name)
	dp := m.SetEmptyHistogram().DataPoints().AppendEmpty()
	dp.SetTimestamp(2_000_000)
	return dp
}

func translateHistogram(t *testing.T, quantiles []float64, fill func(pmetric.HistogramDataPoint)) *ResourceData {
	t.Helper()
	md := pmetric.NewMetrics()
	_, ms := newResource(md, map[string]any{"service.name": "svc"})
	fill(addHistogram(ms, "lat"))
	opts := defaultOptions()
	opts.HistogramQuantiles = quantiles
	rd, _ := translateOne(t, opts, md)
	return rd
}

func TestHistogram(t *testing.T) {
	qs := []float64{0.5, 0.9, 0.99}
	tests := []struct {
		name string
		fill func(pmetric.HistogramDataPoint)
		want map[string]float64
	}{
		{
			// Buckets [0.5,1]:1 (1,2]:2 (2,4]:3 (4,8]:4, total 10.
			// p50: rank 5 in (2,4] after 3: 2 + 2*(2/3). p90: rank 9 in (4,8]
			// after 6: 4 + 4*(3/4). p99: rank 9.9: 4 + 4*(3.9/4).
			name: "full point",
			fill: func(dp pmetric.HistogramDataPoint) {
				dp.SetCount(10)
				dp.SetSum(30)
				dp.SetMin(0.5)
				dp.SetMax(8)
				dp.ExplicitBounds().FromRaw([]float64{1, 2, 4})
				dp.BucketCounts().FromRaw([]uint64{1, 2, 3, 4})
			},
			want: map[string]float64{
				"lat.count": 10, "lat.sum": 30, "lat.mean": 3, "lat.min": 0.5, "lat.max": 8,
				"lat.p50": 2 + 4.0/3, "lat.p90": 7, "lat.p99": 7.9,
			},
		},
		{
			// Without min and max the open buckets collapse onto their
			// finite bound: p99 lands in the last bucket, [4,4].
			name: "no sum, min, max",
			fill: func(dp pmetric.HistogramDataPoint) {
				dp.SetCount(10)
				dp.ExplicitBounds().FromRaw([]float64{1, 2, 4})
				dp.BucketCounts().FromRaw([]uint64{1, 2, 3, 4})
			},
			want: map[string]float64{"lat.count": 10, "lat.p50": 2 + 4.0/3, "lat.p90": 4, "lat.p99": 4},
		},
		{
			// Rank 5 in the first bucket [min=-3, 0]: -3 + 3*(5/6).
			name: "first open bucket closed by min",
			fill: func(dp pmetric.HistogramDataPoint) {
				dp.SetCount(10)
				dp.SetMin(-3)
				dp.ExplicitBounds().FromRaw([]float64{0, 10})
				dp.BucketCounts().FromRaw([]uint64{6, 4, 0})
			},
			want: map[string]float64{"lat.count": 10, "lat.min": -3, "lat.p50": -0.5, "lat.p90": 7.5, "lat.p99": 9.75},
		},
		{
			name: "zero count: no mean, no quantiles",
			fill: func(dp pmetric.HistogramDataPoint) {
				dp.SetCount(0)
				dp.SetSum(0)
				dp.ExplicitBounds().FromRaw([]float64{1})
				dp.BucketCounts().FromRaw([]uint64{0, 0})
			},
			want: map[string]float64{"lat.count": 0, "lat.sum": 0},
		},
		{
			name: "no buckets: no quantiles",
			fill: func(dp pmetric.HistogramDataPoint) {
				dp.SetCount(4)
				dp.SetSum(10)
			},
			want: map[string]float64{"lat.count": 4, "lat.sum": 10, "lat.mean": 2.5},
		},
		{
			// A single bucket with no bounds and no min or max says nothing
			// about where values lie: no quantile beats a made-up 0.
			name: "single bucket without min and max",
			fill: func(dp pmetric.HistogramDataPoint) {
				dp.SetCount(4)
				dp.SetSum(400)
				dp.SetMax(120)
				dp.BucketCounts().FromRaw([]uint64{4})
			},
			want: map[string]float64{"lat.count": 4, "lat.sum": 400, "lat.mean": 100, "lat.max": 120},
		},
		{
			// A single bucket with no bounds spans [min, max].
			name: "single bucket",
			fill: func(dp pmetric.HistogramDataPoint) {
				dp.SetCount(4)
				dp.SetMin(10)
				dp.SetMax(20)
				dp.BucketCounts().FromRaw([]uint64{4})
			},
			want: map[string]float64{"lat.count": 4, "lat.min": 10, "lat.max": 20, "lat.p50": 15, "lat.p90": 19, "lat.p99": 19.9},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := translateHistogram(t, qs, tt.fill)
			wantValues(t, rd, tt.want)
			for _, p := range rd.Points {
				assert.Equal(t, int64(2), p.Timestamp)
			}
		})
	}
}

func TestHistogramNoQuantilesConfigured(t *testing.T) {
	rd := translateHistogram(t, nil, func(dp pmetric.HistogramDataPoint) {
		dp.SetCount(2)
		dp.ExplicitBounds().FromRaw([]float64{1})
		dp.BucketCounts().FromRaw([]uint64{1, 1})
	})
	wantValues(t, rd, map[string]float64{"lat.count": 2})
}

func TestHistogramAttributesAndStep(t *testing.T) {
	md := pmetric.NewMetrics()
	_, ms := newResource(md, map[string]any{"service.name": "svc"})
	dp := addHistogram(ms, "lat")
	dp.SetCount(1)
	dp.SetSum(2)
	dp.Attributes().PutStr("route", "/api")
	dp.Attributes().PutInt("step", 7)
	opts := defaultOptions()
	opts.HistogramQuantiles = nil
	rd, _ := translateOne(t, opts, md)
	suffix := fnvSuffix // the folded value holds a '/', so every key is hashed
	want := map[string]float64{
		"lat.count/route__api" + suffix("lat.count\x00route\x00/api"): 1,
		"lat.sum/route__api" + suffix("lat.sum\x00route\x00/api"):     2,
		"lat.mean/route__api" + suffix("lat.mean\x00route\x00/api"):   2,
	}
	wantValues(t, rd, want)
	for _, p := range rd.Points {
		assert.Equal(t, int64(7), p.Step)
		assert.True(t, p.ExplicitStep)
	}
}

func addExpHistogram(ms pmetric.MetricSlice) pmetric.ExponentialHistogramDataPoint {
	m := ms.AppendEmpty()
	m.SetName("eh")
	return m.SetEmptyExponentialHistogram().DataPoints().AppendEmpty()
}

func TestExponentialHistogram(t *testing.T) {
	sqrt2 := math.Sqrt2
	tests := []struct {
		name string
		qs   []float64
		fill func(pmetric.ExponentialHistogramDataPoint)
		want map[string]float64
	}{
		{
			// Scale 0, base 2. Buckets in value order: [-2,-1]:1, zero:1,
			// (1,2]:2, (2,4]:2; total 6.
			// p10: rank 0.6 in [-2,-1]: -2 + 0.6. p50: rank 3 in (1,2] after
			// 2: 1 + 0.5. p90: rank 5.4 in (2,4] after 4: 2 + 2*0.7.
			name: "scale 0 with zero and negative buckets",
			qs:   []float64{0.1, 0.5, 0.9},
			fill: func(dp pmetric.ExponentialHistogramDataPoint) {
				dp.SetScale(0)
				dp.SetCount(6)
				dp.SetSum(5)
				dp.SetZeroCount(1)
				dp.Positive().SetOffset(0)
				dp.Positive().BucketCounts().FromRaw([]uint64{2, 2})
				dp.Negative().SetOffset(0)
				dp.Negative().BucketCounts().FromRaw([]uint64{1})
			},
			want: map[string]float64{
				"eh.count": 6, "eh.sum": 5, "eh.mean": 5.0 / 6,
				"eh.p10": -1.4, "eh.p50": 1.5, "eh.p90": 3.4,
			},
		},
		{
			// Rank 0.5 falls in the zero bucket, which holds exactly 0.
			name: "zero bucket",
			qs:   []float64{0.5},
			fill: func(dp pmetric.ExponentialHistogramDataPoint) {
				dp.SetCount(3)
				dp.SetZeroCount(2)
				dp.Positive().BucketCounts().FromRaw([]uint64{1})
			},
			want: map[string]float64{"eh.count": 3, "eh.p50": 0},
		},
		{
			// Scale 1, base sqrt(2), offset 2: (2, 2*sqrt2]:1, (2*sqrt2, 4]:3.
			// p25: rank 1 ends the first bucket: 2*sqrt2. p50: rank 2 is 1/3
			// into the second: 2*sqrt2 + (4-2*sqrt2)/3.
			name: "positive scale with offset",
			qs:   []float64{0.25, 0.5},
			fill: func(dp pmetric.ExponentialHistogramDataPoint) {
				dp.SetScale(1)
				dp.SetCount(4)
				dp.SetMin(2.1)
				dp.SetMax(3.9)
				dp.Positive().SetOffset(2)
				dp.Positive().BucketCounts().FromRaw([]uint64{1, 3})
			},
			want: map[string]float64{
				"eh.count": 4, "eh.min": 2.1, "eh.max": 3.9,
				// The second bucket (2√2, 4] ends at max 3.9: nothing lies above it.
				"eh.p25": 2 * sqrt2, "eh.p50": 2*sqrt2 + (3.9-2*sqrt2)/3,
			},
		},
		{
			// Scale -1, base 4, offset -1: (1/4, 1]:2, (1, 4]:2.
			// p75: rank 3 is half into (1,4]: 2.5.
			name: "negative scale and negative offset",
			qs:   []float64{0.75},
			fill: func(dp pmetric.ExponentialHistogramDataPoint) {
				dp.SetScale(-1)
				dp.SetCount(4)
				dp.Positive().SetOffset(-1)
				dp.Positive().BucketCounts().FromRaw([]uint64{2, 2})
			},
			want: map[string]float64{"eh.count": 4, "eh.p75": 2.5},
		},
		{
			// Negative buckets only, offset 1 at scale 0: [-8,-4]:1, [-4,-2]:3.
			// p50: rank 2 is 1/3 into [-4,-2]: -4 + 2/3.
			name: "negative buckets only",
			qs:   []float64{0.5},
			fill: func(dp pmetric.ExponentialHistogramDataPoint) {
				dp.SetCount(4)
				dp.Negative().SetOffset(1)
				dp.Negative().BucketCounts().FromRaw([]uint64{3, 1})
			},
			want: map[string]float64{"eh.count": 4, "eh.p50": -4 + 2.0/3},
		},
		{
			name: "zero count: no quantiles",
			qs:   []float64{0.5},
			fill: func(dp pmetric.ExponentialHistogramDataPoint) {},
			want: map[string]float64{"eh.count": 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := pmetric.NewMetrics()
			_, ms := newResource(md, map[string]any{"service.name": "svc"})
			tt.fill(addExpHistogram(ms))
			opts := defaultOptions()
			opts.HistogramQuantiles = tt.qs
			rd, _ := translateOne(t, opts, md)
			wantValues(t, rd, tt.want)
		})
	}
}

func TestSummary(t *testing.T) {
	md := pmetric.NewMetrics()
	_, ms := newResource(md, map[string]any{"service.name": "svc"})
	m := ms.AppendEmpty()
	m.SetName("rt")
	dp := m.SetEmptySummary().DataPoints().AppendEmpty()
	dp.SetCount(100)
	dp.SetSum(250)
	for _, qv := range [][2]float64{{0, 0.1}, {0.5, 2}, {0.9, 4}, {0.999, 9}, {0.07, 0.3}, {1, 12}} {
		v := dp.QuantileValues().AppendEmpty()
		v.SetQuantile(qv[0])
		v.SetValue(qv[1])
	}
	rd, _ := translateOne(t, defaultOptions(), md)
	wantValues(t, rd, map[string]float64{
		"rt.count": 100, "rt.sum": 250, "rt.p0": 0.1, "rt.p50": 2, "rt.p90": 4, "rt.p99_9": 9, "rt.p7": 0.3, "rt.p100": 12,
	})
}

func TestQuantileSuffix(t *testing.T) {
	tests := []struct {
		q    float64
		want string
	}{
		{0.5, ".p50"}, {0.9, ".p90"}, {0.95, ".p95"}, {0.99, ".p99"}, {0.999, ".p99_9"}, {0.9999, ".p99_99"},
		{0, ".p0"}, {1, ".p100"}, {0.001, ".p0_1"},
		// q*100 in binary floating point is 7.000000000000001, 28.999999999999996, ...
		{0.07, ".p7"}, {0.14, ".p14"}, {0.29, ".p29"}, {0.57, ".p57"}, {0.58, ".p58"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, QuantileSuffix(tt.q), "q=%v", tt.q)
	}
}

// Quantile estimates never leave the observed [min, max]: the SDKs' default
// bounds (0, 5, 10, 25, 50, ...) put values 10..29 into wide buckets, and
// interpolating over a whole bucket gave p90 = 37.5, p99 = 48.75 > max = 29.
func TestHistogramQuantilesWithinMinMax(t *testing.T) {
	defaultBounds := []float64{0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000}
	tests := []struct {
		name   string
		values []float64
	}{
		{"values 10..29", func() []float64 {
			var v []float64
			for x := 10.0; x <= 29; x++ {
				v = append(v, x)
			}
			return v
		}()},
		{"one value in a wide bucket", []float64{0.15, 0.15, 0.15, 0.15}},
		{"spread", []float64{1, 2, 3, 70, 900, 4000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := translateHistogram(t, []float64{0.01, 0.5, 0.9, 0.99}, func(dp pmetric.HistogramDataPoint) {
				dp.ExplicitBounds().FromRaw(defaultBounds)
				counts := make([]uint64, len(defaultBounds)+1)
				minV, maxV, sum := math.Inf(1), math.Inf(-1), 0.0
				for _, v := range tt.values {
					i := sort.SearchFloat64s(defaultBounds, v) // bucket (b[i-1], b[i]]
					counts[i]++
					minV, maxV, sum = math.Min(minV, v), math.Max(maxV, v), sum+v
				}
				dp.BucketCounts().FromRaw(counts)
				dp.SetCount(uint64(len(tt.values)))
				dp.SetSum(sum)
				dp.SetMin(minV)
				dp.SetMax(maxV)
			})
			pts := pointMap(t, rd)
			minV, maxV := pts["lat.min"].Value, pts["lat.max"].Value
			for _, k := range []string{"lat.p1", "lat.p50", "lat.p90", "lat.p99"} {
				v := pts[k].Value
				assert.True(t, v >= minV && v <= maxV, "%s = %v outside [%v, %v]", k, v, minV, maxV)
			}
		})
	}
}
