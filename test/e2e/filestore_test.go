package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	otelmetric "go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/filestore"
)

// TestMakeRunWritesLocalStore runs the binary the way `make run` does — the
// shipped config/default.yaml, from a fresh working directory — with only
// ports (and the scrape interval) overridden, sends a short training run
// with the OTel SDK, and reads ./mlruns back.
func TestMakeRunWritesLocalStore(t *testing.T) {
	dir := t.TempDir()
	ports := Ports{GRPC: freePort(t), HTTP: freePort(t), Health: freePort(t), Metrics: freePort(t)}
	cfg := filepath.Join(repoRoot(), "config", "default.yaml")
	args := append([]string{"--config", cfg}, portFlags(ports)...)
	args = append(args,
		"--set=receivers::gpu::collection_interval=500ms",
		"--set=receivers::gpu::initial_delay=0s",
		"--set=exporters::mlflow::sending_queue::batch::flush_timeout=100ms",
	)
	c := StartCollectorArgs(t, dir, ports, []string{fmt.Sprintf("OTELCOL_METRICS_PORT=%d", ports.Metrics)}, args...)

	// No host.name: the run is local to the collector, so the gpu
	// receiver's host metrics are attached to it.
	res := resource.NewSchemaless(
		attribute.String("service.name", "demo-trainer"),
		attribute.String("mlflow.experiment.name", "local-demo"),
		attribute.String("mlflow.run.name", "local-run"),
		attribute.String("mlflow.param.optimizer", "sgd"),
	)
	s := NewSender(t, c, GRPC, res, true)
	loss, err := s.MP.Meter("demo").Float64Gauge("loss")
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		loss.Record(context.Background(), 1/float64(i+1), otelmetric.WithAttributes(attribute.Int("step", i)))
	}
	s.Flush(t)

	store, err := filestore.Open(filepath.Join(dir, "mlruns"))
	require.NoError(t, err)
	defer store.Close()
	ctx := context.Background()
	var runID string
	eventually(t, 20*time.Second, "loss and system metrics in ./mlruns", func() bool {
		exp, err := store.GetExperimentByName(ctx, "local-demo")
		if err != nil {
			return false
		}
		res, err := store.SearchRuns(ctx, mlflow.SearchRunsRequest{ExperimentIDs: []string{exp.ID}})
		if err != nil || len(res.Runs) != 1 {
			return false
		}
		runID = res.Runs[0].Info.RunID
		h, _ := store.GetMetricHistory(ctx, runID, "loss")
		cpu, _ := store.GetMetricHistory(ctx, runID, "system/cpu_utilization_percentage")
		return len(h) == 5 && len(cpu) > 0
	})
	run, err := store.GetRun(ctx, runID)
	require.NoError(t, err)
	assert.Equal(t, "local-run", run.Info.RunName)
	assert.Equal(t, mlflow.RunStatusRunning, run.Info.Status)
	params := map[string]string{}
	for _, p := range run.Data.Params {
		params[p.Key] = p.Value
	}
	assert.Equal(t, map[string]string{"optimizer": "sgd"}, params)
	hist, err := store.GetMetricHistory(ctx, runID, "loss")
	require.NoError(t, err)
	for i, m := range hist {
		assert.Equal(t, int64(i), m.Step)
		assert.InDelta(t, 1/float64(i+1), m.Value, 1e-12)
	}

	// The files themselves, as `mlflow ui` reads them.
	runDir := filepath.Join(dir, "mlruns", run.Info.ExperimentID, runID)
	lines, err := os.ReadFile(filepath.Join(runDir, "metrics", "loss"))
	require.NoError(t, err)
	assert.Len(t, strings.Split(strings.TrimSpace(string(lines)), "\n"), 5)
	assert.FileExists(t, filepath.Join(runDir, "meta.yaml"))
	assert.FileExists(t, filepath.Join(runDir, "metrics", "system", "cpu_utilization_percentage"))
	p, err := os.ReadFile(filepath.Join(runDir, "params", "optimizer"))
	require.NoError(t, err)
	assert.Equal(t, "sgd", string(p))
	assert.DirExists(t, filepath.Join(dir, "data", "queue"), "the persistent queue of the default config")
}
