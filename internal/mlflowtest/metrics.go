package mlflowtest

import (
	"encoding/json"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// The metric RPCs and runs/log-batch.

// logBatch is runs/log-batch.
func (s *Server) logBatch(a args) (any, *mlflow.APIError) {
	req, err := decode[reqLogBatch](a.obj)
	if err != nil {
		return nil, err
	}
	if err := require(required{"run_id", req.RunID}); err != nil {
		return nil, err
	}
	var b mlflow.Batch
	for _, m := range req.Metrics {
		if m.Key.Value == "" || !m.Value.Set || !m.Timestamp.Set {
			return nil, listSchemaError(a.obj, "metrics")
		}
		b.Metrics = append(b.Metrics, mlflow.Metric{Key: m.Key.Value, Value: m.Value.Value, Timestamp: m.Timestamp.Value, Step: m.Step.Value})
	}
	for _, p := range req.Params {
		if p.Key.Value == "" {
			return nil, listSchemaError(a.obj, "params")
		}
		b.Params = append(b.Params, mlflow.Param{Key: p.Key.Value, Value: p.Value.Value})
	}
	for _, t := range req.Tags {
		if t.Key.Value == "" {
			return nil, listSchemaError(a.obj, "tags")
		}
		b.Tags = append(b.Tags, mlflow.Tag{Key: t.Key.Value, Value: t.Value.Value})
	}
	if err := s.st.logBatch(req.RunID.Value, b); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// listSchemaError is MLflow 2.x's answer to a list field whose elements
// lack a required field: the handler's schema check quotes the whole list as
// Python prints it.
func listSchemaError(obj []byte, field string) *mlflow.APIError {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(obj, &m)
	return invalidParam("Invalid value %s for parameter '%s' supplied. Hint: Value was of type 'list'. See the API docs for more information about request parameters.", pyReprJSON(m[field]), field)
}

// logMetric is runs/log-metric.
func (s *Server) logMetric(a args) (any, *mlflow.APIError) {
	req, err := decode[reqLogMetric](a.obj)
	if err != nil {
		return nil, err
	}
	if err := require(required{"run_id", req.reqRunID}, required{"key", req.Key},
		required{"value", req.Value}, required{"timestamp", req.Timestamp}); err != nil {
		return nil, err
	}
	m := mlflow.Metric{Key: req.Key.Value, Value: req.Value.Value, Timestamp: req.Timestamp.Value, Step: req.Step.Value}
	if err := validateMetric(m); err != nil {
		return nil, err
	}
	run, err := s.st.activeRun(req.id())
	if err != nil {
		return nil, err
	}
	run.logMetric(m)
	return empty{}, nil
}

// getMetricHistory is metrics/get-history, every point in one answer.
func (s *Server) getMetricHistory(a args) (any, *mlflow.APIError) {
	req, err := decode[struct {
		reqRunID
		MetricKey optString `json:"metric_key"`
	}](a.obj)
	if err != nil {
		return nil, err
	}
	if err := require(required{"run_id", req.reqRunID}, required{"metric_key", req.MetricKey}); err != nil {
		return nil, err
	}
	out := struct {
		Metrics []outMetric `json:"metrics,omitempty"`
	}{}
	// The SQL store queries the metric rows without looking the run
	// up: an unknown run has no points, {} (2.9.2 and 3.0.0).
	run, ok := s.st.runs[req.id()]
	if !ok {
		return out, nil
	}
	for _, m := range run.history[req.MetricKey.Value] {
		out.Metrics = append(out.Metrics, toOutMetric(m))
	}
	return out, nil
}
