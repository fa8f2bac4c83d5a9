package mlflowtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

type routeInfo struct {
	rpc     string   // "runs/log-batch", "mlflow-artifacts/artifacts", or the raw path when unknown
	methods []string // allowed methods; nil for an unknown path
	rest    string   // artifact path after mlflow-artifacts/artifacts/
}

var rpcMethods = map[string][]string{
	"experiments/get-by-name": {http.MethodGet},
	"experiments/get":         {http.MethodGet},
	"experiments/create":      {http.MethodPost},
	"experiments/delete":      {http.MethodPost},
	"experiments/restore":     {http.MethodPost},
	"experiments/search":      {http.MethodGet, http.MethodPost},
	"runs/create":             {http.MethodPost},
	"runs/get":                {http.MethodGet},
	"runs/update":             {http.MethodPost},
	"runs/delete":             {http.MethodPost},
	"runs/restore":            {http.MethodPost},
	"runs/search":             {http.MethodPost},
	"runs/log-batch":          {http.MethodPost},
	"runs/log-metric":         {http.MethodPost},
	"runs/log-parameter":      {http.MethodPost},
	"runs/set-tag":            {http.MethodPost},
	"metrics/get-history":     {http.MethodGet},
	"artifacts/list":          {http.MethodGet},
}

const rpcArtifacts = "mlflow-artifacts/artifacts"

func route(p string) routeInfo {
	for _, prefix := range []string{"/api/2.0/", "/ajax-api/2.0/"} {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok {
			continue
		}
		if a, ok := strings.CutPrefix(rest, rpcArtifacts+"/"); ok && a != "" {
			return routeInfo{rpc: rpcArtifacts, methods: []string{http.MethodGet, http.MethodPut}, rest: a}
		}
		if rpc, ok := strings.CutPrefix(rest, "mlflow/"); ok {
			if m, ok := rpcMethods[rpc]; ok {
				return routeInfo{rpc: rpc, methods: m}
			}
		}
	}
	return routeInfo{rpc: p}
}

func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("request body over %d bytes", maxBody)
	}
	return b, nil
}

// Werkzeug's default error pages, which the real server answers for
// unknown paths, wrong methods and unhandled exceptions.
func writeHTML(w http.ResponseWriter, status int, title, heading, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html>\n<html lang=en>\n<title>%s</title>\n<h1>%s</h1>\n<p>%s</p>\n", title, heading, text)
}

func writeNotFound(w http.ResponseWriter) {
	writeHTML(w, http.StatusNotFound, "404 Not Found", "Not Found",
		"The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.")
}

func writeInternalError(w http.ResponseWriter) {
	writeHTML(w, http.StatusInternalServerError, "500 Internal Server Error", "Internal Server Error",
		"The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application.")
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeInternalError(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, e *mlflow.APIError) {
	b, _ := json.Marshal(struct {
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
	}{e.Code, e.Message})
	w.Header().Set("Content-Type", "application/json")
	status := e.HTTPStatus
	if status == 0 {
		status = mlflow.StatusForCode(e.Code)
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// errHTML500 marks a request the real server fails with an unhandled
// exception (a Werkzeug 500 page rather than MLflow JSON).
var errHTML500 = &mlflow.APIError{HTTPStatus: http.StatusInternalServerError}

func missing(param string) *mlflow.APIError {
	return invalidParam("Missing value for required parameter '%s'. See the API docs for more information about request parameters.", param)
}

// requestObject returns the request's arguments as a JSON object, the way
// MLflow's _get_request_message reads them.
func requestObject(r *http.Request, rpc string, body []byte) ([]byte, *mlflow.APIError) {
	if r.Method == http.MethodGet && r.URL.RawQuery != "" {
		return queryObject(r.URL.Query())
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		ct := r.Header.Get("Content-Type")
		if ct == "" {
			return nil, invalidParam("Bad Request. Content-Type header is missing.")
		}
		if base, _, _ := strings.Cut(ct, ";"); base != "application/json" {
			return nil, invalidParam("Bad Request. Content-Type must be one of ['application/json'].")
		}
	}
	if rpc == "runs/log-batch" && len(body) > mlflow.MaxBatchBytes {
		return nil, invalidParam("Batched logging API requests must be at most %d bytes, got a request of size %d.", mlflow.MaxBatchBytes, len(body))
	}
	if bareNonFinite(body) && !json.Valid(body) {
		// Python's json accepts NaN/Infinity tokens; protobuf then stops
		// parsing at that field, and MLflow stores whatever was parsed so far
		// (value, timestamp and step 0). This server refuses instead, so the
		// client bug surfaces as an error rather than as silent zeros.
		return nil, invalidParam("Bare NaN/Infinity JSON token in the request body: send \"NaN\", \"Infinity\" or \"-Infinity\" as strings (a real MLflow server answers 200 and stores corrupted points)")
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || !json.Valid(trimmed) {
		// get_json(silent=True) yields None, read as {}. log-batch first
		// calls len() on it, an unhandled TypeError.
		if rpc == "runs/log-batch" {
			return nil, errHTML500
		}
		return []byte("{}"), nil
	}
	switch trimmed[0] {
	case '{':
		return trimmed, nil
	case 'n': // null
		if rpc == "runs/log-batch" {
			return nil, errHTML500
		}
		return []byte("{}"), nil
	case '"':
		// Older clients double-encode: MLflow decodes a string body again.
		var inner string
		_ = json.Unmarshal(trimmed, &inner)
		in := bytes.TrimSpace([]byte(inner))
		if !json.Valid(in) || len(in) == 0 || in[0] != '{' {
			return nil, errHTML500
		}
		return in, nil
	}
	return nil, errHTML500
}

// queryObject turns query parameters into a JSON object; repeated fields
// become lists, everything else the last value (as a string, which the
// proto JSON mapping accepts for numbers too).
func queryObject(q url.Values) ([]byte, *mlflow.APIError) {
	obj := map[string]any{}
	for k, vs := range q {
		name := strings.TrimSuffix(k, "[]")
		switch name {
		case "experiment_ids", "order_by":
			if prev, ok := obj[name].([]string); ok {
				obj[name] = append(prev, vs...)
			} else {
				obj[name] = append([]string(nil), vs...)
			}
		default:
			obj[name] = vs[len(vs)-1]
		}
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, errHTML500
	}
	return b, nil
}

func decode(obj []byte, dst any) *mlflow.APIError {
	if err := json.Unmarshal(obj, dst); err != nil {
		return invalidParam("%s", fieldError(err))
	}
	return nil
}

func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, rt routeInfo, body []byte) {
	if rt.methods == nil {
		writeNotFound(w)
		return
	}
	// Flask answers HEAD on GET routes and OPTIONS everywhere by itself.
	allow := slices.Clone(rt.methods)
	if slices.Contains(allow, http.MethodGet) {
		allow = append(allow, http.MethodHead)
	}
	allow = append(allow, http.MethodOptions)
	sort.Strings(allow)
	switch {
	case r.Method == http.MethodOptions:
		w.Header().Set("Allow", strings.Join(allow, ", "))
		w.WriteHeader(http.StatusOK)
		return
	case !slices.Contains(allow, r.Method):
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeHTML(w, http.StatusMethodNotAllowed, "405 Method Not Allowed", "Method Not Allowed", "The method is not allowed for the requested URL.")
		return
	}
	if r.Method == http.MethodHead {
		r.Method = http.MethodGet // net/http drops the body of a HEAD answer
	}
	if rt.rpc == rpcArtifacts {
		s.handleArtifact(w, r, rt.rest, body)
		return
	}
	obj, aerr := requestObject(r, rt.rpc, body)
	var resp any
	if aerr == nil {
		s.mu.Lock()
		resp, aerr = s.handle(rt.rpc, obj)
		s.mu.Unlock()
	}
	switch {
	case aerr == errHTML500:
		writeInternalError(w)
	case aerr != nil:
		writeError(w, aerr)
	default:
		writeJSON(w, resp)
	}
}

type empty struct{}

// handle runs one RPC against the store; the caller holds s.mu.
func (s *Server) handle(rpc string, obj []byte) (any, *mlflow.APIError) {
	st := s.st
	switch rpc {
	case "experiments/get-by-name":
		var req struct {
			Name optString `json:"experiment_name"`
		}
		if err := decode(obj, &req); err != nil {
			return nil, err
		}
		if req.Name.Value == "" {
			return nil, missing("experiment_name")
		}
		e := st.experimentByName(req.Name.Value)
		if e == nil {
			return nil, mlflow.NewError(mlflow.ErrorCodeResourceDoesNotExist, "Could not find experiment with name '%s'", req.Name.Value)
		}
		return map[string]any{"experiment": toOutExperiment(e)}, nil

	case "experiments/get":
		var req reqExperimentID
		if err := decode(obj, &req); err != nil {
			return nil, err
		}
		if req.ExperimentID.Value == "" {
			return nil, missing("experiment_id")
		}
		e, err := st.experiment(req.ExperimentID.Value)
		if err != nil {
			return nil, err
		}
		return map[string]any{"experiment": toOutExperiment(e)}, nil

	case "experiments/create":
		var req reqCreateExperiment
		if err := decode(obj, &req); err != nil {
			return nil, err
		}
		if req.Name.Value == "" {
			return nil, missing("name")
		}
		id, err := st.createExperiment(req.Name.Value, req.ArtifactLocation.Value, kvTags(req.Tags), s.nowMs())
		if err != nil {
			return nil, err
		}
		return map[string]any{"experiment_id": id}, nil

	case "experiments/delete", "experiments/restore":
		var req reqExperimentID
		if err := decode(obj, &req); err != nil {
			return nil, err
		}
		if req.ExperimentID.Value == "" {
			return nil, missing("experiment_id")
		}
		from, to := mlflow.LifecycleActive, mlflow.LifecycleDeleted
		if rpc == "experiments/restore" {
			from, to = to, from
		}
		if err := st.setExperimentLifecycle(req.ExperimentID.Value, from, to, s.nowMs()); err != nil {
			return nil, err
		}
		return empty{}, nil

	case "experiments/search":
		var req reqSearchExperiments
		if err := decode(obj, &req); err != nil {
			return nil, err
		}
		view, err := viewType(req.ViewType)
		if err != nil {
			return nil, err
		}
		if len(req.OrderBy) > 0 {
			// Refused rather than ignored, so a caller relying on an order
			// learns the test server lacks it.
			return nil, invalidParam("experiments/search order_by is not supported by the mlflowtest server (default order: creation_time DESC, experiment_id ASC)")
		}
		max := int64(defaultMaxResults)
		if req.MaxResults.Set {
			max = req.MaxResults.Value
		}
		exps, token, err := st.searchExperiments(req.Filter.Value, view, max, req.PageToken.Value)
		if err != nil {
			return nil, err
		}
		out := struct {
			Experiments   []outExperiment `json:"experiments,omitempty"`
			NextPageToken string          `json:"next_page_token,omitempty"`
		}{NextPageToken: token}
		for i := range exps {
			out.Experiments = append(out.Experiments, toOutExperiment(&exps[i]))
		}
		return out, nil

	case "runs/create":
		var req reqCreateRun
		if err := decode(obj, &req); err != nil {
			return nil, err
		}
		run, err := st.createRun(req.ExperimentID.Value, req.UserID.Value, req.RunName.Value, req.StartTime.Value, kvTags(req.Tags))
		if err != nil {
			return nil, err
		}
		snap := run.snapshot()
		return map[string]any{"run": toOutRun(&snap)}, nil

	case "runs/get":
		var req reqRunID
		if err := decode(obj, &req); err != nil {
			return nil, err
		}
		if req.id() == "" {
			return nil, missing("run_id")
		}
		run, err := st.run(req.id())
		if err != nil {
			return nil, err
		}
		snap := run.snapshot()
		out := toOutRun(&snap)
		if outs := s.reg.outputs[req.id()]; s.reg.v3 && len(outs) > 0 {
			out.Outputs = &outRunOutputs{}
			for _, o := range outs {
				out.Outputs.ModelOutputs = append(out.Outputs.ModelOutputs, outModelOutput{ModelID: o.ModelID, Step: o.Step})
			}
		}
		return map[string]any{"run": out}, nil

	case "runs/update":
		return s.updateRun(obj)

	case "runs/delete", "runs/restore":
		var req reqRunID
		if err := decode(obj, &req); err != nil {
			return nil, err
		}
		if req.RunID.Value == "" {
			return nil, missing("run_id")
		}
		run, err := st.run(req.RunID.Value)
		if err != nil {
			return nil, err
		}
		if rpc == "runs/delete" {
			run.info.LifecycleStage = mlflow.LifecycleDeleted
		} else {
			run.info.LifecycleStage = mlflow.LifecycleActive
		}
		return empty{}, nil

	case "runs/search":
		var req reqSearchRuns
		if err := decode(obj, &req); err != nil {
			return nil, err
		}
		view, err := viewType(req.RunViewType)
		if err != nil {
			return nil, err
		}
		max := int64(defaultMaxResults)
		if req.MaxResults.Set {
			max = req.MaxResults.Value
		}
		if max > maxSearchResults {
			// The handler's schema check comes before the store's.
			return nil, invalidParam("Invalid value %d for parameter 'max_results' supplied. Hint: Value was of type 'int'. See the API docs for more information about request parameters.", max)
		}
		orderBy, original := bareOrderBy(req.OrderBy)
		runs, token, err := st.searchRuns(req.ExperimentIDs, req.Filter.Value, view, max, orderBy, req.PageToken.Value)
		if err != nil {
			for i, ob := range orderBy {
				if ob != original[i] {
					err.Message = strings.ReplaceAll(err.Message, "'"+ob+"'", "'"+original[i]+"'")
				}
			}
			return nil, err
		}
		out := struct {
			Runs          []outRun `json:"runs,omitempty"`
			NextPageToken string   `json:"next_page_token,omitempty"`
		}{NextPageToken: token}
		for i := range runs {
			out.Runs = append(out.Runs, toOutRun(&runs[i]))
		}
		return out, nil

	case "runs/log-batch":
		return s.logBatch(obj)

	case "runs/log-metric":
		var req reqLogMetric
		if err := decode(obj, &req); err != nil {
			return nil, err
		}
		switch {
		case req.id() == "":
			return nil, missing("run_id")
		case req.Key.Value == "":
			return nil, missing("key")
		case !req.Value.Set:
			return nil, missing("value")
		case !req.Timestamp.Set:
			return nil, missing("timestamp")
		}
		m := mlflow.Metric{Key: req.Key.Value, Value: req.Value.Value, Timestamp: req.Timestamp.Value, Step: req.Step.Value}
		if err := validateMetric(m); err != nil {
			return nil, err
		}
		run, err := st.activeRun(req.id())
		if err != nil {
			return nil, err
		}
		run.logMetric(m)
		return empty{}, nil

	case "runs/log-parameter":
		var req reqKV
		if err := decode(obj, &req); err != nil {
			return nil, err
		}
		switch {
		case req.id() == "":
			return nil, missing("run_id")
		case req.Key.Value == "":
			return nil, missing("key")
		}
		if err := st.logParam(req.id(), mlflow.Param{Key: req.Key.Value, Value: req.Value.Value}); err != nil {
			return nil, err
		}
		return empty{}, nil

	case "runs/set-tag":
		var req reqKV
		if err := decode(obj, &req); err != nil {
			return nil, err
		}
		switch {
		case req.id() == "":
			return nil, missing("run_id")
		case req.Key.Value == "":
			return nil, missing("key")
		}
		t := mlflow.Tag{Key: req.Key.Value, Value: req.Value.Value}
		if err := validateTag(t); err != nil {
			return nil, err
		}
		run, err := st.activeRun(req.id())
		if err != nil {
			return nil, err
		}
		run.setTag(t)
		return empty{}, nil

	case "metrics/get-history":
		var req struct {
			reqRunID
			MetricKey optString `json:"metric_key"`
		}
		if err := decode(obj, &req); err != nil {
			return nil, err
		}
		switch {
		case req.id() == "":
			return nil, missing("run_id")
		case req.MetricKey.Value == "":
			return nil, missing("metric_key")
		}
		out := struct {
			Metrics []outMetric `json:"metrics,omitempty"`
		}{}
		// The SQL store queries the metric rows without looking the run
		// up: an unknown run has no points, {} (2.9.2 and 3.0.0).
		run, ok := st.runs[req.id()]
		if !ok {
			return out, nil
		}
		for _, m := range run.history[req.MetricKey.Value] {
			out.Metrics = append(out.Metrics, toOutMetric(m))
		}
		return out, nil

	case "artifacts/list":
		return s.listArtifacts(obj)
	}
	return nil, errHTML500
}

// bareOrderBy reads an order_by element without an entity type
// ("start_time ASC") as an attribute, as MLflow's search utils do. It
// returns the rewritten list and the original one.
func bareOrderBy(orderBy []string) ([]string, []string) {
	out := slices.Clone(orderBy)
	for i, ob := range out {
		t := strings.TrimSpace(ob)
		first, _, _ := strings.Cut(t, " ")
		if first != "" && !strings.ContainsAny(first, ".`\"'") {
			out[i] = "attributes." + t
		}
	}
	return out, orderBy
}

func kvTags(kvs []wireKV) []mlflow.Tag {
	var tags []mlflow.Tag
	for _, kv := range kvs {
		tags = append(tags, mlflow.Tag{Key: kv.Key.Value, Value: kv.Value.Value})
	}
	return tags
}

func viewType(v optString) (mlflow.ViewType, *mlflow.APIError) {
	switch mlflow.ViewType(v.Value) {
	case "", mlflow.ViewActiveOnly:
		return mlflow.ViewActiveOnly, nil
	case mlflow.ViewDeletedOnly:
		return mlflow.ViewDeletedOnly, nil
	case mlflow.ViewAll:
		return mlflow.ViewAll, nil
	}
	// json_format ignores an unknown enum name (ignore_unknown_fields), so
	// the field keeps its default.
	return mlflow.ViewActiveOnly, nil
}

func (s *Server) updateRun(obj []byte) (any, *mlflow.APIError) {
	var req reqUpdateRun
	if err := decode(obj, &req); err != nil {
		return nil, err
	}
	if req.id() == "" {
		return nil, missing("run_id")
	}
	run, err := s.st.activeRun(req.id())
	if err != nil {
		return nil, err
	}
	// An unknown status name is dropped by the proto parser, so the status
	// is left as it was and the call succeeds.
	if st := mlflow.RunStatus(req.Status.Value); req.Status.Set && st.Valid() {
		run.info.Status = st
	}
	if req.EndTime.Set {
		run.info.EndTime = req.EndTime.Value
	}
	if req.RunName.Value != "" {
		run.setTag(mlflow.Tag{Key: tagRunName, Value: req.RunName.Value})
	}
	return map[string]any{"run_info": toOutRunInfo(&run.info)}, nil
}

func (s *Server) logBatch(obj []byte) (any, *mlflow.APIError) {
	var req reqLogBatch
	if err := decode(obj, &req); err != nil {
		return nil, err
	}
	if req.RunID.Value == "" {
		return nil, missing("run_id")
	}
	var b mlflow.Batch
	for _, m := range req.Metrics {
		if m.Key.Value == "" || !m.Value.Set || !m.Timestamp.Set {
			return nil, listSchemaError(obj, "metrics")
		}
		b.Metrics = append(b.Metrics, mlflow.Metric{Key: m.Key.Value, Value: m.Value.Value, Timestamp: m.Timestamp.Value, Step: m.Step.Value})
	}
	for _, p := range req.Params {
		if p.Key.Value == "" {
			return nil, listSchemaError(obj, "params")
		}
		b.Params = append(b.Params, mlflow.Param{Key: p.Key.Value, Value: p.Value.Value})
	}
	for _, t := range req.Tags {
		if t.Key.Value == "" {
			return nil, listSchemaError(obj, "tags")
		}
		b.Tags = append(b.Tags, mlflow.Tag{Key: t.Key.Value, Value: t.Value.Value})
	}
	if err := s.st.logBatch(req.RunID.Value, b); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// listSchemaError is MLflow 2.x's answer to a list field whose elements
// lack a required field: the handler's schema check quotes the whole list as
// Python prints it.
func listSchemaError(obj []byte, field string) *mlflow.APIError {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(obj, &m)
	return invalidParam("Invalid value %s for parameter '%s' supplied. Hint: Value was of type 'list'. See the API docs for more information about request parameters.", pyReprJSON(m[field]), field)
}

// Artifacts: the proxied artifact API of a server started with
// --serve-artifacts, kept in memory.

func cleanArtifactPath(p string) (string, bool) {
	if p == "" {
		return "", true
	}
	if strings.HasPrefix(p, "/") || strings.Contains(p, "\\") {
		return "", false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "", false
		}
	}
	return path.Clean(p), true
}

func (s *Server) handleArtifact(w http.ResponseWriter, r *http.Request, rest string, body []byte) {
	p, err := s.decodeArtifactPath(rest)
	if err != nil {
		p = rest
	}
	clean, ok := cleanArtifactPath(p)
	if !ok || clean == "." || strings.Contains(p, "#") {
		writeError(w, invalidParam("Invalid path"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodPut:
		s.st.artifacts[clean] = append([]byte(nil), body...)
		writeJSON(w, empty{})
	default:
		b, ok := s.st.artifacts[clean]
		if !ok {
			// The artifact repository's download fails and the handler
			// answers with the repository's error, as an internal error.
			writeError(w, mlflow.NewError(mlflow.ErrorCodeInternalError,
				"The following failures occurred while downloading one or more artifacts from %s:\n##### File %s #####\n[Errno 2] No such file or directory: '%s/%s'",
				artifactRoot, clean, artifactRoot, clean))
			return
		}
		w.Header().Set("Content-Type", artifactContentType(clean))
		w.Header().Set("Content-Disposition", "attachment; filename="+path.Base(clean))
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
	}
}

// artifactRoot is where the messages say artifacts are kept (the real
// server names its --artifacts-destination directory).
const artifactRoot = "/mlflowtest/artifacts"

// artifactContentType is the type Flask's send_file guesses from the file
// name (Python's mimetypes), for the common artifact kinds.
func artifactContentType(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".txt", ".log":
		return "text/plain"
	case ".json":
		return "application/json"
	case ".csv":
		return "text/csv"
	case ".html", ".htm":
		return "text/html"
	case ".png":
		return "image/png"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".svg":
		return "image/svg+xml"
	}
	return "application/octet-stream"
}

func (s *Server) listArtifacts(obj []byte) (any, *mlflow.APIError) {
	var req struct {
		reqRunID
		Path optString `json:"path"`
	}
	if err := decode(obj, &req); err != nil {
		return nil, err
	}
	if req.id() == "" {
		return nil, missing("run_id")
	}
	rel, ok := cleanArtifactPath(req.Path.Value)
	if !ok {
		return nil, invalidParam("Invalid path")
	}
	if rel == "." {
		rel = ""
	}
	run, err := s.st.run(req.id())
	if err != nil {
		return nil, err
	}
	root := strings.TrimPrefix(run.info.ArtifactURI, "mlflow-artifacts:/")
	root = strings.TrimPrefix(root, "/")
	dir := root
	if rel != "" {
		dir = root + "/" + rel
	}
	type fileInfo struct {
		Path     string `json:"path"`
		IsDir    bool   `json:"is_dir"`
		FileSize *int64 `json:"file_size,omitempty"`
	}
	entries := map[string]fileInfo{}
	for k, v := range s.st.artifacts {
		sub, ok := strings.CutPrefix(k, dir+"/")
		if !ok {
			continue
		}
		name, _, isDir := strings.Cut(sub, "/")
		p := name
		if rel != "" {
			p = rel + "/" + name
		}
		fi := fileInfo{Path: p, IsDir: isDir}
		if !isDir {
			n := int64(len(v))
			fi.FileSize = &n
		}
		entries[name] = fi
	}
	out := struct {
		RootURI string     `json:"root_uri"`
		Files   []fileInfo `json:"files,omitempty"`
	}{RootURI: run.info.ArtifactURI}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out.Files = append(out.Files, entries[n])
	}
	return out, nil
}
