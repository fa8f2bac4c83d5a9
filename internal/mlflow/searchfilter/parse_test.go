package searchfilter

import (
	"errors"
	"strings"
	"testing"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

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
