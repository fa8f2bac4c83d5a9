package mlflowtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// The request structs below are the server's own: they deliberately share
// nothing with the project's REST client, so a client encoding bug cannot be
// hidden by a symmetric decoding bug here.

// optString is a proto2 optional string: Set tells "absent" from "".
type optString struct {
	Set   bool
	Value string
}

func (o *optString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("expected a string, got %s", b)
	}
	o.Set, o.Value = true, s
	return nil
}

// optInt64 is a proto int64: the JSON mapping accepts a number or a decimal
// string, as protobuf's json_format does.
type optInt64 struct {
	Set   bool
	Value int64
}

func (o *optInt64) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// json_format accepts an integral float such as 5.0 or 1e3.
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<63 {
			return fmt.Errorf("expected an int64, got %s", b)
		}
		v = int64(f)
	}
	o.Set, o.Value = true, v
	return nil
}

// optDouble is a proto double: a number, or one of the strings "NaN",
// "Infinity", "-Infinity" or a numeric string.
type optDouble struct {
	Set   bool
	Value float64
}

func (o *optDouble) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		switch s {
		case "NaN":
			o.Set, o.Value = true, math.NaN()
			return nil
		case "Infinity":
			o.Set, o.Value = true, math.Inf(1)
			return nil
		case "-Infinity":
			o.Set, o.Value = true, math.Inf(-1)
			return nil
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("expected a double, got %s", b)
		}
		o.Set, o.Value = true, v
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("expected a double, got %s", b)
	}
	o.Set, o.Value = true, v
	return nil
}

type wireKV struct {
	Key   optString `json:"key"`
	Value optString `json:"value"`
}

type wireMetric struct {
	Key       optString `json:"key"`
	Value     optDouble `json:"value"`
	Timestamp optInt64  `json:"timestamp"`
	Step      optInt64  `json:"step"`
}

type reqCreateExperiment struct {
	Name             optString `json:"name"`
	ArtifactLocation optString `json:"artifact_location"`
	Tags             []wireKV  `json:"tags"`
}

type reqExperimentID struct {
	ExperimentID optString `json:"experiment_id"`
}

type reqSearchExperiments struct {
	pageParams
	Filter   optString `json:"filter"`
	OrderBy  []string  `json:"order_by"`
	ViewType optString `json:"view_type"`
}

type reqCreateRun struct {
	ExperimentID optString `json:"experiment_id"`
	UserID       optString `json:"user_id"`
	RunName      optString `json:"run_name"`
	StartTime    optInt64  `json:"start_time"`
	Tags         []wireKV  `json:"tags"`
}

type reqRunID struct {
	RunID   optString `json:"run_id"`
	RunUUID optString `json:"run_uuid"`
}

func (r reqRunID) id() string {
	if r.RunID.Value != "" {
		return r.RunID.Value
	}
	return r.RunUUID.Value
}

// present says whether a required parameter was sent, as MLflow's
// _assert_required judges it (see require): a string must not be empty, a
// number must be there; a run id may come as run_id or run_uuid.
func (o optString) present() bool { return o.Value != "" }
func (o optInt64) present() bool  { return o.Set }
func (o optDouble) present() bool { return o.Set }
func (r reqRunID) present() bool  { return r.id() != "" }

type reqUpdateRun struct {
	reqRunID
	Status  optString `json:"status"`
	EndTime optInt64  `json:"end_time"`
	RunName optString `json:"run_name"`
}

type reqSearchRuns struct {
	pageParams
	ExperimentIDs []string  `json:"experiment_ids"`
	Filter        optString `json:"filter"`
	RunViewType   optString `json:"run_view_type"`
	OrderBy       []string  `json:"order_by"`
}

type reqLogBatch struct {
	RunID   optString    `json:"run_id"`
	Metrics []wireMetric `json:"metrics"`
	Params  []wireKV     `json:"params"`
	Tags    []wireKV     `json:"tags"`
}

type reqLogMetric struct {
	reqRunID
	Key       optString `json:"key"`
	Value     optDouble `json:"value"`
	Timestamp optInt64  `json:"timestamp"`
	Step      optInt64  `json:"step"`
}

type reqKV struct {
	reqRunID
	Key   optString `json:"key"`
	Value optString `json:"value"`
}

// Responses: int64 fields as JSON numbers, doubles as numbers except NaN and
// the infinities, which MLflow's message_to_json writes as strings.

type jsonDouble float64

func (d jsonDouble) MarshalJSON() ([]byte, error) {
	f := float64(d)
	switch {
	case math.IsNaN(f):
		return []byte(`"NaN"`), nil
	case math.IsInf(f, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Infinity"`), nil
	}
	return json.Marshal(f)
}

type outKV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type outMetric struct {
	Key       string     `json:"key"`
	Value     jsonDouble `json:"value"`
	Timestamp int64      `json:"timestamp"`
	Step      int64      `json:"step"`
}

type outExperiment struct {
	ExperimentID     string  `json:"experiment_id"`
	Name             string  `json:"name"`
	ArtifactLocation string  `json:"artifact_location"`
	LifecycleStage   string  `json:"lifecycle_stage"`
	LastUpdateTime   int64   `json:"last_update_time"`
	CreationTime     int64   `json:"creation_time"`
	Tags             []outKV `json:"tags,omitempty"`
}

type outRunInfo struct {
	RunUUID        string `json:"run_uuid"`
	RunName        string `json:"run_name"`
	ExperimentID   string `json:"experiment_id"`
	UserID         string `json:"user_id"`
	Status         string `json:"status"`
	StartTime      int64  `json:"start_time"`
	EndTime        *int64 `json:"end_time,omitempty"`
	ArtifactURI    string `json:"artifact_uri"`
	LifecycleStage string `json:"lifecycle_stage"`
	RunID          string `json:"run_id"`
}

type outRunData struct {
	Metrics []outMetric `json:"metrics,omitempty"`
	Params  []outKV     `json:"params,omitempty"`
	Tags    []outKV     `json:"tags,omitempty"`
}

type outRun struct {
	Info   outRunInfo `json:"info"`
	Data   outRunData `json:"data"`
	Inputs struct{}   `json:"inputs"`
	// Outputs are MLflow 3's model outputs of the run (runs/outputs), only
	// with WithLoggedModels (recorded: logged-models-lifecycle).
	Outputs *outRunOutputs `json:"outputs,omitempty"`
}

type outRunOutputs struct {
	ModelOutputs []outModelOutput `json:"model_outputs"`
}

type outModelOutput struct {
	ModelID string `json:"model_id"`
	Step    int64  `json:"step"`
}

func outTags(tags []mlflow.Tag) []outKV {
	var out []outKV
	for _, t := range tags {
		out = append(out, outKV(t))
	}
	return out
}

func toOutExperiment(e *mlflow.Experiment) outExperiment {
	o := outExperiment{
		ExperimentID: e.ID, Name: e.Name, ArtifactLocation: e.ArtifactLocation,
		LifecycleStage: e.LifecycleStage, LastUpdateTime: e.LastUpdateTime, CreationTime: e.CreationTime,
	}
	o.Tags = outTags(e.Tags)
	return o
}

func toOutRunInfo(i *mlflow.RunInfo) outRunInfo {
	o := outRunInfo{
		RunUUID: i.RunID, RunID: i.RunID, RunName: i.RunName, ExperimentID: i.ExperimentID,
		UserID: i.UserID, Status: string(i.Status), StartTime: i.StartTime,
		ArtifactURI: i.ArtifactURI, LifecycleStage: i.LifecycleStage,
	}
	if i.EndTime != 0 {
		end := i.EndTime
		o.EndTime = &end
	}
	return o
}

func toOutMetric(m mlflow.Metric) outMetric {
	return outMetric{Key: m.Key, Value: jsonDouble(m.Value), Timestamp: m.Timestamp, Step: m.Step}
}

func toOutRun(r *mlflow.Run) outRun {
	o := outRun{Info: toOutRunInfo(&r.Info)}
	for _, m := range r.Data.Metrics {
		o.Data.Metrics = append(o.Data.Metrics, toOutMetric(m))
	}
	for _, p := range r.Data.Params {
		o.Data.Params = append(o.Data.Params, outKV(p))
	}
	o.Data.Tags = outTags(r.Data.Tags)
	return o
}

// bareNonFinite reports whether body holds a NaN, Infinity or -Infinity
// token outside a string: Python's json module accepts those, Go's (and the
// JSON spec) does not.
func bareNonFinite(body []byte) bool {
	inString, escaped := false, false
	for i := 0; i < len(body); i++ {
		c := body[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			continue
		}
		rest := body[i:]
		if bytes.HasPrefix(rest, []byte("NaN")) || bytes.HasPrefix(rest, []byte("Infinity")) {
			return true
		}
	}
	return false
}

// fieldError turns a decode error into the message shape MLflow uses for
// a parameter of the wrong type.
func fieldError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("Invalid value for parameter '%s' supplied: expected %s, got JSON %s. See the API docs for more information about request parameters.", te.Field, te.Type, te.Value)
	}
	msg := err.Error()
	if i := strings.Index(msg, "json: cannot unmarshal"); i >= 0 {
		msg = msg[i:]
	}
	return "Invalid request parameters: " + msg + ". See the API docs for more information about request parameters."
}
