package searchfilter

import (
	"errors"
	"math"
	"slices"
	"strings"
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

func TestParseErrors(t *testing.T) {
	tests := []struct {
		filter string
		msg    string
	}{
		{"tags.a = 'x' OR tags.b = 'y'", "Invalid clause(s)"},
		{"foo = 'x'", "Invalid identifier 'foo'"},
		{"things.a = 'x'", "Invalid entity type 'things'"},
		{"attributes.color = 'red'", "Invalid attribute key 'color'"},
		{"metrics.loss LIKE '1%'", "Invalid comparator 'LIKE'"},
		{"tags.a > 'x'", "Invalid comparator '>'"},
		{"params.a IN ('x')", "Invalid comparator 'IN'"},
		{"metrics.loss < 'abc'", "Expected numeric value type for metric"},
		{"tags.a = x", "Expected a quoted string value for tag"},
		{"attributes.status = RUNNING", "Expected a quoted string value"},
		{"tags.a = 'x", "unterminated string"},
		{"tags.a = 'x' and", "dangling 'AND'"},
		{"tags.a", "Missing comparator"},
		{"tags.a =", "Missing value"},
		{"attributes.run_id IN ('a', 3)", "expected string value"},
		{"tags.a ! 'x'", "unknown operator"},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			_, err := Parse(tt.filter)
			var apiErr *mlflow.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("Parse(%q) = %v, want an *mlflow.APIError", tt.filter, err)
			}
			if apiErr.Code != mlflow.ErrorCodeInvalidParameterValue {
				t.Errorf("code = %s", apiErr.Code)
			}
			if !strings.Contains(apiErr.Message, tt.msg) {
				t.Errorf("message %q lacks %q", apiErr.Message, tt.msg)
			}
		})
	}
}

func ids(runs []mlflow.Run) []string {
	var out []string
	for _, r := range runs {
		out = append(out, r.Info.RunID)
	}
	return out
}

func TestSortRuns(t *testing.T) {
	runs := []mlflow.Run{
		testRun("a", 100, 0, mlflow.RunStatusRunning, map[string]float64{"loss": 0.3}, map[string]string{"p": "b"}, nil),
		testRun("b", 300, 0, mlflow.RunStatusFinished, map[string]float64{"loss": math.NaN()}, nil, map[string]string{"t": "x"}),
		testRun("c", 200, 0, mlflow.RunStatusFailed, nil, map[string]string{"p": "a"}, map[string]string{"t": "y"}),
		testRun("d", 200, 0, mlflow.RunStatusRunning, map[string]float64{"loss": 0.1}, nil, nil),
	}
	tests := []struct {
		orderBy []string
		want    []string
	}{
		// Default: start_time DESC, then run_id ASC.
		{nil, []string{"b", "c", "d", "a"}},
		{[]string{"attributes.start_time ASC"}, []string{"a", "c", "d", "b"}},
		{[]string{"attributes.start_time"}, []string{"a", "c", "d", "b"}},
		// Metrics: values, then NaN, then missing, whatever the direction.
		{[]string{"metrics.loss"}, []string{"d", "a", "b", "c"}},
		{[]string{"metrics.`loss` DESC"}, []string{"a", "d", "b", "c"}},
		// Params and tags: missing last; ties by start_time DESC, run_id.
		{[]string{"params.p ASC"}, []string{"c", "a", "b", "d"}},
		{[]string{"params.p DESC"}, []string{"a", "c", "b", "d"}},
		{[]string{"tags.t desc"}, []string{"c", "b", "d", "a"}},
		{[]string{"attributes.status"}, []string{"c", "b", "d", "a"}},
		{[]string{"attributes.run_name DESC"}, []string{"d", "c", "b", "a"}},
	}
	for _, tt := range tests {
		t.Run(func() string {
			if tt.orderBy == nil {
				return "default"
			}
			return tt.orderBy[0]
		}(), func(t *testing.T) {
			rs := slices.Clone(runs)
			if err := SortRuns(rs, tt.orderBy); err != nil {
				t.Fatal(err)
			}
			if got := ids(rs); !slices.Equal(got, tt.want) {
				t.Errorf("order = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSortRunsErrors(t *testing.T) {
	for _, ob := range [][]string{
		{"metrics.loss SIDEWAYS"},
		{"loss"},
		{"attributes.color"},
		{"metrics.a", "metrics.a DESC"},
		{"metrics.a DESC extra"},
	} {
		if err := SortRuns(nil, ob); err == nil {
			t.Errorf("SortRuns(%q) succeeded, want an error", ob)
		}
	}
}

func TestPageToken(t *testing.T) {
	for _, off := range []int{0, 1, 1000, 123456} {
		tok := CreatePageToken(off)
		got, err := ParsePageToken(tok)
		if err != nil || got != off {
			t.Errorf("ParsePageToken(CreatePageToken(%d)) = %d, %v", off, got, err)
		}
	}
	// MLflow's own encoding of {"offset": 1}, json.dumps with its space.
	if got := CreatePageToken(1); got != "eyJvZmZzZXQiOiAxfQ==" {
		t.Errorf("CreatePageToken(1) = %s", got)
	}
	for _, bad := range []string{"!!!", "bm90IGpzb24=" /* "not json" */, "eyJhIjogMX0=" /* {"a": 1} */, "eyJvZmZzZXQiOiAtMX0=" /* offset -1 */} {
		if _, err := ParsePageToken(bad); err == nil {
			t.Errorf("ParsePageToken(%q) succeeded", bad)
		}
	}
	if n, err := ParsePageToken(""); n != 0 || err != nil {
		t.Errorf("ParsePageToken(\"\") = %d, %v", n, err)
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
