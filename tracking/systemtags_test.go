package tracking

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Config tags that name a system tag override it. runs/create refuses a
// repeated tag key (MLflow's SQL store), so the run would not exist at all
// if both were sent.
func TestConfigTagOverridesSystemTag(t *testing.T) {
	e := newEnv(t, Config{ExperimentName: "e", RunName: "r", Tags: map[string]string{
		"mlflow.user": "svc-trainer", "mlflow.source.type": "JOB", "team": "vision",
	}})
	run, err := e.tr.StartRun(t.Context())
	require.NoError(t, err)
	tags := map[string]string{}
	for _, tg := range e.run(t, run.ID()).Data.Tags {
		tags[tg.Key] = tg.Value
	}
	require.Equal(t, "svc-trainer", tags["mlflow.user"])
	require.Equal(t, "JOB", tags["mlflow.source.type"])
	require.Equal(t, "vision", tags["team"])

	child, err := e.tr.StartChildRun(t.Context(), "child")
	require.NoError(t, err)
	require.NotEmpty(t, child.ID())
}
