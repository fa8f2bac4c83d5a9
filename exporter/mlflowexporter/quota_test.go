package mlflowexporter

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/restclient"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// quotaFixture is a workspace enforcing small quotas and a quota store
// tracking the same ones, so any miscount shows as a 429 from the server.
func quotaFixture(t *testing.T, q runQuotas) (*mlflowtest.Server, *quotaStore, string) {
	t.Helper()
	srv := mlflowtest.Start(t, mlflowtest.WithDatabricks(mlflowtest.Databricks{
		PATs: []string{"p"}, RateLimits: map[string]float64{},
		MetricSteps: int(q.metricSteps), Params: int(q.params), Tags: int(q.tags),
	}))
	c, err := restclient.New(restclient.Config{TrackingURI: srv.URL(), Token: "p"})
	require.NoError(t, err)
	qs := withQuotas(c, RunQuotasConfig{}, q, zap.NewNop(), nopTelemetry(t)).(*quotaStore)
	t.Cleanup(func() { _ = qs.Close() })
	exp, err := mlflow.GetOrCreateExperiment(context.Background(), qs, "/Shared/q", nil)
	require.NoError(t, err)
	run, err := qs.CreateRun(context.Background(), mlflow.CreateRunRequest{ExperimentID: exp, StartTime: 1, RunName: "r"})
	require.NoError(t, err)
	return srv, qs, run.Info.RunID
}

func points(key string, from, n int) []mlflow.Metric {
	out := make([]mlflow.Metric, n)
	for i := range out {
		out[i] = mlflow.Metric{Key: key, Value: float64(from + i), Timestamp: 1, Step: int64(from + i)}
	}
	return out
}

func tagValue(t *testing.T, srv *mlflowtest.Server, runID, key string) string {
	t.Helper()
	for _, r := range srv.Runs() {
		if r.Info.RunID == runID {
			for _, tg := range r.Data.Tags {
				if tg.Key == key {
					return tg.Value
				}
			}
		}
	}
	return ""
}

func TestQuotaMetricSteps(t *testing.T) {
	srv, qs, run := quotaFixture(t, runQuotas{metricSteps: 1000})
	ctx := context.Background()
	log := func(b mlflow.Batch) { require.NoError(t, qs.LogBatch(ctx, run, b)) }

	const sys = "system/gpu_0_utilization_percentage"
	concat := func(parts ...[]mlflow.Metric) mlflow.Batch {
		var b mlflow.Batch
		for _, p := range parts {
			b.Metrics = append(b.Metrics, p...)
		}
		return b
	}
	// Below 80 %: everything lands, no warning.
	log(concat(points("loss", 0, 700), points(sys, 0, 99))) // 799 used
	assert.Empty(t, tagValue(t, srv, run, QuotaWarningTag))

	// From 80 %: system metrics downsampled 1:10, training metrics whole.
	log(concat(points("loss", 700, 1), points(sys, 99, 100), points("loss", 701, 99))) // 800 + 10 + 99
	assert.Len(t, srv.MetricHistory(run, sys), 109)
	assert.Len(t, srv.MetricHistory(run, "loss"), 800)
	assert.Contains(t, tagValue(t, srv, run, QuotaWarningTag), "system metrics downsampled 1:10")

	// From 95 %: system metrics stop, training metrics go on to the quota.
	log(concat(points("loss", 800, 41))) // 950 used
	log(concat(points(sys, 199, 30), points("loss", 841, 30)))
	assert.Len(t, srv.MetricHistory(run, sys), 109)
	assert.Contains(t, tagValue(t, srv, run, QuotaWarningTag), "system metrics stopped")
	log(concat(points("loss", 871, 100))) // only 20 fit
	assert.Len(t, srv.MetricHistory(run, "loss"), 891)
	assert.Contains(t, tagValue(t, srv, run, QuotaWarningTag), "at the quota of 1000")

	// At the quota nothing more is sent: no request, no error.
	before := srv.RequestCount("runs/log-batch")
	log(concat(points("loss", 971, 5)))
	assert.Equal(t, before, srv.RequestCount("runs/log-batch"))
	assert.Zero(t, srv.DatabricksThrottled(""))
}

func TestQuotaParamsAndTags(t *testing.T) {
	// runs/create set mlflow.runName: 1 of 5 tags used, 1 kept for the warning.
	srv, qs, run := quotaFixture(t, runQuotas{params: 3, tags: 5})
	ctx := context.Background()
	var params []mlflow.Param
	var tags []mlflow.Tag
	for i := range 5 {
		params = append(params, mlflow.Param{Key: fmt.Sprintf("p%d", i), Value: "v"})
		tags = append(tags, mlflow.Tag{Key: fmt.Sprintf("t%d", i), Value: "v"})
	}
	require.NoError(t, qs.LogBatch(ctx, run, mlflow.Batch{Params: params, Tags: tags}))
	var got *mlflow.Run
	for _, r := range srv.Runs() {
		if r.Info.RunID == run {
			got = &r
		}
	}
	require.NotNil(t, got)
	assert.Len(t, got.Data.Params, 3)
	assert.Len(t, got.Data.Tags, 5, "runName, t0..t2 and the warning tag")
	w := tagValue(t, srv, run, QuotaWarningTag)
	assert.Contains(t, w, "params at the quota of 3")
	assert.Contains(t, w, "tags at the quota of 5")
	// Known keys still pass: a tag update and the same param again.
	require.NoError(t, qs.LogBatch(ctx, run, mlflow.Batch{Params: params[:1], Tags: []mlflow.Tag{{Key: "t0", Value: "new"}}}))
	assert.Equal(t, "new", tagValue(t, srv, run, "t0"))

	// A new process (restart) learns params and tags from the run itself.
	c, err := restclient.New(restclient.Config{TrackingURI: srv.URL(), Token: "p"})
	require.NoError(t, err)
	fresh := withQuotas(c, RunQuotasConfig{}, runQuotas{params: 3, tags: 5}, zap.NewNop(), nopTelemetry(t)).(*quotaStore)
	defer fresh.Close()
	require.NoError(t, fresh.LogBatch(ctx, run, mlflow.Batch{Params: []mlflow.Param{{Key: "p9", Value: "v"}}, Tags: []mlflow.Tag{{Key: "t9", Value: "v"}}}))
	assert.Zero(t, srv.DatabricksThrottled(""))
	assert.Empty(t, tagValue(t, srv, run, "t9"))
}

func TestQuotaNoneConfigured(t *testing.T) {
	srv := mlflowtest.Start(t)
	c, err := restclient.New(restclient.Config{TrackingURI: srv.URL()})
	require.NoError(t, err)
	defer c.Close()
	b := withQuotas(c, RunQuotasConfig{}, runQuotas{}, zap.NewNop(), nopTelemetry(t))
	assert.Same(t, backend(c), b)
	b = withQuotas(c, RunQuotasConfig{MetricSteps: -1, Params: -1, Tags: -1}, runQuotas{metricSteps: 5, params: 5, tags: 5}, zap.NewNop(), nopTelemetry(t))
	assert.Same(t, backend(c), b, "negative lifts every quota")
}
