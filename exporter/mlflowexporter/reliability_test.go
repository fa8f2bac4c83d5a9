package mlflowexporter

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/filestore"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// TestDefaultRetryOutlastsOutages: with exporterhelper's default
// max_elapsed_time (5 minutes) a tracking server down for longer lost every
// queued point; by default the exporter retries until the queue is full.
func TestDefaultRetryOutlastsOutages(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.True(t, cfg.RetryConfig.Enabled)
	assert.Zero(t, cfg.RetryConfig.MaxElapsedTime, "retries must not give up on a long outage")
	assert.Positive(t, cfg.RetryConfig.MaxInterval, "retries back off")
	assert.Positive(t, cfg.RetryConfig.RandomizationFactor, "retries are jittered, so replicas do not retry in step")
}

// TestDeletedExperimentIsRestoredOnRetry deletes the experiment (and with
// it the run) under a writing exporter: the retry restores the experiment,
// which restores the run, and the data lands there instead of being
// dropped as rejected.
func TestDeletedExperimentIsRestoredOnRetry(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	require.NoError(t, h.push(metrics(trainer("r", pt{name: "loss", value: 1, step: 0}))))
	first := oneRun(t, srv, "r")
	// As a user in the UI would; the Store interface has no delete-experiment.
	resp, err := http.Post(srv.URL()+"/api/2.0/mlflow/experiments/delete", "application/json",
		strings.NewReader(`{"experiment_id":"`+first.Info.ExperimentID+`"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	md := metrics(trainer("r", pt{name: "loss", value: 2, step: 1}))
	err = h.push(md)
	require.Error(t, err, "the run vanished with its experiment: retry")
	assert.False(t, consumererror.IsPermanent(err))
	require.NoError(t, h.push(md))
	again := oneRun(t, srv, "r")
	assert.Equal(t, first.Info.RunID, again.Info.RunID, "restoring the experiment restored the run")
	assert.Equal(t, []int64{0, 1}, steps(srv.MetricHistory(again.Info.RunID, "loss")))
	assert.Zero(t, h.logs.FilterField(zap.String("reason", "rejected")).Len(), "nothing dropped")
}

// fileExporter starts an exporter on a local store and opens the same
// store for the test to read and delete through.
func fileExporter(t *testing.T) (*mlflowExporter, *filestore.Store) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "mlruns")
	cfg := createDefaultConfig().(*Config)
	cfg.TrackingURI = root
	e, err := newExporter(cfg, exportertest.NewNopSettings(metadata.Type))
	require.NoError(t, err)
	e.getenv = func(string) string { return "" }
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { _ = e.shutdown(context.Background()) })
	fs, err := filestore.Open(root)
	require.NoError(t, err)
	t.Cleanup(func() { _ = fs.Close() })
	return e, fs
}

// pushUntilAccepted pushes md as exporterhelper's retry would: a run that
// vanished is a retryable error, and the retry lands.
func pushUntilAccepted(t *testing.T, e *mlflowExporter, md pmetric.Metrics) {
	t.Helper()
	var err error
	for range 3 {
		if err = e.pushMetrics(context.Background(), md); err == nil {
			return
		}
		require.False(t, consumererror.IsPermanent(err), "%v", err)
	}
	require.NoError(t, err)
}

func activeFileRuns(t *testing.T, fs *filestore.Store, expID string) []mlflow.Run {
	t.Helper()
	res, err := fs.SearchRuns(context.Background(), mlflow.SearchRunsRequest{ExperimentIDs: []string{expID}, MaxResults: 10})
	require.NoError(t, err)
	return res.Runs
}

// TestDeletedRunIsReplacedOnRetryFileStore: the local store words the
// refusal to log into a deleted run as MLflow's file store does ("must be
// in 'active' lifecycle_stage"); it was taken for an invalid entity and
// the data dropped as rejected.
func TestDeletedRunIsReplacedOnRetryFileStore(t *testing.T) {
	e, fs := fileExporter(t)
	ctx := context.Background()
	require.NoError(t, e.pushMetrics(ctx, metrics(trainer("r", pt{name: "loss", value: 1, step: 0}))))
	exp, err := fs.GetExperimentByName(ctx, "e")
	require.NoError(t, err)
	first := activeFileRuns(t, fs, exp.ID)
	require.Len(t, first, 1)
	require.NoError(t, fs.DeleteRun(ctx, first[0].Info.RunID))

	pushUntilAccepted(t, e, metrics(trainer("r", pt{name: "loss", value: 2, step: 1})))
	second := activeFileRuns(t, fs, exp.ID)
	require.Len(t, second, 1)
	assert.NotEqual(t, first[0].Info.RunID, second[0].Info.RunID)
	hist, err := fs.GetMetricHistory(ctx, second[0].Info.RunID, "loss")
	require.NoError(t, err)
	assert.Equal(t, []int64{1}, steps(hist))
}

// TestDeletedExperimentIsRestoredOnRetryFileStore is the same for the
// experiment, which the local store refuses with INVALID_STATE (HTTP 500
// in MLflow, so retryable): the stale id was retried forever.
func TestDeletedExperimentIsRestoredOnRetryFileStore(t *testing.T) {
	e, fs := fileExporter(t)
	ctx := context.Background()
	require.NoError(t, e.pushMetrics(ctx, metrics(trainer("r", pt{name: "loss", value: 1, step: 0}))))
	exp, err := fs.GetExperimentByName(ctx, "e")
	require.NoError(t, err)
	require.NoError(t, fs.DeleteExperiment(ctx, exp.ID))

	pushUntilAccepted(t, e, metrics(trainer("r", pt{name: "loss", value: 2, step: 1})))
	runs := activeFileRuns(t, fs, exp.ID)
	require.Len(t, runs, 1, "the restored run, no new one")
	hist, err := fs.GetMetricHistory(ctx, runs[0].Info.RunID, "loss")
	require.NoError(t, err)
	assert.Equal(t, []int64{0, 1}, steps(hist))
}
