package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	otelmetric "go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// tenantsConfig is a gateway serving two teams on two OTLP receivers
// (gRPC; team B's on portB). Each receiver's pipeline stamps its team with
// a resource processor (upsert: whatever a sender claims is overwritten),
// and the exporter's access control lets each team write only its own
// experiments, those named prefix-team-<x>-*. In production each receiver
// would authenticate its team's token (docs/deploy.md).
func tenantsConfig(uri, prefix string, portB int) Config {
	return Config{
		GRPCOnly: true,
		Receivers: []Component{{ID: "otlp/b", Body: fmt.Sprintf(`
protocols:
  grpc:
    endpoint: 127.0.0.1:%d`, portB)}},
		Processors: []Component{
			{ID: "resource/a", Body: "attributes: [{key: team, value: team-a, action: upsert}]"},
			{ID: "resource/b", Body: "attributes: [{key: team, value: team-b, action: upsert}]"},
		},
		Exporter: fmt.Sprintf(`
tracking_uri: %s
sending_queue:
  batch:
    flush_timeout: 100ms
access:
  tenant_from: [resource.team]
  tenants:
    team-a: ["%[2]s-team-a-*"]
    team-b: ["%[2]s-team-b-*"]`, uri, prefix),
		MetricsLevel: "detailed",
		Pipelines: []Pipeline{
			{ID: "metrics/a", Receivers: []string{"otlp"}, Processors: []string{"resource/a"}},
			{ID: "metrics/b", Receivers: []string{"otlp/b"}, Processors: []string{"resource/b"}},
		},
	}
}

// Team A cannot create runs in team B's experiment, nor write into B's run
// by id, nor claim to be team B; everything else A sends lands, and every
// refusal is counted and logged once per tenant and reason.
func TestTenantsWriteOnlyTheirExperiments(t *testing.T) {
	srv := startMLflow(t)
	expA := srv.Experiment("team-a")
	expB := srv.Experiment("team-b")
	prefix := expA[:strings.Index(expA, "-team-a-")]
	require.True(t, strings.HasPrefix(expB, prefix+"-team-b-"))
	portB := freePort(t)
	c := StartCollector(t, tenantsConfig(srv.URL(), prefix, portB))
	onB := *c
	onB.Ports.GRPC = portB

	send := func(c *Collector, attrs ...attribute.KeyValue) {
		s := NewSender(t, c, GRPC, resource.NewSchemaless(attrs...), true)
		g, err := s.MP.Meter("t").Float64Gauge("loss")
		require.NoError(t, err)
		g.Record(context.Background(), 0.5, otelmetric.WithAttributes(attribute.Int("step", 1)))
		s.Flush(t)
	}
	str := attribute.String
	send(&onB, str("service.name", "b"), str("mlflow.experiment.name", expB), str("mlflow.run.name", "b-run"))
	eventually(t, 15*time.Second, "team B's run lands", func() bool { _, ok := srv.runsByName()["b-run"]; return ok })
	bRun := srv.runsByName()["b-run"].Info.RunID

	for range 2 { // a second round: refusals are counted, not logged again
		send(c, str("service.name", "a"), str("mlflow.experiment.name", expA), str("mlflow.run.name", "a-run"))
		send(c, str("service.name", "a"), str("mlflow.experiment.name", expB), str("mlflow.run.name", "a-in-b"))
		send(c, str("service.name", "a"), str("mlflow.run.id", bRun))
		send(c, str("service.name", "a"), str("team", "team-b"), str("mlflow.experiment.name", expB), str("mlflow.run.name", "a-claims-b"))
	}
	eventually(t, 15*time.Second, "team A's own run lands", func() bool { _, ok := srv.runsByName()["a-run"]; return ok })
	eventually(t, 15*time.Second, "the refusals are counted", func() bool {
		v, _ := metricValue(c.SelfMetrics(t), "otelcol_exporter_mlflow_dropped", `reason="access_denied"`)
		return v >= 6
	})

	runs := srv.runsByName()
	for _, name := range []string{"a-in-b", "a-claims-b"} {
		_, ok := runs[name]
		assert.False(t, ok, "run %q must not exist", name)
	}
	assert.Len(t, srv.MetricHistory(bRun, "loss"), 1, "B's run holds only B's point")
	assert.Len(t, srv.MetricHistory(runs["a-run"].Info.RunID, "loss"), 1)

	// Per-tenant self-metrics: OTLP points accepted into the queue, MLflow
	// points written, points refused.
	self := c.SelfMetrics(t)
	tenantPoints := func(tenant, outcome string) float64 {
		v, _ := metricValue(self, "otelcol_exporter_mlflow_tenant_points", `tenant="`+tenant+`"`, `outcome="`+outcome+`"`)
		return v
	}
	assert.Equal(t, 8.0, tenantPoints("team-a", "accepted"), "4 sends of 1 point, twice")
	assert.Equal(t, 6.0, tenantPoints("team-a", "refused"))
	assert.Equal(t, 1.0, tenantPoints("team-a", "written"), "a-run's point, once (the re-send is a duplicate)")
	assert.Equal(t, 1.0, tenantPoints("team-b", "written"))

	out := c.Output()
	assert.Equal(t, 2, strings.Count(out, "Refusing data of a sender outside its experiments"),
		"one line per tenant and reason (experiment, run by id), not per export:\n%s", out)
	assert.Contains(t, out, `"tenant": "team-a"`)
	audit := strings.Count(out, "Writing into MLflow run")
	assert.Equal(t, 2, audit, "one audit line per run (a-run, b-run)")
}
