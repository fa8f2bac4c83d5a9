package mlflowexporter

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/filestore"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

func TestFactoryType(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, metadata.Type, f.Type())
	assert.Equal(t, metadata.MetricsStability, f.MetricsStability())
}

// The collector's component lifecycle, as mdatagen's generated tests check
// it: an exporter created and shut down without being started, and one
// started, fed and shut down, with the default config (queue and batching
// on) against a tracking server and a local file store. The data must have
// landed once Shutdown returns: the queue drains on shutdown.
func TestComponentLifecycle(t *testing.T) {
	srv := mlflowtest.Start(t)
	fileRoot := filepath.Join(t.TempDir(), "mlruns")
	for _, tc := range []struct {
		name   string
		uri    string
		landed func(t *testing.T) int
	}{
		{"tracking server", srv.URL(), func(t *testing.T) int {
			return len(srv.MetricHistory(oneRun(t, srv, "lifecycle").Info.RunID, "loss"))
		}},
		{"file store", "file://" + fileRoot, func(t *testing.T) int {
			return filePoints(t, fileRoot, "lifecycle", "loss")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.TrackingURI = tc.uri
			f := NewFactory()

			t.Run("shutdown without start", func(t *testing.T) {
				exp, err := f.CreateMetrics(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
				require.NoError(t, err)
				require.NoError(t, exp.Shutdown(context.Background()))
			})
			t.Run("start, consume, shutdown", func(t *testing.T) {
				exp, err := f.CreateMetrics(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
				require.NoError(t, err)
				require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
				md := metrics(trainer("lifecycle", pt{name: "loss", value: 1, step: 0}, pt{name: "loss", value: 0.5, step: 1}))
				require.NoError(t, exp.ConsumeMetrics(context.Background(), md))
				require.NoError(t, exp.Shutdown(context.Background()))
				assert.Equal(t, 2, tc.landed(t))
			})
		})
	}
}

// filePoints counts the points of metric key in the only run named name
// (experiment "e", as trainer names it) of a local file store.
func filePoints(t *testing.T, root, name, key string) int {
	t.Helper()
	ctx := context.Background()
	st, err := filestore.Open(root)
	require.NoError(t, err)
	defer st.Close()
	exp, err := st.GetExperimentByName(ctx, "e")
	require.NoError(t, err)
	res, err := st.SearchRuns(ctx, mlflow.SearchRunsRequest{ExperimentIDs: []string{exp.ID}, Filter: "attributes.run_name = '" + name + "'"})
	require.NoError(t, err)
	require.Len(t, res.Runs, 1, "runs named %q", name)
	hist, err := st.GetMetricHistory(ctx, res.Runs[0].Info.RunID, key)
	require.NoError(t, err)
	return len(hist)
}
