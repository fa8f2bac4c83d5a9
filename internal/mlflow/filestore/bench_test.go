package filestore

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// BenchmarkLogBatch logs full batches of 1000 points over 10 keys to one run:
// the exporter's steady state, one write per key on a cached descriptor.
func BenchmarkLogBatch(b *testing.B) {
	ctx := context.Background()
	s, err := Open(b.TempDir())
	require.NoError(b, err)
	defer s.Close()
	run, err := s.CreateRun(ctx, mlflow.CreateRunRequest{RunName: "bench"})
	require.NoError(b, err)
	batch := mlflow.Batch{Metrics: make([]mlflow.Metric, 1000)}
	keys := make([]string, 10)
	for k := range keys {
		keys[k] = fmt.Sprintf("system/gpu_%d_utilization_percentage", k)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range batch.Metrics {
			batch.Metrics[j] = mlflow.Metric{
				Key: keys[j%10], Value: float64(j) * 0.37, Timestamp: 1_795_650_496_000 + int64(i), Step: int64(i*100 + j/10),
			}
		}
		if err := s.LogBatch(ctx, run.Info.RunID, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch.Metrics))/b.Elapsed().Seconds(), "points/s")
}
