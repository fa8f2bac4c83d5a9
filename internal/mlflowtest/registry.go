package mlflowtest

import (
	"strconv"
	"strings"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// The model registry part of the server: registered-models/create|get and
// model-versions/create|get, kept in memory like the tracking store and
// answered as MLflow's SQL registry store and handlers answer them (error
// codes and messages of mlflow/store/model_registry/sqlalchemy_store.py).
// Absent: search, rename, update, delete, aliases, stages, tags RPCs.

type registeredModel struct {
	name        string
	description string
	created     int64
	updated     int64
	tags        []mlflow.Tag
	versions    []*modelVersion // index = version - 1
}

type modelVersion struct {
	version     int
	source      string
	runID       string
	description string
	created     int64
	tags        []mlflow.Tag
}

// registry is the registry's state, guarded by Server.mu. With v3 the
// server also has MLflow 3's logged models (logged_models.go).
type registry struct {
	models       map[string]*registeredModel
	v3           bool
	loggedModels map[string]*loggedModel
	outputs      map[string][]LoggedModelOutput // run id -> runs/outputs
}

type outRegisteredModel struct {
	Name                 string  `json:"name"`
	CreationTimestamp    int64   `json:"creation_timestamp"`
	LastUpdatedTimestamp int64   `json:"last_updated_timestamp"`
	Description          string  `json:"description,omitempty"`
	Tags                 []outKV `json:"tags,omitempty"`
	// LatestVersions: registered-models/get lists the newest version per
	// stage (only "None" here); create answers without it.
	LatestVersions []outModelVersion `json:"latest_versions,omitempty"`
}

type outModelVersion struct {
	Name                 string `json:"name"`
	Version              string `json:"version"`
	CreationTimestamp    int64  `json:"creation_timestamp"`
	LastUpdatedTimestamp int64  `json:"last_updated_timestamp"`
	CurrentStage         string `json:"current_stage"`
	// Both versions answer description and run_link even when empty
	// (recorded: registry-model-version-from-run).
	Description string  `json:"description"`
	RunLink     string  `json:"run_link"`
	Source      string  `json:"source"`
	RunID       string  `json:"run_id,omitempty"`
	Status      string  `json:"status"`
	Tags        []outKV `json:"tags,omitempty"`
}

func (m *registeredModel) out() outRegisteredModel {
	return outRegisteredModel{Name: m.name, CreationTimestamp: m.created, LastUpdatedTimestamp: m.updated,
		Description: m.description, Tags: outTags(m.tags)}
}

func (m *registeredModel) outVersion(v *modelVersion) outModelVersion {
	return outModelVersion{
		Name: m.name, Version: strconv.Itoa(v.version), CreationTimestamp: v.created, LastUpdatedTimestamp: v.created,
		CurrentStage: "None", Description: v.description, Source: v.source, RunID: v.runID, Status: "READY",
		Tags: outTags(v.tags),
	}
}

func modelNotFound(name string) *mlflow.APIError {
	return mlflow.NewError(mlflow.ErrorCodeResourceDoesNotExist, "Registered Model with name=%s not found", name)
}

// createRegisteredModel is registered-models/create.
func (s *Server) createRegisteredModel(a args) (any, *mlflow.APIError) {
	req, err := decode[struct {
		Name        optString `json:"name"`
		Description optString `json:"description"`
		Tags        []wireKV  `json:"tags"`
	}](a.obj)
	if err != nil {
		return nil, err
	}
	if err := require(required{"name", req.Name}); err != nil {
		return nil, err
	}
	name := req.Name.Value
	if _, ok := s.reg.models[name]; ok {
		return nil, mlflow.NewError(mlflow.ErrorCodeResourceAlreadyExists, "Registered Model (name=%s) already exists.", name)
	}
	now := s.nowMs()
	m := &registeredModel{name: name, description: req.Description.Value, created: now, updated: now, tags: kvTags(req.Tags)}
	s.reg.models[name] = m
	return map[string]any{"registered_model": m.out()}, nil
}

// getRegisteredModel is registered-models/get, with the latest version.
func (s *Server) getRegisteredModel(a args) (any, *mlflow.APIError) {
	req, err := decode[struct {
		Name optString `json:"name"`
	}](a.obj)
	if err != nil {
		return nil, err
	}
	if err := require(required{"name", req.Name}); err != nil {
		return nil, err
	}
	m, ok := s.reg.models[req.Name.Value]
	if !ok {
		return nil, modelNotFound(req.Name.Value)
	}
	out := m.out()
	if n := len(m.versions); n > 0 {
		out.LatestVersions = []outModelVersion{m.outVersion(m.versions[n-1])}
	}
	return map[string]any{"registered_model": out}, nil
}

// createModelVersion is model-versions/create.
func (s *Server) createModelVersion(a args) (any, *mlflow.APIError) {
	req, err := decode[struct {
		Name        optString `json:"name"`
		Source      optString `json:"source"`
		RunID       optString `json:"run_id"`
		Description optString `json:"description"`
		Tags        []wireKV  `json:"tags"`
		ModelID     optString `json:"model_id"`
	}](a.obj)
	if err != nil {
		return nil, err
	}
	if err := require(required{"name", req.Name}, required{"source", req.Source}); err != nil {
		return nil, err
	}
	if !s.reg.v3 {
		// MLflow 2's CreateModelVersion has no model_id field.
		req.ModelID = optString{}
	}
	// MLflow 3 validates a source against its logged model when model_id
	// is given (only local paths are checked for containment), and
	// resolves a models:/<id> source to that model's run.
	var lm *loggedModel
	if id := req.ModelID.Value; id != "" {
		if lm, err = s.loggedModel(id); err != nil {
			return nil, err
		}
	}
	if id, ok := parseModelsURI(req.Source.Value); ok && s.reg.v3 {
		src, err := s.loggedModel(id)
		if err != nil {
			return nil, mlflow.NewError(mlflow.ErrorCodeInvalidParameterValue, "Unable to fetch model from model URI source artifact location '%s'.Error: %s", req.Source.Value, err.Message)
		}
		if req.RunID.Value == "" {
			req.RunID = optString{Set: true, Value: src.sourceRunID}
		}
	}
	m, ok := s.reg.models[req.Name.Value]
	if !ok {
		return nil, modelNotFound(req.Name.Value)
	}
	if id := req.RunID.Value; id != "" && lm == nil && !strings.HasPrefix(req.Source.Value, "models:/") {
		// MLflow checks that a run's model source lies inside that
		// run's artifacts, so a version cannot point at another run.
		run, err := s.st.run(id)
		if err != nil {
			return nil, err
		}
		root := strings.TrimSuffix(run.info.ArtifactURI, "/")
		if req.Source.Value != root && !strings.HasPrefix(req.Source.Value, root+"/") &&
			!strings.HasPrefix(req.Source.Value, "runs:/"+id+"/") {
			return nil, invalidParam("Invalid model version source: '%s'. To use a local path as a model version source, the run_id request parameter has to be specified and the local path has to be contained within the artifact directory of the run specified by the run_id.", req.Source.Value)
		}
	}
	now := s.nowMs()
	v := &modelVersion{version: len(m.versions) + 1, source: req.Source.Value, runID: req.RunID.Value,
		description: req.Description.Value, created: now, tags: kvTags(req.Tags)}
	m.versions = append(m.versions, v)
	m.updated = now
	if lm != nil {
		lm.addModelVersionTag(m.name, v.version)
	}
	return map[string]any{"model_version": m.outVersion(v)}, nil
}

// getModelVersion is model-versions/get.
func (s *Server) getModelVersion(a args) (any, *mlflow.APIError) {
	req, err := decode[struct {
		Name    optString `json:"name"`
		Version optString `json:"version"`
	}](a.obj)
	if err != nil {
		return nil, err
	}
	if err := require(required{"name", req.Name}, required{"version", req.Version}); err != nil {
		return nil, err
	}
	m, ok := s.reg.models[req.Name.Value]
	if !ok {
		return nil, modelNotFound(req.Name.Value)
	}
	n, convErr := strconv.Atoi(req.Version.Value)
	if convErr != nil {
		return nil, invalidParam("Parameter 'version' must be an integer, got '%s'.", req.Version.Value)
	}
	if n < 1 || n > len(m.versions) {
		return nil, mlflow.NewError(mlflow.ErrorCodeResourceDoesNotExist, "Model Version (name=%s, version=%d) not found", m.name, n)
	}
	return map[string]any{"model_version": m.outVersion(m.versions[n-1])}, nil
}

// RegisteredModelVersions returns the sources of a registered model's
// versions in version order, and whether the model exists.
func (s *Server) RegisteredModelVersions(name string) ([]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.reg.models[name]
	if !ok {
		return nil, false
	}
	out := make([]string, len(m.versions))
	for i, v := range m.versions {
		out[i] = v.source
	}
	return out, true
}
