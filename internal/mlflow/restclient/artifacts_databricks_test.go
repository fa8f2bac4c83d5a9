package restclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

func TestFilesAPIPath(t *testing.T) {
	tests := []struct {
		uri, want, wantErr string
	}{
		{uri: "dbfs:/databricks/mlflow-tracking/12/abc/artifacts", want: "/WorkspaceInternal/Mlflow/Artifacts/12/Runs/abc/artifacts"},
		{uri: "dbfs:/databricks/mlflow-tracking/12/abc/artifacts/", want: "/WorkspaceInternal/Mlflow/Artifacts/12/Runs/abc/artifacts"},
		{uri: "dbfs:/databricks/mlflow-tracking/12/abc", want: "/WorkspaceInternal/Mlflow/Artifacts/12/Runs/abc"},
		{uri: "dbfs:/databricks/mlflow-tracking/12/logged_models/m-1/artifacts", want: "/WorkspaceInternal/Mlflow/Artifacts/12/LoggedModels/m-1/artifacts"},
		{uri: "dbfs:/databricks/mlflow-tracking/12/logged_models", wantErr: "logged model id missing"},
		{uri: "dbfs:/databricks/mlflow-tracking/12/tr-1/artifacts", wantErr: "trace artifacts"},
		{uri: "dbfs:/databricks/mlflow-tracking/12", wantErr: "want dbfs:/databricks/mlflow-tracking/<experiment>/<run>"},
		{uri: "dbfs:/databricks/mlflow-tracking/12/../x/artifacts", wantErr: "malformed"},
		{uri: "dbfs:/databricks/mlflow-tracking//abc/artifacts", wantErr: "malformed"},
		{uri: "dbfs:/mnt/team/artifacts/abc", wantErr: "Databricks-managed storage"},
	}
	for _, tt := range tests {
		got, err := FilesAPIPath(tt.uri)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want %q", tt.uri, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s = %q, %v; want %q", tt.uri, got, err, tt.want)
		}
	}
}

const dbxPAT = "dapi-files-test"

// dbxEnv is a fake workspace behind a recorder of request URLs, with a
// client that authenticates through the Auth hook as Databricks clients do.
type dbxEnv struct {
	srv  *mlflowtest.Server
	c    *Client
	run  *mlflow.RunInfo
	dir  string // the run's Files API artifact directory
	auth atomic.Int32

	mu   sync.Mutex
	urls []string // request URIs of Files API calls, as sent
}

func newDBXEnv(t testing.TB, limiter *RateLimiter) *dbxEnv {
	t.Helper()
	e := &dbxEnv{srv: mlflowtest.NewServer(mlflowtest.WithDatabricks(mlflowtest.Databricks{PATs: []string{dbxPAT}}))}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, mlflowtest.DatabricksFilesPath) {
			e.mu.Lock()
			e.urls = append(e.urls, r.RequestURI)
			e.mu.Unlock()
		}
		e.srv.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		e.srv.Close()
		ts.Close()
	})
	c, err := New(Config{TrackingURI: ts.URL, RateLimiter: limiter, Auth: func(r *http.Request) error {
		e.auth.Add(1)
		r.Header.Set("Authorization", "Bearer "+dbxPAT)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx := t.Context()
	exp, err := c.CreateExperiment(ctx, "/Shared/dbx-files", nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.CreateRun(ctx, mlflow.CreateRunRequest{ExperimentID: exp, RunName: "files"})
	if err != nil {
		t.Fatal(err)
	}
	e.c, e.run = c, &r.Info
	if want := "dbfs:/databricks/mlflow-tracking/" + exp + "/" + r.Info.RunID + "/artifacts"; r.Info.ArtifactURI != want {
		t.Fatalf("artifact URI %q, want %q", r.Info.ArtifactURI, want)
	}
	e.dir = mlflowtest.DatabricksArtifactsRoot + exp + "/Runs/" + r.Info.RunID + "/artifacts"
	return e
}

// unsizedSource hides its length, so the upload goes out chunked.
type unsizedSource []byte

func (u unsizedSource) Open() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(u)), nil }
func (u unsizedSource) Size() int64                  { return -1 }

func TestDatabricksUploadByteForByte(t *testing.T) {
	e := newDBXEnv(t, nil)
	a := e.c.Artifacts(dbxFastRetry)
	big := make([]byte, 5<<20+3)
	_, _ = rand.Read(big)
	path := filepath.Join(t.TempDir(), "w.bin")
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	fsrc, err := mlflow.FileSource(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path    string
		src     mlflow.ArtifactSource
		want    []byte
		wantURI string // escaped path after the run's directory
	}{
		{"model/w.bin", fsrc, big, "/model/w.bin"},
		{"plots/a b%.png", mlflow.BytesSource([]byte("png")), []byte("png"), "/plots/a%20b%25.png"},
		{"empty", mlflow.BytesSource(nil), nil, "/empty"},
		{"stream.txt", unsizedSource("no length"), []byte("no length"), "/stream.txt"},
		// A second upload to a path replaces the first.
		{"model/w.bin", mlflow.BytesSource([]byte("v2")), []byte("v2"), "/model/w.bin"},
	}
	for i, tt := range tests {
		if err := a.UploadArtifact(t.Context(), e.run, tt.path, tt.src); err != nil {
			t.Fatalf("upload %s: %v", tt.path, err)
		}
		got, ok := e.srv.DatabricksFile(e.dir + "/" + tt.path)
		if !ok || !bytes.Equal(got, tt.want) {
			t.Errorf("%s: stored %d bytes (found %v), want %d identical bytes", tt.path, len(got), ok, len(tt.want))
		}
		e.mu.Lock()
		sent := e.urls[len(e.urls)-1]
		e.mu.Unlock()
		if want := filesAPIPath + e.dir + tt.wantURI + "?overwrite=true"; sent != want {
			t.Errorf("upload %d sent to %s, want %s", i, sent, want)
		}
	}
	var puts int
	for _, r := range e.srv.Requests() {
		if r.RPC != "fs/files" {
			continue
		}
		puts++
		if r.Method != http.MethodPut || r.Header.Get("Content-Type") != "application/octet-stream" || r.Status != http.StatusNoContent {
			t.Errorf("request %s %q answered %d", r.Method, r.Header.Get("Content-Type"), r.Status)
		}
	}
	if puts != len(tests) {
		t.Errorf("%d Files API requests, want %d", puts, len(tests))
	}
	if n := e.srv.DatabricksRefused(); n != 0 || int(e.auth.Load()) != e.srv.RequestCount("") {
		t.Errorf("refused %d; auth hook ran %d times for %d requests", n, e.auth.Load(), e.srv.RequestCount(""))
	}

	files, err := a.ListArtifacts(t.Context(), e.run, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []mlflow.FileInfo{{Path: "empty"}, {Path: "model", IsDir: true}, {Path: "plots", IsDir: true}, {Path: "stream.txt", Size: 9}}
	if len(files) != len(want) {
		t.Fatalf("list = %+v, want %+v", files, want)
	}
	for i := range want {
		if files[i] != want[i] {
			t.Errorf("list[%d] = %+v, want %+v", i, files[i], want[i])
		}
	}
}

func TestDatabricksUploadRetries(t *testing.T) {
	tests := []struct {
		name     string
		fault    mlflowtest.Fault
		wantErr  string // "" = success after retries
		attempts int
	}{
		{"503 twice then ok", mlflowtest.Fault{Times: 2, Status: 503, ErrorCode: "TEMPORARILY_UNAVAILABLE", Message: "busy"}, "", 3},
		{"dropped connection then ok", mlflowtest.Fault{Times: 1, DropConnection: true}, "", 2},
		{"500 forever", mlflowtest.Fault{Status: 500, ErrorCode: "INTERNAL_ERROR", Message: "boom"}, "attempt 3 of 3", 3},
		{"403 not retried", mlflowtest.Fault{Status: 403, ErrorCode: "PERMISSION_DENIED", Message: "no"}, "PERMISSION_DENIED", 1},
		{"404 html not retried", mlflowtest.Fault{Status: 404, Body: "<html><body>Not Found</body></html>"}, "Not Found", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newDBXEnv(t, nil)
			f := tt.fault
			f.RPC = "fs/files"
			e.srv.AddFault(f)
			err := e.c.Artifacts(dbxFastRetry).UploadArtifact(t.Context(), e.run, "f.txt", mlflow.BytesSource([]byte("data")))
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if n := e.srv.RequestCount("fs/files"); n != tt.attempts {
				t.Errorf("%d attempts, want %d", n, tt.attempts)
			}
			got, ok := e.srv.DatabricksFile(e.dir + "/f.txt")
			if (tt.wantErr == "") != ok || ok && string(got) != "data" {
				t.Errorf("stored %q (%v)", got, ok)
			}
		})
	}
}

// A workspace refusal names the path and keeps the token out of the error.
func TestDatabricksUploadRefusedByWorkspace(t *testing.T) {
	e := newDBXEnv(t, nil)
	other := *e.run
	other.ArtifactURI = "dbfs:/databricks/mlflow-tracking/999/" + e.run.RunID + "/artifacts"
	err := e.c.Artifacts(dbxFastRetry).UploadArtifact(t.Context(), &other, "x", mlflow.BytesSource([]byte("x")))
	var apiErr *mlflow.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != mlflow.ErrorCodePermissionDenied || !strings.Contains(err.Error(), "/WorkspaceInternal/Mlflow/Artifacts/999/Runs/") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), dbxPAT) {
		t.Errorf("token in error: %v", err)
	}
}

// openFails fails the test if an upload reads it.
type openFails struct {
	t    *testing.T
	size int64
}

func (o openFails) Open() (io.ReadCloser, error) {
	o.t.Error("source opened")
	return nil, errors.New("opened")
}
func (o openFails) Size() int64 { return o.size }

func TestDatabricksUploadRefusals(t *testing.T) {
	e := newDBXEnv(t, nil)
	a := e.c.Artifacts(dbxFastRetry)
	err := a.UploadArtifact(t.Context(), e.run, "huge.bin", openFails{t, MaxFilesAPIUpload + 1})
	if err == nil || !strings.Contains(err.Error(), "5 GiB") || !strings.Contains(err.Error(), "huge.bin") {
		t.Errorf("oversized: %v", err)
	}
	other := *e.run
	for _, uri := range []string{"dbfs:/mnt/x/" + e.run.RunID + "/artifacts", "dbfs:/databricks/mlflow-tracking/1/tr-abc/artifacts"} {
		other.ArtifactURI = uri
		if err := a.UploadArtifact(t.Context(), &other, "x", openFails{t, 1}); err == nil {
			t.Errorf("%s accepted", uri)
		}
	}
	if err := a.UploadArtifact(t.Context(), e.run, "../x", openFails{t, 1}); err == nil {
		t.Error("../x accepted")
	}
	if n := e.srv.RequestCount("fs/files"); n != 0 {
		t.Errorf("%d uploads sent for refused input", n)
	}
}

// Uploads draw from the client's rate limiter ("other" group): with that
// group's next slot an hour away, a cancelled upload never reaches the
// workspace.
func TestDatabricksUploadUsesRateLimiter(t *testing.T) {
	lim, err := NewRateLimiter(RateLimits{GroupOther: 1.0 / 3600})
	if err != nil {
		t.Fatal(err)
	}
	e := newDBXEnv(t, lim) // runs/create took the group's slot
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	err = e.c.Artifacts(dbxFastRetry).UploadArtifact(ctx, e.run, "x", mlflow.BytesSource([]byte("x")))
	if err == nil || !strings.Contains(err.Error(), "rate limit") {
		t.Fatalf("err = %v", err)
	}
	if n := e.srv.RequestCount("fs/files"); n != 0 {
		t.Errorf("%d uploads passed the limiter", n)
	}
}

func TestCappedReader(t *testing.T) {
	tests := []struct {
		data    string
		limit   int64
		wantErr error
	}{
		{"abcd", 4, nil},
		{"abcde", 4, errTooLarge},
		{"", 0, nil},
	}
	for _, tt := range tests {
		c := &cappedReader{r: io.NopCloser(strings.NewReader(tt.data)), limit: tt.limit}
		_, err := io.Copy(io.Discard, c)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%q under %d: err = %v, want %v", tt.data, tt.limit, err, tt.wantErr)
		}
	}
}

var dbxFastRetry = RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}

// BenchmarkDatabricksUpload measures one 4 MiB Files API upload through the
// fake workspace (auth hook, rate limiter path, streamed PUT).
func BenchmarkDatabricksUpload(b *testing.B) {
	data := make([]byte, 4<<20)
	_, _ = rand.Read(data)
	e := newDBXEnv(b, nil)
	a := e.c.Artifacts(dbxFastRetry)
	src := mlflow.BytesSource(data)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if err := a.UploadArtifact(b.Context(), e.run, "bench.bin", src); err != nil {
			b.Fatal(err)
		}
	}
}
