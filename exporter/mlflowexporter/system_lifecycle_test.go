package mlflowexporter

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/restclient"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// fakeClock is a settable clock for the exporter and its run manager.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Set(at time.Duration) { c.mu.Lock(); c.now = t0.Add(at); c.mu.Unlock() }

// withClock restarts the harness's exporter on a fake clock.
func withClock(t *testing.T, h *harness) *fakeClock {
	t.Helper()
	c := &fakeClock{now: t0}
	require.NoError(t, h.exp.shutdown(context.Background()))
	h.exp.now = c.Now
	require.NoError(t, h.exp.start(context.Background(), componenttest.NewNopHost()))
	return c
}

func systemPoints(srv *mlflowtest.Server, runID string) []mlflow.Metric {
	return srv.MetricHistory(runID, "system/cpu_utilization_percentage")
}

// A run ended outside the collector (mlflow.end_run(), the UI, the tracking
// API's own status update) stops receiving host metrics within one end
// check: MLflow accepts data for finished runs, so the collector asks.
func TestSystemMetricsStopWhenTheRunEndsOnTheBackend(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv, func(c *Config) { c.SystemMetrics.EndCheckInterval = 10 * time.Second })
	clock := withClock(t, h)
	require.NoError(t, h.push(metrics(trainerOn("r", "node-1", 0, pt{name: "loss", value: 1, step: 0}))))
	clock.Set(time.Second)
	require.NoError(t, h.push(hostMetrics("node-1", time.Second, 1)))
	runID := oneRun(t, srv, "r").Info.RunID

	c, err := restclient.New(restclient.Config{TrackingURI: srv.URL()})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.UpdateRun(t.Context(), mlflow.UpdateRunRequest{RunID: runID, Status: mlflow.RunStatusFinished, EndTime: t0.Add(2 * time.Second).UnixMilli()})
	require.NoError(t, err)

	// Within the check interval the collector cannot know yet...
	clock.Set(5 * time.Second)
	require.NoError(t, h.push(hostMetrics("node-1", 5*time.Second, 1)))
	require.Len(t, systemPoints(srv, runID), 2)
	// ...one interval after its last check it does, and stops.
	for _, at := range []time.Duration{11 * time.Second, 21 * time.Second, 31 * time.Second} {
		clock.Set(at)
		require.NoError(t, h.push(hostMetrics("node-1", at, 1)))
	}
	assert.Len(t, systemPoints(srv, runID), 2)
	r := oneRun(t, srv, "r")
	assert.Equal(t, mlflow.RunStatusFinished, r.Info.Status, "the collector does not reopen or re-end it")
}

// A run whose own telemetry stopped (a script that exported once and exited
// without ending its run) gets host metrics for at most attach_window, and
// the idle end puts its end time at its newest point, host points included:
// no system point lies after end_time.
func TestForgottenRunIsBoundedAndEndsAfterItsSystemMetrics(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv, func(c *Config) {
		c.RunIdleTimeout = 30 * time.Minute
		c.SystemMetrics.AttachWindow = time.Minute
	})
	clock := withClock(t, h)
	require.NoError(t, h.push(metrics(trainerOn("script", "node-1", 0, pt{name: "loss", value: 1, step: 0}))))
	for at := 10 * time.Second; at <= 5*time.Minute; at += 10 * time.Second {
		clock.Set(at)
		require.NoError(t, h.push(hostMetrics("node-1", at, 1)))
	}
	runID := oneRun(t, srv, "script").Info.RunID
	sys := systemPoints(srv, runID)
	require.Len(t, sys, 6, "10 s samples for the one-minute attach window")
	last := sys[len(sys)-1].Timestamp
	assert.Equal(t, t0.Add(time.Minute).UnixMilli(), last)

	clock.Set(40 * time.Minute)
	n, err := h.exp.runs.EndIdle(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, n)
	r := oneRun(t, srv, "script")
	assert.Equal(t, mlflow.RunStatusFinished, r.Info.Status)
	assert.Equal(t, last, r.Info.EndTime, "ends at its newest point, a system one")
}

// An explicit end (an mlflow.run.end point) stops host metrics at once, and
// its end time is never before a host point already written.
func TestRunEndIsNotBeforeItsSystemMetrics(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	clock := withClock(t, h)
	require.NoError(t, h.push(metrics(trainerOn("r", "node-1", 0, pt{name: "loss", value: 1, step: 0}))))
	clock.Set(10 * time.Second)
	require.NoError(t, h.push(hostMetrics("node-1", 10*time.Second, 1)))
	// The end point was stamped before the host sample that went out first.
	end := infoMetric("mlflow.run.end", nil, 9*time.Second)
	end.ResourceMetrics().At(0).Resource().Attributes().PutStr("host.name", "node-1")
	require.NoError(t, h.push(end))
	clock.Set(20 * time.Second)
	require.NoError(t, h.push(hostMetrics("node-1", 20*time.Second, 1)))
	r := oneRun(t, srv, "r")
	sys := systemPoints(srv, r.Info.RunID)
	require.Len(t, sys, 1)
	assert.Equal(t, mlflow.RunStatusFinished, r.Info.Status)
	assert.Equal(t, sys[0].Timestamp, r.Info.EndTime)
}
