// Package mlflow holds the MLflow tracking data model, its limits and error
// codes, and the Store abstraction that every backend (REST server,
// Databricks, local file store) implements. The exporter and the tracking API
// depend on this package only, never on a concrete backend.
package mlflow

// RunStatus is MLflow's run status enum, spelled as on the wire.
type RunStatus string

const (
	RunStatusRunning   RunStatus = "RUNNING"
	RunStatusScheduled RunStatus = "SCHEDULED"
	RunStatusFinished  RunStatus = "FINISHED"
	RunStatusFailed    RunStatus = "FAILED"
	RunStatusKilled    RunStatus = "KILLED"
)

// Valid reports whether s is one of MLflow's run statuses. The real server
// silently ignores unknown statuses, so clients must check before sending.
func (s RunStatus) Valid() bool {
	switch s {
	case RunStatusRunning, RunStatusScheduled, RunStatusFinished, RunStatusFailed, RunStatusKilled:
		return true
	}
	return false
}

// Terminal reports whether the status ends a run.
func (s RunStatus) Terminal() bool {
	return s == RunStatusFinished || s == RunStatusFailed || s == RunStatusKilled
}

// Lifecycle stages of experiments and runs.
const (
	LifecycleActive  = "active"
	LifecycleDeleted = "deleted"
)

// ViewType selects runs or experiments by lifecycle stage in searches.
type ViewType string

const (
	ViewActiveOnly  ViewType = "ACTIVE_ONLY"
	ViewDeletedOnly ViewType = "DELETED_ONLY"
	ViewAll         ViewType = "ALL"
)

// DefaultExperimentName is the experiment MLflow creates with id "0".
const DefaultExperimentName = "Default"

// Metric is one point of a metric history. Timestamp is Unix milliseconds.
type Metric struct {
	Key       string
	Value     float64
	Timestamp int64
	Step      int64
}

// Param is a write-once run parameter.
type Param struct {
	Key   string
	Value string
}

// Tag is a mutable key/value on a run or experiment.
type Tag struct {
	Key   string
	Value string
}

// Experiment is MLflow's experiment record.
type Experiment struct {
	ID               string
	Name             string
	ArtifactLocation string
	LifecycleStage   string
	CreationTime     int64
	LastUpdateTime   int64
	Tags             []Tag
}

// RunInfo is the metadata part of a run.
type RunInfo struct {
	RunID          string
	ExperimentID   string
	RunName        string
	UserID         string
	Status         RunStatus
	StartTime      int64
	EndTime        int64 // 0 while the run has not ended
	ArtifactURI    string
	LifecycleStage string
}

// RunData is the logged content of a run. Metrics hold the latest value per
// key only, as runs/get returns them.
type RunData struct {
	Metrics []Metric
	Params  []Param
	Tags    []Tag
}

// Run is a run with its data.
type Run struct {
	Info RunInfo
	Data RunData
}

// Tag returns the value of the run tag key and whether it is set.
func (r *Run) Tag(key string) (string, bool) {
	for _, t := range r.Data.Tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// Batch is the payload of one runs/log-batch call.
type Batch struct {
	Metrics []Metric
	Params  []Param
	Tags    []Tag
}

// Len is the number of entities in the batch, the unit of MaxBatchEntities.
func (b *Batch) Len() int { return len(b.Metrics) + len(b.Params) + len(b.Tags) }
