package mlflowtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// MLflow 3 logged models, as an MLflow 3.0 server with the SQL store answers
// them (mlflow/server/handlers.py, mlflow/store/tracking/sqlalchemy_store.py):
// POST logged-models, GET, PATCH (finalize) and DELETE logged-models/<id>,
// PATCH logged-models/<id>/tags, POST logged-models/search (experiment ids
// only) and POST runs/outputs, whose outputs runs/get answers. Without
// WithLoggedModels the server is an MLflow 2 server and answers these paths
// with Flask's 404 page, as 2.9 does. Absent: logged model params/metrics
// RPCs, search filters, ordering and pages.

// WithLoggedModels makes the server an MLflow 3 server: the logged-model
// RPCs exist, and model-versions/create takes model_id and models:/<id>
// sources.
func WithLoggedModels() Option { return func(s *Server) { s.reg.v3 = true } }

type loggedModel struct {
	id, experimentID, name string
	artifactURI            string
	status                 string
	modelType              string
	sourceRunID            string
	created, updated       int64
	tags                   []mlflow.Tag
	params                 []mlflow.Param
}

// LoggedModelOutput is a run's model output (runs/outputs).
type LoggedModelOutput struct {
	ModelID string
	Step    int64
}

type outLoggedModel struct {
	Info struct {
		ModelID                string  `json:"model_id"`
		ExperimentID           string  `json:"experiment_id"`
		Name                   string  `json:"name"`
		CreationTimestampMs    int64   `json:"creation_timestamp_ms"`
		LastUpdatedTimestampMs int64   `json:"last_updated_timestamp_ms"`
		ArtifactURI            string  `json:"artifact_uri"`
		Status                 string  `json:"status"`
		ModelType              string  `json:"model_type"`
		SourceRunID            string  `json:"source_run_id,omitempty"`
		Tags                   []outKV `json:"tags,omitempty"`
	} `json:"info"`
	Data struct {
		Params []outKV `json:"params,omitempty"`
	} `json:"data"`
}

func (m *loggedModel) out() outLoggedModel {
	var o outLoggedModel
	o.Info.ModelID, o.Info.ExperimentID, o.Info.Name = m.id, m.experimentID, m.name
	o.Info.CreationTimestampMs, o.Info.LastUpdatedTimestampMs = m.created, m.updated
	o.Info.ArtifactURI, o.Info.Status, o.Info.ModelType, o.Info.SourceRunID = m.artifactURI, m.status, m.modelType, m.sourceRunID
	o.Info.Tags = outTags(m.tags)
	for _, p := range m.params {
		o.Data.Params = append(o.Data.Params, outKV{Key: p.Key, Value: p.Value})
	}
	return o
}

func loggedModelNotFound(id string) *mlflow.APIError {
	return mlflow.NewError(mlflow.ErrorCodeResourceDoesNotExist, "Logged model with ID '%s' not found.", id)
}

// loggedModel returns a logged model by id; the caller holds s.mu.
func (s *Server) loggedModel(id string) (*loggedModel, *mlflow.APIError) {
	m, ok := s.reg.loggedModels[id]
	if !ok {
		return nil, loggedModelNotFound(id)
	}
	return m, nil
}

// setLoggedModelTag sets one tag, replacing a tag with the same key.
func (m *loggedModel) setTag(key, value string) {
	for i := range m.tags {
		if m.tags[i].Key == key {
			m.tags[i].Value = value
			return
		}
	}
	m.tags = append(m.tags, mlflow.Tag{Key: key, Value: value})
}

// addModelVersionTag records a registered version on its logged model as
// the 3.0 server does after model-versions/create (tag
// mlflow.modelVersions, a JSON list written by Python's json.dumps).
func (m *loggedModel) addModelVersionTag(name string, version int) {
	type entry struct {
		Name    string `json:"name"`
		Version int    `json:"version"`
	}
	var list []entry
	for _, t := range m.tags {
		if t.Key == "mlflow.modelVersions" {
			_ = json.Unmarshal([]byte(t.Value), &list)
		}
	}
	e := entry{name, version}
	if !slices.Contains(list, e) {
		list = append(list, e)
	}
	parts := make([]string, len(list))
	for i, e := range list {
		n, _ := json.Marshal(e.Name)
		parts[i] = fmt.Sprintf(`{"name": %s, "version": %d}`, n, e.Version)
	}
	m.setTag("mlflow.modelVersions", "["+strings.Join(parts, ", ")+"]")
}

// validateLoggedModelName is MLflow 3.0's _validate_logged_model_name.
func validateLoggedModelName(name optString) *mlflow.APIError {
	if !name.Set {
		return nil
	}
	if name.Value == "" || strings.ContainsAny(name.Value, `/:.%"'`) {
		return invalidParam("Invalid model name (%s) provided. Model name must be a non-empty string and cannot contain the following characters: ('/', ':', '.', '%%', '\"', \"'\")", pyRepr(name.Value))
	}
	return nil
}

func pyRepr(s string) string {
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
}

// createLoggedModel is POST logged-models.
func (s *Server) createLoggedModel(a args) (any, *mlflow.APIError) {
	req, err := decode[struct {
		ExperimentID optString `json:"experiment_id"`
		Name         optString `json:"name"`
		ModelType    optString `json:"model_type"`
		SourceRunID  optString `json:"source_run_id"`
		Params       []wireKV  `json:"params"`
		Tags         []wireKV  `json:"tags"`
	}](a.obj)
	if err != nil {
		return nil, err
	}
	if err := require(required{"experiment_id", req.ExperimentID}); err != nil {
		return nil, err
	}
	if err := validateLoggedModelName(req.Name); err != nil {
		return nil, err
	}
	exp, err := s.st.activeExperiment(req.ExperimentID.Value)
	if err != nil {
		return nil, err
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := "m-" + hex.EncodeToString(b[:])
	name := req.Name.Value
	if name == "" {
		name = "model-" + id[2:10]
	}
	now := s.nowMs()
	m := &loggedModel{
		id: id, experimentID: exp.ID, name: name, status: "LOGGED_MODEL_PENDING",
		artifactURI: strings.TrimSuffix(exp.ArtifactLocation, "/") + "/models/" + id + "/artifacts",
		modelType:   req.ModelType.Value, sourceRunID: req.SourceRunID.Value,
		created: now, updated: now, tags: kvTags(req.Tags),
	}
	for _, p := range req.Params {
		m.params = append(m.params, mlflow.Param{Key: p.Key.Value, Value: p.Value.Value})
	}
	s.reg.loggedModels[id] = m
	return map[string]any{"model": m.out()}, nil
}

// getLoggedModel is GET logged-models/{model_id}.
func (s *Server) getLoggedModel(a args) (any, *mlflow.APIError) {
	m, err := s.loggedModel(a.param)
	if err != nil {
		return nil, err
	}
	return map[string]any{"model": m.out()}, nil
}

// finalizeLoggedModel is PATCH logged-models/{model_id}: a new status.
func (s *Server) finalizeLoggedModel(a args) (any, *mlflow.APIError) {
	req, err := decode[struct {
		Status optString `json:"status"`
	}](a.obj)
	if err != nil {
		return nil, err
	}
	if err := require(required{"status", req.Status}); err != nil {
		return nil, err
	}
	switch req.Status.Value {
	case "LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED":
	default:
		return nil, invalidParam("Invalid value %q for parameter 'status' supplied.", req.Status.Value)
	}
	m, err := s.loggedModel(a.param)
	if err != nil {
		return nil, err
	}
	m.status, m.updated = req.Status.Value, s.nowMs()
	return map[string]any{"model": m.out()}, nil
}

// deleteLoggedModel is DELETE logged-models/{model_id}.
func (s *Server) deleteLoggedModel(a args) (any, *mlflow.APIError) {
	if _, err := s.loggedModel(a.param); err != nil {
		return nil, err
	}
	delete(s.reg.loggedModels, a.param)
	return empty{}, nil
}

// setLoggedModelTags is PATCH logged-models/{model_id}/tags.
func (s *Server) setLoggedModelTags(a args) (any, *mlflow.APIError) {
	req, err := decode[struct {
		Tags []wireKV `json:"tags"`
	}](a.obj)
	if err != nil {
		return nil, err
	}
	m, err := s.loggedModel(a.param)
	if err != nil {
		return nil, err
	}
	for _, t := range req.Tags {
		m.setTag(t.Key.Value, t.Value.Value)
	}
	return empty{}, nil
}

// searchLoggedModels is POST logged-models/search: the models of the
// experiments asked for (all without experiment_ids), newest first, in one
// page.
func (s *Server) searchLoggedModels(a args) (any, *mlflow.APIError) {
	req, err := decode[struct {
		ExperimentIDs []string `json:"experiment_ids"`
	}](a.obj)
	if err != nil {
		return nil, err
	}
	var ms []*loggedModel
	for _, m := range s.reg.loggedModels {
		if len(req.ExperimentIDs) == 0 || slices.Contains(req.ExperimentIDs, m.experimentID) {
			ms = append(ms, m)
		}
	}
	// Newest first, as the SQL store orders by creation time.
	slices.SortFunc(ms, func(a, b *loggedModel) int {
		if a.created != b.created {
			return int(b.created - a.created)
		}
		return strings.Compare(a.id, b.id)
	})
	out := struct {
		Models []outLoggedModel `json:"models,omitempty"`
	}{}
	for _, m := range ms {
		out.Models = append(out.Models, m.out())
	}
	return out, nil
}

// logOutputs is runs/outputs: models a run produced.
func (s *Server) logOutputs(a args) (any, *mlflow.APIError) {
	req, err := decode[struct {
		RunID  optString `json:"run_id"`
		Models []struct {
			ModelID optString `json:"model_id"`
			Step    optInt64  `json:"step"`
		} `json:"models"`
	}](a.obj)
	if err != nil {
		return nil, err
	}
	if err := require(required{"run_id", req.RunID}); err != nil {
		return nil, err
	}
	if _, err := s.st.activeRun(req.RunID.Value); err != nil {
		return nil, err
	}
	for _, m := range req.Models {
		// The SQL store records the link without checking the model.
		s.reg.outputs[req.RunID.Value] = append(s.reg.outputs[req.RunID.Value], LoggedModelOutput{ModelID: m.ModelID.Value, Step: m.Step.Value})
	}
	return empty{}, nil
}

// parseModelsURI returns the model id of models:/<id> (not models:/<name>/<version>).
func parseModelsURI(source string) (string, bool) {
	rest, ok := strings.CutPrefix(source, "models:/")
	if !ok {
		return "", false
	}
	rest = strings.TrimPrefix(rest, "/")
	if rest == "" || strings.Contains(rest, "/") {
		return "", false
	}
	if u, err := url.PathUnescape(rest); err == nil {
		rest = u
	}
	return rest, strings.HasPrefix(rest, "m-")
}

// LoggedModel reports a logged model's status, artifact URI, source run
// and tags, and whether it exists.
func (s *Server) LoggedModel(id string) (status, artifactURI, sourceRunID string, tags []mlflow.Tag, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, found := s.reg.loggedModels[id]
	if !found {
		return "", "", "", nil, false
	}
	return m.status, m.artifactURI, m.sourceRunID, slices.Clone(m.tags), true
}

// RunOutputs returns the model outputs recorded for a run (runs/outputs).
func (s *Server) RunOutputs(runID string) []LoggedModelOutput {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reg.outputs[runID])
}
