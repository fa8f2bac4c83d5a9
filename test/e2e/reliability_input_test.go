package e2e

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// postOTLP sends md to the collector's OTLP/HTTP receiver as protobuf.
func postOTLP(t testing.TB, c *Collector, md pmetric.Metrics) {
	t.Helper()
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	require.NoError(t, err)
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/v1/metrics", c.Ports.HTTP), "application/x-protobuf", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "receiver refused the export")
}

// mlflowPost calls the tracking server's REST API directly, as a user
// deleting a run or an experiment in the UI would.
func mlflowPost(t testing.TB, srv *mlflowBackend, rpc, body string) {
	t.Helper()
	resp, err := http.Post(srv.URL()+"/api/2.0/mlflow/"+rpc, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, rpc)
}

type badInput struct {
	md       pmetric.Metrics
	sm       pmetric.MetricSlice
	baseTime time.Time
}

func newBadInput(run string, params map[string]string) *badInput {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	ra := rm.Resource().Attributes()
	ra.PutStr("service.name", "trainer")
	ra.PutStr("mlflow.run.name", run)
	for k, v := range params {
		ra.PutStr("mlflow.param."+k, v)
	}
	return &badInput{md: md, sm: rm.ScopeMetrics().AppendEmpty().Metrics(), baseTime: time.Now()}
}

func (b *badInput) gauge(name string, v float64, step int64, ts time.Time, attrs map[string]any) {
	m := b.sm.AppendEmpty()
	m.SetName(name)
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetDoubleValue(v)
	dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	if ts.IsZero() {
		dp.SetTimestamp(0)
	}
	_ = dp.Attributes().FromRaw(attrs)
	dp.Attributes().PutInt("step", step)
}

// TestReliabilityBadInputRestLands sends one export full of hostile input
// next to good points: the good points land, each bad one is handled by
// its rule in docs/mapping.md, and each drop reason is counted and logged
// once. Then the run and later the experiment are deleted under the
// collector, which keeps writing into a new run of the same identity.
func TestReliabilityBadInputRestLands(t *testing.T) {
	srv := startMLflow(t)
	c := StartCollector(t, relConfigExp(t, srv.URL(), srv.Experiment("bad-input"), false, ""))
	now := time.Now()
	b := newBadInput("bad-input", map[string]string{"lr": "0.1", "empty": "", "huge": strings.Repeat("p", 10000)})
	for s := range 5 {
		b.gauge("loss", 1/float64(s+1), int64(s), now, nil)
	}
	b.gauge("nan", math.NaN(), 0, now, nil)
	b.gauge("pinf", math.Inf(1), 0, now, nil)
	b.gauge("ninf", math.Inf(-1), 0, now, nil)
	b.gauge("bad name:with*chars?", 1, 0, now, nil)
	b.gauge("zero_ts", 1, 0, time.Time{}, nil)
	b.gauge("future_ts", 1, 0, now.AddDate(70, 0, 0), nil)
	many := map[string]any{}
	for i := range 10000 {
		many[fmt.Sprintf("attr_%05d", i)] = i
	}
	b.gauge("many_attrs", 1, 0, now, many)
	b.gauge("huge_attr", 1, 0, now, map[string]any{"blob": strings.Repeat("x", 1<<20)})
	b.gauge("empty_attr", 1, 0, now, map[string]any{"": ""})
	// Empty metrics of every type.
	for _, set := range []func(pmetric.Metric){
		func(m pmetric.Metric) { m.SetEmptyGauge() },
		func(m pmetric.Metric) { m.SetEmptySum() },
		func(m pmetric.Metric) { m.SetEmptyHistogram() },
		func(m pmetric.Metric) { m.SetEmptyExponentialHistogram() },
		func(m pmetric.Metric) { m.SetEmptySummary() },
		func(pmetric.Metric) {}, // no type at all
	} {
		m := b.sm.AppendEmpty()
		m.SetName("empty")
		set(m)
	}
	// A param that changes mid-run, and the same key twice with different
	// values in one export.
	p := b.sm.AppendEmpty()
	p.SetName("mlflow.params")
	pg := p.SetEmptyGauge().DataPoints()
	for _, v := range []string{"0.2", "0.3"} {
		dp := pg.AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(now))
		dp.Attributes().PutStr("lr", v)
		dp.Attributes().PutStr("best_epoch", "3")
	}
	postOTLP(t, c, b.md)

	eventually(t, 15*time.Second, "the good points", func() bool {
		rs := activeRuns(srv, "bad-input")
		return len(rs) == 1 && len(srv.MetricHistory(rs[0].Info.RunID, "loss")) == 5 &&
			len(srv.MetricHistory(rs[0].Info.RunID, "future_ts")) == 1
	})
	run := activeRuns(srv, "bad-input")[0]
	id := run.Info.RunID
	for _, k := range []string{"nan", "pinf", "ninf", "zero_ts"} {
		assert.Len(t, srv.MetricHistory(id, k), 1, k)
	}
	assert.True(t, math.IsNaN(srv.MetricHistory(id, "nan")[0].Value))
	zero := srv.MetricHistory(id, "zero_ts")[0].Timestamp
	assert.InDelta(t, now.UnixMilli(), zero, float64(time.Minute.Milliseconds()), "timestamp 0 becomes the time of receipt")
	keys := map[string]bool{}
	for _, m := range activeRuns(srv, "bad-input")[0].Data.Metrics {
		keys[m.Key] = true
	}
	for k := range keys {
		assert.NoError(t, mlflow.ValidateKey(k), "stored key %q", k)
	}
	var sawMany, sawHuge, sawBadName bool
	for k := range keys {
		sawMany = sawMany || strings.HasPrefix(k, "many_attrs/")
		sawHuge = sawHuge || strings.HasPrefix(k, "huge_attr/")
		sawBadName = sawBadName || strings.HasPrefix(k, "bad name_with_chars_")
	}
	assert.True(t, sawMany && sawHuge && sawBadName, "keys cut or sanitised, not dropped: %v", keys)
	params := kv(run.Data.Params)
	assert.Equal(t, "0.1", params["lr"], "the first value of a param stays")
	assert.Equal(t, "3", params["best_epoch"])
	assert.Len(t, params["huge"], mlflow.MaxParamValueLength, "param values are cut to MLflow's limit")

	self := c.SelfMetrics(t)
	for _, reason := range []string{"empty_metric", "param_changed", "value_truncated"} {
		v, _ := metricValue(self, "otelcol_exporter_mlflow_dropped", `reason="`+reason+`"`)
		assert.Positive(t, v, reason)
	}

	// The run is deleted in the UI while the job still reports: the next
	// points go to a new run of the same name.
	mlflowPost(t, srv, "runs/delete", fmt.Sprintf(`{"run_id":%q}`, id))
	b2 := newBadInput("bad-input", nil)
	b2.gauge("loss", 0.1, 5, time.Now(), nil)
	postOTLP(t, c, b2.md)
	eventually(t, 15*time.Second, "a new run after the deletion", func() bool {
		rs := activeRuns(srv, "bad-input")
		return len(rs) == 1 && rs[0].Info.RunID != id && len(srv.MetricHistory(rs[0].Info.RunID, "loss")) == 1
	})

	// The experiment is deleted: it is restored (MLflow keeps the name of
	// a deleted experiment), and with it its runs.
	expID := activeRuns(srv, "bad-input")[0].Info.ExperimentID
	mlflowPost(t, srv, "experiments/delete", fmt.Sprintf(`{"experiment_id":%q}`, expID))
	b3 := newBadInput("bad-input", nil)
	b3.gauge("loss", 0.05, 6, time.Now(), nil)
	postOTLP(t, c, b3.md)
	eventually(t, 15*time.Second, "step 6 lands after the experiment was deleted", func() bool {
		for _, r := range activeRuns(srv, "bad-input") {
			for _, m := range srv.MetricHistory(r.Info.RunID, "loss") {
				if m.Step == 6 {
					return true
				}
			}
		}
		return false
	})
	// MLflow restores every run of a restored experiment, the one deleted
	// individually above too; step 6 goes to one of them, the one every
	// collector picks (earliest start), and no new run is created.
	var with6 []string
	for _, r := range activeRuns(srv, "bad-input") {
		for _, m := range srv.MetricHistory(r.Info.RunID, "loss") {
			if m.Step == 6 {
				with6 = append(with6, r.Info.RunID)
			}
		}
	}
	assert.Equal(t, []string{id}, with6, "step 6 once, in the earliest run of the key")
	assert.Len(t, srv.Runs(), 2, "no run created after the experiment was restored")
	out := c.Output()
	for _, reason := range []string{"empty_metric", "param_changed"} {
		assert.LessOrEqual(t, countLines(out, `"reason": "`+reason+`"`), 1, "%s logged once", reason)
	}
	assert.NotContains(t, out, "panic")
}
