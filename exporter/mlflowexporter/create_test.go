package mlflowexporter

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/runs"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// Exporter batching concatenates the resources of several SDK flushes, and
// the ranks of a distributed job share one run: the resource tags of one run
// then repeat in one export. MLflow's SQL store refuses a runs/create that
// repeats a tag key (even with the same value) and creates nothing; the
// test server does the same (recorded in testdata/conformance).
func TestRunCreatedFromSeveralResourcesOfOneRun(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	rank := func(pid int, host string, pts ...pt) res {
		return res{attrs: map[string]any{
			"service.name": "trainer", "host.name": host, "process.pid": pid,
			"mlflow.experiment.name": "e", "mlflow.run.name": "ddp", "mlflow.tag.team": "vision",
		}, points: pts}
	}
	md := metrics(
		rank(100, "node-1", pt{name: "loss", value: 0.9, step: 0}),
		rank(100, "node-1", pt{name: "loss", value: 0.8, step: 1, at: time.Second}),
		rank(200, "node-2", pt{name: "rank1_loss", value: 0.7, step: 1, at: time.Second}),
	)
	require.NoError(t, h.push(md))

	r := oneRun(t, srv, "ddp")
	assert.Len(t, srv.MetricHistory(r.Info.RunID, "loss"), 2)
	assert.Len(t, srv.MetricHistory(r.Info.RunID, "rank1_loss"), 1)
	tg := tags(r)
	assert.Equal(t, "vision", tg["team"])
	assert.Equal(t, "trainer", tg["service.name"])
	// One value per key; the last resource's wins, as log-batch would.
	assert.Equal(t, "node-2", tg["host.name"])
	assert.Equal(t, "200", tg["process.pid"])
}

// refusingStore refuses, like MLflow refuses an invalid entity, every
// request carrying the tag key bad: runs/create as a whole, log-batch as
// the batch (the exporter must narrow it down).
type refusingStore struct {
	backend
	bad string
}

func (s *refusingStore) refused(tags []mlflow.Tag) error {
	for _, t := range tags {
		if t.Key == s.bad {
			return mlflow.NewError(mlflow.ErrorCodeInvalidParameterValue, "Invalid value for tag %s", t.Key)
		}
	}
	return nil
}

func (s *refusingStore) CreateRun(ctx context.Context, req mlflow.CreateRunRequest) (*mlflow.Run, error) {
	if err := s.refused(req.Tags); err != nil {
		return nil, fmt.Errorf("mlflow runs/create: %w", err)
	}
	return s.backend.CreateRun(ctx, req)
}

func (s *refusingStore) LogBatch(ctx context.Context, runID string, b mlflow.Batch) error {
	if err := s.refused(b.Tags); err != nil {
		return fmt.Errorf("mlflow runs/log-batch: %w", err)
	}
	return s.backend.LogBatch(ctx, runID, b)
}

// A tag MLflow refuses is dropped alone: the run is still created and the
// rest of its data lands.
func TestRefusedTagDoesNotBlockRunCreation(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	h.exp.store = &refusingStore{backend: h.exp.store, bad: "cursed"}
	h.exp.runs = runs.NewManager(h.exp.store, runs.Settings{Logger: h.exp.logger})

	md := metrics(res{
		attrs: map[string]any{
			"service.name": "trainer", "mlflow.experiment.name": "e", "mlflow.run.name": "r",
			"mlflow.tag.cursed": "x", "mlflow.tag.team": "vision", "mlflow.param.lr": "0.1",
		},
		points: []pt{{name: "loss", value: 0.5, step: 0}, {name: "loss", value: 0.4, step: 1, at: time.Second}},
	})
	require.NoError(t, h.push(md))

	r := oneRun(t, srv, "r")
	assert.Len(t, srv.MetricHistory(r.Info.RunID, "loss"), 2)
	assert.Equal(t, map[string]string{"lr": "0.1"}, params(r))
	tg := tags(r)
	assert.Equal(t, "vision", tg["team"])
	assert.NotContains(t, tg, "cursed")
	dropped := h.logs.FilterMessage("MLflow rejected an entity; dropping it alone").All()
	require.Len(t, dropped, 1)
	assert.Equal(t, "cursed", dropped[0].ContextMap()["key"])
}
