package mlflowexporter

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// A run created by the tracking API in another backend (the script on
// ./mlruns, the collector on a server) is not found here. The collector
// says why, naming both backends, instead of "run not found".
func TestRunOfAnotherBackendIsExplained(t *testing.T) {
	srv := mlflowtest.Start(t)
	other := mlflow.FileBackendID("mlruns")
	tests := []struct {
		name, backend, reason string
	}{
		{"another backend", other, "backend_mismatch"},
		{"same backend", mlflow.ServerBackendID(srv.URL()), "rejected"},
		{"backend not named", "", "rejected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attrs := map[string]any{"mlflow.run.id": "0123456789abcdef0123456789abcdef", "service.name": "trainer"}
			if tt.backend != "" {
				attrs[mlflow.BackendAttr] = tt.backend
			}
			h := newHarness(t, srv) // each its own drop log: one line per reason
			require.NoError(t, h.push(metrics(res{attrs: attrs, points: []pt{{name: "loss", value: 1, step: 0}}})))
			logs := h.logs.FilterLevelExact(zap.WarnLevel).All()
			require.Len(t, logs, 1)
			assert.Equal(t, tt.reason, logs[0].ContextMap()["reason"])
			if tt.reason == "backend_mismatch" {
				assert.Equal(t, other, logs[0].ContextMap()["run_backend"])
				assert.Equal(t, mlflow.ServerBackendID(srv.URL()), logs[0].ContextMap()["collector_backend"])
				assert.Contains(t, logs[0].Message, "MLFLOW_TRACKING_URI")
			}
		})
	}
}
