package translate

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Resource attributes that choose the run (see docs/mapping.md).
const (
	AttrRunID          = "mlflow.run.id"
	AttrRunName        = "mlflow.run.name"
	AttrExperimentID   = "mlflow.experiment.id"
	AttrExperimentName = "mlflow.experiment.name"
	AttrParentRunID    = "mlflow.parent_run.id"
	AttrParentRunName  = "mlflow.parent_run.name"
	AttrParamPrefix    = "mlflow.param."
	AttrTagPrefix      = "mlflow.tag."

	AttrServiceName = "service.name"
	AttrHostName    = "host.name"
)

// Identity names the MLflow run a resource's telemetry belongs to. Either
// RunID is set (log into that existing run), or the run is found or created
// from the experiment and run name.
type Identity struct {
	RunID          string
	ExperimentID   string
	ExperimentName string
	RunName        string
	ParentRunID    string
	ParentRunName  string
}

// IsZero reports an identity that names no run at all.
func (id Identity) IsZero() bool { return id.RunID == "" && id.RunName == "" }

// Key is the stable run key: the same identity gives the same key in every
// collector process, before and after restarts, so it is stored as a run tag
// (RunKeyTag) and used to find the run again instead of creating a duplicate.
// Explicit run ids key themselves.
func (id Identity) Key() string {
	if id.RunID != "" {
		return "id:" + id.RunID
	}
	h := sha256.New()
	for _, part := range []string{id.ExperimentID, id.ExperimentName, id.RunName, id.ParentRunID, id.ParentRunName} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Parent returns the identity of the parent run named by ParentRunName, in
// the same experiment, or false when the run has no parent to resolve by name.
func (id Identity) Parent() (Identity, bool) {
	if id.ParentRunName == "" || id.ParentRunID != "" {
		return Identity{}, false
	}
	return Identity{ExperimentID: id.ExperimentID, ExperimentName: id.ExperimentName, RunName: id.ParentRunName}, true
}

// String is a short human description for logs.
func (id Identity) String() string {
	if id.RunID != "" {
		return "run " + id.RunID
	}
	var sb strings.Builder
	sb.WriteString("run ")
	sb.WriteString(quote(id.RunName))
	sb.WriteString(" in experiment ")
	if id.ExperimentID != "" {
		sb.WriteString(id.ExperimentID)
	} else {
		sb.WriteString(quote(id.ExperimentName))
	}
	return sb.String()
}

func quote(s string) string { return `"` + s + `"` }
