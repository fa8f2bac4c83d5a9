package mlflowtest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// Databricks configures the fake Databricks workspace WithDatabricks puts
// in front of the tracking server.
type Databricks struct {
	// PATs are the accepted personal access tokens.
	PATs []string
	// ClientID and ClientSecret are the service principal's OAuth M2M
	// credentials; empty disables the token endpoint's grant.
	ClientID, ClientSecret string
	// TokenLifetime is how long issued access tokens live (whole seconds,
	// as expires_in says); 0 means Databricks' hour.
	TokenLifetime time.Duration
	// RateLimits maps an endpoint group (log_batch, search, experiments,
	// other) to requests per second; nil applies the published workspace
	// limits (47, 7, 7, 127); a group set to 0 is not limited.
	RateLimits map[string]float64
	// Per-run quotas; 0 applies Databricks' (1,000,000 metric steps, 1600
	// params, 1600 tags); negative disables one.
	MetricSteps, Params, Tags int
	// AlreadyExistsCode is the error code for a duplicate experiment name;
	// empty means ALREADY_EXISTS (HTTP 409).
	AlreadyExistsCode string
}

// WithDatabricks makes the server behave as a Databricks workspace: OIDC
// metadata and an OAuth client-credentials token endpoint issuing expiring
// tokens, bearer authentication with PATs or issued tokens (401 and 403
// answered as Databricks does), per-workspace rate limits answered with 429
// REQUEST_LIMIT_EXCEEDED and no Retry-After, absolute-path experiment
// names, per-run quotas, and Databricks-managed artifact storage (dbfs:
// artifact URIs written through the Files API, databricks_files.go). Token
// expiry follows the server clock (WithClock); rate limits follow the wall
// clock.
func WithDatabricks(d Databricks) Option {
	return func(s *Server) { s.dbx = newWorkspace(d, s) }
}

// Paths of the fake's OAuth endpoints.
const (
	DatabricksOIDCMetadataPath = "/oidc/.well-known/oauth-authorization-server"
	DatabricksTokenPath        = "/oidc/v1/token"
)

// Databricks answer bodies, as the workspace sends them.
const (
	dbxNoCredential  = "Credential was not sent or was of an unsupported type for this API."
	dbxInvalidToken  = "Invalid access token."
	dbxRateLimited   = "The request was rejected due to rate limiting. Please retry after some time."
	dbxRelativeName  = "Got an invalid experiment name '%s'. An experiment name must be an absolute path within the Databricks workspace, e.g. '/Users/<some-username>/my-experiment'."
	dbxQuotaExceeded = "Run %s has reached the limit of %d %s."
)

type workspace struct {
	cfg Databricks
	srv *Server

	mu        sync.Mutex
	tokens    map[string]time.Time // issued access token -> expiry (server clock)
	issued    int
	refused   int // requests refused for credentials
	buckets   map[string]*bucket
	throttled map[string]int
	files     map[string][]byte // Files API path -> content (databricks_files.go)
}

// bucket is a token bucket holding up to one second of requests.
type bucket struct {
	rate, tokens float64
	last         time.Time
}

func newWorkspace(d Databricks, s *Server) *workspace {
	if d.TokenLifetime <= 0 {
		d.TokenLifetime = time.Hour
	}
	if d.RateLimits == nil {
		d.RateLimits = map[string]float64{"log_batch": 47, "search": 7, "experiments": 7, "other": 127}
	}
	quota := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	quota(&d.MetricSteps, 1_000_000)
	quota(&d.Params, 1600)
	quota(&d.Tags, 1600)
	if d.AlreadyExistsCode == "" {
		d.AlreadyExistsCode = mlflow.ErrorCodeAlreadyExists
	}
	w := &workspace{cfg: d, srv: s, tokens: map[string]time.Time{}, buckets: map[string]*bucket{}, throttled: map[string]int{}, files: map[string][]byte{}}
	for g, qps := range d.RateLimits {
		if qps > 0 {
			w.buckets[g] = &bucket{rate: qps, tokens: math.Max(1, qps)}
		}
	}
	return w
}

// dbxGroup classifies an RPC into the workspace's rate-limit groups.
func dbxGroup(rpc string) string {
	switch {
	case rpc == "runs/log-batch", rpc == "runs/log-metric", rpc == "runs/log-parameter", rpc == "runs/set-tag":
		return "log_batch"
	case rpc == "runs/search":
		return "search"
	case strings.HasPrefix(rpc, "experiments/"):
		return "experiments"
	}
	return "other"
}

// intercept handles what a workspace does before the MLflow service sees a
// request, and reports whether it answered.
func (w *workspace) intercept(rw http.ResponseWriter, r *http.Request, rpc string, body []byte) bool {
	switch r.URL.Path {
	case DatabricksOIDCMetadataPath:
		w.serveMetadata(rw, r)
		return true
	case DatabricksTokenPath:
		w.serveToken(rw, r, body)
		return true
	}
	if e := w.authenticate(r); e != nil {
		writeError(rw, e)
		return true
	}
	if !w.allow(dbxGroup(rpc)) {
		// Databricks documents no Retry-After; clients back off on their own.
		writeError(rw, &mlflow.APIError{HTTPStatus: http.StatusTooManyRequests, Code: mlflow.ErrorCodeRequestLimitExceeded, Message: dbxRateLimited})
		return true
	}
	switch rpc {
	case rpcDatabricksFiles:
		w.serveFiles(rw, r, strings.TrimPrefix(r.URL.Path, DatabricksFilesPath), body)
		return true
	case "artifacts/list":
		return w.listArtifacts(rw, r, body)
	case "experiments/get-by-name", "experiments/create":
		if e := w.checkExperiment(r, rpc, body); e != nil {
			writeError(rw, e)
			return true
		}
		if rpc == "experiments/create" {
			return w.createExperiment(rw, r, body)
		}
	case "runs/log-batch":
		if e := w.checkQuota(body); e != nil {
			writeError(rw, e)
			return true
		}
	}
	return false
}

func (w *workspace) serveMetadata(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeNotFound(rw)
		return
	}
	base := "http://" + r.Host
	if r.TLS != nil {
		base = "https://" + r.Host
	}
	writeJSON(rw, map[string]any{
		"issuer":                                base + "/oidc",
		"authorization_endpoint":                base + "/oidc/v1/authorize",
		"token_endpoint":                        base + DatabricksTokenPath,
		"grant_types_supported":                 []string{"client_credentials", "authorization_code", "refresh_token"},
		"scopes_supported":                      []string{"all-apis", "offline_access"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
	})
}

func writeOAuthError(rw http.ResponseWriter, status int, code, desc string) {
	b, _ := json.Marshal(map[string]string{"error": code, "error_description": desc})
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	_, _ = rw.Write(b)
}

// serveToken is the client-credentials grant (RFC 6749 section 4.4).
func (w *workspace) serveToken(rw http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodPost {
		writeOAuthError(rw, http.StatusMethodNotAllowed, "invalid_request", "POST required")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		writeOAuthError(rw, http.StatusBadRequest, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeOAuthError(rw, http.StatusBadRequest, "invalid_request", "malformed form body")
		return
	}
	id, secret := form.Get("client_id"), form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		// Basic credentials are form-encoded first (RFC 6749 2.3.1).
		id, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(p)
	}
	if w.cfg.ClientID == "" || subtle.ConstantTimeCompare([]byte(id), []byte(w.cfg.ClientID)) != 1 ||
		subtle.ConstantTimeCompare([]byte(secret), []byte(w.cfg.ClientSecret)) != 1 {
		w.countRefused()
		writeOAuthError(rw, http.StatusUnauthorized, "invalid_client", "Client authentication failed")
		return
	}
	if g := form.Get("grant_type"); g != "client_credentials" {
		writeOAuthError(rw, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q is not supported", g))
		return
	}
	if !slices.Contains(strings.Fields(form.Get("scope")), "all-apis") {
		writeOAuthError(rw, http.StatusBadRequest, "invalid_scope", "scope must include all-apis")
		return
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	tok := "dbxoauth-" + hex.EncodeToString(raw[:])
	secs := int64(math.Ceil(w.cfg.TokenLifetime.Seconds()))
	w.mu.Lock()
	w.tokens[tok] = w.srv.now().Add(time.Duration(secs) * time.Second)
	w.issued++
	w.mu.Unlock()
	writeJSON(rw, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": secs, "scope": "all-apis"})
}

func (w *workspace) countRefused() {
	w.mu.Lock()
	w.refused++
	w.mu.Unlock()
}

// authenticate accepts a PAT or an unexpired issued token, as bearer only.
func (w *workspace) authenticate(r *http.Request) *mlflow.APIError {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		w.countRefused()
		return &mlflow.APIError{HTTPStatus: http.StatusUnauthorized, Code: mlflow.ErrorCodeUnauthenticated, Message: dbxNoCredential}
	}
	for _, p := range w.cfg.PATs {
		if subtle.ConstantTimeCompare([]byte(tok), []byte(p)) == 1 {
			return nil
		}
	}
	w.mu.Lock()
	exp, known := w.tokens[tok]
	valid := known && w.srv.now().Before(exp)
	if !valid {
		w.refused++
	}
	w.mu.Unlock()
	if !valid {
		return &mlflow.APIError{HTTPStatus: http.StatusForbidden, Code: mlflow.ErrorCodePermissionDenied, Message: dbxInvalidToken}
	}
	return nil
}

// allow takes a token from the group's bucket.
func (w *workspace) allow(group string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.buckets[group]
	if b == nil {
		return true
	}
	now := time.Now()
	if !b.last.IsZero() {
		b.tokens = math.Min(math.Max(1, b.rate), b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		w.throttled[group]++
		return false
	}
	b.tokens--
	return true
}

func (w *workspace) checkExperiment(r *http.Request, rpc string, body []byte) *mlflow.APIError {
	obj, aerr := requestObject(r, rpc, body)
	if aerr != nil {
		return nil // the MLflow handler answers malformed requests
	}
	req, aerr := decode[struct {
		Name           optString `json:"name"`
		ExperimentName optString `json:"experiment_name"`
	}](obj)
	if aerr != nil {
		return nil
	}
	name := req.Name.Value
	if rpc == "experiments/get-by-name" {
		name = req.ExperimentName.Value
	}
	if name == "" {
		return nil
	}
	if !strings.HasPrefix(name, "/") {
		return invalidParam(dbxRelativeName, name)
	}
	if rpc == "experiments/create" {
		w.srv.mu.Lock()
		taken := w.srv.st.experimentByName(name) != nil
		w.srv.mu.Unlock()
		if taken {
			return mlflow.NewError(w.cfg.AlreadyExistsCode, "Node named '%s' already exists", name)
		}
	}
	return nil
}

// checkQuota refuses a batch that would take a run past a quota. Metric
// steps count every value logged to the run.
func (w *workspace) checkQuota(body []byte) *mlflow.APIError {
	// The raw body: a body MLflow would read differently (double-encoded,
	// not an object) is left to the MLflow handler.
	req, aerr := decode[struct {
		RunID   string            `json:"run_id"`
		Metrics []json.RawMessage `json:"metrics"`
		Params  []struct {
			Key string `json:"key"`
		} `json:"params"`
		Tags []struct {
			Key string `json:"key"`
		} `json:"tags"`
	}](body)
	if aerr != nil || req.RunID == "" {
		return nil
	}
	w.srv.mu.Lock()
	defer w.srv.mu.Unlock()
	run, ok := w.srv.st.runs[req.RunID]
	if !ok {
		return nil
	}
	steps := 0
	for _, h := range run.history {
		steps += len(h)
	}
	newParams, newTags := map[string]bool{}, map[string]bool{}
	for _, p := range req.Params {
		if _, ok := run.param(p.Key); !ok {
			newParams[p.Key] = true
		}
	}
	for _, t := range req.Tags {
		if _, ok := run.tag(t.Key); !ok {
			newTags[t.Key] = true
		}
	}
	exceeded := func(limit, have, adding int, what string) *mlflow.APIError {
		if limit > 0 && adding > 0 && have+adding > limit {
			return &mlflow.APIError{HTTPStatus: http.StatusTooManyRequests, Code: mlflow.ErrorCodeResourceExhausted,
				Message: fmt.Sprintf(dbxQuotaExceeded, req.RunID, limit, what)}
		}
		return nil
	}
	if e := exceeded(w.cfg.MetricSteps, steps, len(req.Metrics), "metric steps"); e != nil {
		return e
	}
	if e := exceeded(w.cfg.Params, len(run.params), len(newParams), "params"); e != nil {
		return e
	}
	return exceeded(w.cfg.Tags, len(run.tags), len(newTags), "tags")
}

// DatabricksTokensIssued counts access tokens the token endpoint issued.
func (s *Server) DatabricksTokensIssued() int {
	if s.dbx == nil {
		return 0
	}
	s.dbx.mu.Lock()
	defer s.dbx.mu.Unlock()
	return s.dbx.issued
}

// DatabricksRefused counts requests refused for missing, unknown or expired
// credentials (API calls and token requests).
func (s *Server) DatabricksRefused() int {
	if s.dbx == nil {
		return 0
	}
	s.dbx.mu.Lock()
	defer s.dbx.mu.Unlock()
	return s.dbx.refused
}

// DatabricksThrottled counts requests of an endpoint group answered 429 by
// the rate limiter; "" counts all groups.
func (s *Server) DatabricksThrottled(group string) int {
	if s.dbx == nil {
		return 0
	}
	s.dbx.mu.Lock()
	defer s.dbx.mu.Unlock()
	if group != "" {
		return s.dbx.throttled[group]
	}
	n := 0
	for _, v := range s.dbx.throttled {
		n += v
	}
	return n
}
