package searchfilter

import (
	"math"
	"slices"
	"testing"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

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
