package translate

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// The exporter calls one Translator from concurrent consumers; under -race
// this checks the key cache and scratch pool, and that every goroutine gets
// the keys a lone translator computes.
func TestConcurrentUse(t *testing.T) {
	md := pmetric.NewMetrics()
	_, ms := newResource(md, map[string]any{"service.name": "svc"})
	for m := 0; m < 5; m++ {
		dps := addGauge(ms, fmt.Sprintf("m%d", m))
		for i := 0; i < 20; i++ {
			addPoint(dps, float64(i), 1, map[string]any{"step": int64(i), "shard": fmt.Sprintf("s:%d", i%4)})
		}
	}
	want, _ := translateOne(t, defaultOptions(), md)

	tr := New(defaultOptions())
	var wg sync.WaitGroup
	results := make([][]string, 8)
	for g := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				var st Stats
				results[g] = keysOf(tr.Resource(md.ResourceMetrics().At(0), testNow, &st))
			}
		}()
	}
	wg.Wait()
	for _, got := range results {
		assert.Equal(t, keysOf(want), got)
	}
}

// Past maxKeyCache series the cache starts over; keys must not change.
func TestKeyCacheBound(t *testing.T) {
	md := pmetric.NewMetrics()
	_, ms := newResource(md, map[string]any{"service.name": "svc"})
	dps := addGauge(ms, "m")
	n := maxKeyCache + 100
	dps.EnsureCapacity(n)
	for i := 0; i < n; i++ {
		dp := dps.AppendEmpty()
		dp.SetIntValue(1)
		dp.Attributes().PutInt("i", int64(i))
	}
	tr := New(defaultOptions())
	var st Stats
	rd := tr.Resource(md.ResourceMetrics().At(0), testNow, &st)
	require.Len(t, rd.Points, n)
	tr.mu.RLock()
	size := len(tr.keys)
	tr.mu.RUnlock()
	assert.LessOrEqual(t, size, maxKeyCache)
	assert.Less(t, size, n, "the cache never restarted")
	for _, i := range []int{0, maxKeyCache - 1, maxKeyCache, n - 1} {
		assert.Equal(t, fmt.Sprintf("m/i_%d", i), rd.Points[i].Key)
	}
	// Served partly from the restarted cache, partly recomputed.
	again := tr.Resource(md.ResourceMetrics().At(0), testNow, &st)
	assert.Equal(t, keysOf(rd), keysOf(again))
}
