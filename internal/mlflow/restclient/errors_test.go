package restclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

const html404 = `<!doctype html>
<html lang=en>
<title>404 Not Found</title>
<h1>Not Found</h1>
<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>
`

var html500 = "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>\n<p>" +
	strings.Repeat("The server encountered an internal error\tand was unable to complete your request. ", 40) + "\xff</p>\n"

func TestErrorShapes(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		header      map[string]string
		body        string
		want        mlflow.APIError
		wantMsgPart string
		classify    func(error) bool
	}{
		{
			name: "resource does not exist", status: 404,
			body:     `{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Run 'r1' not found"}`,
			want:     mlflow.APIError{HTTPStatus: 404, Code: "RESOURCE_DOES_NOT_EXIST", Message: "Run 'r1' not found"},
			classify: mlflow.IsNotFound,
		},
		{
			name: "already exists, open source", status: 400,
			body:     `{"error_code":"RESOURCE_ALREADY_EXISTS","message":"Experiment 'x' already exists."}`,
			want:     mlflow.APIError{HTTPStatus: 400, Code: "RESOURCE_ALREADY_EXISTS", Message: "Experiment 'x' already exists."},
			classify: mlflow.IsAlreadyExists,
		},
		{
			name: "already exists, Databricks", status: 409,
			body:     `{"error_code":"ALREADY_EXISTS","message":"exists"}`,
			want:     mlflow.APIError{HTTPStatus: 409, Code: "ALREADY_EXISTS", Message: "exists"},
			classify: mlflow.IsAlreadyExists,
		},
		{
			name: "invalid parameter", status: 400,
			body:     `{"error_code":"INVALID_PARAMETER_VALUE","message":"Changing param values is not allowed"}`,
			want:     mlflow.APIError{HTTPStatus: 400, Code: "INVALID_PARAMETER_VALUE", Message: "Changing param values is not allowed"},
			classify: mlflow.IsInvalidParameter,
		},
		{
			name: "unauthenticated", status: 401,
			body: `{"error_code":"UNAUTHENTICATED","message":"You are not authenticated."}`,
			want: mlflow.APIError{HTTPStatus: 401, Code: "UNAUTHENTICATED", Message: "You are not authenticated."},
		},
		{
			name: "message without code", status: 403,
			body: `{"message":"forbidden by proxy"}`,
			want: mlflow.APIError{HTTPStatus: 403, Message: "forbidden by proxy"},
		},
		{
			name: "HTML 404 page", status: 404, header: map[string]string{"Content-Type": "text/html"},
			body:        html404,
			want:        mlflow.APIError{HTTPStatus: 404},
			wantMsgPart: "404 Not Found Not Found The requested URL was not found",
			classify:    mlflow.IsNotFound,
		},
		{
			name: "HTML 500 page", status: 500, header: map[string]string{"Content-Type": "text/html"},
			body:        html500,
			want:        mlflow.APIError{HTTPStatus: 500},
			wantMsgPart: "500 Internal Server Error Internal Server Error The server encountered",
			classify:    mlflow.IsRetryable,
		},
		{
			name: "429 with Retry-After seconds", status: 429, header: map[string]string{"Retry-After": "7"},
			body:     `{"error_code":"REQUEST_LIMIT_EXCEEDED","message":"slow down"}`,
			want:     mlflow.APIError{HTTPStatus: 429, Code: "REQUEST_LIMIT_EXCEEDED", Message: "slow down", RetryAfter: 7 * time.Second},
			classify: mlflow.IsThrottled,
		},
		{
			name: "503 with empty body", status: 503,
			want:     mlflow.APIError{HTTPStatus: 503, Message: "Service Unavailable"},
			classify: mlflow.IsRetryable,
		},
		{
			name: "plain text keeps angle brackets", status: 500,
			body: "quota used < limit > 0 failed",
			want: mlflow.APIError{HTTPStatus: 500, Message: "quota used < limit > 0 failed"},
		},
		{
			name: "502 plain text from a proxy", status: 502,
			body:     "upstream connect error or disconnect/reset before headers\r\n",
			want:     mlflow.APIError{HTTPStatus: 502, Message: "upstream connect error or disconnect/reset before headers"},
			classify: mlflow.IsRetryable,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c, err := New(Config{TrackingURI: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.GetRun(t.Context(), "r1")
			if err == nil {
				t.Fatal("GetRun succeeded, want error")
			}
			if !strings.HasPrefix(err.Error(), "mlflow runs/get: ") {
				t.Errorf("error %q does not name the RPC", err)
			}
			var apiErr *mlflow.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v is not an *mlflow.APIError", err)
			}
			got := *apiErr
			if tc.wantMsgPart != "" {
				if !strings.Contains(got.Message, tc.wantMsgPart) {
					t.Errorf("message %q does not contain %q", got.Message, tc.wantMsgPart)
				}
				if len(got.Message) > maxSnippetLen+3 || !utf8.ValidString(got.Message) || strings.ContainsAny(got.Message, "<>\n\t") {
					t.Errorf("snippet not sanitised (%d bytes): %q", len(got.Message), got.Message)
				}
				got.Message = ""
			}
			if got != tc.want {
				t.Errorf("APIError = %+v, want %+v", got, tc.want)
			}
			if tc.classify != nil && !tc.classify(err) {
				t.Errorf("classifier returned false for %v", err)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-3", 0},
		{"120", 2 * time.Minute},
		{" 5 ", 5 * time.Second},
		{"99999999999999", 24 * time.Hour},
		{"Thu, 26 Nov 2026 00:00:30 GMT", 30 * time.Second},
		{"Thursday, 26-Nov-26 00:01:00 GMT", time.Minute},
		{"Wed, 25 Nov 2026 23:59:00 GMT", 0},
		{"soon", 0},
	}
	for _, tc := range tests {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestRetryAfterHTTPDate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	c, err := New(Config{TrackingURI: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.LogBatch(t.Context(), "r1", mlflow.Batch{Metrics: []mlflow.Metric{{Key: "k"}}})
	var apiErr *mlflow.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v is not an *mlflow.APIError", err)
	}
	// The date has one-second resolution and is an hour ahead.
	if apiErr.RetryAfter <= 58*time.Minute || apiErr.RetryAfter > time.Hour {
		t.Errorf("RetryAfter = %v, want about an hour", apiErr.RetryAfter)
	}
	if !mlflow.IsThrottled(err) || apiErr.Code != "" {
		t.Errorf("want a throttled error without code, got %+v", apiErr)
	}
}

func TestSuccessWithNonJSONBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "<html><body>Sign in to continue</body></html>")
	}))
	defer srv.Close()
	c, err := New(Config{TrackingURI: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.GetExperiment(t.Context(), "1")
	if err == nil || !strings.Contains(err.Error(), "decode response (Sign in to continue)") {
		t.Errorf("error = %v, want a decode error quoting the page text", err)
	}
	var apiErr *mlflow.APIError
	if errors.As(err, &apiErr) {
		t.Errorf("a 200 answer must not become an APIError: %v", err)
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c, err := New(Config{TrackingURI: "http://alice:pw-SECRET@" + addr, Token: "tok-SECRET"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.LogBatch(t.Context(), "r1", mlflow.Batch{Metrics: []mlflow.Metric{{Key: "k"}}})
	if err == nil {
		t.Fatal("LogBatch to a closed port succeeded")
	}
	if !strings.HasPrefix(err.Error(), "mlflow runs/log-batch: ") {
		t.Errorf("error %q does not name the RPC", err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("error %v does not wrap the *net.OpError", err)
	}
	var apiErr *mlflow.APIError
	if errors.As(err, &apiErr) {
		t.Errorf("transport error reported as APIError: %v", err)
	}
	if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "alice") {
		t.Errorf("error leaks credentials: %v", err)
	}
}

// TestSecretsAbsentFromErrors uses a hostile server that echoes the
// Authorization header back in every error shape.
func TestSecretsAbsentFromErrors(t *testing.T) {
	echo := func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		switch r.URL.Path {
		case "/api/2.0/mlflow/runs/get":
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{"error_code": "UNAUTHENTICATED", "message": "bad credentials: " + auth})
		case "/api/2.0/mlflow/runs/delete":
			w.WriteHeader(http.StatusForbidden)
			_, _ = fmt.Fprintf(w, "<html><body>denied for %s</body></html>", auth)
		default:
			_, _ = fmt.Fprintf(w, "not json %s", auth)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(echo))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, cfg := range []Config{
		{TrackingURI: srv.URL, Token: "tok-SECRET"},
		{TrackingURI: srv.URL, Username: "alice", Password: "pw-SECRET"},
		{TrackingURI: "http://alice:pw-SECRET@" + host},
		{TrackingURI: "http://alice:pw-SECRET@" + host, Username: "bob", Password: "other-SECRET", Token: "unused-SECRET"},
		{TrackingURI: srv.URL, Auth: func(r *http.Request) error {
			r.Header.Set("Authorization", "Bearer hook-SECRET")
			return nil
		}},
	} {
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var errs []error
		_, err = c.GetRun(t.Context(), "r1")
		errs = append(errs, err)
		errs = append(errs, c.DeleteRun(t.Context(), "r1"))
		_, err = c.GetExperiment(t.Context(), "1")
		errs = append(errs, err)
		_ = c.Close()
		for i, err := range errs {
			if err == nil {
				t.Fatalf("call %d succeeded against the echoing server", i)
			}
			msg := err.Error()
			if strings.Contains(msg, "SECRET") || strings.Contains(msg, "cHctU0VDUkVU") ||
				strings.Contains(msg, basicAuth("alice", "pw-SECRET")) {
				t.Errorf("error %d leaks a credential: %s", i, msg)
			}
			if !strings.Contains(msg, "[REDACTED]") {
				t.Errorf("error %d = %q, want the echoed credential masked", i, msg)
			}
		}
	}
}

// TestKeepAlive checks that bodies are drained so that sequential calls,
// failed ones included, share one connection.
func TestKeepAlive(t *testing.T) {
	var newConns atomic.Int32
	bigHTML := "<html>" + strings.Repeat("x", 3*maxErrorBytes) + "</html>"
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch r.URL.Path {
		case "/api/2.0/mlflow/runs/get":
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"no"}`)
		case "/api/2.0/mlflow/experiments/get":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, bigHTML)
		case "/api/2.0/mlflow/metrics/get-history":
			_, _ = io.WriteString(w, `{"metrics":[{"key":"k","value":1,"timestamp":1,"step":1}]}`+strings.Repeat(" ", 10000))
		default:
			_, _ = io.WriteString(w, `{}`)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			newConns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := New(Config{TrackingURI: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()
	batch := mlflow.Batch{Metrics: make([]mlflow.Metric, 1000)}
	for i := 0; i < 25; i++ {
		if err := c.LogBatch(ctx, "r1", batch); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetRun(ctx, "r1"); !mlflow.IsNotFound(err) {
			t.Fatalf("GetRun: %v", err)
		}
		if _, err := c.GetExperiment(ctx, "1"); !mlflow.IsRetryable(err) {
			t.Fatalf("GetExperiment: %v", err)
		}
		if _, err := c.GetMetricHistory(ctx, "r1", "k"); err != nil {
			t.Fatal(err)
		}
	}
	if n := newConns.Load(); n != 1 {
		t.Errorf("100 sequential calls opened %d connections, want 1", n)
	}
}

// TestConcurrentLogBatch runs many writers on one client (under -race) and
// checks that every pooled body arrived intact.
func TestConcurrentLogBatch(t *testing.T) {
	var points atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			RunID   string `json:"run_id"`
			Metrics []struct {
				Key  string `json:"key"`
				Step int64  `json:"step"`
			} `json:"metrics"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = fmt.Fprintf(w, `{"error_code":"BAD_REQUEST","message":%q}`, err.Error())
			return
		}
		for _, m := range body.Metrics {
			if m.Key != body.RunID+"/k" {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = fmt.Fprintf(w, `{"error_code":"BAD_REQUEST","message":"key %s in run %s"}`, m.Key, body.RunID)
				return
			}
		}
		points.Add(int64(len(body.Metrics)))
		_, _ = io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	c, err := New(Config{TrackingURI: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const workers, calls, perCall = 8, 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := fmt.Sprintf("run%d", w)
			ms := make([]mlflow.Metric, perCall)
			for i := range ms {
				ms[i] = mlflow.Metric{Key: run + "/k", Value: float64(i), Timestamp: int64(i), Step: int64(i)}
			}
			for i := 0; i < calls; i++ {
				if err := c.LogBatch(t.Context(), run, mlflow.Batch{Metrics: ms}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := points.Load(); got != workers*calls*perCall {
		t.Errorf("server received %d points, want %d", got, workers*calls*perCall)
	}
}

func TestAuthHookError(t *testing.T) {
	var called atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called.Store(true) }))
	defer srv.Close()
	hookErr := errors.New("token endpoint unreachable")
	c, err := New(Config{TrackingURI: srv.URL, Auth: func(*http.Request) error { return hookErr }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.LogBatch(t.Context(), "r1", mlflow.Batch{Metrics: []mlflow.Metric{{Key: "k"}}})
	if !errors.Is(err, hookErr) || !strings.HasPrefix(err.Error(), "mlflow runs/log-batch: authenticate: ") {
		t.Errorf("error = %v, want the hook's error wrapped with the RPC", err)
	}
	if called.Load() {
		t.Error("request sent although authentication failed")
	}
}
