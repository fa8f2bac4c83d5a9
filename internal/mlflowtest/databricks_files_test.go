package mlflowtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
)

// dbxRun creates an experiment and a run in a fake workspace and returns
// the experiment id, the run id and the run's Files API artifact directory.
func dbxRun(t *testing.T, s *Server) (exp, run, dir string) {
	t.Helper()
	auth := "Bearer " + testPAT
	r := dbxPost(t, s, auth, "experiments/create", `{"name":"/Shared/files"}`)
	mustOK(t, r)
	var ce struct {
		ExperimentID string `json:"experiment_id"`
	}
	if err := json.Unmarshal(r.Body, &ce); err != nil {
		t.Fatal(err)
	}
	r = dbxPost(t, s, auth, "runs/create", `{"experiment_id":"`+ce.ExperimentID+`"}`)
	mustOK(t, r)
	var cr struct {
		Run struct {
			Info struct {
				RunID       string `json:"run_id"`
				ArtifactURI string `json:"artifact_uri"`
			} `json:"info"`
		} `json:"run"`
	}
	if err := json.Unmarshal(r.Body, &cr); err != nil {
		t.Fatal(err)
	}
	id := cr.Run.Info.RunID
	if want := "dbfs:/databricks/mlflow-tracking/" + ce.ExperimentID + "/" + id + "/artifacts"; cr.Run.Info.ArtifactURI != want {
		t.Fatalf("artifact_uri %q, want %q", cr.Run.Info.ArtifactURI, want)
	}
	return ce.ExperimentID, id, DatabricksArtifactsRoot + ce.ExperimentID + "/Runs/" + id + "/artifacts"
}

func TestDatabricksExperimentStorage(t *testing.T) {
	s := Start(t, WithDatabricks(Databricks{PATs: []string{testPAT}}))
	auth := "Bearer " + testPAT
	exp, _, _ := dbxRun(t, s)
	r := dbxCall(t, s, http.MethodGet, "/api/2.0/mlflow/experiments/get?experiment_id="+exp, "", auth, "")
	mustOK(t, r)
	var ge struct {
		Experiment struct {
			ArtifactLocation string `json:"artifact_location"`
		} `json:"experiment"`
	}
	if err := json.Unmarshal(r.Body, &ge); err != nil {
		t.Fatal(err)
	}
	if want := "dbfs:/databricks/mlflow-tracking/" + exp; ge.Experiment.ArtifactLocation != want {
		t.Errorf("artifact_location %q, want %q", ge.Experiment.ArtifactLocation, want)
	}
	// An explicit location is kept, and checks before creation still apply.
	mustOK(t, dbxPost(t, s, auth, "experiments/create", `{"name":"/Shared/own","artifact_location":"s3://b/p"}`))
	wantError(t, dbxPost(t, s, auth, "experiments/create", `{"name":"/Shared/files"}`), 409, "ALREADY_EXISTS", "already exists")
	wantError(t, dbxPost(t, s, auth, "experiments/create", `{"name":"rel"}`), 400, "INVALID_PARAMETER_VALUE", "absolute path")
	wantError(t, dbxPost(t, s, auth, "experiments/create", `{}`), 400, "INVALID_PARAMETER_VALUE", "name")
}

func TestDatabricksFilesAPI(t *testing.T) {
	s := Start(t, WithDatabricks(Databricks{PATs: []string{testPAT}}))
	auth := "Bearer " + testPAT
	exp, run, dir := dbxRun(t, s)
	files := DatabricksFilesPath
	put := func(p, query, auth, body string) response {
		return dbxCall(t, s, http.MethodPut, files+p+query, "application/octet-stream", auth, body)
	}

	r := put(dir+"/model/w.bin", "?overwrite=true", auth, "\x00\x01bytes")
	if r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("put: %d %q", r.Status, r.Body)
	}
	if b, ok := s.DatabricksFile(dir + "/model/w.bin"); !ok || string(b) != "\x00\x01bytes" {
		t.Fatalf("stored %q, %v", b, ok)
	}
	r = dbxCall(t, s, http.MethodGet, files+dir+"/model/w.bin", "", auth, "")
	if r.Status != 200 || string(r.Body) != "\x00\x01bytes" || r.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("get: %d %q %v", r.Status, r.Body, r.Header)
	}
	r = dbxCall(t, s, http.MethodHead, files+dir+"/model/w.bin", "", auth, "")
	if r.Status != 200 || r.Header.Get("Content-Length") != "7" {
		t.Fatalf("head: %d %v", r.Status, r.Header)
	}

	tests := []struct {
		name, path, query, auth, body string
		status                        int
		code, msg                     string
	}{
		{"overwrite unspecified replaces", dir + "/model/w.bin", "", auth, "v2", 204, "", ""},
		{"overwrite true replaces", dir + "/model/w.bin", "?overwrite=true", auth, "v3", 204, "", ""},
		{"overwrite false refuses", dir + "/model/w.bin", "?overwrite=false", auth, "v4", 409, "ALREADY_EXISTS", "already exists"},
		{"overwrite false new file", dir + "/new.txt", "?overwrite=false", auth, "n", 204, "", ""},
		{"overwrite malformed", dir + "/x", "?overwrite=maybe", auth, "", 400, "INVALID_PARAMETER_VALUE", "overwrite"},
		{"empty file", dir + "/empty", "", auth, "", 204, "", ""},
		{"no credential", dir + "/x", "", "", "x", 401, "UNAUTHENTICATED", "Credential was not sent"},
		{"unknown token", dir + "/x", "", "Bearer nope", "x", 403, "PERMISSION_DENIED", "Invalid access token"},
		{"dot-dot", dir + "/../../other/x", "", auth, "x", 400, "INVALID_PARAMETER_VALUE", "Invalid path"},
		{"empty segment", dir + "//x", "", auth, "x", 400, "INVALID_PARAMETER_VALUE", "Invalid path"},
		{"unknown run", DatabricksArtifactsRoot + exp + "/Runs/0123456789abcdef0123456789abcdef/artifacts/x", "", auth, "x", 404, "RESOURCE_DOES_NOT_EXIST", "does not exist"},
		{"run under another experiment", DatabricksArtifactsRoot + "999/Runs/" + run + "/artifacts/x", "", auth, "x", 403, "PERMISSION_DENIED", "permission"},
		{"run directory itself", DatabricksArtifactsRoot + exp + "/Runs/" + run + "/x", "", auth, "x", 403, "PERMISSION_DENIED", "permission"},
		{"outside mlflow storage", "/Users/me/x", "", auth, "x", 403, "PERMISSION_DENIED", "permission"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := put(tc.path, tc.query, tc.auth, tc.body)
			if tc.status == 204 {
				if r.Status != 204 {
					t.Fatalf("status %d: %s", r.Status, r.Body)
				}
				if b, ok := s.DatabricksFile(tc.path); !ok || string(b) != tc.body {
					t.Errorf("stored %q, %v; want %q", b, ok, tc.body)
				}
				return
			}
			wantError(t, r, tc.status, tc.code, tc.msg)
		})
	}
	if b, _ := s.DatabricksFile(dir + "/model/w.bin"); string(b) != "v3" {
		t.Errorf("after refused overwrite: %q", b)
	}
	wantError(t, dbxCall(t, s, http.MethodGet, files+dir+"/absent", "", auth, ""), 404, "NOT_FOUND", "not found")
	wantError(t, dbxCall(t, s, http.MethodDelete, files+dir+"/new.txt", "", auth, ""), 405, "BAD_REQUEST", "DELETE")

	want := []string{dir + "/empty", dir + "/model/w.bin", dir + "/new.txt"}
	if got := s.DatabricksFiles(); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("files %q, want %q", got, want)
	}
	if n := s.RequestCount(rpcDatabricksFiles); n != 3+len(tests)+2 {
		t.Errorf("%d Files API requests recorded", n)
	}

	// mlflow/artifacts/list answers from the same storage.
	r = dbxCall(t, s, http.MethodGet, "/api/2.0/mlflow/artifacts/list?run_id="+run, "", auth, "")
	mustOK(t, r)
	var ls struct {
		RootURI string `json:"root_uri"`
		Files   []struct {
			Path     string `json:"path"`
			IsDir    bool   `json:"is_dir"`
			FileSize *int64 `json:"file_size"`
		} `json:"files"`
	}
	if err := json.Unmarshal(r.Body, &ls); err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, f := range ls.Files {
		size := "-"
		if f.FileSize != nil {
			size = strconv.FormatInt(*f.FileSize, 10)
		}
		got += f.Path + ":" + strconv.FormatBool(f.IsDir) + ":" + size + " "
	}
	if want := "empty:false:0 model:true:- new.txt:false:1 "; got != want || ls.RootURI != "dbfs:/databricks/mlflow-tracking/"+exp+"/"+run+"/artifacts" {
		t.Errorf("list = %q (root %q), want %q", got, ls.RootURI, want)
	}
	r = dbxCall(t, s, http.MethodGet, "/api/2.0/mlflow/artifacts/list?run_id="+run+"&path=model", "", auth, "")
	mustOK(t, r)
	if err := json.Unmarshal(r.Body, &ls); err != nil {
		t.Fatal(err)
	}
	if len(ls.Files) != 1 || ls.Files[0].Path != "model/w.bin" || *ls.Files[0].FileSize != 2 {
		t.Errorf("list model = %s", r.Body)
	}
}

func TestFilesAPIAbsentWithoutDatabricks(t *testing.T) {
	s := Start(t)
	r := dbxCall(t, s, http.MethodPut, DatabricksFilesPath+"/WorkspaceInternal/x", "application/octet-stream", "", "x")
	if r.Status != http.StatusNotFound {
		t.Errorf("status %d, want 404 from a plain MLflow server", r.Status)
	}
	if _, ok := s.DatabricksFile("/WorkspaceInternal/x"); ok || s.DatabricksFiles() != nil {
		t.Error("plain server stored a Files API upload")
	}
}
