package mlflowtest

import (
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// The route table: every method and path the server answers, and the
// handler that answers it. Paths are under /api/2.0/ (and the same under
// /ajax-api/2.0/); a {name} segment matches one non-empty path segment, a
// trailing {name...} the non-empty rest of the path. A path without
// parameters wins over one with them (logged-models/search is not a
// logged-models/{model_id}).
//
// An RPC handler (rpc) gets the request's parameters as a JSON object
// (requestObject) and runs with s.mu held; its answer or error is written
// as JSON. A raw handler answers the request itself.

// trackingRoutes are the tracking API and the artifact proxy. As Flask
// does, they also answer HEAD where they answer GET, and OPTIONS; an
// unhandled failure is Werkzeug's 500 page.
var trackingRoutes = []route{
	// experiments.go
	rpc(http.MethodGet, "mlflow/experiments/get-by-name", (*Server).getExperimentByName),
	rpc(http.MethodGet, "mlflow/experiments/get", (*Server).getExperiment),
	rpc(http.MethodPost, "mlflow/experiments/create", (*Server).createExperiment),
	rpc(http.MethodPost, "mlflow/experiments/delete", (*Server).deleteExperiment),
	rpc(http.MethodPost, "mlflow/experiments/restore", (*Server).restoreExperiment),
	// runs.go
	rpc(http.MethodPost, "mlflow/runs/create", (*Server).createRun),
	rpc(http.MethodGet, "mlflow/runs/get", (*Server).getRun),
	rpc(http.MethodPost, "mlflow/runs/update", (*Server).updateRun),
	rpc(http.MethodPost, "mlflow/runs/delete", (*Server).deleteRun),
	rpc(http.MethodPost, "mlflow/runs/restore", (*Server).restoreRun),
	rpc(http.MethodPost, "mlflow/runs/log-parameter", (*Server).logParameter),
	rpc(http.MethodPost, "mlflow/runs/set-tag", (*Server).setTag),
	// metrics.go
	rpc(http.MethodPost, "mlflow/runs/log-batch", (*Server).logBatch),
	rpc(http.MethodPost, "mlflow/runs/log-metric", (*Server).logMetric),
	rpc(http.MethodGet, "mlflow/metrics/get-history", (*Server).getMetricHistory),
	// search.go
	rpc(http.MethodGet, "mlflow/experiments/search", (*Server).searchExperiments),
	rpc(http.MethodPost, "mlflow/experiments/search", (*Server).searchExperiments),
	rpc(http.MethodPost, "mlflow/runs/search", (*Server).searchRuns),
	// artifacts.go
	rpc(http.MethodGet, "mlflow/artifacts/list", (*Server).listArtifacts),
	raw(http.MethodGet, "mlflow-artifacts/artifacts/{path...}", (*Server).downloadArtifact),
	raw(http.MethodPut, "mlflow-artifacts/artifacts/{path...}", (*Server).uploadArtifact),
}

// registryRoutes are the model registry (registry.go). They answer only
// the methods listed (no HEAD, no OPTIONS), and an unhandled failure is a
// 500 JSON error with empty error_code and message. (The real server
// serves them through Flask as it serves tracking routes; the test server
// has answered them this way and the recordings do not cover it.)
var registryRoutes = []route{
	rpc(http.MethodPost, "mlflow/registered-models/create", (*Server).createRegisteredModel),
	rpc(http.MethodGet, "mlflow/registered-models/get", (*Server).getRegisteredModel),
	rpc(http.MethodPost, "mlflow/model-versions/create", (*Server).createModelVersion),
	rpc(http.MethodGet, "mlflow/model-versions/get", (*Server).getModelVersion),
}

// loggedModelRoutes are MLflow 3's logged models (logged_models.go),
// answered as registryRoutes are. An MLflow 2 server (without
// WithLoggedModels) has no such routes: Flask's 404 page.
var loggedModelRoutes = []route{
	rpc(http.MethodPost, "mlflow/logged-models", (*Server).createLoggedModel),
	rpc(http.MethodPost, "mlflow/logged-models/search", (*Server).searchLoggedModels),
	rpc(http.MethodGet, "mlflow/logged-models/{model_id}", (*Server).getLoggedModel),
	rpc(http.MethodPatch, "mlflow/logged-models/{model_id}", (*Server).finalizeLoggedModel),
	rpc(http.MethodDelete, "mlflow/logged-models/{model_id}", (*Server).deleteLoggedModel),
	rpc(http.MethodPatch, "mlflow/logged-models/{model_id}/tags", (*Server).setLoggedModelTags),
	rpc(http.MethodPost, "mlflow/runs/outputs", (*Server).logOutputs),
}

// routes is every route with its kind.
var routes = slices.Concat(
	withKind(trackingRoutes, trackingRoute),
	withKind(registryRoutes, registryRoute),
	withKind(loggedModelRoutes, loggedModelRoute),
)

// apiRoots are where the routes' paths are: the REST API and the same API
// as MLflow's web UI calls it.
var apiRoots = []string{"/api/2.0/", "/ajax-api/2.0/"}

type (
	rpcFunc func(s *Server, a args) (any, *mlflow.APIError)
	rawFunc func(s *Server, w http.ResponseWriter, r *http.Request, a args)
)

// args is what a handler gets besides the server.
type args struct {
	obj   []byte // rpc handlers: the parameters as a JSON object
	param string // the path parameter ({model_id}, {path...}); percent-decoded once, as Flask does
	body  []byte // raw handlers: the request body
}

type routeKind int

// The kinds of routes, each answered outside its handler as its table
// above says.
const (
	trackingRoute routeKind = iota
	registryRoute
	loggedModelRoute
)

// A route answers one method on one path.
type route struct {
	method string
	path   string
	name   string // the RPC's name in the request log and in Fault.RPC
	kind   routeKind
	handle rpcFunc // one of handle and serve
	serve  rawFunc
}

// rpc is a route to an RPC handler. Its name is its path under mlflow/
// ("runs/log-batch", "logged-models/{model_id}").
func rpc(method, path string, h rpcFunc) route {
	return route{method: method, path: path, name: strings.TrimPrefix(path, "mlflow/"), handle: h}
}

// raw is a route to a handler that answers the request itself. Its name
// is its path without a trailing {name...} ("mlflow-artifacts/artifacts").
func raw(method, path string, h rawFunc) route {
	name := path
	if i := strings.LastIndex(path, "/{"); i >= 0 && strings.HasSuffix(path, "...}") {
		name = path[:i]
	}
	return route{method: method, path: path, name: name, serve: h}
}

func withKind(rs []route, k routeKind) []route {
	out := slices.Clone(rs)
	for i := range out {
		out[i].kind = k
	}
	return out
}

// endpoint is what a request path resolves to.
type endpoint struct {
	name   string  // the RPC's name (route.name); the raw path for a path no route has
	routes []route // the path's routes, one per method in table order; none for an unknown path
	param  string
}

// resolve finds the routes of a request path.
func (s *Server) resolve(p string) endpoint {
	if s.dbx != nil {
		if _, ok := strings.CutPrefix(p, DatabricksFilesPath+"/"); ok {
			// The workspace answers it (databricks_files.go).
			return endpoint{name: rpcDatabricksFiles}
		}
	}
	for _, root := range apiRoots {
		rest, ok := strings.CutPrefix(p, root)
		if !ok {
			continue
		}
		for _, static := range []bool{true, false} {
			for _, rt := range routes {
				if strings.Contains(rt.path, "{") == static {
					continue
				}
				param, ok := matchPath(rt.path, rest)
				if !ok {
					continue
				}
				ep := endpoint{name: rt.name, param: param}
				for _, same := range routes {
					if same.path == rt.path {
						ep.routes = append(ep.routes, same)
					}
				}
				return ep
			}
		}
	}
	return endpoint{name: p}
}

// matchPath matches a path against a route's pattern and returns the
// pattern's parameter, if it has one.
func matchPath(pattern, p string) (string, bool) {
	if !strings.Contains(pattern, "{") {
		return "", p == pattern
	}
	if prefix, ok := strings.CutSuffix(pattern, "...}"); ok {
		prefix = prefix[:strings.LastIndex(prefix, "{")]
		rest, ok := strings.CutPrefix(p, prefix)
		return rest, ok && rest != ""
	}
	want, got := strings.Split(pattern, "/"), strings.Split(p, "/")
	if len(want) != len(got) {
		return "", false
	}
	param := ""
	for i, w := range want {
		switch {
		case strings.HasPrefix(w, "{"):
			if got[i] == "" {
				return "", false
			}
			param = got[i]
		case w != got[i]:
			return "", false
		}
	}
	return param, true
}

// serve answers a request on an endpoint: the method, then the handler.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, ep endpoint, body []byte) {
	if len(ep.routes) == 0 {
		writeNotFound(w)
		return
	}
	kind := ep.routes[0].kind
	if kind == loggedModelRoute && !s.mlflow3() {
		writeNotFound(w)
		return
	}
	var allow []string
	for _, rt := range ep.routes {
		allow = append(allow, rt.method)
	}
	if kind == trackingRoute {
		// Flask answers HEAD on GET routes and OPTIONS everywhere by itself.
		if slices.Contains(allow, http.MethodGet) {
			allow = append(allow, http.MethodHead)
		}
		allow = append(allow, http.MethodOptions)
		sort.Strings(allow)
		switch r.Method {
		case http.MethodOptions:
			w.Header().Set("Allow", strings.Join(allow, ", "))
			w.WriteHeader(http.StatusOK)
			return
		case http.MethodHead:
			if slices.Contains(allow, http.MethodGet) {
				r.Method = http.MethodGet // net/http drops the body of a HEAD answer
			}
		}
	}
	i := slices.IndexFunc(ep.routes, func(rt route) bool { return rt.method == r.Method })
	if i < 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeHTML(w, http.StatusMethodNotAllowed, "405 Method Not Allowed", "Method Not Allowed", "The method is not allowed for the requested URL.")
		return
	}
	rt := ep.routes[i]
	if rt.serve != nil {
		rt.serve(s, w, r, args{param: ep.param, body: body})
		return
	}
	obj, aerr := requestObject(r, rt.name, body)
	var resp any
	if aerr == nil {
		s.mu.Lock()
		resp, aerr = rt.handle(s, args{obj: obj, param: ep.param})
		s.mu.Unlock()
	}
	if aerr == errHTML500 && kind != trackingRoute {
		writeError(w, aerr) // see registryRoutes
		return
	}
	respond(w, resp, aerr)
}

func (s *Server) mlflow3() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reg.v3
}
