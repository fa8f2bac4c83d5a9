package tracking

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/restclient"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// Ending a run tells the collector with an mlflow.run.end point, flushed
// with the run's last metrics before the status update, so that it stops
// attaching host metrics at once. The point is not one of the user's
// metrics: it is not counted as sent.
func TestEndRunTellsTheCollector(t *testing.T) {
	tests := []struct {
		name   string
		end    func(e *env, r *Run) (*EndReport, error)
		status string
	}{
		{"EndRun", func(e *env, _ *Run) (*EndReport, error) { return e.tr.EndRun(t.Context()) }, "FINISHED"},
		{"failed", func(e *env, _ *Run) (*EndReport, error) {
			return e.tr.EndRunWithStatus(t.Context(), StatusFailed)
		}, "FAILED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Config{ExperimentName: "e", RunName: "r"})
			run, err := e.tr.StartRun(t.Context())
			require.NoError(t, err)
			require.NoError(t, run.LogMetric("loss", 1, Step(0)))
			rep, err := tt.end(e, run)
			require.NoError(t, err)
			require.Equal(t, int64(1), rep.Sent)
			require.True(t, rep.Complete())
			require.Equal(t, []runEnd{{RunID: run.ID(), Status: tt.status, TimeMs: e.exp.runEnds()[0].TimeMs}}, e.exp.runEnds())
			require.Len(t, e.exp.points(), 1)
		})
	}
}

// With the collector down the end point waits like any point but is never
// reported as a dropped or pending metric, and a full buffer still takes it.
func TestRunEndPointWithCollectorDown(t *testing.T) {
	e := newEnv(t, Config{OTLP: OTLP{BufferSize: 2, FlushTimeout: 200 * time.Millisecond}})
	e.exp.setDown(true)
	_, err := e.tr.StartRun(t.Context())
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, e.tr.LogMetric("loss", float64(i), Step(int64(i))))
	}
	rep, err := e.tr.EndRun(t.Context())
	require.NoError(t, err)
	require.Equal(t, int64(1), rep.Dropped)
	require.Equal(t, int64(2), rep.Pending)

	e.exp.setDown(false)
	require.NoError(t, e.tr.Close(t.Context()))
	require.Len(t, e.exp.runEnds(), 1, "delivered once the collector is back")
}

// landingExporter plays a collector that writes to store: it ends the run
// when the run-end point arrives, as the mlflow exporter does.
type landingExporter struct {
	fakeExporter
	store mlflow.Store
}

func (l *landingExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	if err := l.fakeExporter.Export(ctx, rm); err != nil {
		return err
	}
	// Like the collector it acknowledges first: a run it cannot find is
	// its own problem (dropped and logged), not the sender's.
	for _, end := range l.runEnds() {
		_, _ = l.store.UpdateRun(ctx, mlflow.UpdateRunRequest{RunID: end.RunID, Status: mlflow.RunStatus(end.Status), EndTime: end.TimeMs})
	}
	return nil
}

// EndRun confirms that the collector writes where the tracker reads: a
// collector on another backend (the tracker on ./mlruns, the collector on
// a server) acknowledges every point and drops them all, which only the
// store can show.
func TestEndRunConfirmsTheCollectorWritesTheSameBackend(t *testing.T) {
	srv := mlflowtest.Start(t)
	store, err := restclient.New(restclient.Config{TrackingURI: srv.URL()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	otherStore, err := restclient.New(restclient.Config{TrackingURI: mlflowtest.Start(t).URL()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = otherStore.Close() })

	tests := []struct {
		name     string
		writesTo mlflow.Store
		landed   bool
	}{
		{"same backend", store, true},
		{"another backend", otherStore, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := &landingExporter{store: tt.writesTo}
			tr, err := New(Config{TrackingURI: srv.URL(), ExperimentName: "e", RunName: "r",
				OTLP: OTLP{ExportInterval: time.Hour, ConfirmTimeout: 300 * time.Millisecond}},
				WithMetricExporter(exp), WithLogger(quietLogger))
			require.NoError(t, err)
			t.Cleanup(func() { _ = tr.Close(context.Background()) })
			_, err = tr.StartRun(t.Context())
			require.NoError(t, err)
			require.NoError(t, tr.LogMetric("loss", 1, Step(0)))
			rep, err := tr.EndRun(t.Context())
			require.NoError(t, err)
			require.True(t, rep.Complete(), "every point reached the collector either way")
			if tt.landed {
				require.NoError(t, rep.NotLanded)
				return
			}
			require.Error(t, rep.NotLanded)
			require.Contains(t, rep.String(), "NOT CONFIRMED")
			require.Contains(t, rep.NotLanded.Error(), mlflow.ServerBackendID(srv.URL()))
			require.Contains(t, rep.NotLanded.Error(), "MLFLOW_TRACKING_URI")
		})
	}
}
