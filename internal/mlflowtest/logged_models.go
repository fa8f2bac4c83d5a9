package mlflowtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// MLflow 3 logged models, as an MLflow 3.0 server with the SQL store answers
// them (mlflow/server/handlers.py, mlflow/store/tracking/sqlalchemy_store.py):
// POST logged-models, GET and PATCH (finalize) logged-models/<id>, PATCH
// logged-models/<id>/tags, POST logged-models/search (experiment ids only)
// and POST runs/outputs. Without WithLoggedModels the server is an MLflow 2
// server and answers these paths with Flask's 404 page, as 2.9 does.
// Absent: logged model params/metrics RPCs, delete, search filters and
// ordering, and run outputs in runs/get.

// WithLoggedModels makes the server an MLflow 3 server: the logged-model
// RPCs exist, and model-versions/create takes model_id and models:/<id>
// sources.
func WithLoggedModels() Option { return func(s *Server) { s.reg.v3 = true } }

// WithMLflowPathDecoding is kept for callers: the artifact proxy always
// decodes paths as a real MLflow server does (see decodeArtifactPath).
func WithMLflowPathDecoding() Option { return func(*Server) {} }

const (
	rpcLoggedModelsCreate = "logged-models"
	rpcLoggedModelsSearch = "logged-models/search"
	rpcLoggedModel        = "logged-models/{model_id}"
	rpcLoggedModelTags    = "logged-models/{model_id}/tags"
	rpcRunsOutputs        = "runs/outputs"
)

var loggedModelMethods = map[string][]string{
	rpcLoggedModelsCreate: {http.MethodPost},
	rpcLoggedModelsSearch: {http.MethodPost},
	rpcLoggedModel:        {http.MethodGet, http.MethodPatch, http.MethodDelete},
	rpcLoggedModelTags:    {http.MethodPatch},
	rpcRunsOutputs:        {http.MethodPost},
}

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

// loggedModelRoute recognises logged-model paths; id is the path's
// {model_id}, percent-decoded once as Flask decodes it.
func loggedModelRoute(rpc string) (routeInfo, bool) {
	if m, ok := loggedModelMethods[rpc]; ok {
		return routeInfo{rpc: rpc, methods: m}, true
	}
	rest, ok := strings.CutPrefix(rpc, "logged-models/")
	if !ok || rest == "" {
		return routeInfo{}, false
	}
	if id, ok := strings.CutSuffix(rest, "/tags"); ok && id != "" && !strings.Contains(id, "/") {
		return routeInfo{rpc: rpcLoggedModelTags, methods: loggedModelMethods[rpcLoggedModelTags], rest: id}, true
	}
	if strings.Contains(rest, "/") {
		return routeInfo{}, false
	}
	return routeInfo{rpc: rpcLoggedModel, methods: loggedModelMethods[rpcLoggedModel], rest: rest}, true
}

func isLoggedModelRPC(rpc string) bool {
	_, ok := loggedModelMethods[rpc]
	return ok
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

// handleLoggedModel runs one logged-model RPC; the caller holds s.mu.
func (s *Server) handleLoggedModel(method string, rt routeInfo, obj []byte) (any, *mlflow.APIError) {
	if s.reg.loggedModels == nil {
		s.reg.loggedModels = map[string]*loggedModel{}
		s.reg.outputs = map[string][]LoggedModelOutput{}
	}
	switch {
	case rt.rpc == rpcLoggedModelsCreate:
		var req struct {
			ExperimentID optString `json:"experiment_id"`
			Name         optString `json:"name"`
			ModelType    optString `json:"model_type"`
			SourceRunID  optString `json:"source_run_id"`
			Params       []wireKV  `json:"params"`
			Tags         []wireKV  `json:"tags"`
		}
		if err := decode(obj, &req); err != nil {
			return nil, err
		}
		if req.ExperimentID.Value == "" {
			return nil, missing("experiment_id")
		}
		if err := validateLoggedModelName(req.Name); err != nil {
			return nil, err
		}
		exp, err := s.st.experiment(req.ExperimentID.Value)
		if err != nil {
			return nil, err
		}
		if exp.LifecycleStage != mlflow.LifecycleActive {
			return nil, invalidParam("The experiment %s must be in the 'active' state. Current state is %s.", exp.ID, exp.LifecycleStage)
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

	case rt.rpc == rpcLoggedModel && method == http.MethodGet:
		m, err := s.loggedModel(rt.rest)
		if err != nil {
			return nil, err
		}
		return map[string]any{"model": m.out()}, nil

	case rt.rpc == rpcLoggedModel && method == http.MethodPatch:
		var req struct {
			Status optString `json:"status"`
		}
		if err := decode(obj, &req); err != nil {
			return nil, err
		}
		switch req.Status.Value {
		case "":
			return nil, missing("status")
		case "LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED":
		default:
			return nil, invalidParam("Invalid value %q for parameter 'status' supplied.", req.Status.Value)
		}
		m, err := s.loggedModel(rt.rest)
		if err != nil {
			return nil, err
		}
		m.status, m.updated = req.Status.Value, s.nowMs()
		return map[string]any{"model": m.out()}, nil

	case rt.rpc == rpcLoggedModel && method == http.MethodDelete:
		if _, err := s.loggedModel(rt.rest); err != nil {
			return nil, err
		}
		delete(s.reg.loggedModels, rt.rest)
		return empty{}, nil

	case rt.rpc == rpcLoggedModelTags:
		var req struct {
			Tags []wireKV `json:"tags"`
		}
		if err := decode(obj, &req); err != nil {
			return nil, err
		}
		m, err := s.loggedModel(rt.rest)
		if err != nil {
			return nil, err
		}
		for _, t := range req.Tags {
			m.setTag(t.Key.Value, t.Value.Value)
		}
		return empty{}, nil

	case rt.rpc == rpcLoggedModelsSearch:
		var req struct {
			ExperimentIDs []string `json:"experiment_ids"`
		}
		if err := decode(obj, &req); err != nil {
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

	case rt.rpc == rpcRunsOutputs:
		var req struct {
			RunID  optString `json:"run_id"`
			Models []struct {
				ModelID optString `json:"model_id"`
				Step    optInt64  `json:"step"`
			} `json:"models"`
		}
		if err := decode(obj, &req); err != nil {
			return nil, err
		}
		if req.RunID.Value == "" {
			return nil, missing("run_id")
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
	return nil, errHTML500
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

// decodeArtifactPath turns the path of a proxied artifact request, already
// percent-decoded once by the HTTP server (as Flask decodes it), into the
// name the real server stores: MLflow's validate_path_is_safe (the 2.9 and
// 3.0 handlers both use its result) unquotes it again until it stops
// changing, so "%25" + "41" ends up "A" and "%10" a control character;
// 3.0 then writes control characters back as %xx (lowercase hex). The
// server lives in this file because that last step is MLflow 3's.
// A "#" anywhere is refused ("Invalid path"), as validate_path_is_safe
// refuses it. Both apply always: the test server follows the real one.
func (s *Server) decodeArtifactPath(p string) (string, error) {
	for range 10 {
		d := pyUnquote(p)
		if d == p {
			break
		}
		p = d
	}
	if s.reg.v3 {
		var b strings.Builder
		for _, c := range p {
			if c < 0x20 || c == 0x7f {
				fmt.Fprintf(&b, "%%%02x", c)
				continue
			}
			b.WriteRune(c)
		}
		p = b.String()
	}
	return p, nil
}

// pyUnquote is Python's urllib.parse.unquote: valid %XX escapes become
// bytes, anything else stays, and the bytes are read as UTF-8 with
// invalid sequences replaced by U+FFFD.
func pyUnquote(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
