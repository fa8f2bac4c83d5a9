package mlflowexporter

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// At startup the backend is asked once, so that a wrong address or refused
// credentials show in the log before the first export; the start never
// fails on it (data is queued and retried).
func TestStartupChecksTheBackendOnce(t *testing.T) {
	good := mlflowtest.Start(t, mlflowtest.WithBearerToken("right"))
	tests := []struct {
		name, uri, token string
		level            zapcore.Level
		message          string
	}{
		{"reachable", good.URL(), "right", zapcore.InfoLevel, "MLflow backend reachable"},
		{"credentials refused", good.URL(), "wrong", zapcore.WarnLevel, "MLflow backend refused the credentials"},
		{"unreachable", "http://127.0.0.1:1", "", zapcore.WarnLevel, "MLflow backend not reachable at startup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.TrackingURI, cfg.Token, cfg.Timeout = tt.uri, configopaque.String(tt.token), 2*time.Second
			core, logs := observer.New(zap.InfoLevel)
			set := exportertest.NewNopSettings(metadata.Type)
			set.Logger = zap.New(core)
			e, err := newExporter(cfg, set)
			require.NoError(t, err)
			e.getenv = func(string) string { return "" }
			require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()), "never fails the start")
			require.Eventually(t, func() bool { return logs.FilterMessageSnippet(tt.message).Len() == 1 }, 10*time.Second, 10*time.Millisecond)
			entry := logs.FilterMessageSnippet(tt.message).All()[0]
			assert.Equal(t, tt.level, entry.Level)
			assert.NotContains(t, fmt.Sprint(entry.ContextMap()), "wrong", "no secret in the log")
			require.NoError(t, e.shutdown(context.Background()))
		})
	}
}

// On Databricks the check's experiment name is refused as relative (400
// INVALID_PARAMETER_VALUE): an answer of MLflow's own, so the workspace is
// reachable and the credentials work.
func TestStartupCheckOnDatabricks(t *testing.T) {
	srv := mlflowtest.Start(t, mlflowtest.WithDatabricks(mlflowtest.Databricks{PATs: []string{"dapi-right"}}))
	cfg := createDefaultConfig().(*Config)
	cfg.TrackingURI = "databricks"
	core, logs := observer.New(zap.InfoLevel)
	set := exportertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	e, err := newExporter(cfg, set)
	require.NoError(t, err)
	env := map[string]string{"DATABRICKS_HOST": srv.URL(), "DATABRICKS_TOKEN": "dapi-right"}
	e.getenv = func(k string) string { return env[k] }
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	require.Eventually(t, func() bool { return logs.FilterMessageSnippet("MLflow backend").Len() > 0 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, 1, logs.FilterMessage("MLflow backend reachable").Len(), "%v", logs.All())
	require.NoError(t, e.shutdown(context.Background()))
}
