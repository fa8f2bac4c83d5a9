package mlflowtest

import (
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// The experiments RPCs (experiments/search is in search.go).

// getExperimentByName is experiments/get-by-name.
func (s *Server) getExperimentByName(a args) (any, *mlflow.APIError) {
	req, err := decode[struct {
		Name optString `json:"experiment_name"`
	}](a.obj)
	if err != nil {
		return nil, err
	}
	if err := require(required{"experiment_name", req.Name}); err != nil {
		return nil, err
	}
	e := s.st.experimentByName(req.Name.Value)
	if e == nil {
		return nil, mlflow.NewError(mlflow.ErrorCodeResourceDoesNotExist, "Could not find experiment with name '%s'", req.Name.Value)
	}
	return map[string]any{"experiment": toOutExperiment(e)}, nil
}

// getExperiment is experiments/get.
func (s *Server) getExperiment(a args) (any, *mlflow.APIError) {
	req, err := decode[reqExperimentID](a.obj)
	if err != nil {
		return nil, err
	}
	if err := require(required{"experiment_id", req.ExperimentID}); err != nil {
		return nil, err
	}
	e, err := s.st.experiment(req.ExperimentID.Value)
	if err != nil {
		return nil, err
	}
	return map[string]any{"experiment": toOutExperiment(e)}, nil
}

// createExperiment is experiments/create.
func (s *Server) createExperiment(a args) (any, *mlflow.APIError) {
	req, err := decode[reqCreateExperiment](a.obj)
	if err != nil {
		return nil, err
	}
	if err := require(required{"name", req.Name}); err != nil {
		return nil, err
	}
	id, err := s.st.createExperiment(req.Name.Value, req.ArtifactLocation.Value, kvTags(req.Tags), s.nowMs())
	if err != nil {
		return nil, err
	}
	return map[string]any{"experiment_id": id}, nil
}

// deleteExperiment is experiments/delete: the experiment and its runs.
func (s *Server) deleteExperiment(a args) (any, *mlflow.APIError) {
	return s.setExperimentLifecycle(a, mlflow.LifecycleActive, mlflow.LifecycleDeleted)
}

// restoreExperiment is experiments/restore: the experiment and its runs.
func (s *Server) restoreExperiment(a args) (any, *mlflow.APIError) {
	return s.setExperimentLifecycle(a, mlflow.LifecycleDeleted, mlflow.LifecycleActive)
}

func (s *Server) setExperimentLifecycle(a args, from, to string) (any, *mlflow.APIError) {
	req, err := decode[reqExperimentID](a.obj)
	if err != nil {
		return nil, err
	}
	if err := require(required{"experiment_id", req.ExperimentID}); err != nil {
		return nil, err
	}
	if err := s.st.setExperimentLifecycle(req.ExperimentID.Value, from, to, s.nowMs()); err != nil {
		return nil, err
	}
	return empty{}, nil
}
