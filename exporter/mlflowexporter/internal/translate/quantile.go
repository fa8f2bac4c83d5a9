package translate

import (
	"math"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// bucket is one histogram bucket with finite bounds.
type bucket struct {
	lower, upper float64
	count        uint64
}

// explicitBuckets lists the buckets of an explicit-bounds histogram. The
// open-ended first and last buckets are closed with the point's min and max
// when present, else with their one finite bound.
func explicitBuckets(dst []bucket, dp pmetric.HistogramDataPoint) []bucket {
	bounds := dp.ExplicitBounds()
	counts := dp.BucketCounts()
	for i := 0; i < counts.Len(); i++ {
		var lo, hi float64
		switch {
		case bounds.Len() == 0:
			lo, hi = dp.Min(), dp.Max()
		case i == 0:
			hi = bounds.At(0)
			lo = hi
			if dp.HasMin() {
				lo = math.Min(dp.Min(), hi)
			}
		case i >= bounds.Len():
			lo = bounds.At(bounds.Len() - 1)
			hi = lo
			if dp.HasMax() {
				hi = math.Max(dp.Max(), lo)
			}
		default:
			lo, hi = bounds.At(i-1), bounds.At(i)
		}
		dst = append(dst, bucket{lo, hi, counts.At(i)})
	}
	return dst
}

// clampBuckets narrows every bucket to the observed [min, max] (either
// bound only when the point has it). No value lies outside them, so an
// estimate interpolated over a whole bucket could name a quantile larger
// than the largest value: with the SDKs' default bounds (0, 5, 10, 25, ...)
// values 10..29 gave p99 = 48.75 above max = 29. Clamping the buckets
// rather than the results keeps the interpolation inside the real range.
func clampBuckets(bs []bucket, hasMin bool, minV float64, hasMax bool, maxV float64) []bucket {
	for i := range bs {
		b := &bs[i]
		if hasMin {
			b.lower = math.Max(b.lower, minV)
			b.upper = math.Max(b.upper, minV)
		}
		if hasMax {
			b.upper = math.Min(b.upper, maxV)
			b.lower = math.Min(b.lower, maxV)
		}
	}
	return bs
}

// exponentialBuckets lists the buckets of an exponential histogram in value
// order: negative buckets (largest magnitude first), zero, positive.
func exponentialBuckets(dst []bucket, dp pmetric.ExponentialHistogramDataPoint) []bucket {
	base := math.Exp2(math.Exp2(-float64(dp.Scale())))
	neg := dp.Negative()
	for i := neg.BucketCounts().Len() - 1; i >= 0; i-- {
		idx := float64(neg.Offset()) + float64(i)
		dst = append(dst, bucket{-math.Pow(base, idx+1), -math.Pow(base, idx), neg.BucketCounts().At(i)})
	}
	if dp.ZeroCount() > 0 {
		dst = append(dst, bucket{0, 0, dp.ZeroCount()})
	}
	pos := dp.Positive()
	for i := 0; i < pos.BucketCounts().Len(); i++ {
		idx := float64(pos.Offset()) + float64(i)
		dst = append(dst, bucket{math.Pow(base, idx), math.Pow(base, idx+1), pos.BucketCounts().At(i)})
	}
	return dst
}

// quantile estimates the q-quantile by linear interpolation inside the bucket
// holding the rank, as Prometheus' histogram_quantile does.
func quantile(buckets []bucket, total uint64, q float64) float64 {
	if total == 0 || len(buckets) == 0 {
		return math.NaN()
	}
	rank := q * float64(total)
	var cum float64
	for _, b := range buckets {
		if b.count == 0 {
			continue
		}
		next := cum + float64(b.count)
		if rank <= next {
			frac := (rank - cum) / float64(b.count)
			return b.lower + (b.upper-b.lower)*frac
		}
		cum = next
	}
	return buckets[len(buckets)-1].upper
}
