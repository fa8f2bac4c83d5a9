package mlflowtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not JSON (%d): %s", r.Status, r.Body)
	}
	return m
}

// call sends a request; contentType "" sends none.
func call(t *testing.T, s *Server, method, path, contentType, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func post(t *testing.T, s *Server, rpc, body string) response {
	t.Helper()
	return call(t, s, http.MethodPost, "/api/2.0/mlflow/"+rpc, "application/json", body)
}

func get(t *testing.T, s *Server, rpcAndQuery string) response {
	t.Helper()
	return call(t, s, http.MethodGet, "/api/2.0/mlflow/"+rpcAndQuery, "", "")
}

func mustOK(t *testing.T, r response) map[string]any {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	return r.json(t)
}

func createExperiment(t *testing.T, s *Server, name string) string {
	t.Helper()
	return mustOK(t, post(t, s, "experiments/create", fmt.Sprintf(`{"name":%q}`, name)))["experiment_id"].(string)
}

func createRun(t *testing.T, s *Server, expID string) string {
	t.Helper()
	m := mustOK(t, post(t, s, "runs/create", fmt.Sprintf(`{"experiment_id":%q,"start_time":1000}`, expID)))
	return m["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
}

func keys(prefix string, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`{"key":"%s%d","value":"v"}`, prefix, i)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func metrics(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`{"key":"m%d","value":1,"timestamp":1}`, i)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// TestBehaviours pins status, error_code and message of each behaviour the
// project relies on, one request per case against a fresh fixture.
func TestBehaviours(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name        string
		method      string // default POST
		path        string // under /api/2.0/mlflow/ unless it starts with "/"
		contentType string // default application/json; "-" sends none
		body        string // {run} and {deleted} are replaced by run ids
		status      int
		code        string // "" for a non-MLflow body
		msg         string // substring of message (or body)
	}{
		// Transport.
		{name: "content type missing", path: "runs/log-batch", contentType: "-", body: `{"run_id":"{run}"}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Content-Type header is missing"},
		{name: "content type text/plain", path: "runs/create", contentType: "text/plain", body: `{}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Content-Type must be one of ['application/json']"},
		{name: "content type form", path: "runs/create", contentType: "application/x-www-form-urlencoded", body: `{}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Content-Type must be one of"},
		{name: "GET needs no content type", path: "runs/get?run_id={run}", method: "GET", status: 200},
		{name: "json charset accepted", path: "runs/set-tag", contentType: "application/json; charset=utf-8", body: `{"run_id":"{run}","key":"k","value":"v"}`, status: 200},
		{name: "non-JSON body read as empty", path: "runs/set-tag", body: `not json`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Missing value for required parameter 'run_id'"},
		{name: "non-JSON runs/create lands in Default", path: "runs/create", body: `not json`, status: 200, msg: `"experiment_id":"0"`},
		{name: "non-JSON log-batch is a 500 page", path: "runs/log-batch", body: `not json`, status: 500, msg: "<title>500 Internal Server Error</title>"},
		{name: "empty log-batch body is a 500 page", path: "runs/log-batch", body: ``, status: 500, msg: "Internal Server Error"},
		{name: "JSON array body is a 500 page", path: "runs/set-tag", body: `[1,2]`, status: 500, msg: "Internal Server Error"},
		{name: "double-encoded JSON accepted", path: "runs/set-tag", body: `"{\"run_id\":\"{run}\",\"key\":\"k\",\"value\":\"v\"}"`, status: 200},
		{name: "unknown path is a 404 page", method: "GET", path: "/api/2.0/mlflow/runs/nope", status: 404, msg: "<title>404 Not Found</title>"},
		{name: "unknown root path", method: "GET", path: "/nope", status: 404, msg: "The requested URL was not found on the server."},
		{name: "wrong method is a 405 page", method: "GET", path: "runs/log-batch", status: 405, msg: "Method Not Allowed"},
		{name: "PUT on a POST route", method: "PUT", path: "runs/create", body: `{}`, status: 405, msg: "Method Not Allowed"},
		{name: "OPTIONS", method: "OPTIONS", path: "runs/create", status: 200},
		{name: "HEAD on a GET route", method: "HEAD", path: "runs/get?run_id={run}", status: 200},
		{name: "ajax-api mirror", method: "GET", path: "/ajax-api/2.0/mlflow/runs/get?run_id={run}", status: 200},
		{name: "unknown fields ignored", path: "runs/set-tag", body: `{"run_id":"{run}","key":"k","value":"v","bogus":[1]}`, status: 200},

		// Numbers.
		{name: "int64 as strings", path: "runs/log-batch", body: `{"run_id":"{run}","metrics":[{"key":"m","value":"1.5","timestamp":"17","step":"3"}]}`, status: 200},
		{name: "NaN and infinities as strings", path: "runs/log-batch", body: `{"run_id":"{run}","metrics":[{"key":"a","value":"NaN","timestamp":1},{"key":"b","value":"Infinity","timestamp":1},{"key":"c","value":"-Infinity","timestamp":1}]}`, status: 200},
		{name: "bare NaN token refused", path: "runs/log-batch", body: `{"run_id":"{run}","metrics":[{"key":"a","value":NaN,"timestamp":1}]}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Bare NaN/Infinity"},
		{name: "bare Infinity token refused", path: "runs/log-metric", body: `{"run_id":"{run}","key":"a","value":-Infinity,"timestamp":1}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Bare NaN/Infinity"},
		{name: "NaN inside a string is data", path: "runs/set-tag", body: `{"run_id":"{run}","key":"k","value":"NaN Infinity"}`, status: 200},
		{name: "bad int64 string", path: "runs/log-metric", body: `{"run_id":"{run}","key":"a","value":1,"timestamp":"soon"}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "expected an int64"},
		{name: "fractional int64", path: "runs/log-metric", body: `{"run_id":"{run}","key":"a","value":1,"timestamp":1.5}`, status: 400, code: "INVALID_PARAMETER_VALUE"},
		{name: "negative timestamp", path: "runs/log-metric", body: `{"run_id":"{run}","key":"a","value":1,"timestamp":-1}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Timestamp must be a nonnegative long"},
		{name: "metric without timestamp", path: "runs/log-batch", body: `{"run_id":"{run}","metrics":[{"key":"a","value":1}]}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "parameter 'metrics'"},
		{name: "metric without value", path: "runs/log-batch", body: `{"run_id":"{run}","metrics":[{"key":"a","timestamp":1}]}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "parameter 'metrics'"},
		{name: "timestamp 0 and value 0 are present", path: "runs/log-batch", body: `{"run_id":"{run}","metrics":[{"key":"a","value":0,"timestamp":0}]}`, status: 200},

		// Batch limits.
		{name: "1000 metrics", path: "runs/log-batch", body: `{"run_id":"{run}","metrics":` + metrics(1000) + `}`, status: 200},
		{name: "1001 metrics", path: "runs/log-batch", body: `{"run_id":"{run}","metrics":` + metrics(1001) + `}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "A batch logging request can contain at most 1000 metrics. Got 1001 metrics."},
		{name: "100 params", path: "runs/log-batch", body: `{"run_id":"{run}","params":` + keys("p", 100) + `}`, status: 200},
		{name: "101 params", path: "runs/log-batch", body: `{"run_id":"{run}","params":` + keys("p", 101) + `}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "at most 100 params. Got 101 params"},
		{name: "101 tags", path: "runs/log-batch", body: `{"run_id":"{run}","tags":` + keys("t", 101) + `}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "at most 100 tags. Got 101 tags"},
		{name: "1001 entities", path: "runs/log-batch", body: `{"run_id":"{run}","metrics":` + metrics(900) + `,"params":` + keys("p", 100) + `,"tags":` + keys("t", 1) + `}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "at most 1000 metrics, params, and tags. Got 1001"},
		{name: "1000 entities", path: "runs/log-batch", body: `{"run_id":"{run}","metrics":` + metrics(900) + `,"params":` + keys("p", 50) + `,"tags":` + keys("t", 50) + `}`, status: 200},
		{name: "body over 1,000,000 bytes", path: "runs/log-batch", body: `{"run_id":"{run}","tags":[{"key":"big","value":"` + long(1_000_000) + `"}]}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "must be at most 1000000 bytes"},

		// Value limits.
		{name: "param value 6000", path: "runs/log-parameter", body: `{"run_id":"{run}","key":"p","value":"` + long(6000) + `"}`, status: 200},
		{name: "param value 6001", path: "runs/log-parameter", body: `{"run_id":"{run}","key":"p","value":"` + long(6001) + `"}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "had length 6001, which exceeded length limit of 6000"},
		{name: "param value 6001 in batch", path: "runs/log-batch", body: `{"run_id":"{run}","params":[{"key":"p","value":"` + long(6001) + `"}]}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Param value"},
		{name: "param value counts code points", path: "runs/log-parameter", body: `{"run_id":"{run}","key":"p","value":"` + strings.Repeat("é", 6000) + `"}`, status: 200},
		{name: "tag value 5000", path: "runs/set-tag", body: `{"run_id":"{run}","key":"t","value":"` + long(5000) + `"}`, status: 200},
		{name: "tag value 5001", path: "runs/set-tag", body: `{"run_id":"{run}","key":"t","value":"` + long(5001) + `"}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Tag value"},
		{name: "tag value 5001 in batch", path: "runs/log-batch", body: `{"run_id":"{run}","tags":[{"key":"t","value":"` + long(5001) + `"}]}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "exceeded length limit of 5000"},
		{name: "key 250", path: "runs/set-tag", body: `{"run_id":"{run}","key":"` + long(250) + `","value":"v"}`, status: 200},
		{name: "key 251", path: "runs/set-tag", body: `{"run_id":"{run}","key":"` + long(251) + `","value":"v"}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Tag key"},
		{name: "metric key 251", path: "runs/log-batch", body: `{"run_id":"{run}","metrics":[{"key":"` + long(251) + `","value":1,"timestamp":1}]}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Metric name"},
		{name: "experiment name 500", path: "experiments/create", body: `{"name":"` + long(500) + `"}`, status: 200},
		{name: "experiment name 501", path: "experiments/create", body: `{"name":"` + long(501) + `"}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "exceeded length limit of 500"},
		{name: "experiment name missing", path: "experiments/create", body: `{}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Missing value for required parameter 'name'"},
		{name: "invalid key", path: "runs/log-batch", body: `{"run_id":"{run}","metrics":[{"key":"a{b}","value":1,"timestamp":1}]}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Invalid metric name: 'a{b}'. Names may only contain"},
		{name: "non-normalised key", path: "runs/log-batch", body: `{"run_id":"{run}","params":[{"key":"a//b","value":"1"}]}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "would resolve to 'a/b'"},

		// Params.
		{name: "duplicate param keys in batch", path: "runs/log-batch", body: `{"run_id":"{run}","params":[{"key":"p","value":"1"},{"key":"p","value":"2"}]}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Duplicate parameter keys have been submitted: ['p']"},
		{name: "duplicate identical param keys in batch", path: "runs/log-batch", body: `{"run_id":"{run}","params":[{"key":"p","value":"1"},{"key":"p","value":"1"}]}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Duplicate parameter keys"},
		{name: "changing a param", path: "runs/log-batch", body: `{"run_id":"{run}","params":[{"key":"fixed","value":"2"}]}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Changing param values is not allowed"},
		{name: "changing a param alone", path: "runs/log-parameter", body: `{"run_id":"{run}","key":"fixed","value":"2"}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Changing param values is not allowed. Param with key='fixed' was already logged with value='1'"},
		{name: "same param value again", path: "runs/log-batch", body: `{"run_id":"{run}","params":[{"key":"fixed","value":"1"}]}`, status: 200},

		// Runs.
		{name: "unknown run", path: "runs/log-batch", body: `{"run_id":"0123456789abcdef0123456789abcdef"}`, status: 404, code: "RESOURCE_DOES_NOT_EXIST", msg: "Run with id=0123456789abcdef0123456789abcdef not found"},
		{name: "unknown run get", method: "GET", path: "runs/get?run_id=0123456789abcdef0123456789abcdef", status: 404, code: "RESOURCE_DOES_NOT_EXIST"},
		{name: "run id missing", method: "GET", path: "runs/get", status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Missing value for required parameter 'run_id'"},
		{name: "malformed run id", path: "runs/log-batch", body: `{"run_id":"../etc"}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Invalid run ID"},
		{name: "log to deleted run", path: "runs/log-batch", body: `{"run_id":"{deleted}","metrics":[{"key":"a","value":1,"timestamp":1}]}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "must be in the 'active' state. Current state is deleted."},
		{name: "tag deleted run", path: "runs/set-tag", body: `{"run_id":"{deleted}","key":"k","value":"v"}`, status: 400, code: "INVALID_PARAMETER_VALUE"},
		{name: "update deleted run", path: "runs/update", body: `{"run_id":"{deleted}","status":"FINISHED"}`, status: 400, code: "INVALID_PARAMETER_VALUE"},
		{name: "get deleted run", method: "GET", path: "runs/get?run_id={deleted}", status: 200},
		{name: "log to finished run", path: "runs/log-batch", body: `{"run_id":"{finished}","metrics":[{"key":"a","value":1,"timestamp":1}]}`, status: 200},
		{name: "unknown status ignored", path: "runs/update", body: `{"run_id":"{run}","status":"DONE"}`, status: 200},
		{name: "create run unknown experiment", path: "runs/create", body: `{"experiment_id":"999"}`, status: 404, code: "RESOURCE_DOES_NOT_EXIST", msg: "No Experiment with id=999 exists"},
		{name: "create run deleted experiment", path: "runs/create", body: `{"experiment_id":"{deletedexp}"}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "must be in the 'active' state"},
		{name: "create run name conflicts with tag", path: "runs/create", body: `{"run_name":"a","tags":[{"key":"mlflow.runName","value":"b"}]}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Both 'run_name' argument and 'mlflow.runName' tag are specified"},
		{name: "get-history without points", method: "GET", path: "metrics/get-history?run_id={run}&metric_key=none", status: 200, msg: "{}"},
		// Real 2.9.2 and 3.0.0 answer {} (testdata/conformance/*/history-unknown-run.json).
		{name: "get-history unknown run", method: "GET", path: "metrics/get-history?run_id=0123456789abcdef0123456789abcdef&metric_key=m", status: 200, msg: "{}"},

		// Experiments.
		{name: "duplicate experiment", path: "experiments/create", body: `{"name":"fixture"}`, status: 400, code: "RESOURCE_ALREADY_EXISTS", msg: "Experiment(name=fixture) already exists."},
		{name: "deleted experiment keeps its name", path: "experiments/create", body: `{"name":"gone"}`, status: 400, code: "RESOURCE_ALREADY_EXISTS"},
		{name: "unknown experiment by name", method: "GET", path: "experiments/get-by-name?experiment_name=nope", status: 404, code: "RESOURCE_DOES_NOT_EXIST", msg: "Could not find experiment with name 'nope'"},
		{name: "unknown experiment", method: "GET", path: "experiments/get?experiment_id=42", status: 404, code: "RESOURCE_DOES_NOT_EXIST", msg: "No Experiment with id=42 exists"},
		{name: "restore active experiment", path: "experiments/restore", body: `{"experiment_id":"0"}`, status: 404, code: "RESOURCE_DOES_NOT_EXIST"},
		{name: "delete deleted experiment", path: "experiments/delete", body: `{"experiment_id":"{deletedexp}"}`, status: 404, code: "RESOURCE_DOES_NOT_EXIST"},

		// Search.
		{name: "search bad filter", path: "runs/search", body: `{"experiment_ids":["0"],"filter":"tags.a = 'x' or tags.b = 'y'"}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Invalid clause(s)"},
		{name: "search max_results too big", path: "runs/search", body: `{"experiment_ids":["0"],"max_results":50001}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "max_results"},
		{name: "search max_results 0", path: "runs/search", body: `{"experiment_ids":["0"],"max_results":0}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "must be a positive integer, but got 0"},
		{name: "search experiments max_results 0", path: "experiments/search", body: `{"max_results":0}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "must be a positive integer"},
		{name: "search bad page token", path: "runs/search", body: `{"experiment_ids":["0"],"page_token":"!!"}`, status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Invalid page token"},
		{name: "search bad order_by", path: "runs/search", body: `{"experiment_ids":["0"],"order_by":["metrics.m SIDEWAYS"]}`, status: 400, code: "INVALID_PARAMETER_VALUE"},

		// Artifacts.
		{name: "artifact path escape", method: "PUT", path: "/api/2.0/mlflow-artifacts/artifacts/1/../../etc/passwd", contentType: "-", body: "x", status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Invalid path"},
		{name: "artifact list escape", method: "GET", path: "artifacts/list?run_id={run}&path=../x", status: 400, code: "INVALID_PARAMETER_VALUE", msg: "Invalid path"},
		// Real 2.9.2 and 3.0.0 answer 500 INTERNAL_ERROR (testdata/conformance/*/artifacts-get-missing.json).
		{name: "missing artifact", method: "GET", path: "/api/2.0/mlflow-artifacts/artifacts/0/x/artifacts/none.txt", status: 500, code: "INTERNAL_ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Start(t)
			fixture := createExperiment(t, s, "fixture")
			run := createRun(t, s, fixture)
			mustOK(t, post(t, s, "runs/log-parameter", fmt.Sprintf(`{"run_id":%q,"key":"fixed","value":"1"}`, run)))
			deleted := createRun(t, s, fixture)
			mustOK(t, post(t, s, "runs/delete", fmt.Sprintf(`{"run_id":%q}`, deleted)))
			finished := createRun(t, s, fixture)
			mustOK(t, post(t, s, "runs/update", fmt.Sprintf(`{"run_id":%q,"status":"FINISHED","end_time":2000}`, finished)))
			gone := createExperiment(t, s, "gone")
			mustOK(t, post(t, s, "experiments/delete", fmt.Sprintf(`{"experiment_id":%q}`, gone)))

			r := strings.NewReplacer("{run}", run, "{deleted}", deleted, "{finished}", finished, "{deletedexp}", gone)
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			path := r.Replace(tt.path)
			if !strings.HasPrefix(path, "/") {
				path = "/api/2.0/mlflow/" + path
			}
			ct := tt.contentType
			switch {
			case ct == "-":
				ct = ""
			case ct == "" && method == http.MethodPost:
				ct = "application/json"
			}
			resp := call(t, s, method, path, ct, r.Replace(tt.body))
			if resp.Status != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.Status, tt.status, truncate(resp.Body))
			}
			if tt.code == "" {
				if !strings.Contains(string(resp.Body), tt.msg) {
					t.Errorf("body %s lacks %q", truncate(resp.Body), tt.msg)
				}
				if tt.status >= 400 && strings.HasPrefix(string(resp.Body), "{") {
					t.Errorf("error body is JSON, want an HTML page: %s", resp.Body)
				}
				return
			}
			m := resp.json(t)
			if m["error_code"] != tt.code {
				t.Errorf("error_code = %v, want %s", m["error_code"], tt.code)
			}
			if msg, _ := m["message"].(string); !strings.Contains(msg, tt.msg) {
				t.Errorf("message %q lacks %q", truncate([]byte(msg)), tt.msg)
			}
		})
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// TestKeyValidation pins MLflow 2.x's key rules as the server applies them,
// and compares them with mlflow.ValidateKey, which clients use to sanitise
// keys before sending.
func TestKeyValidation(t *testing.T) {
	tests := []struct {
		key   string
		valid bool
	}{
		{"loss", true},
		{"system/gpu_0_utilization_percentage", true},
		{"a b-c.d_e", true},
		{"Ünïcödé", true},
		{"日本語", true},
		{"x²", true},       // Python's \w includes every Unicode number
		{"e\u0301", false}, // a combining mark is not \w
		{"a:b", false},     // MLflow 2.9 (2.17+ allows ':' on Linux)
		{"a{b}", false},
		{"a=b", false},
		{"a,b", false},
		{"a@b", false},
		{"a*b", false},
		{"", false},
		{"/abs", false},
		{"trail/", false},
		{"a//b", false},
		{"a/./b", false},
		{"../x", false},
		{"..x", false}, // normpath keeps it, but it starts with ".."
		{".", false},
		{"a/..", false},
		{strings.Repeat("k", 250), true},
		{strings.Repeat("k", 251), false},
	}
	// Where the project's ValidateKey is known to differ from MLflow; the
	// test fails when one is fixed, so that this list shrinks. (Empty since
	// ValidateKey took Python's \w and the leading ".." rule.)
	knownDivergent := map[string]bool{}
	s := Start(t)
	run := createRun(t, s, "0")
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			for _, rpc := range []string{"runs/set-tag", "runs/log-parameter"} {
				body, _ := json.Marshal(map[string]string{"run_id": run, "key": tt.key, "value": "v"})
				resp := post(t, s, rpc, string(body))
				if got := resp.Status == http.StatusOK; got != tt.valid {
					t.Errorf("%s: status %d, want valid=%v: %s", rpc, resp.Status, tt.valid, truncate(resp.Body))
				}
			}
			body, _ := json.Marshal(map[string]any{"run_id": run, "metrics": []map[string]any{{"key": tt.key, "value": 1, "timestamp": 1}}})
			if got := post(t, s, "runs/log-batch", string(body)).Status == http.StatusOK; got != tt.valid {
				t.Errorf("log-batch metric: valid=%v, want %v", got, tt.valid)
			}
			projectValid := mlflow.ValidateKey(tt.key) == nil
			if agree := projectValid == tt.valid; agree == knownDivergent[tt.key] {
				t.Errorf("mlflow.ValidateKey(%q) valid=%v, MLflow valid=%v, listed as divergent=%v", tt.key, projectValid, tt.valid, knownDivergent[tt.key])
			}
		})
	}
}

func TestCreateRun(t *testing.T) {
	now := time.UnixMilli(1_795_650_000_000)
	s := Start(t, WithClock(func() time.Time { return now }))
	exp := createExperiment(t, s, "e")
	if exp != "1" {
		t.Errorf("first experiment id = %s, want 1", exp)
	}

	m := mustOK(t, post(t, s, "runs/create", `{"experiment_id":"1","user_id":"alice","start_time":"1795650000001","tags":[{"key":"mlflow.user","value":"alice"}]}`))
	info := m["run"].(map[string]any)["info"].(map[string]any)
	id := info["run_id"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) || info["run_uuid"] != id {
		t.Errorf("run_id %q / run_uuid %v", id, info["run_uuid"])
	}
	if want := "mlflow-artifacts:/1/" + id + "/artifacts"; info["artifact_uri"] != want {
		t.Errorf("artifact_uri = %v, want %s", info["artifact_uri"], want)
	}
	if info["status"] != "RUNNING" || info["user_id"] != "alice" || info["lifecycle_stage"] != "active" {
		t.Errorf("info = %v", info)
	}
	if info["start_time"] != float64(1795650000001) {
		t.Errorf("start_time = %v (want a JSON number)", info["start_time"])
	}
	if _, ok := info["end_time"]; ok {
		t.Errorf("end_time present on a running run: %v", info)
	}
	name := info["run_name"].(string)
	if !regexp.MustCompile(`^[a-z]+-[a-z]+-\d{1,4}$`).MatchString(name) {
		t.Errorf("generated run name %q", name)
	}
	runs := s.Runs()
	if tag, _ := runs[0].Tag("mlflow.runName"); tag != name {
		t.Errorf("mlflow.runName tag = %q, want %q", tag, name)
	}
	if tag, _ := runs[0].Tag("mlflow.user"); tag != "alice" {
		t.Errorf("mlflow.user tag = %q", tag)
	}

	// An empty experiment id is the Default experiment; a given name is kept.
	m = mustOK(t, post(t, s, "runs/create", `{"run_name":"mine"}`))
	info = m["run"].(map[string]any)["info"].(map[string]any)
	if info["experiment_id"] != "0" || info["run_name"] != "mine" {
		t.Errorf("info = %v", info)
	}

	// runs/update: end, rename, and an unknown status leaves the status.
	m = mustOK(t, post(t, s, "runs/update", fmt.Sprintf(`{"run_id":%q,"status":"FINISHED","end_time":5,"run_name":"renamed"}`, id)))
	ri := m["run_info"].(map[string]any)
	if ri["status"] != "FINISHED" || ri["end_time"] != float64(5) || ri["run_name"] != "renamed" {
		t.Errorf("run_info = %v", ri)
	}
	mustOK(t, post(t, s, "runs/update", fmt.Sprintf(`{"run_id":%q,"status":"DONE"}`, id)))
	for _, r := range s.Runs() {
		if r.Info.RunID == id {
			if r.Info.Status != mlflow.RunStatusFinished || r.Info.RunName != "renamed" {
				t.Errorf("after update: %+v", r.Info)
			}
			if tag, _ := r.Tag("mlflow.runName"); tag != "renamed" {
				t.Errorf("mlflow.runName = %q", tag)
			}
		}
	}
}

func TestExperimentLifecycle(t *testing.T) {
	s := Start(t)
	m := mustOK(t, get(t, s, "experiments/get-by-name?experiment_name=Default"))
	if e := m["experiment"].(map[string]any); e["experiment_id"] != "0" || e["artifact_location"] != "mlflow-artifacts:/0" {
		t.Errorf("Default = %v", e)
	}
	id := createExperiment(t, s, "exp")
	run := createRun(t, s, id)
	mustOK(t, post(t, s, "experiments/delete", fmt.Sprintf(`{"experiment_id":%q}`, id)))

	m = mustOK(t, get(t, s, "experiments/get-by-name?experiment_name=exp"))
	if stage := m["experiment"].(map[string]any)["lifecycle_stage"]; stage != "deleted" {
		t.Errorf("lifecycle_stage = %v", stage)
	}
	if r := post(t, s, "experiments/create", `{"name":"exp"}`); r.Status != 400 || r.json(t)["error_code"] != "RESOURCE_ALREADY_EXISTS" {
		t.Errorf("create over deleted: %d %s", r.Status, r.Body)
	}
	// Deleting an experiment deletes its runs; restoring restores them.
	if got := s.Runs()[0].Info.LifecycleStage; got != "deleted" {
		t.Errorf("run after experiment delete: %s", got)
	}
	mustOK(t, post(t, s, "experiments/restore", fmt.Sprintf(`{"experiment_id":%q}`, id)))
	if got := s.Runs()[0].Info.LifecycleStage; got != "active" {
		t.Errorf("run after experiment restore: %s", got)
	}
	mustOK(t, post(t, s, "runs/log-batch", fmt.Sprintf(`{"run_id":%q,"metrics":[{"key":"m","value":1,"timestamp":1}]}`, run)))

	// Search: view types and the name filter.
	mustOK(t, post(t, s, "experiments/delete", fmt.Sprintf(`{"experiment_id":%q}`, createExperiment(t, s, "other"))))
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{}`, 2},
		{`{"view_type":"ALL"}`, 3},
		{`{"view_type":"DELETED_ONLY"}`, 1},
		{`{"filter":"name = 'exp'"}`, 1},
		{`{"filter":"name LIKE 'Def%'"}`, 1},
		{`{"max_results":2}`, 2},
	} {
		m := mustOK(t, post(t, s, "experiments/search", tc.body))
		exps, _ := m["experiments"].([]any)
		if len(exps) != tc.want {
			t.Errorf("experiments/search %s: %d experiments, want %d", tc.body, len(exps), tc.want)
		}
	}
	// Experiments page with LIMIT n+1: no token on the last full page.
	m = mustOK(t, post(t, s, "experiments/search", `{"max_results":1}`))
	tok, _ := m["next_page_token"].(string)
	m = mustOK(t, post(t, s, "experiments/search", fmt.Sprintf(`{"max_results":1,"page_token":%q}`, tok)))
	if _, ok := m["next_page_token"]; ok || tok == "" {
		t.Errorf("experiment paging: first token %q, last page %v", tok, m)
	}
	if n := len(s.Experiments()); n != 3 {
		t.Errorf("Experiments() = %d", n)
	}
}

func TestMetrics(t *testing.T) {
	s := Start(t)
	run := createRun(t, s, "0")
	batch := fmt.Sprintf(`{"run_id":%q,"metrics":[
		{"key":"m","value":1,"timestamp":10,"step":0},
		{"key":"m","value":3,"timestamp":30,"step":2},
		{"key":"m","value":2,"timestamp":20,"step":1},
		{"key":"n","value":"NaN","timestamp":1},
		{"key":"inf","value":"Infinity","timestamp":1},
		{"key":"ninf","value":"-Infinity","timestamp":1}]}`, run)
	mustOK(t, post(t, s, "runs/log-batch", batch))
	// A retried batch adds nothing: identical points are one row in the SQL store.
	mustOK(t, post(t, s, "runs/log-batch", batch))
	mustOK(t, post(t, s, "runs/log-metric", fmt.Sprintf(`{"run_id":%q,"key":"m","value":1,"timestamp":10}`, run)))

	hist := s.MetricHistory(run, "m")
	if len(hist) != 3 || hist[0].Value != 1 || hist[1].Value != 3 || hist[2].Value != 2 {
		t.Errorf("history = %v, want 3 points in insertion order", hist)
	}
	// Same key, timestamp and step but another value is a new point.
	mustOK(t, post(t, s, "runs/log-metric", fmt.Sprintf(`{"run_id":%q,"key":"m","value":1.5,"timestamp":10}`, run)))
	if n := len(s.MetricHistory(run, "m")); n != 4 {
		t.Errorf("history has %d points, want 4", n)
	}

	resp := get(t, s, fmt.Sprintf("metrics/get-history?run_id=%s&metric_key=n", run))
	if !bytes.Contains(resp.Body, []byte(`"value":"NaN"`)) {
		t.Errorf("NaN history: %s", resp.Body)
	}
	latest := map[string]float64{}
	for _, m := range s.Runs()[0].Data.Metrics {
		latest[m.Key] = m.Value
	}
	if latest["m"] != 3 {
		t.Errorf("latest m = %v, want 3 (highest step)", latest["m"])
	}
	if !math.IsNaN(latest["n"]) {
		t.Errorf("latest n = %v, want NaN", latest["n"])
	}
	if latest["inf"] != math.MaxFloat64 || latest["ninf"] != -math.MaxFloat64 {
		t.Errorf("infinities stored as %v, %v; want ±MaxFloat64 as the SQL store", latest["inf"], latest["ninf"])
	}
	resp = get(t, s, "runs/get?run_id="+run)
	if !bytes.Contains(resp.Body, []byte(`"value":1.7976931348623157e+308`)) {
		t.Errorf("runs/get: %s", resp.Body)
	}
}

func TestPartialBatchNotWritten(t *testing.T) {
	s := Start(t)
	run := createRun(t, s, "0")
	mustOK(t, post(t, s, "runs/log-parameter", fmt.Sprintf(`{"run_id":%q,"key":"p","value":"1"}`, run)))
	r := post(t, s, "runs/log-batch", fmt.Sprintf(`{"run_id":%q,"metrics":[{"key":"m","value":1,"timestamp":1}],"params":[{"key":"p","value":"2"}],"tags":[{"key":"t","value":"v"}]}`, run))
	if r.Status != 400 {
		t.Fatalf("status %d", r.Status)
	}
	got := s.Runs()[0]
	if len(got.Data.Metrics) != 0 {
		t.Errorf("metrics written by a refused batch: %v", got.Data.Metrics)
	}
	if _, ok := got.Tag("t"); ok {
		t.Errorf("tag written by a refused batch")
	}
}

func TestSearchRuns(t *testing.T) {
	s := Start(t)
	exp := createExperiment(t, s, "e")
	var runs []string
	for i := 0; i < 5; i++ {
		m := mustOK(t, post(t, s, "runs/create", fmt.Sprintf(`{"experiment_id":%q,"start_time":%d,"tags":[{"key":"my.key","value":"v%d"}]}`, exp, 100+i, i%2)))
		id := m["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
		runs = append(runs, id)
		mustOK(t, post(t, s, "runs/log-batch", fmt.Sprintf(`{"run_id":%q,"metrics":[{"key":"loss","value":%d,"timestamp":1}]}`, id, 10-i)))
	}
	mustOK(t, post(t, s, "runs/delete", fmt.Sprintf(`{"run_id":%q}`, runs[4])))
	createRun(t, s, "0") // another experiment: never returned

	search := func(body string) ([]string, string) {
		t.Helper()
		m := mustOK(t, post(t, s, "runs/search", body))
		var ids []string
		list, _ := m["runs"].([]any)
		for _, r := range list {
			ids = append(ids, r.(map[string]any)["info"].(map[string]any)["run_id"].(string))
		}
		tok, _ := m["next_page_token"].(string)
		return ids, tok
	}
	eq := func(got []string, want ...string) bool { return strings.Join(got, ",") == strings.Join(want, ",") }

	if got, _ := search(fmt.Sprintf(`{"experiment_ids":[%q]}`, exp)); !eq(got, runs[3], runs[2], runs[1], runs[0]) {
		t.Errorf("default order (start_time DESC, active only) = %v", got)
	}
	if got, _ := search(fmt.Sprintf(`{"experiment_ids":[%q],"run_view_type":"ALL","order_by":["attributes.start_time ASC"]}`, exp)); !eq(got, runs...) {
		t.Errorf("ALL ascending = %v", got)
	}
	if got, _ := search(fmt.Sprintf(`{"experiment_ids":[%q],"run_view_type":"DELETED_ONLY"}`, exp)); !eq(got, runs[4]) {
		t.Errorf("DELETED_ONLY = %v", got)
	}
	if got, _ := search(fmt.Sprintf(`{"experiment_ids":[%q],"filter":"tags.`+"`my.key`"+` = 'v1' and metrics.loss < 9.5"}`, exp)); !eq(got, runs[3], runs[1]) {
		t.Errorf("filtered = %v", got)
	}
	if got, _ := search(fmt.Sprintf(`{"experiment_ids":[%q],"order_by":["metrics.loss ASC"]}`, exp)); !eq(got, runs[3], runs[2], runs[1], runs[0]) {
		t.Errorf("order by loss = %v", got)
	}

	// Paging: a full page always has a token, even the last one.
	var all []string
	tok := ""
	pages := 0
	for {
		ids, next := search(fmt.Sprintf(`{"experiment_ids":[%q],"max_results":"2","page_token":%q}`, exp, tok))
		all = append(all, ids...)
		pages++
		if next == "" {
			break
		}
		tok = next
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if pages != 3 || !eq(all, runs[3], runs[2], runs[1], runs[0]) {
		t.Errorf("paged %d pages: %v", pages, all)
	}
	if m := mustOK(t, post(t, s, "runs/search", `{"experiment_ids":["999"]}`)); len(m) != 0 {
		t.Errorf("no match should be {}: %v", m)
	}
}

func TestArtifacts(t *testing.T) {
	s := Start(t)
	run := createRun(t, s, "0")
	base := "/api/2.0/mlflow-artifacts/artifacts/0/" + run + "/artifacts/"
	for _, p := range []string{"plots/a.png", "plots/b.png", "model.txt"} {
		if r := call(t, s, http.MethodPut, base+p, "application/octet-stream", "data-"+p); r.Status != 200 || string(r.Body) != "{}" {
			t.Fatalf("PUT %s: %d %s", p, r.Status, r.Body)
		}
	}
	if r := call(t, s, http.MethodGet, base+"plots/a.png", "", ""); r.Status != 200 || string(r.Body) != "data-plots/a.png" {
		t.Errorf("GET: %d %s", r.Status, r.Body)
	}
	m := mustOK(t, get(t, s, "artifacts/list?run_id="+run))
	if m["root_uri"] != "mlflow-artifacts:/0/"+run+"/artifacts" {
		t.Errorf("root_uri = %v", m["root_uri"])
	}
	files, _ := json.Marshal(m["files"])
	if want := `[{"is_dir":false,"path":"model.txt","file_size":14},{"is_dir":true,"path":"plots"}]`; !jsonEqual(t, files, want) {
		t.Errorf("files = %s, want %s", files, want)
	}
	m = mustOK(t, get(t, s, "artifacts/list?run_id="+run+"&path=plots"))
	files, _ = json.Marshal(m["files"])
	if want := `[{"is_dir":false,"path":"plots/a.png","file_size":16},{"is_dir":false,"path":"plots/b.png","file_size":16}]`; !jsonEqual(t, files, want) {
		t.Errorf("files = %s, want %s", files, want)
	}
	if b, ok := s.Artifact("0/" + run + "/artifacts/model.txt"); !ok || string(b) != "data-model.txt" {
		t.Errorf("Artifact() = %q, %v", b, ok)
	}
}

func jsonEqual(t *testing.T, got []byte, want string) bool {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestAuth(t *testing.T) {
	t.Run("bearer", func(t *testing.T) {
		s := Start(t, WithBearerToken("s3cret"))
		for _, tc := range []struct {
			auth   string
			status int
		}{{"", 401}, {"Bearer wrong", 401}, {"Basic czNjcmV0", 401}, {"Bearer s3cret", 200}} {
			req, _ := http.NewRequest(http.MethodGet, s.URL()+"/api/2.0/mlflow/experiments/get?experiment_id=0", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("%q: status %d, want %d", tc.auth, resp.StatusCode, tc.status)
			}
			if tc.status == 401 {
				if !bytes.Contains(body, []byte(`"error_code":"UNAUTHENTICATED"`)) || bytes.Contains(body, []byte("s3cret")) {
					t.Errorf("401 body: %s", body)
				}
			}
		}
	})
	t.Run("basic", func(t *testing.T) {
		s := Start(t, WithBasicAuth("alice", "pw"))
		for _, tc := range []struct {
			user, pass string
			set        bool
			status     int
		}{{"", "", false, 401}, {"alice", "bad", true, 401}, {"bob", "pw", true, 401}, {"alice", "pw", true, 200}} {
			req, _ := http.NewRequest(http.MethodGet, s.URL()+"/api/2.0/mlflow/experiments/get?experiment_id=0", nil)
			if tc.set {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("%s:%s: status %d, want %d", tc.user, tc.pass, resp.StatusCode, tc.status)
			}
			if tc.status == 401 {
				if !bytes.HasPrefix(body, []byte("You are not authenticated.")) || resp.Header.Get("WWW-Authenticate") != `Basic realm="mlflow"` {
					t.Errorf("401: %s %v", body, resp.Header)
				}
			}
		}
	})
}

func TestRequestLog(t *testing.T) {
	s := Start(t)
	run := createRun(t, s, "0")
	mustOK(t, post(t, s, "runs/log-batch", fmt.Sprintf(`{"run_id":%q}`, run)))
	call(t, s, http.MethodPost, "/ajax-api/2.0/mlflow/runs/log-batch", "text/plain", "{}")
	if n := s.RequestCount("runs/log-batch"); n != 2 {
		t.Errorf("RequestCount(log-batch) = %d", n)
	}
	if n := s.RequestCount(""); n != 3 {
		t.Errorf("RequestCount(\"\") = %d", n)
	}
	reqs := s.Requests()
	if len(reqs) != 3 || reqs[1].Status != 200 || reqs[2].Status != 400 || reqs[1].Method != "POST" || reqs[1].BodyBytes == 0 {
		t.Errorf("Requests() = %+v", reqs)
	}
	if reqs[1].Header.Get("Content-Type") != "application/json" {
		t.Errorf("header not recorded: %v", reqs[1].Header)
	}
	// Copies: changing them does not change the server's view.
	reqs[1].Header.Set("Content-Type", "changed")
	runs := s.Runs()
	runs[0].Data.Tags[0].Value = "changed"
	if s.Requests()[1].Header.Get("Content-Type") != "application/json" {
		t.Error("Requests() shares headers")
	}
	if s.Runs()[0].Data.Tags[0].Value == "changed" {
		t.Error("Runs() shares tags")
	}
}

// TestGolden pins the JSON shapes of runs/get and experiments/get.
func TestGolden(t *testing.T) {
	now := time.UnixMilli(1_795_650_000_000)
	s := Start(t, WithClock(func() time.Time { return now }))
	exp := createExperiment(t, s, "golden")
	mustOK(t, post(t, s, "experiments/create", `{"name":"tagged","tags":[{"key":"team","value":"ml"}]}`))
	m := mustOK(t, post(t, s, "runs/create", fmt.Sprintf(`{"experiment_id":%q,"run_name":"r","user_id":"u","start_time":1,"tags":[{"key":"mlflow.source.type","value":"LOCAL"}]}`, exp)))
	run := m["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	mustOK(t, post(t, s, "runs/log-batch", fmt.Sprintf(`{"run_id":%q,"metrics":[{"key":"loss","value":0.25,"timestamp":5,"step":1},{"key":"nan","value":"NaN","timestamp":5}],"params":[{"key":"lr","value":"0.1"}],"tags":[{"key":"note","value":"x"}]}`, run)))
	mustOK(t, post(t, s, "runs/update", fmt.Sprintf(`{"run_id":%q,"status":"FINISHED","end_time":9}`, run)))

	var out bytes.Buffer
	for _, path := range []string{"runs/get?run_id=" + run, "experiments/get?experiment_id=2", "experiments/get-by-name?experiment_name=Default", "metrics/get-history?run_id=" + run + "&metric_key=loss"} {
		resp := get(t, s, path)
		out.WriteString(strings.ReplaceAll(string(resp.Body), run, "<run_id>"))
		out.WriteByte('\n')
	}
	checkGolden(t, "responses.golden", out.Bytes())
}
