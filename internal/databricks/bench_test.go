package databricks

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// BenchmarkM2MTokenCached is the per-request cost of OAuth once a token is
// cached: what every API call pays.
func BenchmarkM2MTokenCached(b *testing.B) {
	m := NewM2M("https://unused.example", "id", "secret", nil)
	now := time.Now()
	m.token, m.expiry = "tok", now.Add(time.Hour)
	m.refreshAt, m.usable = now.Add(55*time.Minute), now.Add(59*time.Minute)
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "https://unused.example/api/2.0/mlflow/runs/log-batch", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := m.Authorize(req.Clone(req.Context())); err != nil {
				b.Fatal(err)
			}
		}
	})
}
