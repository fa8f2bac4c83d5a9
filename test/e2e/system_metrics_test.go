package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	otelmetric "go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// TestSystemMetricsFromTheGPUReceiverLandInTheRun: a training process
// reporting host.name of this machine gets the receiver's host metrics under
// MLflow's system/ keys, and they stop when the run ends.
func TestSystemMetricsFromTheGPUReceiverLandInTheRun(t *testing.T) {
	host, err := os.Hostname()
	require.NoError(t, err)
	srv := startMLflow(t)
	c := StartCollector(t, gpuConfig(serverExporterConfig(srv.URL(), srv.Experiment("system")), os.Getpid()))

	res := resource.NewSchemaless(
		attribute.String("service.name", "trainer"),
		attribute.String("host.name", host),
		attribute.Int("process.pid", os.Getpid()),
		attribute.String("mlflow.run.name", "with-system-metrics"),
	)
	s := NewSender(t, c, GRPC, res, true)
	m := s.MP.Meter("train")
	loss, err := m.Float64Gauge("loss")
	require.NoError(t, err)
	loss.Record(context.Background(), 1, otelmetric.WithAttributes(attribute.Int("step", 0)))
	s.Flush(t)

	var run mlflow.Run
	systemKeys := []string{
		"system/cpu_utilization_percentage",
		"system/system_memory_usage_megabytes",
		"system/system_memory_usage_percentage",
		"system/disk_usage_percentage",
		"system/disk_usage_megabytes",
		"system/disk_available_megabytes",
		"system/network_receive_megabytes",
		"system/network_transmit_megabytes",
		"system/process_memory_rss_megabytes",
	}
	eventually(t, 20*time.Second, "system metrics in the run", func() bool {
		r, ok := srv.runsByName()["with-system-metrics"]
		if !ok {
			return false
		}
		run = r
		for _, k := range systemKeys {
			if len(srv.MetricHistory(r.Info.RunID, k)) < 3 {
				return false
			}
		}
		return true
	})
	for _, k := range systemKeys {
		for _, p := range srv.MetricHistory(run.Info.RunID, k) {
			assert.GreaterOrEqual(t, p.Value, 0.0, k)
		}
	}
	cpu := srv.MetricHistory(run.Info.RunID, "system/cpu_utilization_percentage")
	assert.LessOrEqual(t, cpu[0].Value, 100.0)
	mem := srv.MetricHistory(run.Info.RunID, "system/system_memory_usage_percentage")
	assert.Greater(t, mem[0].Value, 0.0)
	// The receiver scrapes this test process (pids), which the run's
	// resource names as its process.pid: its RSS is charged to the run.
	rss := srv.MetricHistory(run.Info.RunID, "system/process_memory_rss_megabytes")
	assert.Greater(t, rss[0].Value, 1.0, "RSS of this test process in MB")

	// End the run; the host's values stop landing in it.
	end, err := m.Int64Gauge("mlflow.run.end")
	require.NoError(t, err)
	end.Record(context.Background(), 1, otelmetric.WithAttributes(attribute.String("status", "FINISHED")))
	s.Flush(t)
	eventually(t, 10*time.Second, "run finished", func() bool {
		return srv.runsByName()["with-system-metrics"].Info.Status == mlflow.RunStatusFinished
	})
	// No system metrics after the run ended: once an export already in
	// flight has landed, the count holds still for five scrape intervals.
	pts := fuAwaitSystemStops(t, srv, run.Info.RunID, 5*fuCollectionInterval, 5*time.Second)
	fmt.Fprintf(os.Stderr, "system metrics: %d cpu points while the run was active\n", len(pts["system/cpu_utilization_percentage"]))
}
