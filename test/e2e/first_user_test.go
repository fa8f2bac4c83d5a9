package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
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
	"github.com/otelcol-mlflow/otelcol-mlflow/tracking"
)

// The first-user tests follow what a new user does first: a training
// program on the tracking API next to a collector scraping the host, a run
// ended by MLflow's own client, a tracker and a collector that disagree on
// the store, a collector stopped during an outage, a mistyped tracking
// URI, and a backend that is not up yet when the collector starts.

// fuCollectionInterval is the gpu receiver's scrape interval in these
// tests (gpuConfig).
const fuCollectionInterval = 300 * time.Millisecond

// fuSystemPoints returns every system/* point of the run, by key, as the
// backend holds them; keys are those runs/get lists in the run's data.
func fuSystemPoints(t testing.TB, srv *mlflowBackend, runID string) map[string][]mlflow.Metric {
	t.Helper()
	run, err := srv.GetRun(runID)
	if err != nil {
		t.Logf("runs/get %s: %v", runID, err)
		return nil
	}
	out := map[string][]mlflow.Metric{}
	for _, m := range run.Data.Metrics {
		if strings.HasPrefix(m.Key, "system/") {
			out[m.Key] = srv.MetricHistory(runID, m.Key)
		}
	}
	return out
}

func fuCount(pts map[string][]mlflow.Metric) int {
	n := 0
	for _, h := range pts {
		n += len(h)
	}
	return n
}

// fuLatest is the newest timestamp (ms) among pts, with its key.
func fuLatest(pts map[string][]mlflow.Metric) (int64, string) {
	var ts int64
	key := ""
	for k, h := range pts {
		for _, m := range h {
			if m.Timestamp > ts {
				ts, key = m.Timestamp, k
			}
		}
	}
	return ts, key
}

// fuAwaitSystemStops waits (bounded) until the run's system points stop
// growing: the count stays the same for quiet (several collection
// intervals). It returns the last snapshot.
func fuAwaitSystemStops(t testing.TB, srv *mlflowBackend, runID string, quiet, timeout time.Duration) map[string][]mlflow.Metric {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := fuSystemPoints(t, srv, runID)
	since := time.Now()
	for {
		time.Sleep(fuCollectionInterval) // polls a count that must hold still
		cur := fuSystemPoints(t, srv, runID)
		if fuCount(cur) != fuCount(last) {
			last, since = cur, time.Now()
		} else if time.Since(since) >= quiet {
			return cur
		}
		if time.Now().After(deadline) {
			t.Fatalf("system points of run %s still growing after %v (now %d)", runID, timeout, fuCount(cur))
		}
	}
}

// fuTracker starts a tracking.Tracker writing runs to trackingURI and
// sending metrics to c's OTLP/gRPC port, closed at the end of the test.
func fuTracker(t testing.TB, c *Collector, trackingURI, experiment string, confirm time.Duration) *tracking.Tracker {
	t.Helper()
	tr, err := tracking.New(tracking.Config{
		TrackingURI:    trackingURI,
		ExperimentName: experiment,
		OTLP: tracking.OTLP{
			Endpoint:       fmt.Sprintf("127.0.0.1:%d", c.Ports.GRPC),
			Protocol:       "grpc",
			ExportInterval: 200 * time.Millisecond,
			ConfirmTimeout: confirm,
			ServiceName:    "first-user",
		},
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = tr.Close(ctx)
	})
	return tr
}

// TestFirstUserSystemMetricsStopAtEndRun: a Go training program on the
// tracking API, on the host the gpu receiver scrapes, gets system/ metrics
// in its run; EndRun's mlflow.run.end point stops them at once (the
// default end_check_interval is 10s, so without the end point they would
// go on): no system point after the run's end_time, and no more points.
func TestFirstUserSystemMetricsStopAtEndRun(t *testing.T) {
	srv := startMLflow(t)
	c := StartCollector(t, gpuConfig(serverExporterConfig(srv.URL(), srv.Experiment("fu-collector")), os.Getpid()))
	tr := fuTracker(t, c, srv.URL(), srv.Experiment("fu-tracker"), 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	run, err := tr.StartRun(ctx)
	require.NoError(t, err)
	runID := run.ID()
	for step := range 3 {
		require.NoError(t, run.LogMetrics(map[string]float64{"loss": 1 / float64(step+1)}, tracking.Step(int64(step))))
	}

	eventually(t, 15*time.Second, "loss and system metrics in the tracker's run", func() bool {
		if len(srv.MetricHistory(runID, "loss")) < 3 {
			return false
		}
		return len(srv.MetricHistory(runID, "system/cpu_utilization_percentage")) >= 2
	})
	require.NoError(t, run.LogMetric("loss", 0.1, tracking.Step(3)))

	rep, err := tr.EndRun(ctx)
	require.NoError(t, err)
	t.Logf("EndRun: %s", rep)
	assert.True(t, rep.Complete(), "report: %s", rep)
	assert.NoError(t, rep.NotLanded, "the collector writes to the tracker's backend")
	assert.Equal(t, int64(4), rep.Sent, "report: %s", rep)

	got, err := srv.GetRun(runID)
	require.NoError(t, err)
	require.Equal(t, mlflow.RunStatusFinished, got.Info.Status)
	require.NotZero(t, got.Info.EndTime)

	// The count must hold still for five collection intervals (an export
	// already in flight may land first: the quiet period starts again).
	pts := fuAwaitSystemStops(t, srv, runID, 5*fuCollectionInterval, 8*time.Second)
	before := fuCount(pts)
	require.NotZero(t, before)
	time.Sleep(3 * fuCollectionInterval) // nothing arrives: no condition to await
	after := fuSystemPoints(t, srv, runID)
	assert.Equal(t, before, fuCount(after), "system points keep landing after EndRun")
	got, err = srv.GetRun(runID)
	require.NoError(t, err)
	latest, key := fuLatest(after)
	assert.LessOrEqual(t, latest, got.Info.EndTime, "%s has a point at %d, after the run's end_time %d", key, latest, got.Info.EndTime)
	assert.Len(t, srv.MetricHistory(runID, "loss"), 4)
	t.Logf("run %s: %d system points over %d keys, none after end_time", runID, before, len(after))
}

// TestFirstUserRunEndedElsewhereStopsSystemMetrics: a run the collector
// created from OTLP is ended through the REST API, as mlflow.end_run()
// does; with end_check_interval 1s its system points stop within about
// two seconds.
func TestFirstUserRunEndedElsewhereStopsSystemMetrics(t *testing.T) {
	host, err := os.Hostname()
	require.NoError(t, err)
	srv := startMLflow(t)
	exp := serverExporterConfig(srv.URL(), srv.Experiment("fu-elsewhere")) + `
system_metrics:
  end_check_interval: 1s`
	c := StartCollector(t, gpuConfig(exp, os.Getpid()))

	res := resource.NewSchemaless(
		attribute.String("service.name", "trainer"),
		attribute.String("host.name", host),
		attribute.String("mlflow.run.name", "ended-elsewhere"),
	)
	s := NewSender(t, c, GRPC, res, true)
	loss, err := s.MP.Meter("train").Float64Gauge("loss")
	require.NoError(t, err)
	loss.Record(context.Background(), 1, otelmetric.WithAttributes(attribute.Int("step", 0)))
	s.Flush(t)

	var runID string
	eventually(t, 15*time.Second, "system metrics in the collector's run", func() bool {
		r, ok := srv.runsByName()["ended-elsewhere"]
		if !ok {
			return false
		}
		runID = r.Info.RunID
		return len(srv.MetricHistory(runID, "system/cpu_utilization_percentage")) >= 2
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	endAt := time.Now()
	_, err = srv.client.UpdateRun(ctx, mlflow.UpdateRunRequest{RunID: runID, Status: mlflow.RunStatusFinished, EndTime: endAt.UnixMilli()})
	require.NoError(t, err)

	pts := fuAwaitSystemStops(t, srv, runID, 5*fuCollectionInterval, 10*time.Second)
	latest, key := fuLatest(pts)
	limit := endAt.Add(2 * time.Second).UnixMilli()
	assert.LessOrEqual(t, latest, limit, "%s has a point %v after the run was ended elsewhere", key, time.Duration(latest-endAt.UnixMilli())*time.Millisecond)
	got, err := srv.GetRun(runID)
	require.NoError(t, err)
	assert.Equal(t, mlflow.RunStatusFinished, got.Info.Status, "the collector must not reopen the run")
	t.Logf("last system point %v after the end; %d system points", time.Duration(latest-endAt.UnixMilli())*time.Millisecond, fuCount(pts))
}

// TestFirstUserStoreMismatchIsReported: the tracker writes runs to a local
// file store while the collector writes to a tracking server. EndRun says
// its data was NOT CONFIRMED, and the collector logs the drop reason
// backend_mismatch with both backends, once for several exports.
func TestFirstUserStoreMismatchIsReported(t *testing.T) {
	srv := startMLflow(t)
	c := StartCollector(t, baseConfig(serverExporterConfig(srv.URL(), srv.Experiment("fu-mismatch"))))
	store := t.TempDir()
	tr := fuTracker(t, c, store, "mismatch", 2*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	run, err := tr.StartRun(ctx)
	require.NoError(t, err)

	dropped := func() float64 {
		v, _ := metricValue(c.SelfMetrics(t), "otelcol_exporter_mlflow_dropped", `reason="backend_mismatch"`)
		return v
	}
	// Three exports, each waited for until the collector dropped it.
	for step := range 3 {
		require.NoError(t, run.LogMetric("loss", float64(step), tracking.Step(int64(step))))
		eventually(t, 10*time.Second, fmt.Sprintf("export %d dropped as backend_mismatch", step+1), func() bool {
			return dropped() >= float64(step+1)
		})
	}

	start := time.Now()
	rep, err := tr.EndRun(ctx)
	require.NoError(t, err)
	t.Logf("EndRun after %v: %s", time.Since(start).Round(time.Millisecond), rep)
	require.Error(t, rep.NotLanded, "the run's data never reached the tracker's store")
	assert.Contains(t, rep.String(), "NOT CONFIRMED")
	assert.Less(t, time.Since(start), 8*time.Second, "ConfirmTimeout bounds EndRun")

	// EndRun's mlflow.run.end point is a fourth export of the run.
	eventually(t, 10*time.Second, "the run-end point dropped as backend_mismatch", func() bool { return dropped() >= 4 })
	out := c.Output()
	assert.Equal(t, 1, countLines(out, "backend_mismatch"), "one line, not one per export:\n%s", out)
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "backend_mismatch") {
			line = l
		}
	}
	assert.Contains(t, line, "another MLflow backend")
	assert.Contains(t, line, "file://"+filepath.ToSlash(store), "the run's backend is named")
	assert.Contains(t, line, mlflow.ServerBackendID(srv.URL()), "the collector's backend is named")
	assert.Contains(t, line, run.ID())
	for _, r := range srv.Runs() {
		assert.NotEqual(t, run.ID(), r.Info.RunID, "no run of the file store's id on the server")
	}
}

// TestFirstUserShutdownDuringOutageKeepsPersistentQueue stops the collector
// (SIGTERM) while MLflow is down and an export is being retried from the
// file_storage queue: the log says the data stays in the queue, not
// "Dropping data", and after the restart with MLflow back everything lands.
func TestFirstUserShutdownDuringOutageKeepsPersistentQueue(t *testing.T) {
	skipOnRealServer(t, "needs fault injection: the server goes down while the collector shuts down")
	srv := startFlakyMLflow(t)
	dir := t.TempDir()
	ports := Ports{GRPC: freePort(t), HTTP: freePort(t), Health: freePort(t), Metrics: freePort(t)}
	cfg := relConfig(t, srv.URL(), true, "")
	c1 := startCollectorIn(t, dir, ports, cfg)
	st := newStream(t, c1, HTTP, "shutdown-outage", 0, 1)
	st.mustSend(t, 10)
	awaitLanded(t, srv.Server, "shutdown-outage", st.acked, true, 15*time.Second)

	srv.Down()
	for range 3 {
		st.mustSend(t, 5)
	}
	eventually(t, 10*time.Second, "the outage is seen by the exporter", func() bool {
		return strings.Contains(c1.Output(), msgUnavailable)
	})
	eventually(t, 10*time.Second, "a few retries of the queued export", func() bool {
		n, _ := metricValue(c1.SelfMetrics(t), "otelcol_exporter_mlflow_retries", `cause="unavailable"`)
		return n >= 3
	})
	c1.Stop()
	out := c1.Output()
	assert.NotContains(t, out, "Exporting failed. Dropping data.", "the persistent queue keeps an interrupted export")
	assert.Contains(t, out, "Export interrupted by shutdown: the data stays in the persistent sending queue")
	assert.NotContains(t, out, "panic")

	c2 := startCollectorIn(t, dir, ports, cfg)
	srv.Up(t)
	st2 := newStream(t, c2, HTTP, "shutdown-outage", st.next, 1)
	st2.acked = st.acked
	st2.mustSend(t, 5)
	run := awaitLanded(t, srv.Server, "shutdown-outage", st2.acked, true, 20*time.Second)
	t.Logf("%d steps landed in run %s after the restart", len(st2.acked), run.Info.RunID)
	assert.NotContains(t, c2.Output(), "Dropping data")
}

// TestFirstUserValidateRefusesSchemelessTrackingURI: `validate` refuses
// tracking_uri: localhost:5000 (MLflow reads "localhost" as its scheme)
// and names the fix.
func TestFirstUserValidateRefusesSchemelessTrackingURI(t *testing.T) {
	bin := collectorBinary(t)
	dir := t.TempDir()
	ports := Ports{GRPC: freePort(t), HTTP: freePort(t), Health: freePort(t), Metrics: freePort(t)}
	cfg := writeConfig(t, dir, ports, baseConfig(`
tracking_uri: localhost:5000
experiment_name: fu-validate`))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "validate", "--config", cfg)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "validate accepted tracking_uri localhost:5000:\n%s", out)
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "validate did not run: %v", err)
	assert.NotZero(t, ee.ExitCode())
	assert.Contains(t, string(out), `unsupported scheme "localhost"`)
	assert.Contains(t, string(out), "http://localhost:5000")
	t.Logf("validate says:\n%s", out)
}

// TestFirstUserStartupCheckUnreachableBackend: a collector whose MLflow is
// not up says so at startup and keeps running: health check and OTLP
// answer, the data waits in the queue.
func TestFirstUserStartupCheckUnreachableBackend(t *testing.T) {
	closed := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	c := StartCollector(t, baseConfig(serverExporterConfig(closed, "fu-startup")))
	eventually(t, 15*time.Second, "the startup check's warning", func() bool {
		return strings.Contains(c.Output(), "MLflow backend not reachable at startup")
	})
	select {
	case <-c.done:
		t.Fatalf("collector exited:\n%s", c.Output())
	default:
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", c.Ports.Health))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	st := newStreamNoRetry(t, c, "startup-check")
	st.mustSend(t, 2) // OTLP accepts: the data is queued
	assert.Equal(t, 1, countLines(c.Output(), "MLflow backend not reachable at startup"))
	assert.NotContains(t, c.Output(), "MLflow backend reachable")
}
