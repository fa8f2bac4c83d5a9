// Package searchfilter implements the subset of MLflow's runs/search filter
// and order_by syntax (mlflow/utils/search_utils.py) that this project's
// backends evaluate in memory: the test server and the local file store.
//
// Supported filter clauses, joined by AND (case-insensitive):
//
//	metrics.<key>    = != < <= > >=        numeric value, latest point only
//	params.<key>     = != LIKE ILIKE       quoted string
//	tags.<key>       = != LIKE ILIKE       quoted string
//	attributes.<a>   string attributes (run_id, run_name, status, user_id,
//	                 artifact_uri, lifecycle_stage): = != LIKE ILIKE, and
//	                 IN / NOT IN for run_id; numeric attributes (start_time,
//	                 end_time, created): = != < <= > >=
//
// Keys may be quoted with backticks or double quotes (tags.`my.key`).
// Entity prefixes accept MLflow's aliases (metric/metrics, param/params/
// parameter/parameters, tag/tags, attribute/attributes/attr/run). OR and
// parentheses are rejected, as MLflow's parser rejects them.
//
// Matching follows the SQL store: a clause on a missing metric, param or tag
// never matches (also for !=), LIKE is case-sensitive, a NaN metric compares
// as 0 (the SQL store keeps 0 in the value column of NaN points).
package searchfilter

import (
	"regexp"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// Entity types of a clause or an order_by key.
const (
	TypeMetric    = "metric"
	TypeParam     = "parameter"
	TypeTag       = "tag"
	TypeAttribute = "attribute"
)

var stringAttributes = map[string]bool{
	"run_id": true, "run_name": true, "status": true, "user_id": true,
	"artifact_uri": true, "lifecycle_stage": true,
}

var numericAttributes = map[string]bool{
	"start_time": true, "end_time": true, "created": true,
}

// Clause is one comparison of a filter.
type Clause struct {
	Type       string // TypeMetric, TypeParam, TypeTag or TypeAttribute
	Key        string // unquoted key; attributes use their canonical name
	Comparator string // upper-case: =, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN
	Value      string // string operand
	Number     float64
	Values     []string // IN / NOT IN operands
	re         *regexp.Regexp
}

// Filter is a parsed filter string: all clauses must match.
type Filter struct {
	Clauses []Clause
}

// ExperimentFilter is a parsed experiments/search filter: name and tags
// clauses only.
type ExperimentFilter struct {
	Clauses []Clause
}

// invalid is the INVALID_PARAMETER_VALUE error every parse failure returns.
func invalid(format string, args ...any) error {
	return mlflow.NewError(mlflow.ErrorCodeInvalidParameterValue, format, args...)
}
