package searchfilter

import (
	"math"
	"slices"
	"testing"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

func testRun(id string, start, end int64, status mlflow.RunStatus, metrics map[string]float64, params, tags map[string]string) mlflow.Run {
	r := mlflow.Run{Info: mlflow.RunInfo{
		RunID: id, RunName: "name-" + id, Status: status, StartTime: start, EndTime: end,
		UserID: "alice", ArtifactURI: "mlflow-artifacts:/1/" + id + "/artifacts", LifecycleStage: mlflow.LifecycleActive,
	}}
	for _, k := range sortedKeys(metrics) {
		r.Data.Metrics = append(r.Data.Metrics, mlflow.Metric{Key: k, Value: metrics[k]})
	}
	for _, k := range sortedKeys(params) {
		r.Data.Params = append(r.Data.Params, mlflow.Param{Key: k, Value: params[k]})
	}
	for _, k := range sortedKeys(tags) {
		r.Data.Tags = append(r.Data.Tags, mlflow.Tag{Key: k, Value: tags[k]})
	}
	return r
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestMatch(t *testing.T) {
	run := testRun("r1", 1000, 0, mlflow.RunStatusRunning,
		map[string]float64{"loss": 0.5, "acc": 0.9, "nanm": math.NaN()},
		map[string]string{"lr": "0.01", "opt": "Adam"},
		map[string]string{"my.key": "v", "mlflow.runName": "name-r1", "a b": "spaced", "env": "Prod"})
	tests := []struct {
		filter string
		want   bool
	}{
		{"", true},
		{"   ", true},
		{"tags.`my.key` = 'v'", true},
		{"tags.\"my.key\" = 'v'", true},
		{"tags.my.key = 'v'", true},
		{"tag.`my.key` != 'v'", false},
		{"tags.`a b` = 'spaced'", true},
		{"tags.missing != 'x'", false}, // SQL join: no row, no match
		{"tags.env LIKE 'Pr%'", true},
		{"tags.env LIKE 'pr%'", false}, // LIKE is case-sensitive in MLflow
		{"tags.env ILIKE 'pr%'", true},
		{"tags.env LIKE 'Pro_'", true},
		{"tags.env LIKE 'Pr_'", false},
		{"params.lr = '0.01'", true},
		{"param.opt = \"Adam\"", true},
		{"params.lr = '0.02'", false},
		{"params.missing = '0.01'", false},
		{"metrics.loss < 1", true},
		{"metrics.loss <= 0.5", true},
		{"metrics.loss > 0.5", false},
		{"metrics.loss >= 0.5", true},
		{"metrics.loss != 0.5", false},
		{"metric.acc = 0.9", true},
		{"metrics.missing > -1", false},
		{"metrics.nanm = 0", true}, // NaN is stored as 0 in the SQL value column
		{"attributes.status = 'RUNNING'", true},
		{"attribute.status != 'RUNNING'", false},
		{"attr.run_name = 'name-r1'", true},
		{"run.run_name LIKE 'name-%'", true},
		{"attributes.start_time > 999", true},
		{"attributes.start_time = 1000", true},
		{"attributes.created < 1000", false},
		{"attributes.end_time > 0", false}, // NULL while running
		{"attributes.end_time < 99999", false},
		{"attributes.run_id IN ('r1', 'r2')", true},
		{"attributes.run_id NOT IN ('r1')", false},
		{"attributes.user_id = 'alice'", true},
		{"attributes.lifecycle_stage = 'active'", true},
		{"metrics.loss < 1 and tags.env = 'Prod' AND params.lr = '0.01'", true},
		{"metrics.loss < 1 and tags.env = 'Dev'", false},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			f, err := Parse(tt.filter)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.filter, err)
			}
			if got := f.Match(&run); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestExperimentFilter(t *testing.T) {
	e := mlflow.Experiment{Name: "team/exp-1", Tags: []mlflow.Tag{{Key: "owner", Value: "bob"}}}
	tests := []struct {
		filter string
		want   bool
	}{
		{"", true},
		{"name = 'team/exp-1'", true},
		{"attribute.name LIKE 'team/%'", true},
		{"name ILIKE 'TEAM%'", true},
		{"name != 'team/exp-1'", false},
		{"tags.owner = 'bob' and name LIKE '%exp%'", true},
		{"tags.missing = 'x'", false},
	}
	for _, tt := range tests {
		f, err := ParseExperimentFilter(tt.filter)
		if err != nil {
			t.Fatalf("ParseExperimentFilter(%q): %v", tt.filter, err)
		}
		if got := f.Match(&e); got != tt.want {
			t.Errorf("%q: Match = %v, want %v", tt.filter, got, tt.want)
		}
	}
	for _, bad := range []string{"metrics.a > 1", "attributes.status = 'x'", "name > 'a'"} {
		if _, err := ParseExperimentFilter(bad); err == nil {
			t.Errorf("ParseExperimentFilter(%q) succeeded", bad)
		}
	}
}
