package mlflowtest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkLogBatch measures one 1000-metric runs/log-batch through the
// handler (decode, validate, store), without the network.
func BenchmarkLogBatch(b *testing.B) {
	s := NewServer()
	defer s.Close()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/api/2.0/mlflow/runs/create", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	s.ServeHTTP(rec, req)
	run := s.Runs()[0].Info.RunID
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var sb strings.Builder
		fmt.Fprintf(&sb, `{"run_id":%q,"metrics":[`, run)
		for j := 0; j < 1000; j++ {
			if j > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"key":"m%d","value":%d.5,"timestamp":%d,"step":%d}`, j%50, j, i, j)
		}
		sb.WriteString("]}")
		req := httptest.NewRequest(http.MethodPost, "/api/2.0/mlflow/runs/log-batch", strings.NewReader(sb.String()))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
