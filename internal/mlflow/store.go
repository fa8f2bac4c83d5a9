package mlflow

import "context"

// Store is the part of MLflow's tracking API this project uses. It is
// implemented by the REST client (open-source servers and Databricks) and by
// the local file store, and exposed by the test server. Errors carry an
// *APIError where the backend answered; use the Is* helpers to classify them.
type Store interface {
	// GetExperimentByName returns the experiment, which may be deleted
	// (LifecycleStage "deleted"), or an error with ErrorCodeResourceDoesNotExist.
	GetExperimentByName(ctx context.Context, name string) (*Experiment, error)
	GetExperiment(ctx context.Context, id string) (*Experiment, error)
	// CreateExperiment returns the new id, or an error for which
	// IsAlreadyExists is true when the name is taken (also by a deleted one).
	CreateExperiment(ctx context.Context, name string, tags []Tag) (string, error)
	RestoreExperiment(ctx context.Context, id string) error

	CreateRun(ctx context.Context, req CreateRunRequest) (*Run, error)
	GetRun(ctx context.Context, runID string) (*Run, error)
	UpdateRun(ctx context.Context, req UpdateRunRequest) (*RunInfo, error)
	DeleteRun(ctx context.Context, runID string) error
	// SearchRuns returns one page; pass NextPageToken back for the next one.
	SearchRuns(ctx context.Context, req SearchRunsRequest) (*SearchRunsResult, error)

	// LogBatch writes the batch in one call. The batch must respect the
	// per-call limits (see limits.go); splitting is the caller's job.
	LogBatch(ctx context.Context, runID string, batch Batch) error
	GetMetricHistory(ctx context.Context, runID, key string) ([]Metric, error)
}

// CreateRunRequest is the input of runs/create.
type CreateRunRequest struct {
	ExperimentID string
	RunName      string
	StartTime    int64 // Unix ms
	Tags         []Tag
	UserID       string
}

// UpdateRunRequest is the input of runs/update. Zero fields are not sent.
type UpdateRunRequest struct {
	RunID   string
	Status  RunStatus
	EndTime int64
	RunName string
}

// SearchRunsRequest is the input of runs/search. Filter uses MLflow's search
// syntax, e.g. "tags.`k` = 'v' and attributes.status = 'RUNNING'".
type SearchRunsRequest struct {
	ExperimentIDs []string
	Filter        string
	ViewType      ViewType // "" means ACTIVE_ONLY
	MaxResults    int      // 0 means the server default (1000)
	OrderBy       []string
	PageToken     string
}

// SearchRunsResult is one page of runs/search.
type SearchRunsResult struct {
	Runs          []Run
	NextPageToken string
}
