package tracking

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// newEnv3 is newEnv against a test server that behaves as MLflow 3.
func newEnv3(t *testing.T) *env {
	t.Helper()
	srv := mlflowtest.Start(t, mlflowtest.WithLoggedModels())
	exp := &fakeExporter{}
	tr, err := New(Config{TrackingURI: srv.URL(), OTLP: OTLP{ExportInterval: time.Hour}}, WithMetricExporter(exp), WithLogger(quietLogger))
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close(context.Background()) })
	return &env{srv: srv, exp: exp, tr: tr}
}

func TestLogModelMLflow3LoggedModel(t *testing.T) {
	e := newEnv3(t)
	ctx := t.Context()
	run, err := e.tr.StartRun(ctx)
	require.NoError(t, err)

	dir := t.TempDir()
	weights := bytes.Repeat([]byte{9, 8, 7}, 1000)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "weights.bin"), weights, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sub", "vocab.txt"), []byte("a\n"), 0o600))

	info, err := e.tr.LogModel(ctx, dir, "cv.model", RegisterAs("cv3"), ModelDescription("first"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(info.ModelID, "m-"), info.ModelID)
	require.Equal(t, "models:/"+info.ModelID, info.ModelURI)
	require.Equal(t, "models:/"+info.ModelID, info.Source)
	require.Equal(t, info.ModelID, info.UUID)
	require.Equal(t, "mlflow-artifacts:/0/models/"+info.ModelID+"/artifacts", info.ArtifactURI)
	require.ElementsMatch(t, []string{"weights.bin", "sub/vocab.txt", "MLmodel"}, info.Files)

	// The files are the logged model's, not the run's.
	root := "0/models/" + info.ModelID + "/artifacts/"
	got, ok := e.srv.Artifact(root + "weights.bin")
	require.True(t, ok)
	require.Equal(t, weights, got)
	_, ok = e.srv.Artifact("0/" + run.ID() + "/artifacts/cv.model/weights.bin")
	require.False(t, ok)
	mlmodel, ok := e.srv.Artifact(root + "MLmodel")
	require.True(t, ok)
	require.Contains(t, string(mlmodel), "artifact_path: "+info.ArtifactURI+"\n")
	require.Contains(t, string(mlmodel), "model_id: "+info.ModelID+"\n")
	require.Contains(t, string(mlmodel), "model_uuid: "+info.ModelID+"\n")
	require.Contains(t, string(mlmodel), "run_id: "+run.ID()+"\n")

	status, uri, srcRun, tags, ok := e.srv.LoggedModel(info.ModelID)
	require.True(t, ok)
	require.Equal(t, "LOGGED_MODEL_READY", status)
	require.Equal(t, info.ArtifactURI, uri)
	require.Equal(t, run.ID(), srcRun)
	require.Equal(t, []mlflowtest.LoggedModelOutput{{ModelID: info.ModelID, Step: 0}}, e.srv.RunOutputs(run.ID()))
	require.Contains(t, tags, mlflow.Tag{Key: "mlflow.modelVersions", Value: `[{"name": "cv3", "version": 1}]`})

	require.NotNil(t, info.Version)
	require.Equal(t, "1", info.Version.Version)
	require.Equal(t, run.ID(), info.Version.RunID)
	versions, ok := e.srv.RegisteredModelVersions("cv3")
	require.True(t, ok)
	require.Equal(t, []string{"models:/" + info.ModelID}, versions)

	// MLflow 3's log_model writes no mlflow.log-model.history tag.
	_, ok = e.run(t, run.ID()).Tag("mlflow.log-model.history")
	require.False(t, ok)

	// The logged-model request carried a name MLflow 3 accepts.
	var created bool
	for _, rec := range e.srv.Requests() {
		if rec.RPC == "logged-models" {
			created = true
		}
	}
	require.True(t, created)
}

func TestLogModelMLflow3UploadFailureMarksModel(t *testing.T) {
	e := newEnv3(t)
	ctx := t.Context()
	_, err := e.tr.StartRun(ctx)
	require.NoError(t, err)
	e.srv.AddFault(mlflowtest.Fault{RPC: "mlflow-artifacts/artifacts", Status: 403, ErrorCode: "PERMISSION_DENIED", Message: "read-only"})
	file := filepath.Join(t.TempDir(), "m.bin")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	_, err = e.tr.LogModel(ctx, file, "m", RegisterAs("m"))
	require.ErrorContains(t, err, "PERMISSION_DENIED")
	_, registered := e.srv.RegisteredModelVersions("m")
	require.False(t, registered)
	var failed int
	for _, rec := range e.srv.Requests() {
		if rec.RPC == "logged-models/{model_id}" {
			failed++
		}
	}
	require.Equal(t, 1, failed, "the logged model is finalized once, as failed")
}

// On an MLflow 2 server (the default test server) logged-models is a 404
// page and LogModel takes the MLflow 2 path: TestLogModelAndRegistry covers
// what it writes; this checks that the probe happened and nothing else.
func TestLogModelFallsBackOnMLflow2(t *testing.T) {
	skipOnRealServer(t, "counts the requests the test server received (the real 2.9 fallback is checked by TestRealServerLogModelAndImages)")
	e := newEnv(t, Config{})
	ctx := t.Context()
	run, err := e.tr.StartRun(ctx)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "m.bin")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	info, err := e.tr.LogModel(ctx, file, "m", RegisterAs("m2"))
	require.NoError(t, err)
	require.Empty(t, info.ModelID)
	require.Equal(t, "runs:/"+run.ID()+"/m", info.ModelURI)
	var statuses []int
	for _, rec := range e.srv.Requests() {
		if strings.Contains(rec.RPC, "logged-models") || rec.RPC == "runs/outputs" {
			statuses = append(statuses, rec.Status)
		}
	}
	require.Equal(t, []int{404}, statuses, "one logged-models probe, answered 404")
	_, ok := e.run(t, run.ID()).Tag("mlflow.log-model.history")
	require.True(t, ok)
}
