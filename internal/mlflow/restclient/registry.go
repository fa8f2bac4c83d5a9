package restclient

import (
	"context"
	"fmt"
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
}

// CreateModelVersionRequest is the input of model-versions/create. Source is
// the model's artifact location (the run's artifact URI plus the model's
// artifact path, as MLflow's log_model registers it).
type CreateModelVersionRequest struct {
	Name        string
	Source      string
	RunID       string
	Description string
	Tags        []mlflow.Tag
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
}

func (w *wireModelVersion) toModel() *ModelVersion {
	return &ModelVersion{
		Name: w.Name, Version: w.Version, Source: w.Source, RunID: w.RunID, Status: w.Status,
		CurrentStage: w.CurrentStage, Description: w.Description,
		CreationTimestamp: int64(w.CreationTimestamp), Tags: tagsFromWire(w.Tags),
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
	}{r.Name, r.Source, r.RunID, r.Description, tagsToWire(r.Tags)}
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
