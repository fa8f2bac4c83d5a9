package filestore

import (
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

const metaFile = "meta.yaml"

// Run status and source type as MLflow persists them: the integer values of
// the protobuf enums RunStatus and SourceType.
var statusNumbers = map[mlflow.RunStatus]int{
	mlflow.RunStatusRunning:   1,
	mlflow.RunStatusScheduled: 2,
	mlflow.RunStatusFinished:  3,
	mlflow.RunStatusFailed:    4,
	mlflow.RunStatusKilled:    5,
}

const sourceTypeLocal = 4

func statusFromNumber(n int) (mlflow.RunStatus, bool) {
	for s, v := range statusNumbers {
		if v == n {
			return s, true
		}
	}
	return "", false
}

// experimentMeta is experiments' meta.yaml. Tags are not in it: MLflow keeps
// them as files under <experiment>/tags/.
type experimentMeta struct {
	ArtifactLocation string `yaml:"artifact_location"`
	CreationTime     *int64 `yaml:"creation_time"`
	// A string since MLflow 1.x; legacy files hold an int, which yaml.v3
	// decodes into a string as its literal text.
	ExperimentID   string `yaml:"experiment_id"`
	LastUpdateTime *int64 `yaml:"last_update_time"`
	LifecycleStage string `yaml:"lifecycle_stage"`
	Name           string `yaml:"name"`
}

func (m *experimentMeta) mapping() yamlMapping {
	return yamlMapping{
		"artifact_location": m.ArtifactLocation,
		"creation_time":     optInt(m.CreationTime),
		"experiment_id":     m.ExperimentID,
		"last_update_time":  optInt(m.LastUpdateTime),
		"lifecycle_stage":   m.LifecycleStage,
		"name":              m.Name,
	}
}

func (m *experimentMeta) experiment() *mlflow.Experiment {
	e := &mlflow.Experiment{
		ID:               m.ExperimentID,
		Name:             m.Name,
		ArtifactLocation: m.ArtifactLocation,
		LifecycleStage:   m.LifecycleStage,
	}
	if e.LifecycleStage == "" {
		e.LifecycleStage = mlflow.LifecycleActive
	}
	if m.CreationTime != nil {
		e.CreationTime = *m.CreationTime
	}
	if m.LastUpdateTime != nil {
		e.LastUpdateTime = *m.LastUpdateTime
	}
	return e
}

// deletedTime is the tri-state deleted_time field: MLflow writes it as null
// when creating a run, as a time when deleting one, and drops it on every
// other rewrite.
type deletedTime struct {
	present bool
	value   *int64
}

// runMeta is a run's meta.yaml. Fields MLflow writes with constant values
// (source_*, entry_point_name, tags) are not kept; they are rewritten as
// MLflow rewrites them.
type runMeta struct {
	ArtifactURI    string `yaml:"artifact_uri"`
	EndTime        *int64 `yaml:"end_time"`
	ExperimentID   string `yaml:"experiment_id"`
	LifecycleStage string `yaml:"lifecycle_stage"`
	RunID          string `yaml:"run_id"`
	RunName        string `yaml:"run_name"`
	RunUUID        string `yaml:"run_uuid"`
	StartTime      *int64 `yaml:"start_time"`
	Status         *int   `yaml:"status"`
	UserID         string `yaml:"user_id"`
	// Deleted is what the next write puts in deleted_time; reading leaves it
	// absent because every rewrite but a delete drops the field.
	Deleted deletedTime `yaml:"-"`
}

func (m *runMeta) mapping() yamlMapping {
	status := statusNumbers[mlflow.RunStatusRunning]
	if m.Status != nil {
		status = *m.Status
	}
	out := yamlMapping{
		"artifact_uri":     m.ArtifactURI,
		"end_time":         optInt(m.EndTime),
		"entry_point_name": "",
		"experiment_id":    m.ExperimentID,
		"lifecycle_stage":  m.LifecycleStage,
		"run_id":           m.RunID,
		"run_name":         m.RunName,
		"run_uuid":         m.RunUUID,
		"source_name":      "",
		"source_type":      sourceTypeLocal,
		"source_version":   "",
		"start_time":       optInt(m.StartTime),
		"status":           status,
		"tags":             yamlEmptyList{},
		"user_id":          m.UserID,
	}
	if m.Deleted.present {
		out["deleted_time"] = optInt(m.Deleted.value)
	}
	return out
}

func (m *runMeta) info() mlflow.RunInfo {
	info := mlflow.RunInfo{
		RunID:          m.RunID,
		ExperimentID:   m.ExperimentID,
		RunName:        m.RunName,
		UserID:         m.UserID,
		Status:         mlflow.RunStatusRunning,
		ArtifactURI:    m.ArtifactURI,
		LifecycleStage: m.LifecycleStage,
	}
	if info.RunID == "" {
		info.RunID = m.RunUUID
	}
	if info.LifecycleStage == "" {
		info.LifecycleStage = mlflow.LifecycleActive
	}
	if m.Status != nil {
		if s, ok := statusFromNumber(*m.Status); ok {
			info.Status = s
		}
	}
	if m.StartTime != nil {
		info.StartTime = *m.StartTime
	}
	if m.EndTime != nil {
		info.EndTime = *m.EndTime
	}
	return info
}

func optInt(v *int64) any {
	if v == nil {
		return yamlNull{}
	}
	return *v
}

func int64p(v int64) *int64 { return &v }

// readYAML decodes dir/meta.yaml into out. A missing file is reported with
// os.ErrNotExist so callers can tell "not there" from "broken".
func readYAML(dir string, out any) error {
	data, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(data, out); err != nil {
		return fmt.Errorf("parse %s: %w", filepath.Join(dir, metaFile), err)
	}
	return nil
}

func readExperimentMeta(dir string) (*experimentMeta, error) {
	var m experimentMeta
	if err := readYAML(dir, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

func readRunMeta(dir string) (*runMeta, error) {
	var m runMeta
	if err := readYAML(dir, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// writeMeta atomically replaces dir/meta.yaml: temp file in dir, fsync,
// rename. A crash leaves the old or the new file, never half of one.
func writeMeta(dir string, m yamlMapping) error {
	data, err := marshalPyYAML(m)
	if err != nil {
		return err
	}
	return writeFileAtomic(dir, filepath.Join(dir, metaFile), data, true)
}
