package translate

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestQuantileEdges(t *testing.T) {
	bs := []bucket{{0, 1, 0}, {1, 2, 4}, {2, 4, 0}}
	tests := []struct {
		name    string
		buckets []bucket
		total   uint64
		q       float64
		want    float64
	}{
		{"empty buckets skipped at q=0", bs, 4, 0, 1},
		{"q=1 ends the last non-empty bucket", bs, 4, 1, 2},
		// Bucket counts that sum below the point's count (bad data) end at
		// the top of the last bucket rather than extrapolating.
		{"count above bucket total", bs, 8, 0.9, 4},
		{"no buckets", nil, 4, 0.5, math.NaN()},
		{"zero total", bs, 0, 0.5, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := quantile(tt.buckets, tt.total, tt.q)
			if math.IsNaN(tt.want) {
				assert.True(t, math.IsNaN(got), "got %v", got)
				return
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestKeyStyleValid(t *testing.T) {
	for _, s := range []KeyStyle{KeyStyleKeyValue, KeyStyleValue, KeyStyleIgnore} {
		assert.True(t, s.Valid(), s)
	}
	for _, s := range []KeyStyle{"", "keyvalue", "KEY_VALUE"} {
		assert.False(t, s.Valid(), s)
	}
}
