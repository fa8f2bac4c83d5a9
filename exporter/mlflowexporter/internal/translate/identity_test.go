package translate

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// TestRunIdentity walks the rows of docs/mapping.md §1 that pick the run.
func TestRunIdentity(t *testing.T) {
	tests := []struct {
		name           string
		attrs          map[string]any
		defExperiment  string
		defRunName     string
		want           Identity
		wantZero       bool
		wantHostName   string
		wantKeyPattern string
	}{
		{
			name: "run id wins over everything",
			attrs: map[string]any{
				"mlflow.run.id": "abc123", "mlflow.run.name": "r", "mlflow.experiment.id": "7",
				"mlflow.experiment.name": "e", "mlflow.parent_run.id": "p", "service.name": "svc",
			},
			want: Identity{RunID: "abc123"},
		},
		{
			name:  "experiment id wins over experiment name",
			attrs: map[string]any{"mlflow.experiment.id": "7", "mlflow.experiment.name": "e", "mlflow.run.name": "r"},
			want:  Identity{ExperimentID: "7", RunName: "r"},
		},
		{
			name:  "experiment name",
			attrs: map[string]any{"mlflow.experiment.name": "e", "mlflow.run.name": "r"},
			want:  Identity{ExperimentName: "e", RunName: "r"},
		},
		{
			name:          "exporter experiment_name setting",
			attrs:         map[string]any{"mlflow.run.name": "r"},
			defExperiment: "team",
			want:          Identity{ExperimentName: "team", RunName: "r"},
		},
		{
			name:  "Default experiment",
			attrs: map[string]any{"mlflow.run.name": "r"},
			want:  Identity{ExperimentName: "Default", RunName: "r"},
		},
		{
			name:       "run name attribute wins over run_name setting and service.name",
			attrs:      map[string]any{"mlflow.run.name": "r", "service.name": "svc"},
			defRunName: "cfg",
			want:       Identity{ExperimentName: "Default", RunName: "r"},
		},
		{
			name:       "run_name setting wins over service.name",
			attrs:      map[string]any{"service.name": "svc"},
			defRunName: "cfg",
			want:       Identity{ExperimentName: "Default", RunName: "cfg"},
		},
		{
			name:  "service.name",
			attrs: map[string]any{"service.name": "svc", "host.name": "node1"},
			want:  Identity{ExperimentName: "Default", RunName: "svc"}, wantHostName: "node1",
		},
		{
			name:  "non-string run name",
			attrs: map[string]any{"mlflow.run.name": int64(42)},
			want:  Identity{ExperimentName: "Default", RunName: "42"},
		},
		{
			name:  "parent run id wins over parent run name",
			attrs: map[string]any{"mlflow.run.name": "r", "mlflow.parent_run.id": "p1", "mlflow.parent_run.name": "pn"},
			want:  Identity{ExperimentName: "Default", RunName: "r", ParentRunID: "p1"},
		},
		{
			name:  "parent run name",
			attrs: map[string]any{"mlflow.run.name": "r", "mlflow.parent_run.name": "pn"},
			want:  Identity{ExperimentName: "Default", RunName: "r", ParentRunName: "pn"},
		},
		{
			name:     "nothing names a run",
			attrs:    map[string]any{"mlflow.experiment.name": "e", "mlflow.parent_run.name": "pn", "host.name": "h"},
			wantZero: true, wantHostName: "h",
		},
		{
			name:     "empty attributes count as absent",
			attrs:    map[string]any{"mlflow.run.id": "", "mlflow.run.name": "", "service.name": ""},
			wantZero: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := defaultOptions()
			opts.DefaultExperiment = tt.defExperiment
			opts.DefaultRunName = tt.defRunName
			md := pmetric.NewMetrics()
			newResource(md, tt.attrs)
			rd, _ := translateOne(t, opts, md)
			assert.Equal(t, tt.wantZero, rd.Identity.IsZero())
			if tt.wantZero {
				assert.Equal(t, Identity{}, rd.Identity)
			} else {
				assert.Equal(t, tt.want, rd.Identity)
			}
			assert.Equal(t, tt.wantHostName, rd.HostName)
		})
	}
}

func TestIdentityKey(t *testing.T) {
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	base := Identity{ExperimentID: "1", ExperimentName: "e", RunName: "r", ParentRunID: "p", ParentRunName: "pn"}
	require.Regexp(t, hex32, base.Key())
	assert.Equal(t, base.Key(), base.Key(), "same identity, same key")
	copyOf := base
	assert.Equal(t, base.Key(), copyOf.Key())

	// Every field takes part, and field boundaries are not ambiguous.
	variants := []Identity{
		{ExperimentID: "2", ExperimentName: "e", RunName: "r", ParentRunID: "p", ParentRunName: "pn"},
		{ExperimentID: "1", ExperimentName: "E", RunName: "r", ParentRunID: "p", ParentRunName: "pn"},
		{ExperimentID: "1", ExperimentName: "e", RunName: "r2", ParentRunID: "p", ParentRunName: "pn"},
		{ExperimentID: "1", ExperimentName: "e", RunName: "r", ParentRunID: "q", ParentRunName: "pn"},
		{ExperimentID: "1", ExperimentName: "e", RunName: "r", ParentRunID: "p", ParentRunName: "pm"},
		{ExperimentID: "1", ExperimentName: "er", RunName: "", ParentRunID: "p", ParentRunName: "pn"},
		{ExperimentID: "1e", ExperimentName: "", RunName: "r", ParentRunID: "p", ParentRunName: "pn"},
	}
	seen := map[string]int{base.Key(): -1}
	for i, v := range variants {
		k := v.Key()
		require.Regexp(t, hex32, k)
		if j, dup := seen[k]; dup {
			t.Fatalf("identity %d %+v has the key of %d", i, v, j)
		}
		seen[k] = i
	}

	// Golden values, computed with Python hashlib from the rule in
	// docs/mapping.md §1 (SHA-256 over the NUL-terminated fields, 32 hex
	// digits). Run keys are stored as run tags, so a change of the
	// algorithm would make every collector create duplicate runs.
	golden := []struct {
		id   Identity
		want string
	}{
		{Identity{ExperimentName: "Default", RunName: "train"}, "7f2986e79be4981fb7843e8ed36ef015"},
		{Identity{ExperimentID: "12", RunName: "eval", ParentRunName: "sweep"}, "3eb3dbcb470bce5449d0785649301a8b"},
		{Identity{ExperimentName: "Default", RunName: "train", ParentRunID: "0a1b"}, "a5514302aa1582d3754e6b78a85215ec"},
		{Identity{RunID: "0a1b2c", RunName: "ignored"}, "id:0a1b2c"},
	}
	for _, g := range golden {
		assert.Equal(t, g.want, g.id.Key(), "%+v", g.id)
	}
}

func TestIdentityParent(t *testing.T) {
	child := Identity{ExperimentID: "3", ExperimentName: "", RunName: "c", ParentRunName: "p"}
	parent, ok := child.Parent()
	require.True(t, ok)
	assert.Equal(t, Identity{ExperimentID: "3", RunName: "p"}, parent)

	_, ok = Identity{RunName: "c", ParentRunName: "p", ParentRunID: "x"}.Parent()
	assert.False(t, ok, "a parent given by id needs no resolution")
	_, ok = Identity{RunName: "c"}.Parent()
	assert.False(t, ok)
}

func TestIdentityString(t *testing.T) {
	assert.Equal(t, "run abc", Identity{RunID: "abc"}.String())
	assert.Equal(t, `run "r" in experiment 5`, Identity{ExperimentID: "5", RunName: "r"}.String())
	assert.Equal(t, `run "r" in experiment "e"`, Identity{ExperimentName: "e", RunName: "r"}.String())
}
