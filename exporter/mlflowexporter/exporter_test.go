package mlflowexporter

import (
	"context"
	"errors"
	"math"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// res describes one resource of a test export.
type res struct {
	attrs  map[string]any
	points []pt
}

// pt is a gauge point; step < 0 means no step attribute.
type pt struct {
	name  string
	value float64
	step  int64
	at    time.Duration // offset from t0
	attrs map[string]any
}

func metrics(rs ...res) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for _, r := range rs {
		rm := md.ResourceMetrics().AppendEmpty()
		require.NoError(nil, rm.Resource().Attributes().FromRaw(r.attrs))
		sm := rm.ScopeMetrics().AppendEmpty()
		for _, p := range r.points {
			m := sm.Metrics().AppendEmpty()
			m.SetName(p.name)
			dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
			dp.SetDoubleValue(p.value)
			dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(p.at)))
			if p.attrs != nil {
				_ = dp.Attributes().FromRaw(p.attrs)
			}
			if p.step >= 0 {
				dp.Attributes().PutInt("step", p.step)
			}
		}
	}
	return md
}

type harness struct {
	t      testing.TB
	srv    *mlflowtest.Server
	exp    *mlflowExporter
	logs   *observer.ObservedLogs
	cfgMod func(*Config)
}

func newHarness(t testing.TB, srv *mlflowtest.Server, mods ...func(*Config)) *harness {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.TrackingURI = srv.URL()
	cfg.Timeout = 5 * time.Second
	for _, m := range mods {
		m(cfg)
	}
	require.NoError(t, cfg.Validate())
	core, logs := observer.New(zap.DebugLevel)
	set := exportertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	e, err := newExporter(cfg, set)
	require.NoError(t, err)
	e.getenv = func(string) string { return "" }
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { _ = e.shutdown(context.Background()) })
	return &harness{t: t, srv: srv, exp: e, logs: logs}
}

func (h *harness) push(md pmetric.Metrics) error {
	return h.exp.pushMetrics(context.Background(), md)
}

func runsNamed(srv *mlflowtest.Server, name string) []mlflow.Run {
	var out []mlflow.Run
	for _, r := range srv.Runs() {
		if r.Info.RunName == name && r.Info.LifecycleStage == mlflow.LifecycleActive {
			out = append(out, r)
		}
	}
	return out
}

func oneRun(t *testing.T, srv *mlflowtest.Server, name string) mlflow.Run {
	t.Helper()
	rs := runsNamed(srv, name)
	require.Len(t, rs, 1, "runs named %q", name)
	return rs[0]
}

func params(r mlflow.Run) map[string]string {
	m := map[string]string{}
	for _, p := range r.Data.Params {
		m[p.Key] = p.Value
	}
	return m
}

func tags(r mlflow.Run) map[string]string {
	m := map[string]string{}
	for _, p := range r.Data.Tags {
		m[p.Key] = p.Value
	}
	return m
}

func steps(h []mlflow.Metric) []int64 {
	out := make([]int64, len(h))
	for i, m := range h {
		out[i] = m.Step
	}
	return out
}

func TestExportCreatesExperimentRunParamsTagsAndMetrics(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	md := metrics(res{
		attrs: map[string]any{
			"service.name": "trainer", "service.version": "1.2.0", "host.name": "node-1",
			"mlflow.experiment.name": "cv_experiment", "mlflow.run.name": "run_1",
			"mlflow.param.learning_rate": "0.0001", "mlflow.tag.team": "vision",
			"vcs.ref.head.revision": "abc123", "user.name": "alice",
		},
		points: []pt{
			{name: "train_loss", value: 0.9, step: 0, at: 0},
			{name: "train_loss", value: 0.5, step: 1, at: time.Second},
			{name: "loss", value: 0.4, step: 1, at: time.Second, attrs: map[string]any{"split": "val"}},
			{name: "gpu_mem", value: 100, step: -1, at: 3 * time.Second},
		},
	})
	require.NoError(t, h.push(md))

	var exp *mlflow.Experiment
	for _, e := range srv.Experiments() {
		if e.Name == "cv_experiment" {
			exp = &e
		}
	}
	require.NotNil(t, exp, "experiment created")
	r := oneRun(t, srv, "run_1")
	assert.Equal(t, exp.ID, r.Info.ExperimentID)
	assert.Equal(t, mlflow.RunStatusRunning, r.Info.Status)
	assert.Equal(t, t0.UnixMilli(), r.Info.StartTime, "start time is the earliest point")
	assert.Equal(t, map[string]string{"learning_rate": "0.0001"}, params(r))
	tg := tags(r)
	assert.Equal(t, "vision", tg["team"])
	assert.Equal(t, "trainer", tg["service.name"])
	assert.Equal(t, "1.2.0", tg["service.version"])
	assert.Equal(t, "node-1", tg["host.name"])
	assert.Equal(t, "abc123", tg["mlflow.source.git.commit"])
	assert.Equal(t, "alice", tg["mlflow.user"])
	assert.Equal(t, "run_1", tg["mlflow.runName"])
	assert.Len(t, tg["otelcol.mlflow.run_key"], 32)

	hist := srv.MetricHistory(r.Info.RunID, "train_loss")
	require.Len(t, hist, 2)
	assert.Equal(t, mlflow.Metric{Key: "train_loss", Value: 0.9, Timestamp: t0.UnixMilli(), Step: 0}, hist[0])
	assert.Equal(t, mlflow.Metric{Key: "train_loss", Value: 0.5, Timestamp: t0.Add(time.Second).UnixMilli(), Step: 1}, hist[1])
	val := srv.MetricHistory(r.Info.RunID, "loss/split_val")
	require.Len(t, val, 1)
	assert.Equal(t, 0.4, val[0].Value)
	// Without a step attribute the step is the whole seconds since the run started.
	gm := srv.MetricHistory(r.Info.RunID, "gpu_mem")
	require.Len(t, gm, 1)
	assert.Equal(t, int64(3), gm[0].Step)
	assert.Equal(t, 1, srv.RequestCount("runs/log-batch"), "one export, one log-batch")
}

func trainer(run string, pts ...pt) res {
	return res{attrs: map[string]any{"service.name": "trainer", "mlflow.experiment.name": "e", "mlflow.run.name": run}, points: pts}
}

func TestRunFoundAgainAfterRestart(t *testing.T) {
	srv := mlflowtest.Start(t)
	h1 := newHarness(t, srv)
	require.NoError(t, h1.push(metrics(trainer("r", pt{name: "loss", value: 1, step: 0}))))
	require.NoError(t, h1.exp.shutdown(context.Background()))

	h2 := newHarness(t, srv) // a restarted collector: empty caches
	require.NoError(t, h2.push(metrics(trainer("r", pt{name: "loss", value: 0.5, step: 1, at: time.Second}))))
	r := oneRun(t, srv, "r")
	assert.Equal(t, []int64{0, 1}, steps(srv.MetricHistory(r.Info.RunID, "loss")))
}

func TestCumulativeReexportsAreNotDuplicated(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	// A cumulative SDK re-exports every step's point at each flush, stamped
	// with the flush time.
	var pts []pt
	for flush := 0; flush < 3; flush++ {
		pts = append(pts, pt{name: "loss", value: 1.0 / float64(flush+1), step: int64(flush), at: time.Duration(flush) * time.Second})
		var export []pt
		for _, p := range pts {
			p.at = time.Duration(flush) * time.Second
			export = append(export, p)
		}
		require.NoError(t, h.push(metrics(trainer("r", export...))))
	}
	r := oneRun(t, srv, "r")
	assert.Equal(t, []int64{0, 1, 2}, steps(srv.MetricHistory(r.Info.RunID, "loss")))
}

func TestNaNAndInfLand(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	require.NoError(t, h.push(metrics(trainer("r",
		pt{name: "a", value: math.NaN(), step: 0},
		pt{name: "b", value: math.Inf(1), step: 0},
		pt{name: "c", value: math.Inf(-1), step: 0},
	))))
	r := oneRun(t, srv, "r")
	assert.True(t, math.IsNaN(srv.MetricHistory(r.Info.RunID, "a")[0].Value))
	// Sent as "Infinity"/"-Infinity"; MLflow's SQL store clamps them.
	assert.Equal(t, math.MaxFloat64, srv.MetricHistory(r.Info.RunID, "b")[0].Value)
	assert.Equal(t, -math.MaxFloat64, srv.MetricHistory(r.Info.RunID, "c")[0].Value)
}

func TestBatchesArePackedAtTheLimit(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	var pts []pt
	for i := 0; i < 2500; i++ {
		pts = append(pts, pt{name: "loss", value: float64(i), step: int64(i)})
	}
	require.NoError(t, h.push(metrics(trainer("r", pts...))))
	r := oneRun(t, srv, "r")
	hist := srv.MetricHistory(r.Info.RunID, "loss")
	require.Len(t, hist, 2500)
	for i, m := range hist {
		require.Equal(t, int64(i), m.Step, "steps in order")
	}
	assert.Equal(t, 3, srv.RequestCount("runs/log-batch"))
}

func TestChangedParamIsDroppedAloneAndLoggedOnce(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	withParam := func(v string, step int64) res {
		r := trainer("r", pt{name: "loss", value: float64(step), step: step})
		r.attrs["mlflow.param.lr"] = v
		return r
	}
	require.NoError(t, h.push(metrics(withParam("0.1", 0))))
	for i := int64(1); i <= 3; i++ {
		require.NoError(t, h.push(metrics(withParam("0.2", i))))
	}
	r := oneRun(t, srv, "r")
	assert.Equal(t, "0.1", params(r)["lr"], "params are write-once")
	assert.Equal(t, []int64{0, 1, 2, 3}, steps(srv.MetricHistory(r.Info.RunID, "loss")), "the rest of each batch lands")
	assert.Equal(t, 1, h.logs.FilterField(zap.String("reason", "param_changed")).Len(), "logged once, not per batch")
}

func TestRejectedEntityIsIsolatedByBisection(t *testing.T) {
	srv := mlflowtest.Start(t)
	// Another writer set the param to a different value: the exporter cannot
	// know, MLflow answers 400 for the whole batch.
	h := newHarness(t, srv)
	require.NoError(t, h.push(metrics(trainer("r", pt{name: "loss", value: 1, step: 0}))))
	r := oneRun(t, srv, "r")
	require.NoError(t, h.exp.store.LogBatch(context.Background(), r.Info.RunID, mlflow.Batch{Params: []mlflow.Param{{Key: "lr", Value: "0.5"}}}))

	res := trainer("r")
	for i := 1; i <= 20; i++ {
		res.points = append(res.points, pt{name: "loss", value: float64(i), step: int64(i)})
	}
	res.attrs["mlflow.param.lr"] = "0.1"
	// h (not restarted) still believes the run has no lr param.
	require.NoError(t, h.push(metrics(res)))
	assert.Len(t, srv.MetricHistory(r.Info.RunID, "loss"), 21, "every point lands")
	assert.Equal(t, "0.5", params(oneRun(t, srv, "r"))["lr"])
	assert.Equal(t, 1, h.logs.FilterField(zap.String("reason", "param_changed")).Len())
}

func TestRetryableFailureReturnsOnlyTheFailedRun(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	// Create both runs first so the fault hits a log-batch.
	require.NoError(t, h.push(metrics(trainer("a", pt{name: "loss", value: 1, step: 0}), trainer("b", pt{name: "loss", value: 1, step: 0}))))
	srv.AddFault(mlflowtest.Fault{RPC: "runs/log-batch", Times: 1, Status: http.StatusServiceUnavailable, ErrorCode: "TEMPORARILY_UNAVAILABLE", Message: "down", RetryAfter: "3"})
	md := metrics(trainer("a", pt{name: "loss", value: 2, step: 1}), trainer("b", pt{name: "loss", value: 2, step: 1}))
	err := h.push(md)
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
	var me consumererror.Metrics
	require.True(t, errors.As(err, &me))
	retry := me.Data()
	require.Equal(t, 1, retry.ResourceMetrics().Len(), "only the failed run is retried")
	name, _ := retry.ResourceMetrics().At(0).Resource().Attributes().Get("mlflow.run.name")
	assert.Equal(t, "a", name.Str())
	assert.Contains(t, err.Error(), "Throttle (3s)", "Retry-After is honoured")

	// The retry lands, and nothing is duplicated.
	require.NoError(t, h.push(retry))
	require.NoError(t, h.push(md))
	for _, run := range []string{"a", "b"} {
		assert.Equal(t, []int64{0, 1}, steps(srv.MetricHistory(oneRun(t, srv, run).Info.RunID, "loss")), run)
	}
}

func TestPermanentFailureDropsOnlyTheFailedRun(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	srv.AddFault(mlflowtest.Fault{RPC: "runs/create", Times: 1, Status: http.StatusForbidden, ErrorCode: "PERMISSION_DENIED", Message: "no"})
	err := h.push(metrics(trainer("a", pt{name: "loss", value: 1, step: 0}), trainer("b", pt{name: "loss", value: 1, step: 0})))
	require.NoError(t, err, "a permanent failure of one run is dropped, not retried")
	assert.Len(t, runsNamed(srv, "b"), 1)
	assert.Equal(t, 1, h.logs.FilterField(zap.String("reason", "rejected")).Len())
}

func TestDeletedRunIsReplacedOnRetry(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	require.NoError(t, h.push(metrics(trainer("r", pt{name: "loss", value: 1, step: 0}))))
	first := oneRun(t, srv, "r")
	require.NoError(t, h.exp.store.DeleteRun(context.Background(), first.Info.RunID))

	md := metrics(trainer("r", pt{name: "loss", value: 2, step: 1}))
	err := h.push(md)
	require.Error(t, err, "the run vanished: retry")
	assert.False(t, consumererror.IsPermanent(err))
	require.NoError(t, h.push(md))
	second := oneRun(t, srv, "r")
	assert.NotEqual(t, first.Info.RunID, second.Info.RunID)
	assert.Equal(t, []int64{1}, steps(srv.MetricHistory(second.Info.RunID, "loss")))
}

func TestExplicitRunID(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	created, err := h.exp.store.CreateRun(context.Background(), mlflow.CreateRunRequest{ExperimentID: "0", RunName: "mine", StartTime: t0.UnixMilli()})
	require.NoError(t, err)
	require.NoError(t, h.push(metrics(res{
		attrs:  map[string]any{"mlflow.run.id": created.Info.RunID, "service.name": "x", "mlflow.run.name": "ignored"},
		points: []pt{{name: "loss", value: 1, step: 7}},
	})))
	assert.Len(t, srv.Runs(), 1, "no run created")
	assert.Equal(t, []int64{7}, steps(srv.MetricHistory(created.Info.RunID, "loss")))

	// An unknown run id is dropped (permanent), counted and logged.
	require.NoError(t, h.push(metrics(res{attrs: map[string]any{"mlflow.run.id": "0123456789abcdef0123456789abcdef"}, points: []pt{{name: "loss", value: 1, step: 0}}})))
	assert.Equal(t, 1, h.logs.FilterField(zap.String("reason", "rejected")).Len())
}

func TestNestedRunByParentName(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	child := trainer("trial-1", pt{name: "loss", value: 1, step: 0})
	child.attrs["mlflow.parent_run.name"] = "sweep"
	require.NoError(t, h.push(metrics(child)))
	parent := oneRun(t, srv, "sweep")
	c := oneRun(t, srv, "trial-1")
	assert.Equal(t, parent.Info.RunID, tags(c)["mlflow.parentRunId"])

	// A second child finds the same parent.
	child2 := trainer("trial-2", pt{name: "loss", value: 1, step: 0})
	child2.attrs["mlflow.parent_run.name"] = "sweep"
	require.NoError(t, newHarness(t, srv).push(metrics(child2)))
	assert.Len(t, runsNamed(srv, "sweep"), 1)
	assert.Equal(t, parent.Info.RunID, tags(oneRun(t, srv, "trial-2"))["mlflow.parentRunId"])
}

func infoMetric(name string, attrs map[string]any, at time.Duration) pmetric.Metrics {
	md := metrics(trainer("r"))
	m := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().AppendEmpty()
	m.SetName(name)
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetIntValue(1)
	dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(at)))
	_ = dp.Attributes().FromRaw(attrs)
	return md
}

func TestInfoMetricsParamsTagsAndRunEnd(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	require.NoError(t, h.push(infoMetric("mlflow.params", map[string]any{"batch_size": 32, "optimizer": "adam"}, 0)))
	require.NoError(t, h.push(infoMetric("mlflow.tags", map[string]any{"phase": "warmup"}, time.Second)))
	require.NoError(t, h.push(infoMetric("mlflow.tags", map[string]any{"phase": "main"}, 2*time.Second)))
	r := oneRun(t, srv, "r")
	assert.Equal(t, map[string]string{"batch_size": "32", "optimizer": "adam"}, params(r))
	assert.Equal(t, "main", tags(r)["phase"], "tags are mutable")
	assert.Equal(t, mlflow.RunStatusRunning, r.Info.Status)

	require.NoError(t, h.push(infoMetric("mlflow.run.end", map[string]any{"status": "failed"}, 5*time.Second)))
	r = oneRun(t, srv, "r")
	assert.Equal(t, mlflow.RunStatusFailed, r.Info.Status)
	assert.Equal(t, t0.Add(5*time.Second).UnixMilli(), r.Info.EndTime)
}

func TestIdleRunsEnd(t *testing.T) {
	srv := mlflowtest.Start(t)
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h := newHarness(t, srv, func(c *Config) { c.RunIdleTimeout = time.Hour; c.RunIdleEndStatus = "KILLED" })
	// Restart with a fake clock so the sweep can be driven by hand.
	require.NoError(t, h.exp.shutdown(context.Background()))
	h.exp.now = clock
	require.NoError(t, h.exp.start(context.Background(), componenttest.NewNopHost()))

	require.NoError(t, h.push(metrics(trainer("r", pt{name: "loss", value: 1, step: 0, at: 10 * time.Second}))))
	n, err := h.exp.runs.EndIdle(context.Background())
	require.NoError(t, err)
	assert.Zero(t, n, "not idle yet")
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	n, err = h.exp.runs.EndIdle(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	r := oneRun(t, srv, "r")
	assert.Equal(t, mlflow.RunStatusKilled, r.Info.Status)
	assert.Equal(t, t0.Add(10*time.Second).UnixMilli(), r.Info.EndTime, "ends at its last point")
	assert.Equal(t, "idle", tags(r)["otelcol.mlflow.end_reason"])

	// Data again: the same run is reopened, not duplicated.
	require.NoError(t, h.push(metrics(trainer("r", pt{name: "loss", value: 1, step: 1, at: 2 * time.Hour}))))
	r = oneRun(t, srv, "r")
	assert.Equal(t, mlflow.RunStatusRunning, r.Info.Status)
	assert.Equal(t, []int64{0, 1}, steps(srv.MetricHistory(r.Info.RunID, "loss")))
}

func TestEndRunsOnShutdown(t *testing.T) {
	for _, end := range []bool{false, true} {
		srv := mlflowtest.Start(t)
		h := newHarness(t, srv, func(c *Config) { c.EndRunsOnShutdown = end })
		require.NoError(t, h.push(metrics(trainer("r", pt{name: "loss", value: 1, step: 0}))))
		require.NoError(t, h.exp.shutdown(context.Background()))
		want := mlflow.RunStatusRunning
		if end {
			want = mlflow.RunStatusFinished
		}
		assert.Equal(t, want, oneRun(t, srv, "r").Info.Status, "end_runs_on_shutdown=%v", end)
	}
}

func TestNoRunIdentityIsDropped(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	require.NoError(t, h.push(metrics(res{attrs: map[string]any{"k8s.pod.name": "n"}, points: []pt{{name: "cpu", value: 1, step: -1}}})))
	assert.Empty(t, srv.Runs())
	assert.Equal(t, 1, h.logs.FilterField(zap.String("reason", "no_run_identity")).Len())
}

func TestConcurrentCollectorsConvergeOnOneRun(t *testing.T) {
	srv := mlflowtest.Start(t)
	const replicas = 4
	hs := make([]*harness, replicas)
	for i := range hs {
		hs[i] = newHarness(t, srv)
	}
	var wg sync.WaitGroup
	for i, h := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A replica may write to a duplicate that another replica has
			// just retired: it gets a retryable error and the exporterhelper
			// retries, as here.
			md := metrics(trainer("shared", pt{name: "loss", value: float64(i), step: int64(i)}))
			var err error
			for attempt := 0; attempt < 5; attempt++ {
				if err = h.push(md); err == nil || consumererror.IsPermanent(err) {
					break
				}
			}
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	// Exports go on (a training job reports every few seconds): a replica
	// whose first search saw only its own run finds the winner on a later one.
	time.Sleep(1100 * time.Millisecond)
	for i, h := range hs {
		md := metrics(trainer("shared", pt{name: "loss", value: float64(i + 10), step: int64(i + 10)}))
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			if err = h.push(md); err == nil {
				break
			}
		}
		require.NoError(t, err)
	}
	r := oneRun(t, srv, "shared")
	got := steps(srv.MetricHistory(r.Info.RunID, "loss"))
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	assert.Equal(t, []int64{0, 1, 2, 3, 10, 11, 12, 13}, got, "every replica's points land in the one run, once")
}
