package mlflowtest

import (
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// The runs RPCs: create, get, update, delete and restore, a parameter and
// a tag (metrics are in metrics.go, runs/search in search.go).

// createRun is runs/create.
func (s *Server) createRun(a args) (any, *mlflow.APIError) {
	req, err := decode[reqCreateRun](a.obj)
	if err != nil {
		return nil, err
	}
	run, err := s.st.createRun(req.ExperimentID.Value, req.UserID.Value, req.RunName.Value, req.StartTime.Value, kvTags(req.Tags))
	if err != nil {
		return nil, err
	}
	snap := run.snapshot()
	return map[string]any{"run": toOutRun(&snap)}, nil
}

// getRun is runs/get; an MLflow 3 server also answers the run's model
// outputs (runs/outputs).
func (s *Server) getRun(a args) (any, *mlflow.APIError) {
	req, err := decode[reqRunID](a.obj)
	if err != nil {
		return nil, err
	}
	if err := require(required{"run_id", req}); err != nil {
		return nil, err
	}
	run, err := s.st.run(req.id())
	if err != nil {
		return nil, err
	}
	snap := run.snapshot()
	out := toOutRun(&snap)
	if outs := s.reg.outputs[req.id()]; s.reg.v3 && len(outs) > 0 {
		out.Outputs = &outRunOutputs{}
		for _, o := range outs {
			out.Outputs.ModelOutputs = append(out.Outputs.ModelOutputs, outModelOutput{ModelID: o.ModelID, Step: o.Step})
		}
	}
	return map[string]any{"run": out}, nil
}

// updateRun is runs/update.
func (s *Server) updateRun(a args) (any, *mlflow.APIError) {
	req, err := decode[reqUpdateRun](a.obj)
	if err != nil {
		return nil, err
	}
	if err := require(required{"run_id", req.reqRunID}); err != nil {
		return nil, err
	}
	run, err := s.st.activeRun(req.id())
	if err != nil {
		return nil, err
	}
	// An unknown status name is dropped by the proto parser, so the status
	// is left as it was and the call succeeds.
	if st := mlflow.RunStatus(req.Status.Value); req.Status.Set && st.Valid() {
		run.info.Status = st
	}
	if req.EndTime.Set {
		run.info.EndTime = req.EndTime.Value
	}
	if req.RunName.Value != "" {
		run.setTag(mlflow.Tag{Key: tagRunName, Value: req.RunName.Value})
	}
	return map[string]any{"run_info": toOutRunInfo(&run.info)}, nil
}

// deleteRun is runs/delete.
func (s *Server) deleteRun(a args) (any, *mlflow.APIError) {
	return s.setRunLifecycle(a, mlflow.LifecycleDeleted)
}

// restoreRun is runs/restore.
func (s *Server) restoreRun(a args) (any, *mlflow.APIError) {
	return s.setRunLifecycle(a, mlflow.LifecycleActive)
}

// setRunLifecycle takes run_id only (run_uuid is not read).
func (s *Server) setRunLifecycle(a args, stage string) (any, *mlflow.APIError) {
	req, err := decode[reqRunID](a.obj)
	if err != nil {
		return nil, err
	}
	if err := require(required{"run_id", req.RunID}); err != nil {
		return nil, err
	}
	run, err := s.st.run(req.RunID.Value)
	if err != nil {
		return nil, err
	}
	run.info.LifecycleStage = stage
	return empty{}, nil
}

// logParameter is runs/log-parameter.
func (s *Server) logParameter(a args) (any, *mlflow.APIError) {
	req, err := decode[reqKV](a.obj)
	if err != nil {
		return nil, err
	}
	if err := require(required{"run_id", req.reqRunID}, required{"key", req.Key}); err != nil {
		return nil, err
	}
	if err := s.st.logParam(req.id(), mlflow.Param{Key: req.Key.Value, Value: req.Value.Value}); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// setTag is runs/set-tag.
func (s *Server) setTag(a args) (any, *mlflow.APIError) {
	req, err := decode[reqKV](a.obj)
	if err != nil {
		return nil, err
	}
	if err := require(required{"run_id", req.reqRunID}, required{"key", req.Key}); err != nil {
		return nil, err
	}
	t := mlflow.Tag{Key: req.Key.Value, Value: req.Value.Value}
	if err := validateTag(t); err != nil {
		return nil, err
	}
	run, err := s.st.activeRun(req.id())
	if err != nil {
		return nil, err
	}
	run.setTag(t)
	return empty{}, nil
}

func kvTags(kvs []wireKV) []mlflow.Tag {
	var tags []mlflow.Tag
	for _, kv := range kvs {
		tags = append(tags, mlflow.Tag{Key: kv.Key.Value, Value: kv.Value.Value})
	}
	return tags
}
