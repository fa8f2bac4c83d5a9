package mlflowtest

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRegistry(t *testing.T) {
	s := Start(t, WithClock(func() time.Time { return time.UnixMilli(1_700_000_000_000) }))
	expID := createExperiment(t, s, "reg")
	runID := createRun(t, s, expID)
	src := "mlflow-artifacts:/" + expID + "/" + runID + "/artifacts/model"

	tests := []struct {
		name       string
		method     string
		rpc        string
		body       string
		wantStatus int
		want       string // substring of the answer
	}{
		{"get missing model", http.MethodGet, "registered-models/get?name=m", "", 404, `"error_code":"RESOURCE_DOES_NOT_EXIST"`},
		{"create needs name", http.MethodPost, "registered-models/create", `{}`, 400, `Missing value for required parameter 'name'`},
		{"create", http.MethodPost, "registered-models/create", `{"name":"m","description":"d"}`,
			200, `{"registered_model":{"name":"m","creation_timestamp":1700000000000,"last_updated_timestamp":1700000000000,"description":"d"}}`},
		{"create again", http.MethodPost, "registered-models/create", `{"name":"m"}`, 400, `Registered Model (name=m) already exists.`},
		{"get", http.MethodGet, "registered-models/get?name=m", "", 200, `"name":"m"`},
		{"version of missing model", http.MethodPost, "model-versions/create", `{"name":"x","source":"s"}`, 404, `Registered Model with name=x not found`},
		{"version needs source", http.MethodPost, "model-versions/create", `{"name":"m"}`, 400, `'source'`},
		{"version 1", http.MethodPost, "model-versions/create", `{"name":"m","source":"` + src + `","run_id":"` + runID + `"}`,
			200, `"version":"1"`},
		{"version 2 without run", http.MethodPost, "model-versions/create", `{"name":"m","source":"s3://b/k"}`, 200, `"version":"2"`},
		{"source outside the run", http.MethodPost, "model-versions/create", `{"name":"m","source":"mlflow-artifacts:/0/other/artifacts/model","run_id":"` + runID + `"}`,
			400, `Invalid model version source`},
		{"unknown run", http.MethodPost, "model-versions/create", `{"name":"m","source":"s","run_id":"0123456789abcdef0123456789abcdef"}`, 404, `not found`},
		{"get version", http.MethodGet, "model-versions/get?name=m&version=1", "", 200, `"status":"READY"`},
		{"get missing version", http.MethodGet, "model-versions/get?name=m&version=9", "", 404, `Model Version (name=m, version=9) not found`},
		{"wrong method", http.MethodGet, "registered-models/create", "", 405, `Method Not Allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := ""
			if tt.method == http.MethodPost {
				ct = "application/json"
			}
			r := call(t, s, tt.method, "/api/2.0/mlflow/"+tt.rpc, ct, tt.body)
			if r.Status != tt.wantStatus || !strings.Contains(string(r.Body), tt.want) {
				t.Fatalf("%s %s: %d %s, want %d with %s", tt.method, tt.rpc, r.Status, r.Body, tt.wantStatus, tt.want)
			}
		})
	}
	got, ok := s.RegisteredModelVersions("m")
	if !ok || len(got) != 2 || got[0] != src || got[1] != "s3://b/k" {
		t.Errorf("RegisteredModelVersions = %v, %v", got, ok)
	}
	if s.RequestCount("model-versions/create") != 6 {
		t.Errorf("request log names registry RPCs: %d model-versions/create", s.RequestCount("model-versions/create"))
	}
}

func TestRegistryFaults(t *testing.T) {
	s := Start(t)
	s.AddFault(Fault{RPC: "registered-models/create", Times: 1, Status: 503, ErrorCode: "TEMPORARILY_UNAVAILABLE", Message: "busy"})
	if r := post(t, s, "registered-models/create", `{"name":"m"}`); r.Status != 503 {
		t.Fatalf("fault not applied: %d %s", r.Status, r.Body)
	}
	mustOK(t, post(t, s, "registered-models/create", `{"name":"m"}`))
}
