package mlflowexporter

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap"

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
