package e2e

import (
	"context"
	"os/exec"
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
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/restclient"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// TestDatabricksOAuthM2M runs the real binary against the fake Databricks
// workspace with a service principal from the environment, as the cluster
// init script starts it. Tokens live 3 s, so the run spans several of them;
// every request must carry a valid token, none may exceed the workspace's
// published rate limits, and the data must land in full: in a run the
// collector creates under an absolute experiment path, and in a run a
// notebook started itself (mlflow.run.id).
func TestDatabricksOAuthM2M(t *testing.T) {
	skipOnRealServer(t, "needs the Databricks fake: OAuth M2M tokens, rate limits and request records of a fake workspace")
	const (
		clientID = "e2e-service-principal"
		secret   = "e2e-sp-secret-value"
		pat      = "dapi-e2e-setup"
	)
	srv := mlflowtest.Start(t, mlflowtest.WithDatabricks(mlflowtest.Databricks{
		ClientID: clientID, ClientSecret: secret, TokenLifetime: 3 * time.Second,
		PATs: []string{pat}, // the test's own setup calls only
	}))

	// The notebook's active run, created before the collector sees data.
	setup, err := restclient.New(restclient.Config{TrackingURI: srv.URL(), Token: pat})
	require.NoError(t, err)
	t.Cleanup(func() { _ = setup.Close() })
	ctx := context.Background()
	nbExp, err := mlflow.GetOrCreateExperiment(ctx, setup, "/Users/alice@example.com/notebook", nil)
	require.NoError(t, err)
	nbRun, err := setup.CreateRun(ctx, mlflow.CreateRunRequest{ExperimentID: nbExp, RunName: "notebook-run", StartTime: time.Now().UnixMilli()})
	require.NoError(t, err)
	setupRequests := srv.RequestCount("")

	dir := t.TempDir()
	exporterCfg := `
tracking_uri: databricks
experiment_name: /Shared/otel/e2e
# Requests every second, so that they span the 3 s token lifetimes.
coalesce:
  max_delay: 1s
sending_queue:
  batch:
    flush_timeout: 100ms
retry_on_failure:
  initial_interval: 100ms
  max_interval: 1s
`
	c := StartCollector(t, baseConfig(exporterCfg),
		"DATABRICKS_HOST="+srv.URL(),
		"DATABRICKS_CLIENT_ID="+clientID,
		"DATABRICKS_CLIENT_SECRET="+secret,
		// Keep a developer's own ~/.databrickscfg out of the test.
		"DATABRICKS_CONFIG_FILE="+filepath.Join(dir, "absent.cfg"),
	)

	trainer := NewSender(t, c, GRPC, resource.NewSchemaless(
		attribute.String("service.name", "trainer"),
		attribute.String("mlflow.run.name", "dbx-e2e"),
		attribute.String("mlflow.param.lr", "0.01"),
	), true)
	notebook := NewSender(t, c, HTTP, resource.NewSchemaless(
		attribute.String("service.name", "notebook"),
		attribute.String("mlflow.run.id", nbRun.Info.RunID),
	), true)
	loss, err := trainer.MP.Meter("train").Float64Gauge("loss")
	require.NoError(t, err)
	acc, err := notebook.MP.Meter("nb").Float64Gauge("accuracy")
	require.NoError(t, err)

	// About 8 s of training: beyond two token lifetimes.
	const steps = 12
	for i := range steps {
		step := otelmetric.WithAttributes(attribute.Int("step", i))
		loss.Record(ctx, 1/float64(i+1), step)
		acc.Record(ctx, float64(i)/steps, step)
		trainer.Flush(t)
		notebook.Flush(t)
		time.Sleep(650 * time.Millisecond) // pacing: training spans token lifetimes
	}
	end, err := trainer.MP.Meter("train").Int64Gauge("mlflow.run.end")
	require.NoError(t, err)
	end.Record(ctx, 1, otelmetric.WithAttributes(attribute.String("status", "FINISHED")))
	trainer.Flush(t)

	var run mlflow.Run
	eventually(t, 20*time.Second, "the collector's run finished with every step", func() bool {
		for _, r := range srv.Runs() {
			if r.Info.RunName == "dbx-e2e" && r.Info.Status == mlflow.RunStatusFinished && len(srv.MetricHistory(r.Info.RunID, "loss")) == steps {
				run = r
				return true
			}
		}
		return false
	})
	eventually(t, 10*time.Second, "every notebook step in the notebook's run", func() bool {
		return len(srv.MetricHistory(nbRun.Info.RunID, "accuracy")) == steps
	})

	var expName string
	for _, e := range srv.Experiments() {
		if e.ID == run.Info.ExperimentID {
			expName = e.Name
		}
	}
	assert.Equal(t, "/Shared/otel/e2e", expName)
	assert.Equal(t, "0.01", kv(run.Data.Params)["lr"])
	for i, m := range srv.MetricHistory(run.Info.RunID, "loss") {
		assert.Equal(t, int64(i), m.Step)
	}

	issued := srv.DatabricksTokensIssued()
	assert.GreaterOrEqual(t, issued, 3, "tokens refreshed across expiry")
	assert.Zero(t, srv.DatabricksRefused(), "no request carried a missing, unknown or expired token")
	assert.Zero(t, srv.DatabricksThrottled(""), "no request over the workspace's rate limits")
	for _, r := range srv.Requests()[setupRequests:] {
		if strings.HasPrefix(r.RPC, "/oidc/") {
			continue
		}
		assert.True(t, strings.HasPrefix(r.Header.Get("Authorization"), "Bearer dbxoauth-"), "%s sent %q", r.RPC, r.Header.Get("Authorization"))
	}

	c.Stop()
	out := c.Output()
	assert.Contains(t, out, "Databricks workspace "+srv.URL())
	assert.Contains(t, out, "auth oauth-m2m")
	assert.NotContains(t, out, secret, "the client secret never reaches the logs")
	assert.NotContains(t, out, "dbxoauth-", "access tokens never reach the logs")
	t.Logf("%d tokens issued, %d requests", issued, srv.RequestCount(""))
}

// TestDatabricksStartupErrorNamesWhatIsMissing starts the binary with a
// workspace host but no credentials: it must refuse to start and say what
// to set.
func TestDatabricksStartupErrorNamesWhatIsMissing(t *testing.T) {
	dir := t.TempDir()
	out, err := runCollectorOnce(t, dir, baseConfig("tracking_uri: databricks\nexperiment_name: /Shared/x"),
		"DATABRICKS_HOST=https://adb-1.2.azuredatabricks.net", "DATABRICKS_CONFIG_FILE="+filepath.Join(dir, "absent.cfg"))
	require.Error(t, err, "the collector must not start without credentials:\n%s", out)
	assert.Contains(t, out, "no credentials")
	assert.Contains(t, out, "DATABRICKS_TOKEN")
	assert.Contains(t, out, "DATABRICKS_CLIENT_ID")
}

// runCollectorOnce runs the binary in dir with cfg until it exits
// (or 30 s pass) and returns its output; for configurations that must fail
// at start, which StartCollector treats as a test failure.
func runCollectorOnce(t *testing.T, dir string, cfg Config, env ...string) (string, error) {
	t.Helper()
	ports := Ports{GRPC: freePort(t), HTTP: freePort(t), Health: freePort(t), Metrics: freePort(t)}
	cfgPath := writeConfig(t, dir, ports, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, collectorBinary(t), "--config", cfgPath)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestDatabricksDeployConfigValidates keeps the shipped node configuration
// loadable by the binary it ships with.
func TestDatabricksDeployConfigValidates(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, collectorBinary(t), "validate", "--config", filepath.Join(repoRoot(), "deploy", "databricks", "config.yaml"))
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
}
