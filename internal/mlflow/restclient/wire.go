package restclient

import (
	"bytes"
	"fmt"
	"math"
	"strconv"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// flexInt64 decodes an int64 sent as a JSON number or as a string, as
// protobuf's JSON mapping allows; null and "" decode to 0.
type flexInt64 int64

func (f *flexInt64) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		s, err := strconv.Unquote(string(b))
		if err != nil {
			return fmt.Errorf("int64 %s: %w", b, err)
		}
		b = []byte(s)
	}
	if len(b) == 0 || string(b) == "null" {
		*f = 0
		return nil
	}
	if v, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		*f = flexInt64(v)
		return nil
	}
	// Some encoders write large integers in exponent form (1.7e+12).
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || v != math.Trunc(v) || v < math.MinInt64 || v >= math.MaxInt64 {
		return fmt.Errorf("int64 %s: not an integer", b)
	}
	*f = flexInt64(v)
	return nil
}

// flexFloat64 decodes a double sent as a JSON number or as one of the
// strings "NaN", "Infinity", "-Infinity" (or a quoted number).
type flexFloat64 float64

func (f *flexFloat64) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		s, err := strconv.Unquote(string(b))
		if err != nil {
			return fmt.Errorf("double %s: %w", b, err)
		}
		switch s {
		case "NaN":
			*f = flexFloat64(math.NaN())
			return nil
		case "Infinity":
			*f = flexFloat64(math.Inf(1))
			return nil
		case "-Infinity":
			*f = flexFloat64(math.Inf(-1))
			return nil
		}
		b = []byte(s)
	}
	if len(b) == 0 || string(b) == "null" {
		*f = 0
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("double %s: %w", b, err)
	}
	*f = flexFloat64(v)
	return nil
}

type wireKV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type wireMetric struct {
	Key       string      `json:"key"`
	Value     flexFloat64 `json:"value"`
	Timestamp flexInt64   `json:"timestamp"`
	Step      flexInt64   `json:"step"`
}

type wireExperiment struct {
	ExperimentID     string    `json:"experiment_id"`
	Name             string    `json:"name"`
	ArtifactLocation string    `json:"artifact_location"`
	LifecycleStage   string    `json:"lifecycle_stage"`
	CreationTime     flexInt64 `json:"creation_time"`
	LastUpdateTime   flexInt64 `json:"last_update_time"`
	Tags             []wireKV  `json:"tags"`
}

type wireRunInfo struct {
	RunID          string    `json:"run_id"`
	RunUUID        string    `json:"run_uuid"` // pre-1.x spelling, still sent
	ExperimentID   string    `json:"experiment_id"`
	RunName        string    `json:"run_name"`
	UserID         string    `json:"user_id"`
	Status         string    `json:"status"`
	StartTime      flexInt64 `json:"start_time"`
	EndTime        flexInt64 `json:"end_time"`
	ArtifactURI    string    `json:"artifact_uri"`
	LifecycleStage string    `json:"lifecycle_stage"`
}

type wireRunData struct {
	Metrics []wireMetric `json:"metrics"`
	Params  []wireKV     `json:"params"`
	Tags    []wireKV     `json:"tags"`
}

type wireRun struct {
	Info wireRunInfo `json:"info"`
	Data wireRunData `json:"data"`
}

func tagsFromWire(in []wireKV) []mlflow.Tag {
	if len(in) == 0 {
		return nil
	}
	out := make([]mlflow.Tag, len(in))
	for i, kv := range in {
		out[i] = mlflow.Tag(kv)
	}
	return out
}

func tagsToWire(in []mlflow.Tag) []wireKV {
	if len(in) == 0 {
		return nil
	}
	out := make([]wireKV, len(in))
	for i, t := range in {
		out[i] = wireKV(t)
	}
	return out
}

func metricsFromWire(in []wireMetric) []mlflow.Metric {
	if len(in) == 0 {
		return nil
	}
	out := make([]mlflow.Metric, len(in))
	for i, m := range in {
		out[i] = mlflow.Metric{Key: m.Key, Value: float64(m.Value), Timestamp: int64(m.Timestamp), Step: int64(m.Step)}
	}
	return out
}

func (e *wireExperiment) toModel() *mlflow.Experiment {
	return &mlflow.Experiment{
		ID:               e.ExperimentID,
		Name:             e.Name,
		ArtifactLocation: e.ArtifactLocation,
		LifecycleStage:   e.LifecycleStage,
		CreationTime:     int64(e.CreationTime),
		LastUpdateTime:   int64(e.LastUpdateTime),
		Tags:             tagsFromWire(e.Tags),
	}
}

func (i *wireRunInfo) toModel() mlflow.RunInfo {
	id := i.RunID
	if id == "" {
		id = i.RunUUID
	}
	return mlflow.RunInfo{
		RunID:          id,
		ExperimentID:   i.ExperimentID,
		RunName:        i.RunName,
		UserID:         i.UserID,
		Status:         mlflow.RunStatus(i.Status),
		StartTime:      int64(i.StartTime),
		EndTime:        int64(i.EndTime),
		ArtifactURI:    i.ArtifactURI,
		LifecycleStage: i.LifecycleStage,
	}
}

func (r *wireRun) toModel() mlflow.Run {
	run := mlflow.Run{
		Info: r.Info.toModel(),
		Data: mlflow.RunData{
			Metrics: metricsFromWire(r.Data.Metrics),
			Tags:    tagsFromWire(r.Data.Tags),
		},
	}
	if len(r.Data.Params) > 0 {
		run.Data.Params = make([]mlflow.Param, len(r.Data.Params))
		for i, kv := range r.Data.Params {
			run.Data.Params[i] = mlflow.Param(kv)
		}
	}
	return run
}
