package searchfilter

import (
	"math"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// Match reports whether run satisfies every clause. A nil filter matches.
func (f *Filter) Match(r *mlflow.Run) bool {
	if f == nil {
		return true
	}
	for i := range f.Clauses {
		if !f.Clauses[i].match(r) {
			return false
		}
	}
	return true
}

func (c *Clause) match(r *mlflow.Run) bool {
	switch c.Type {
	case TypeMetric:
		m, ok := latestMetric(r, c.Key)
		if !ok {
			return false
		}
		v := m.Value
		if math.IsNaN(v) {
			v = 0
		}
		return compareNumbers(v, c.Comparator, c.Number)
	case TypeParam:
		for _, p := range r.Data.Params {
			if p.Key == c.Key {
				return c.matchString(p.Value)
			}
		}
		return false
	case TypeTag:
		if v, ok := r.Tag(c.Key); ok {
			return c.matchString(v)
		}
		return false
	default:
		if numericAttributes[c.Key] {
			v, ok := numericAttribute(r, c.Key)
			if !ok {
				return false
			}
			return compareNumbers(float64(v), c.Comparator, c.Number)
		}
		return c.matchString(stringAttribute(r, c.Key))
	}
}

func (c *Clause) matchString(v string) bool {
	switch c.Comparator {
	case "=":
		return v == c.Value
	case "!=":
		return v != c.Value
	case "LIKE", "ILIKE":
		return c.re.MatchString(v)
	case "IN", "NOT IN":
		in := false
		for _, x := range c.Values {
			if x == v {
				in = true
				break
			}
		}
		return in == (c.Comparator == "IN")
	}
	return false
}

func compareNumbers(a float64, op string, b float64) bool {
	switch op {
	case "=":
		return a == b
	case "!=":
		return a != b
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	}
	return false
}

func latestMetric(r *mlflow.Run, key string) (mlflow.Metric, bool) {
	for _, m := range r.Data.Metrics {
		if m.Key == key {
			return m, true
		}
	}
	return mlflow.Metric{}, false
}

func numericAttribute(r *mlflow.Run, key string) (int64, bool) {
	switch key {
	case "start_time":
		return r.Info.StartTime, true
	case "end_time":
		// A run that has not ended has a NULL end_time in the SQL store.
		return r.Info.EndTime, r.Info.EndTime != 0
	}
	return 0, false
}

func stringAttribute(r *mlflow.Run, key string) string {
	switch key {
	case "run_id":
		return r.Info.RunID
	case "run_name":
		return r.Info.RunName
	case "status":
		return string(r.Info.Status)
	case "user_id":
		return r.Info.UserID
	case "artifact_uri":
		return r.Info.ArtifactURI
	case "lifecycle_stage":
		return r.Info.LifecycleStage
	}
	return ""
}

// Match reports whether the experiment satisfies every clause.
func (f *ExperimentFilter) Match(e *mlflow.Experiment) bool {
	if f == nil {
		return true
	}
	for i := range f.Clauses {
		c := &f.Clauses[i]
		if c.Key == "name" && c.Type == TypeAttribute {
			if !c.matchString(e.Name) {
				return false
			}
			continue
		}
		found := false
		for _, t := range e.Tags {
			if t.Key == c.Key {
				found = true
				if !c.matchString(t.Value) {
					return false
				}
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
