package restclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// RegisteredModel is a model registry entry (registered-models/*).
type RegisteredModel struct {
	Name                 string
	Description          string
	CreationTimestamp    int64
	LastUpdatedTimestamp int64
	Tags                 []mlflow.Tag
}

// ModelVersion is one version of a registered model (model-versions/*).
// Version is a decimal string, as on the wire.
type ModelVersion struct {
	Name              string
	Version           string
	Source            string
	RunID             string
	Status            string // READY; PENDING_REGISTRATION while a server copies the files
	CurrentStage      string
	Description       string
	CreationTimestamp int64
	Tags              []mlflow.Tag
	// ModelID is the MLflow 3 logged model the version was made from, when
	// the server reports it.
	ModelID string
}

// CreateModelVersionRequest is the input of model-versions/create. Source is
// the model's artifact location: on MLflow 2 the run's artifact URI plus the
// model's artifact path, on MLflow 3 "models:/<model id>" with ModelID set
// (as MLflow's log_model registers them).
type CreateModelVersionRequest struct {
	Name        string
	Source      string
	RunID       string
	Description string
	Tags        []mlflow.Tag
	// ModelID links the version to an MLflow 3 logged model; MLflow 3
	// servers then validate Source against it and tag the logged model
	// mlflow.modelVersions. Servers before 3.0 ignore the field.
	ModelID string
}

type wireRegisteredModel struct {
	Name                 string    `json:"name"`
	Description          string    `json:"description"`
	CreationTimestamp    flexInt64 `json:"creation_timestamp"`
	LastUpdatedTimestamp flexInt64 `json:"last_updated_timestamp"`
	Tags                 []wireKV  `json:"tags"`
}

func (w *wireRegisteredModel) toModel() *RegisteredModel {
	return &RegisteredModel{
		Name: w.Name, Description: w.Description,
		CreationTimestamp: int64(w.CreationTimestamp), LastUpdatedTimestamp: int64(w.LastUpdatedTimestamp),
		Tags: tagsFromWire(w.Tags),
	}
}

type wireModelVersion struct {
	Name              string    `json:"name"`
	Version           string    `json:"version"`
	Source            string    `json:"source"`
	RunID             string    `json:"run_id"`
	Status            string    `json:"status"`
	CurrentStage      string    `json:"current_stage"`
	Description       string    `json:"description"`
	CreationTimestamp flexInt64 `json:"creation_timestamp"`
	Tags              []wireKV  `json:"tags"`
	ModelID           string    `json:"model_id"`
}

func (w *wireModelVersion) toModel() *ModelVersion {
	return &ModelVersion{
		Name: w.Name, Version: w.Version, Source: w.Source, RunID: w.RunID, Status: w.Status,
		CurrentStage: w.CurrentStage, Description: w.Description,
		CreationTimestamp: int64(w.CreationTimestamp), Tags: tagsFromWire(w.Tags), ModelID: w.ModelID,
	}
}

// CreateRegisteredModel creates a registered model; a taken name fails with
// an error for which mlflow.IsAlreadyExists is true.
func (c *Client) CreateRegisteredModel(ctx context.Context, name, description string, tags []mlflow.Tag) (*RegisteredModel, error) {
	in := struct {
		Name        string   `json:"name"`
		Description string   `json:"description,omitempty"`
		Tags        []wireKV `json:"tags,omitempty"`
	}{name, description, tagsToWire(tags)}
	var out struct {
		RegisteredModel wireRegisteredModel `json:"registered_model"`
	}
	if err := c.post(ctx, "registered-models/create", in, &out); err != nil {
		return nil, fmt.Errorf("create registered model %q: %w", name, err)
	}
	return out.RegisteredModel.toModel(), nil
}

// GetRegisteredModel reads a registered model by name.
func (c *Client) GetRegisteredModel(ctx context.Context, name string) (*RegisteredModel, error) {
	var out struct {
		RegisteredModel wireRegisteredModel `json:"registered_model"`
	}
	if err := c.get(ctx, "registered-models/get", url.Values{"name": {name}}, &out); err != nil {
		return nil, fmt.Errorf("get registered model %q: %w", name, err)
	}
	return out.RegisteredModel.toModel(), nil
}

// CreateModelVersion registers a new version of an existing registered
// model; versions count up from "1" per model.
func (c *Client) CreateModelVersion(ctx context.Context, r CreateModelVersionRequest) (*ModelVersion, error) {
	in := struct {
		Name        string   `json:"name"`
		Source      string   `json:"source"`
		RunID       string   `json:"run_id,omitempty"`
		Description string   `json:"description,omitempty"`
		Tags        []wireKV `json:"tags,omitempty"`
		ModelID     string   `json:"model_id,omitempty"`
	}{r.Name, r.Source, r.RunID, r.Description, tagsToWire(r.Tags), r.ModelID}
	var out struct {
		ModelVersion wireModelVersion `json:"model_version"`
	}
	if err := c.post(ctx, "model-versions/create", in, &out); err != nil {
		return nil, fmt.Errorf("create model version of %q: %w", r.Name, err)
	}
	return out.ModelVersion.toModel(), nil
}

// GetModelVersion reads one version of a registered model.
func (c *Client) GetModelVersion(ctx context.Context, name, version string) (*ModelVersion, error) {
	var out struct {
		ModelVersion wireModelVersion `json:"model_version"`
	}
	if err := c.get(ctx, "model-versions/get", url.Values{"name": {name}, "version": {version}}, &out); err != nil {
		return nil, fmt.Errorf("get model version %s of %q: %w", version, name, err)
	}
	return out.ModelVersion.toModel(), nil
}

// MLflow 3 logged models (mlflow/protos/service.proto: CreateLoggedModel,
// GetLoggedModel, FinalizeLoggedModel, LogOutputs). Servers before 3.0 answer
// these paths with a 404 HTML page; mlflow.IsEndpointMissing recognises that answer
// so callers can fall back to the MLflow 2 way of logging a model.

// Logged model statuses (enum LoggedModelStatus).
const (
	LoggedModelPending      = "LOGGED_MODEL_PENDING"
	LoggedModelReady        = "LOGGED_MODEL_READY"
	LoggedModelUploadFailed = "LOGGED_MODEL_UPLOAD_FAILED"
)

// LoggedModel is an MLflow 3 logged model (LoggedModelInfo and its params).
type LoggedModel struct {
	ModelID      string
	ExperimentID string
	Name         string
	// ArtifactURI is where the model's files go:
	// <experiment artifact location>/models/<model id>/artifacts.
	ArtifactURI            string
	Status                 string
	ModelType              string
	SourceRunID            string
	CreationTimestampMs    int64
	LastUpdatedTimestampMs int64
	Tags                   []mlflow.Tag
	Params                 []mlflow.Param
}

// CreateLoggedModelRequest is the input of POST logged-models.
type CreateLoggedModelRequest struct {
	ExperimentID string
	Name         string
	ModelType    string
	SourceRunID  string
	Params       []mlflow.Param
	Tags         []mlflow.Tag
}

type wireLoggedModel struct {
	Info struct {
		ModelID                string    `json:"model_id"`
		ExperimentID           string    `json:"experiment_id"`
		Name                   string    `json:"name"`
		CreationTimestampMs    flexInt64 `json:"creation_timestamp_ms"`
		LastUpdatedTimestampMs flexInt64 `json:"last_updated_timestamp_ms"`
		ArtifactURI            string    `json:"artifact_uri"`
		Status                 string    `json:"status"`
		ModelType              string    `json:"model_type"`
		SourceRunID            string    `json:"source_run_id"`
		Tags                   []wireKV  `json:"tags"`
	} `json:"info"`
	Data struct {
		Params []wireKV `json:"params"`
	} `json:"data"`
}

func (w *wireLoggedModel) toModel() *LoggedModel {
	m := &LoggedModel{
		ModelID: w.Info.ModelID, ExperimentID: w.Info.ExperimentID, Name: w.Info.Name,
		ArtifactURI: w.Info.ArtifactURI, Status: w.Info.Status, ModelType: w.Info.ModelType,
		SourceRunID: w.Info.SourceRunID, CreationTimestampMs: int64(w.Info.CreationTimestampMs),
		LastUpdatedTimestampMs: int64(w.Info.LastUpdatedTimestampMs), Tags: tagsFromWire(w.Info.Tags),
	}
	for _, p := range w.Data.Params {
		m.Params = append(m.Params, mlflow.Param{Key: p.Key, Value: p.Value})
	}
	return m
}

// send calls an RPC whose method and path the caller chooses (PATCH and the
// path-parameter RPCs of logged models).
func (c *Client) send(ctx context.Context, method, rpcPath, rpcName string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("mlflow %s: encode request: %w", rpcName, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+rpcPath, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("mlflow %s: %w", rpcName, err)
	}
	req.Header.Set("Content-Type", "application/json")
	return c.do(req, rpcName, out)
}

// CreateLoggedModel creates an MLflow 3 logged model in status
// LOGGED_MODEL_PENDING. A server before MLflow 3 fails with an error for
// which mlflow.IsEndpointMissing is true.
func (c *Client) CreateLoggedModel(ctx context.Context, r CreateLoggedModelRequest) (*LoggedModel, error) {
	params := make([]wireKV, 0, len(r.Params))
	for _, p := range r.Params {
		params = append(params, wireKV{Key: p.Key, Value: p.Value})
	}
	in := struct {
		ExperimentID string   `json:"experiment_id"`
		Name         string   `json:"name,omitempty"`
		ModelType    string   `json:"model_type,omitempty"`
		SourceRunID  string   `json:"source_run_id,omitempty"`
		Params       []wireKV `json:"params,omitempty"`
		Tags         []wireKV `json:"tags,omitempty"`
	}{r.ExperimentID, r.Name, r.ModelType, r.SourceRunID, params, tagsToWire(r.Tags)}
	var out struct {
		Model wireLoggedModel `json:"model"`
	}
	if err := c.post(ctx, "logged-models", in, &out); err != nil {
		return nil, fmt.Errorf("create logged model %q: %w", r.Name, err)
	}
	return out.Model.toModel(), nil
}

// GetLoggedModel reads a logged model by id.
func (c *Client) GetLoggedModel(ctx context.Context, modelID string) (*LoggedModel, error) {
	var out struct {
		Model wireLoggedModel `json:"model"`
	}
	if err := c.get(ctx, "logged-models/"+url.PathEscape(modelID), nil, &out); err != nil {
		return nil, fmt.Errorf("get logged model %s: %w", modelID, err)
	}
	return out.Model.toModel(), nil
}

// FinalizeLoggedModel sets a logged model's final status
// (LoggedModelReady once its files are uploaded, LoggedModelUploadFailed
// otherwise), with PATCH logged-models/<id>.
func (c *Client) FinalizeLoggedModel(ctx context.Context, modelID, status string) (*LoggedModel, error) {
	in := struct {
		ModelID string `json:"model_id"`
		Status  string `json:"status"`
	}{modelID, status}
	var out struct {
		Model wireLoggedModel `json:"model"`
	}
	if err := c.send(ctx, http.MethodPatch, "logged-models/"+url.PathEscape(modelID), "logged-models/finalize", in, &out); err != nil {
		return nil, fmt.Errorf("finalize logged model %s: %w", modelID, err)
	}
	return out.Model.toModel(), nil
}

// ModelOutput links a logged model to a run as one of its outputs.
type ModelOutput struct {
	ModelID string
	Step    int64
}

// LogOutputs records models as outputs of a run (runs/outputs); MLflow 3's
// UI lists a run's logged models from them.
func (c *Client) LogOutputs(ctx context.Context, runID string, models []ModelOutput) error {
	type wireOutput struct {
		ModelID string `json:"model_id"`
		Step    int64  `json:"step"`
	}
	in := struct {
		RunID  string       `json:"run_id"`
		Models []wireOutput `json:"models"`
	}{RunID: runID}
	for _, m := range models {
		in.Models = append(in.Models, wireOutput{m.ModelID, m.Step})
	}
	if err := c.post(ctx, "runs/outputs", in, nil); err != nil {
		return fmt.Errorf("log outputs of run %s: %w", runID, err)
	}
	return nil
}
