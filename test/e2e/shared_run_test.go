package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// TestSeveralResourcesOfOneRunInOneExport sends one OTLP export holding
// three resources of the same run (three ranks of one job: different
// service.instance.id and host.name, the same params) next to a resource
// of another run. Before runs/create carried only the run's identity, the
// ranks' differing resource tags went into runs/create as a repeated tag
// key, which a real SQL store refuses: no run was created at all.
func TestSeveralResourcesOfOneRunInOneExport(t *testing.T) {
	srv := startMLflow(t)
	c := StartCollector(t, baseConfig(serverExporterConfig(srv.URL(), srv.Experiment("multi-resource"))))

	const steps = 5
	md := pmetric.NewMetrics()
	now := time.Now()
	addResource := func(run string, rank int) {
		rm := md.ResourceMetrics().AppendEmpty()
		ra := rm.Resource().Attributes()
		ra.PutStr("service.name", "trainer")
		ra.PutStr("service.instance.id", fmt.Sprintf("rank-%d", rank))
		ra.PutStr("host.name", fmt.Sprintf("node-%d", rank))
		ra.PutStr("mlflow.run.name", run)
		ra.PutStr("mlflow.param.world_size", "3")
		ra.PutStr("mlflow.tag.team", "vision")
		sm := rm.ScopeMetrics().AppendEmpty().Metrics()
		m := sm.AppendEmpty()
		m.SetName(fmt.Sprintf("loss_rank%d", rank))
		dps := m.SetEmptyGauge().DataPoints()
		for s := range steps {
			dp := dps.AppendEmpty()
			dp.SetDoubleValue(float64(rank) + 1/float64(s+1))
			dp.SetTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Duration(s) * time.Millisecond)))
			dp.Attributes().PutInt("step", int64(s))
		}
	}
	for rank := range 3 {
		addResource("ranks", rank)
	}
	addResource("other", 9)
	postOTLP(t, c, md)

	keys := []string{"loss_rank0", "loss_rank1", "loss_rank2"}
	eventually(t, 30*time.Second, "every rank's points in one run", func() bool {
		rs := activeRuns(srv, "ranks")
		if len(rs) != 1 || len(activeRuns(srv, "other")) != 1 {
			return false
		}
		for _, k := range keys {
			if len(srv.MetricHistory(rs[0].Info.RunID, k)) != steps {
				return false
			}
		}
		return len(srv.MetricHistory(activeRuns(srv, "other")[0].Info.RunID, "loss_rank9")) == steps
	})
	assert.Len(t, srv.Runs(), 2, "one run per name, none created twice")
	run, err := srv.GetRun(activeRuns(srv, "ranks")[0].Info.RunID)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"world_size": "3"}, kv(run.Data.Params))
	tags := kv(run.Data.Tags)
	assert.Equal(t, "vision", tags["team"])
	assert.Equal(t, "ranks", tags["mlflow.runName"])
	assert.Contains(t, []string{"rank-0", "rank-1", "rank-2"}, tags["service.instance.id"], "one of the ranks' values")
	for rank, k := range keys {
		for s, m := range srv.MetricHistory(run.Info.RunID, k) {
			assert.Equal(t, int64(s), m.Step, k)
			assert.InDelta(t, float64(rank)+1/float64(s+1), m.Value, 1e-12, k)
		}
	}
	assert.NotContains(t, c.Output(), "panic")
}

// TestTwoProcessesShareOneRunName: two training processes (ranks, over
// gRPC and HTTP) report the same mlflow.run.name to one collector with
// different service.instance.id, interleaving their steps. One run holds
// every step of both, and it is created once.
func TestTwoProcessesShareOneRunName(t *testing.T) {
	srv := startMLflow(t)
	c := StartCollector(t, relConfigExp(t, srv.URL(), srv.Experiment("shared-run"), false, ""))
	a := newStream(t, c, GRPC, "shared", 0, 2, attribute.String("service.instance.id", "rank-0"), attribute.String("host.name", "node-a"))
	b := newStream(t, c, HTTP, "shared", 1, 2, attribute.String("service.instance.id", "rank-1"), attribute.String("host.name", "node-b"))
	for range 5 {
		a.mustSend(t, 3)
		b.mustSend(t, 3)
		time.Sleep(50 * time.Millisecond) // pacing: the ranks' exports interleave
	}
	acked := append(append([]int(nil), a.acked...), b.acked...)
	run := awaitLanded(t, srv, "shared", acked, false, 30*time.Second)
	var created []mlflow.Run
	for _, r := range srv.Runs() {
		if r.Info.RunName == "shared" {
			created = append(created, r)
		}
	}
	assert.Len(t, created, 1, "one collector creates the run once")
	got, err := srv.GetRun(run.Info.RunID)
	require.NoError(t, err)
	assert.Equal(t, "trainer", kv(got.Data.Tags)["service.name"])
	assert.Equal(t, mlflow.RunStatusRunning, got.Info.Status)
	t.Logf("run %s: %d steps from two processes", run.Info.RunID, len(acked))
}
