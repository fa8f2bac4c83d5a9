package mlflowtest

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const testPAT = "dapi-test-pat"

func dbxCall(t *testing.T, s *Server, method, path, contentType, auth, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
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

func dbxPost(t *testing.T, s *Server, auth, rpc, body string) response {
	t.Helper()
	return dbxCall(t, s, http.MethodPost, "/api/2.0/mlflow/"+rpc, "application/json", auth, body)
}

func basicHeader(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(user)+":"+url.QueryEscape(pass)))
}

func requestToken(t *testing.T, s *Server, auth, form string) response {
	t.Helper()
	return dbxCall(t, s, http.MethodPost, DatabricksTokenPath, "application/x-www-form-urlencoded", auth, form)
}

func wantError(t *testing.T, r response, status int, code, msgPart string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	var b struct {
		ErrorCode string `json:"error_code"`
		Error     string `json:"error"`
		Message   string `json:"message"`
		Desc      string `json:"error_description"`
	}
	if err := json.Unmarshal(r.Body, &b); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
	if got := b.ErrorCode + b.Error; got != code {
		t.Errorf("code %q, want %q (%s)", got, code, r.Body)
	}
	if !strings.Contains(b.Message+b.Desc, msgPart) {
		t.Errorf("message %q lacks %q", b.Message+b.Desc, msgPart)
	}
}

func TestDatabricksOAuth(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := Start(t, WithClock(clock), WithDatabricks(Databricks{ClientID: "sp-id", ClientSecret: "s&cret", TokenLifetime: 90 * time.Second}))

	meta := dbxCall(t, s, http.MethodGet, DatabricksOIDCMetadataPath, "", "", "")
	m := mustOK(t, meta)
	if m["token_endpoint"] != s.URL()+DatabricksTokenPath {
		t.Fatalf("token_endpoint = %v", m["token_endpoint"])
	}

	good := "grant_type=client_credentials&scope=all-apis"
	tests := []struct {
		name, auth, form string
		status           int
		code             string
	}{
		{"wrong secret", basicHeader("sp-id", "nope"), good, 401, "invalid_client"},
		{"unknown client", basicHeader("other", "s&cret"), good, 401, "invalid_client"},
		{"no credentials", "", good, 401, "invalid_client"},
		{"wrong grant", basicHeader("sp-id", "s&cret"), "grant_type=password&scope=all-apis", 400, "unsupported_grant_type"},
		{"wrong scope", basicHeader("sp-id", "s&cret"), "grant_type=client_credentials&scope=sql", 400, "invalid_scope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, requestToken(t, s, tc.auth, tc.form), tc.status, tc.code, "")
		})
	}

	// Credentials in the form body are accepted too.
	tr := mustOK(t, requestToken(t, s, "", good+"&client_id=sp-id&client_secret="+url.QueryEscape("s&cret")))
	if tr["token_type"] != "Bearer" || tr["expires_in"] != float64(90) || tr["access_token"] == "" {
		t.Fatalf("token response %v", tr)
	}
	tok := tr["access_token"].(string)
	if s.DatabricksTokensIssued() != 1 {
		t.Errorf("issued = %d", s.DatabricksTokensIssued())
	}

	mustOK(t, dbxCall(t, s, http.MethodGet, "/api/2.0/mlflow/experiments/get?experiment_id=0", "", "Bearer "+tok, ""))
	mu.Lock()
	now = now.Add(90 * time.Second)
	mu.Unlock()
	wantError(t, dbxCall(t, s, http.MethodGet, "/api/2.0/mlflow/experiments/get?experiment_id=0", "", "Bearer "+tok, ""),
		403, "PERMISSION_DENIED", "Invalid access token.")
}

func TestDatabricksAuthAnswers(t *testing.T) {
	s := Start(t, WithDatabricks(Databricks{PATs: []string{testPAT}}))
	path := "/api/2.0/mlflow/experiments/get?experiment_id=0"
	tests := []struct {
		name, auth string
		status     int
		code       string
	}{
		{"no header", "", 401, "UNAUTHENTICATED"},
		{"basic", basicHeader("u", "p"), 401, "UNAUTHENTICATED"},
		{"unknown token", "Bearer dapi-other", 403, "PERMISSION_DENIED"},
		{"pat", "Bearer " + testPAT, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := dbxCall(t, s, http.MethodGet, path, "", tc.auth, "")
			if tc.status == 200 {
				mustOK(t, r)
				return
			}
			wantError(t, r, tc.status, tc.code, "")
		})
	}
	if n := s.DatabricksRefused(); n != 3 {
		t.Errorf("refused = %d, want 3", n)
	}
}

func TestDatabricksRules(t *testing.T) {
	s := Start(t, WithDatabricks(Databricks{PATs: []string{testPAT}, Params: 2, Tags: 3, MetricSteps: 4, RateLimits: map[string]float64{}}))
	auth := "Bearer " + testPAT

	wantError(t, dbxPost(t, s, auth, "experiments/create", `{"name":"relative"}`), 400, "INVALID_PARAMETER_VALUE", "must be an absolute path")
	wantError(t, dbxCall(t, s, http.MethodGet, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=rel", "", auth, ""),
		400, "INVALID_PARAMETER_VALUE", "absolute path")
	exp := mustOK(t, dbxPost(t, s, auth, "experiments/create", `{"name":"/Shared/x"}`))["experiment_id"].(string)
	wantError(t, dbxPost(t, s, auth, "experiments/create", `{"name":"/Shared/x"}`), 409, "ALREADY_EXISTS", "/Shared/x")

	run := mustOK(t, dbxPost(t, s, auth, "runs/create", `{"experiment_id":"`+exp+`","start_time":1}`))["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	batch := func(body string) response {
		return dbxPost(t, s, auth, "runs/log-batch", `{"run_id":"`+run+`",`+body+`}`)
	}
	metric := func(step int) string {
		return `{"key":"m","value":1,"timestamp":1,"step":` + string(rune('0'+step)) + `}`
	}
	// runs/create set mlflow.runName: one tag of three is taken.
	mustOK(t, batch(`"params":[{"key":"a","value":"1"},{"key":"b","value":"1"}],"tags":[{"key":"t1","value":"x"},{"key":"t2","value":"x"}]`))
	mustOK(t, batch(`"params":[{"key":"a","value":"1"}],"tags":[{"key":"t1","value":"changed"}]`)) // nothing new
	wantError(t, batch(`"params":[{"key":"c","value":"1"}]`), 429, "RESOURCE_EXHAUSTED", "2 params")
	wantError(t, batch(`"tags":[{"key":"t3","value":"x"}]`), 429, "RESOURCE_EXHAUSTED", "3 tags")
	mustOK(t, batch(`"metrics":[`+metric(1)+`,`+metric(2)+`,`+metric(3)+`]`))
	wantError(t, batch(`"metrics":[`+metric(4)+`,`+metric(5)+`]`), 429, "RESOURCE_EXHAUSTED", "4 metric steps")
	mustOK(t, batch(`"metrics":[`+metric(4)+`]`))
}

func TestDatabricksRateLimit(t *testing.T) {
	s := Start(t, WithDatabricks(Databricks{PATs: []string{testPAT}, RateLimits: map[string]float64{"search": 2}}))
	auth := "Bearer " + testPAT
	search := func() response { return dbxPost(t, s, auth, "runs/search", `{"experiment_ids":["0"]}`) }
	// A bucket holds one second of requests: two pass at once, the third
	// is refused without Retry-After, and other groups are unaffected.
	mustOK(t, search())
	mustOK(t, search())
	r := search()
	wantError(t, r, 429, "REQUEST_LIMIT_EXCEEDED", "rate limiting")
	if v := r.Header.Get("Retry-After"); v != "" {
		t.Errorf("Retry-After %q; Databricks sends none", v)
	}
	mustOK(t, dbxCall(t, s, http.MethodGet, "/api/2.0/mlflow/experiments/get?experiment_id=0", "", auth, ""))
	if s.DatabricksThrottled("search") != 1 || s.DatabricksThrottled("") != 1 {
		t.Errorf("throttled search=%d all=%d, want 1", s.DatabricksThrottled("search"), s.DatabricksThrottled(""))
	}
}

func TestDatabricksGroups(t *testing.T) {
	for rpc, want := range map[string]string{
		"runs/log-batch": "log_batch", "runs/set-tag": "log_batch", "runs/search": "search",
		"experiments/create": "experiments", "experiments/search": "experiments", "runs/create": "other", "metrics/get-history": "other",
	} {
		if got := dbxGroup(rpc); got != want {
			t.Errorf("dbxGroup(%q) = %q, want %q", rpc, got, want)
		}
	}
}
