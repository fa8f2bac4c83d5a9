package tracking

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// databricksTracker starts a tracker on a fake workspace, authenticated as
// a service principal (OAuth M2M) the way a job on Databricks would be.
func databricksTracker(t *testing.T) (*mlflowtest.Server, *Tracker) {
	t.Helper()
	srv := mlflowtest.Start(t, mlflowtest.WithDatabricks(mlflowtest.Databricks{ClientID: "sp-id", ClientSecret: "sp-secret"}))
	t.Setenv("DATABRICKS_HOST", srv.URL())
	t.Setenv("DATABRICKS_TOKEN", "")
	t.Setenv("DATABRICKS_CLIENT_ID", "sp-id")
	t.Setenv("DATABRICKS_CLIENT_SECRET", "sp-secret")
	t.Setenv("DATABRICKS_CONFIG_PROFILE", "")
	t.Setenv("DATABRICKS_CONFIG_FILE", filepath.Join(t.TempDir(), "absent.cfg"))
	tr, err := New(Config{TrackingURI: "databricks", ExperimentName: "/Users/sp/cv", RunName: "dbx-artifacts",
		OTLP: OTLP{ExportInterval: time.Hour}}, WithMetricExporter(&fakeExporter{}), WithLogger(quietLogger))
	require.NoError(t, err)
	return srv, tr
}

func TestDatabricksArtifacts(t *testing.T) {
	srv, tr := databricksTracker(t)
	ctx := t.Context()
	run, err := tr.StartRun(ctx)
	require.NoError(t, err)
	info := run.Info()
	require.Equal(t, "dbfs:/databricks/mlflow-tracking/"+info.ExperimentID+"/"+run.ID()+"/artifacts", info.ArtifactURI)
	root := "/WorkspaceInternal/Mlflow/Artifacts/" + info.ExperimentID + "/Runs/" + run.ID() + "/artifacts/"

	// A model directory, registered.
	model := t.TempDir()
	weights := make([]byte, 1<<20+17)
	_, _ = rand.Read(weights)
	require.NoError(t, os.MkdirAll(filepath.Join(model, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(model, "weights.bin"), weights, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(model, "sub", "vocab.txt"), []byte("a\nb\n"), 0o600))
	mi, err := tr.LogModel(ctx, model, "cv_model", RegisterAs("cv"))
	require.NoError(t, err)
	require.Equal(t, info.ArtifactURI+"/cv_model", mi.Source)
	require.NotNil(t, mi.Version)
	versions, ok := srv.RegisteredModelVersions("cv")
	require.True(t, ok)
	require.Equal(t, []string{mi.Source}, versions)

	// A single file and a directory tree as plain artifacts.
	notes := filepath.Join(t.TempDir(), "notes.md")
	require.NoError(t, os.WriteFile(notes, []byte("# notes"), 0o600))
	require.NoError(t, tr.LogArtifact(ctx, notes, "docs"))
	data := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(data, "empty.csv"), nil, 0o600))
	require.NoError(t, tr.LogArtifact(ctx, data, ""))

	// Plots, one of them stepped.
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg"></svg>`)
	p, err := tr.LogVisualization(ctx, pngBytes, "eval/cm", Step(2), Timestamp(time.UnixMilli(1_800_000_000_000)))
	require.NoError(t, err)
	require.Equal(t, "plots/eval/cm.png", p)
	_, err = tr.LogVisualization(ctx, svg, "loss.svg")
	require.NoError(t, err)

	_, err = tr.EndRun(ctx)
	require.NoError(t, err)
	require.NoError(t, tr.Close(ctx))

	want := map[string][]byte{
		"cv_model/weights.bin":   weights,
		"cv_model/sub/vocab.txt": []byte("a\nb\n"),
		"docs/notes.md":          []byte("# notes"),
		"empty.csv":              nil,
		"plots/eval/cm.png":      pngBytes,
		"plots/loss.svg":         svg,
	}
	for rel, b := range want {
		got, ok := srv.DatabricksFile(root + rel)
		require.True(t, ok, rel)
		require.True(t, bytes.Equal(b, got), "%s: %d bytes stored, want %d identical", rel, len(got), len(b))
	}
	mlmodel, ok := srv.DatabricksFile(root + "cv_model/MLmodel")
	require.True(t, ok)
	require.Contains(t, string(mlmodel), "model_uuid: "+mi.UUID)

	stepped := regexp.MustCompile(`^` + regexp.QuoteMeta(root) + `images/eval#cm%step%2%timestamp%1800000000000%[g-z][0-9a-f]{31}\.png$`)
	var files, images []string
	for _, f := range srv.DatabricksFiles() {
		files = append(files, strings.TrimPrefix(f, root))
		if stepped.MatchString(f) {
			images = append(images, f)
			got, _ := srv.DatabricksFile(f)
			require.Equal(t, pngBytes, got)
		}
	}
	require.Len(t, images, 1, "stepped image among %v", files)
	require.Len(t, files, len(want)+2, "files: %v", files) // + MLmodel and the stepped image

	got := (&env{srv: srv}).run(t, run.ID())
	tag, _ := got.Tag("mlflow.loggedImages")
	require.Equal(t, "True", tag)
	_, ok = got.Tag("mlflow.log-model.history")
	require.True(t, ok)
	require.Zero(t, srv.DatabricksRefused(), "every request carried a valid token")
	require.Equal(t, 1, srv.DatabricksTokensIssued())
	for _, r := range srv.Requests() {
		if r.RPC == "fs/files" {
			require.True(t, strings.HasPrefix(r.Header.Get("Authorization"), "Bearer dbxoauth-"), "upload without the OAuth token")
			require.NotContains(t, r.Header.Get("Authorization"), "sp-secret")
		}
	}
}

// A failed upload on Databricks is retried, then reported; the model is
// not registered.
func TestDatabricksArtifactFailureIsReported(t *testing.T) {
	srv, tr := databricksTracker(t)
	ctx := t.Context()
	_, err := tr.StartRun(ctx)
	require.NoError(t, err)
	srv.AddFault(mlflowtest.Fault{RPC: "fs/files", Status: 403, ErrorCode: "PERMISSION_DENIED", Message: "read-only"})
	file := filepath.Join(t.TempDir(), "m.bin")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	_, err = tr.LogModel(ctx, file, "m", RegisterAs("m"))
	require.ErrorContains(t, err, "PERMISSION_DENIED")
	require.NotContains(t, err.Error(), "sp-secret")
	_, registered := srv.RegisteredModelVersions("m")
	require.False(t, registered)
	require.Empty(t, srv.DatabricksFiles())
	require.NoError(t, tr.Close(ctx))
}
