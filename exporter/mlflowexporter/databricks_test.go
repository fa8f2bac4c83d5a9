package mlflowexporter

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestOpenDatabricks(t *testing.T) {
	srv := mlflowtest.Start(t, mlflowtest.WithDatabricks(mlflowtest.Databricks{
		PATs: []string{"dapi-pat"}, ClientID: "sp", ClientSecret: "sp-secret",
	}))
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "databrickscfg")
	require.NoError(t, os.WriteFile(cfgFile, []byte("[ml]\nhost = "+srv.URL()+"\nclient_id = sp\nclient_secret = sp-secret\n"), 0o600))

	tests := []struct {
		name     string
		uri      string
		dbx      DatabricksConfig
		env      map[string]string
		wantKind string
		wantErr  string
	}{
		{name: "PAT from env", uri: "databricks",
			env:      map[string]string{"DATABRICKS_HOST": srv.URL(), "DATABRICKS_TOKEN": "dapi-pat", "DATABRICKS_CONFIG_FILE": filepath.Join(dir, "none")},
			wantKind: "auth pat (host from env DATABRICKS_HOST, token from env DATABRICKS_TOKEN)"},
		{name: "M2M from the URI's profile", uri: "databricks://ml", dbx: DatabricksConfig{ConfigFile: cfgFile},
			wantKind: "auth oauth-m2m (host from profile ml in " + cfgFile},
		{name: "M2M from explicit settings", uri: "databricks",
			dbx:      DatabricksConfig{Host: srv.URL(), ClientID: "sp", ClientSecret: "sp-secret", ConfigFile: filepath.Join(dir, "none")},
			wantKind: "client_secret from config"},
		{name: "MLFLOW_TRACKING_URI names the profile", uri: "",
			env:      map[string]string{"MLFLOW_TRACKING_URI": "databricks://ml", "DATABRICKS_CONFIG_FILE": cfgFile},
			wantKind: "auth oauth-m2m"},
		{name: "nothing resolves", uri: "databricks", dbx: DatabricksConfig{ConfigFile: filepath.Join(dir, "none")},
			wantErr: "no workspace host: set databricks.host in the exporter configuration, DATABRICKS_HOST, or host in profile [DEFAULT]"},
		{name: "profile missing", uri: "databricks://nope", dbx: DatabricksConfig{ConfigFile: cfgFile},
			wantErr: `profile "nope" not found`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.TrackingURI = tc.uri
			cfg.Databricks = tc.dbx
			cfg.ExperimentName = "/Shared/e"
			b, kind, err := openBackend(context.Background(), cfg, componenttest.NewNopHost(), componenttest.NewNopTelemetrySettings(), nopTelemetry(t), envMap(tc.env))
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.NotContains(t, err.Error(), "sp-secret")
				return
			}
			require.NoError(t, err)
			defer b.Close()
			assert.Contains(t, kind, "Databricks workspace "+srv.URL())
			assert.Contains(t, kind, tc.wantKind)
			assert.NotContains(t, kind, "sp-secret")
			assert.NotContains(t, kind, "dapi-pat")
			// The backend works against the workspace, relative names are
			// refused before a request, and per-run quotas are tracked.
			id, err := mlflow.GetOrCreateExperiment(context.Background(), b, "/Shared/e", nil)
			require.NoError(t, err)
			_, err = b.GetExperimentByName(context.Background(), "relative")
			assert.True(t, mlflow.IsInvalidParameter(err), "%v", err)
			_, isQuota := b.(*quotaStore)
			assert.True(t, isQuota, "Databricks backends track run quotas")
			assert.NotEmpty(t, id)
		})
	}
	assert.Zero(t, srv.DatabricksRefused(), "no request was refused for credentials")
}

func TestOSSBackendOptions(t *testing.T) {
	srv := mlflowtest.Start(t)
	cfg := createDefaultConfig().(*Config)
	cfg.TrackingURI = srv.URL()
	b, _, err := openBackend(context.Background(), cfg, componenttest.NewNopHost(), componenttest.NewNopTelemetrySettings(), nopTelemetry(t), envMap(nil))
	require.NoError(t, err)
	_, isQuota := b.(*quotaStore)
	assert.False(t, isQuota, "no quotas for open-source servers unless configured")
	require.NoError(t, b.Close())

	cfg.RunQuotas = RunQuotasConfig{Params: 10}
	cfg.RateLimits = map[string]float64{"log_batch": 100}
	b, _, err = openBackend(context.Background(), cfg, componenttest.NewNopHost(), componenttest.NewNopTelemetrySettings(), nopTelemetry(t), envMap(nil))
	require.NoError(t, err)
	qs, isQuota := b.(*quotaStore)
	require.True(t, isQuota)
	assert.Equal(t, runQuotas{params: 10}, qs.q)
	require.NoError(t, b.Close())
}

func TestResolveQuotas(t *testing.T) {
	dbx := runQuotas{metricSteps: 1_000_000, params: 1600, tags: 1600}
	tests := []struct {
		cfg  RunQuotasConfig
		def  runQuotas
		want runQuotas
	}{
		{RunQuotasConfig{}, dbx, dbx},
		{RunQuotasConfig{MetricSteps: 500, Params: -1}, dbx, runQuotas{metricSteps: 500, tags: 1600}},
		{RunQuotasConfig{}, runQuotas{}, runQuotas{}},
		{RunQuotasConfig{Tags: 20}, runQuotas{}, runQuotas{tags: 20}},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, resolveQuotas(tc.cfg, tc.def), "%+v over %+v", tc.cfg, tc.def)
	}
}

func TestDatabricksExporterDropsNothingAtStartErrors(t *testing.T) {
	// A start that cannot resolve credentials fails with the message
	// naming what is missing, before any data is accepted.
	cfg := createDefaultConfig().(*Config)
	cfg.TrackingURI = "databricks"
	cfg.Databricks.ConfigFile = filepath.Join(t.TempDir(), "none")
	e, err := newExporter(cfg, exportertest.NewNopSettings(metadata.Type))
	require.NoError(t, err)
	e.getenv = envMap(map[string]string{"DATABRICKS_HOST": "https://adb-1.azuredatabricks.net"})
	err = e.start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "no credentials") && strings.Contains(err.Error(), "DATABRICKS_CLIENT_SECRET"), "%v", err)
	require.NoError(t, e.shutdown(context.Background()))
}
