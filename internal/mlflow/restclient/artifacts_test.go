package restclient_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/restclient"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

var fastRetry = restclient.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}

func artifactRun(t *testing.T) (*mlflowtest.Server, *restclient.Client, *mlflow.RunInfo) {
	t.Helper()
	s := mlflowtest.Start(t)
	c := newClient(t, restclient.Config{TrackingURI: s.URL()})
	r, err := c.CreateRun(t.Context(), mlflow.CreateRunRequest{ExperimentID: "0", RunName: "a"})
	if err != nil {
		t.Fatal(err)
	}
	return s, c, &r.Info
}

func TestArtifactUploadByteForByte(t *testing.T) {
	s, c, run := artifactRun(t)
	a := c.Artifacts(fastRetry)
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
		path string
		src  mlflow.ArtifactSource
		want []byte
	}{
		{"model/w.bin", fsrc, big},
		{"plots/a b%.png", mlflow.BytesSource([]byte("png")), []byte("png")},
		{"empty", mlflow.BytesSource(nil), nil},
	}
	for _, tt := range tests {
		if err := a.UploadArtifact(t.Context(), run, tt.path, tt.src); err != nil {
			t.Fatalf("upload %s: %v", tt.path, err)
		}
		got, ok := s.Artifact("0/" + run.RunID + "/artifacts/" + tt.path)
		if !ok || !bytes.Equal(got, tt.want) {
			t.Errorf("%s: stored %d bytes (found %v), want %d identical bytes", tt.path, len(got), ok, len(tt.want))
		}
	}
	files, err := a.ListArtifacts(t.Context(), run, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []mlflow.FileInfo{{Path: "empty"}, {Path: "model", IsDir: true}, {Path: "plots", IsDir: true}}
	if len(files) != len(want) {
		t.Fatalf("list = %+v, want %+v", files, want)
	}
	for i := range want {
		if files[i] != want[i] {
			t.Errorf("list[%d] = %+v, want %+v", i, files[i], want[i])
		}
	}
	sub, err := a.ListArtifacts(t.Context(), run, "model")
	if err != nil || len(sub) != 1 || sub[0] != (mlflow.FileInfo{Path: "model/w.bin", Size: int64(len(big))}) {
		t.Errorf("list model = %+v, %v", sub, err)
	}
}

func TestArtifactUploadRetries(t *testing.T) {
	tests := []struct {
		name     string
		fault    mlflowtest.Fault
		wantErr  string // "" = success after retries
		attempts int
	}{
		{"503 twice then ok", mlflowtest.Fault{Times: 2, Status: 503, ErrorCode: "TEMPORARILY_UNAVAILABLE", Message: "busy"}, "", 3},
		{"dropped connection then ok", mlflowtest.Fault{Times: 1, DropConnection: true}, "", 2},
		{"429 with Retry-After", mlflowtest.Fault{Times: 1, Status: 429, ErrorCode: "REQUEST_LIMIT_EXCEEDED", Message: "slow", RetryAfter: "0"}, "", 2},
		{"500 forever", mlflowtest.Fault{Status: 500, Body: "<html>oops</html>"}, "attempt 3 of 3", 3},
		{"403 not retried", mlflowtest.Fault{Status: 403, ErrorCode: "PERMISSION_DENIED", Message: "no"}, "PERMISSION_DENIED", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c, run := artifactRun(t)
			f := tt.fault
			f.RPC = "mlflow-artifacts/artifacts"
			s.AddFault(f)
			err := c.Artifacts(fastRetry).UploadArtifact(t.Context(), run, "f.txt", mlflow.BytesSource([]byte("data")))
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if n := s.RequestCount("mlflow-artifacts/artifacts"); n != tt.attempts {
				t.Errorf("%d attempts, want %d", n, tt.attempts)
			}
			got, ok := s.Artifact("0/" + run.RunID + "/artifacts/f.txt")
			if (tt.wantErr == "") != ok || ok && string(got) != "data" {
				t.Errorf("stored %q (%v)", got, ok)
			}
		})
	}
}

// An upload may take longer than the RPC timeout of the HTTP client.
func TestArtifactUploadIgnoresClientTimeout(t *testing.T) {
	s, _, run := artifactRun(t)
	slow := newClient(t, restclient.Config{TrackingURI: s.URL(), HTTPClient: &http.Client{Timeout: time.Nanosecond}})
	if _, err := slow.GetRun(t.Context(), run.RunID); err == nil {
		t.Fatal("an RPC beat a 1ns client timeout; the test proves nothing")
	}
	if err := slow.Artifacts(fastRetry).UploadArtifact(t.Context(), run, "big.bin", mlflow.BytesSource(make([]byte, 1<<20))); err != nil {
		t.Fatalf("upload under the client's RPC timeout: %v", err)
	}
}

type failingSource struct{}

func (failingSource) Open() (io.ReadCloser, error) { return nil, errors.New("disk gone") }
func (failingSource) Size() int64                  { return 1 }

func TestArtifactUploadRefusals(t *testing.T) {
	s, c, run := artifactRun(t)
	a := c.Artifacts(fastRetry)
	for _, p := range []string{"../x", "a/../b", "/abs", "", "a//b"} {
		if err := a.UploadArtifact(t.Context(), run, p, mlflow.BytesSource(nil)); err == nil {
			t.Errorf("path %q accepted", p)
		}
	}
	if err := a.UploadArtifact(t.Context(), run, "x", failingSource{}); err == nil || !strings.Contains(err.Error(), "disk gone") {
		t.Errorf("source error: %v", err)
	}
	other := *run
	other.ArtifactURI = "s3://bucket/x"
	if err := a.UploadArtifact(t.Context(), &other, "x", mlflow.BytesSource(nil)); err == nil || !strings.Contains(err.Error(), "--serve-artifacts") {
		t.Errorf("s3 URI: %v", err)
	}
	// Only Databricks-managed dbfs: storage maps to the Files API
	// (artifacts_databricks_test.go covers the uploads themselves).
	other.ArtifactURI = "dbfs:/mnt/team/1/" + run.RunID + "/artifacts"
	if err := a.UploadArtifact(t.Context(), &other, "x", mlflow.BytesSource(nil)); err == nil || !strings.Contains(err.Error(), "Files API") {
		t.Errorf("dbfs URI: %v", err)
	}
	if n := s.RequestCount("mlflow-artifacts/artifacts"); n != 0 {
		t.Errorf("%d uploads sent for refused input", n)
	}
	// A RunInfo without URI is completed from runs/get.
	if err := a.UploadArtifact(t.Context(), &mlflow.RunInfo{RunID: run.RunID}, "y", mlflow.BytesSource([]byte("y"))); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Artifact("0/" + run.RunID + "/artifacts/y"); !ok {
		t.Error("upload by run id only not stored")
	}
}

func TestRegistryClient(t *testing.T) {
	s, c, run := artifactRun(t)
	ctx := t.Context()
	if _, err := c.GetRegisteredModel(ctx, "m"); !mlflow.IsNotFound(err) {
		t.Fatalf("missing model: %v", err)
	}
	rm, err := c.CreateRegisteredModel(ctx, "m", "desc", []mlflow.Tag{{Key: "k", Value: "v"}})
	if err != nil || rm.Name != "m" || rm.Description != "desc" || rm.CreationTimestamp == 0 || len(rm.Tags) != 1 {
		t.Fatalf("create = %+v, %v", rm, err)
	}
	if _, err := c.CreateRegisteredModel(ctx, "m", "", nil); !mlflow.IsAlreadyExists(err) {
		t.Fatalf("duplicate: %v", err)
	}
	src := run.ArtifactURI + "/model"
	mv, err := c.CreateModelVersion(ctx, restclient.CreateModelVersionRequest{Name: "m", Source: src, RunID: run.RunID})
	if err != nil || mv.Version != "1" || mv.Source != src || mv.RunID != run.RunID || mv.Status != "READY" {
		t.Fatalf("version = %+v, %v", mv, err)
	}
	got, err := c.GetModelVersion(ctx, "m", "1")
	if err != nil || got.Source != src {
		t.Fatalf("get version = %+v, %v", got, err)
	}
	if _, err := c.CreateModelVersion(ctx, restclient.CreateModelVersionRequest{Name: "nope", Source: src}); !mlflow.IsNotFound(err) {
		t.Errorf("version of a missing model: %v", err)
	}
	if v, ok := s.RegisteredModelVersions("m"); !ok || len(v) != 1 {
		t.Errorf("server holds %v", v)
	}
}
