package mlflowtest

import (
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// Option configures a Server.
type Option func(*Server)

// WithBearerToken requires "Authorization: Bearer <token>" on every request.
func WithBearerToken(token string) Option {
	return func(s *Server) { s.bearer = token }
}

// WithBasicAuth requires HTTP Basic credentials, as MLflow's basic-auth app
// does. With WithBearerToken too, either credential is accepted.
func WithBasicAuth(user, pass string) Option {
	return func(s *Server) { s.basicUser, s.basicPass, s.basic = user, pass, true }
}

// WithClock sets the clock for server-side timestamps (experiment creation
// and update times).
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.now = now }
}

// WithMLflowPathDecoding changes nothing: the artifact proxy always decodes
// paths as a real MLflow server does (see decodeArtifactPath). It is kept
// for the callers that still pass it.
func WithMLflowPathDecoding() Option { return func(*Server) {} }

// RequestRecord is one request the server received. Status is 0 while the
// request is in flight and for dropped connections.
type RequestRecord struct {
	Method    string
	RPC       string
	Status    int
	BodyBytes int
	Header    http.Header
}

// Fault makes the server misbehave for matching requests; see AddFault.
type Fault struct {
	RPC        string // "" = every RPC
	Times      int    // how many matching requests it affects; 0 = until ClearFaults
	Status     int    // answer this HTTP status (with ErrorCode/Message JSON body, or Body verbatim)
	ErrorCode  string
	Message    string
	Body       string
	RetryAfter string        // Retry-After header value
	Latency    time.Duration // delay before handling (honours request context cancellation)
	// DropConnection hijacks and closes the connection without answering.
	DropConnection bool
	// Hang never answers until the client gives up, ClearFaults or Close.
	Hang bool
}

type faultState struct {
	Fault
	used int
}

// Server is an in-memory MLflow tracking server (see the package comment).
// It implements http.Handler; Start serves it over HTTP for tests.
type Server struct {
	bearer               string
	basic                bool
	basicUser, basicPass string
	now                  func() time.Time

	mu       sync.Mutex
	st       *state
	reg      registry
	dbx      *workspace // WithDatabricks
	records  []RequestRecord
	faults   []*faultState
	released chan struct{} // closed by ClearFaults and Close to free hung requests
	closed   bool

	httpSrv *httptest.Server
}

// NewServer returns an in-memory server with experiment "0" (Default).
func NewServer(opts ...Option) *Server {
	s := &Server{now: time.Now, released: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	s.st = newState(s.nowMs())
	s.reg.models = map[string]*registeredModel{}
	s.reg.loggedModels = map[string]*loggedModel{}
	s.reg.outputs = map[string][]LoggedModelOutput{}
	return s
}

// Start serves a new Server on a loopback port until the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := NewServer(opts...)
	s.httpSrv = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

func (s *Server) nowMs() int64 { return s.now().UnixMilli() }

// URL is the tracking URI of a started server, "" otherwise.
func (s *Server) URL() string {
	if s.httpSrv == nil {
		return ""
	}
	return s.httpSrv.URL
}

// Close frees hung requests and stops the HTTP server if started. It is
// safe to call more than once.
func (s *Server) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.released)
	}
	s.mu.Unlock()
	if s.httpSrv != nil {
		s.httpSrv.CloseClientConnections()
		s.httpSrv.Close()
	}
}

// AddFault appends a fault. For each request the first fault that matches
// its RPC and has uses left is applied, and only that one.
func (s *Server) AddFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultState{Fault: f})
}

// ClearFaults removes all faults and lets hung requests continue as if
// they had never been faulted.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
	if !s.closed {
		close(s.released)
		s.released = make(chan struct{})
	}
}

func (s *Server) takeFault(rpc string) (*Fault, chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if f.RPC != "" && f.RPC != rpc {
			continue
		}
		if f.Times > 0 && f.used >= f.Times {
			continue
		}
		f.used++
		cp := f.Fault
		return &cp, s.released
	}
	return nil, s.released
}

// Experiments returns a copy of every experiment, deleted ones included.
func (s *Server) Experiments() []mlflow.Experiment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]mlflow.Experiment, 0, len(s.st.experiments))
	for _, e := range s.st.experiments {
		out = append(out, copyExperiment(e))
	}
	return out
}

// Runs returns a copy of every run in creation order, deleted ones
// included; Data.Metrics holds the latest point per key.
func (s *Server) Runs() []mlflow.Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]mlflow.Run, 0, len(s.st.runOrder))
	for _, id := range s.st.runOrder {
		out = append(out, s.st.runs[id].snapshot())
	}
	return out
}

// MetricHistory returns the stored points of a metric in insertion order.
func (s *Server) MetricHistory(runID, key string) []mlflow.Metric {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.st.runs[runID]
	if !ok {
		return nil
	}
	return slices.Clone(r.history[key])
}

// Artifact returns an uploaded artifact by its path under the artifact
// root ("<exp>/<run>/artifacts/<rel>").
func (s *Server) Artifact(path string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.st.artifacts[path]
	return slices.Clone(b), ok
}

// RequestCount counts received requests for rpc ("runs/log-batch"); ""
// counts all.
func (s *Server) RequestCount(rpc string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.records {
		if rpc == "" || r.RPC == rpc {
			n++
		}
	}
	return n
}

// Requests returns a copy of the request log in arrival order.
func (s *Server) Requests() []RequestRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RequestRecord, len(s.records))
	for i, r := range s.records {
		r.Header = r.Header.Clone()
		out[i] = r
	}
	return out
}

func (s *Server) record(r *http.Request, rpc string, bodyBytes int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, RequestRecord{Method: r.Method, RPC: rpc, BodyBytes: bodyBytes, Header: r.Header.Clone()})
	return len(s.records) - 1
}

func (s *Server) setStatus(i, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[i].Status = status
}

// StatusWriter remembers the status written (the request log; the load
// driver counts what the server accepted).
type StatusWriter struct {
	http.ResponseWriter
	// Status is the status written, 0 before anything was.
	Status int
}

// WriteHeader records the first status.
func (w *StatusWriter) WriteHeader(code int) {
	if w.Status == 0 {
		w.Status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records 200 when nothing was written before.
func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Hijack.
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ServeHTTP handles one request: request log, faults, the Databricks
// workspace, auth, then the route (routes.go).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep := s.resolve(r.URL.Path)
	body, err := readBody(r)
	idx := s.record(r, ep.name, len(body))
	sw := &StatusWriter{ResponseWriter: w}
	defer func() { s.setStatus(idx, sw.Status) }()
	if err != nil {
		writeHTML(sw, http.StatusRequestEntityTooLarge, "413 Request Entity Too Large", "Request Entity Too Large", "The data value transmitted exceeds the capacity limit.")
		return
	}
	if f, released := s.takeFault(ep.name); f != nil {
		if !s.applyFault(sw, r, f, released) {
			return
		}
	}
	if s.dbx != nil && s.dbx.intercept(sw, r, ep.name, body) {
		return
	}
	if !s.authorized(r) {
		s.unauthorized(sw)
		return
	}
	s.serve(sw, r, ep, body)
}

// applyFault performs f and reports whether normal handling continues.
func (s *Server) applyFault(w *StatusWriter, r *http.Request, f *Fault, released chan struct{}) bool {
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		case <-released:
			if s.isClosed() {
				panic(http.ErrAbortHandler)
			}
		}
	}
	if f.Hang {
		select {
		case <-r.Context().Done():
			return false
		case <-released:
			if s.isClosed() {
				// Close drops hung connections unanswered.
				panic(http.ErrAbortHandler)
			}
			return true
		}
	}
	if f.DropConnection {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
			return false
		}
		// Not hijackable (HTTP/2, ResponseRecorder): abort the stream.
		panic(http.ErrAbortHandler)
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.Status == 0 {
		return true
	}
	if f.Body != "" || f.ErrorCode == "" && f.Message == "" {
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(f.Body))
		return false
	}
	writeError(w, &mlflow.APIError{HTTPStatus: f.Status, Code: f.ErrorCode, Message: f.Message})
	return false
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) authorized(r *http.Request) bool {
	if s.bearer == "" && !s.basic {
		return true
	}
	h := r.Header.Get("Authorization")
	if s.bearer != "" {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok && subtle.ConstantTimeCompare([]byte(tok), []byte(s.bearer)) == 1 {
			return true
		}
	}
	if s.basic {
		if enc, ok := strings.CutPrefix(h, "Basic "); ok {
			raw, err := base64.StdEncoding.DecodeString(enc)
			if err == nil {
				user, pass, _ := strings.Cut(string(raw), ":")
				okUser := subtle.ConstantTimeCompare([]byte(user), []byte(s.basicUser)) == 1
				okPass := subtle.ConstantTimeCompare([]byte(pass), []byte(s.basicPass)) == 1
				if okUser && okPass {
					return true
				}
			}
		}
	}
	return false
}

// unauthorized answers as MLflow's basic-auth app (plain text body,
// WWW-Authenticate) or, for a bearer-only server, with Databricks-style
// JSON.
func (s *Server) unauthorized(w http.ResponseWriter) {
	if s.basic {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("WWW-Authenticate", `Basic realm="mlflow"`)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte("You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate."))
		return
	}
	writeError(w, mlflow.NewError(mlflow.ErrorCodeUnauthenticated, "Credential was not sent or was of an unsupported type for this API."))
}
