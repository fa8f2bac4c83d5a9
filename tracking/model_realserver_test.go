package tracking

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRealServerLogModelAndImages runs against real MLflow servers named in
// MLFLOW_REAL_URIS (comma-separated tracking URIs, e.g.
// http://127.0.0.1:5029,http://127.0.0.1:5030); it is skipped otherwise. It
// prints what it logged so MLflow's own client can read it back.
func TestRealServerLogModelAndImages(t *testing.T) {
	uris := os.Getenv("MLFLOW_REAL_URIS")
	if uris == "" {
		t.Skip("MLFLOW_REAL_URIS not set")
	}
	for _, uri := range strings.Split(uris, ",") {
		t.Run(uri, func(t *testing.T) {
			ctx := t.Context()
			suffix := fmt.Sprintf("%d", time.Now().UnixNano())
			tr, err := New(Config{TrackingURI: uri, ExperimentName: "go-lm-" + suffix, RunName: "r",
				OTLP: OTLP{ExportInterval: time.Hour}}, WithMetricExporter(&fakeExporter{}), WithLogger(quietLogger))
			require.NoError(t, err)
			defer func() { _ = tr.Close(context.Background()) }()
			run, err := tr.StartRun(ctx)
			require.NoError(t, err)

			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "model.json"), []byte(`{"w":[1,2]}`), 0o600))
			name := "go-model-" + suffix
			info, err := tr.LogModel(ctx, dir, "logreg_model", RegisterAs(name), ModelDescription("from Go"))
			require.NoError(t, err)
			t.Logf("RESULT uri=%s run=%s model=%s version=%s model_id=%q source=%s artifact_uri=%s files=%v",
				uri, run.ID(), name, info.Version.Version, info.ModelID, info.Source, info.ArtifactURI, info.Files)

			// Stepped images: steps whose digits read as escapes after '%'.
			for _, step := range []int64{3, 10, 25, 100} {
				_, err := tr.LogVisualization(ctx, pngBytes, "decision_boundary", Step(step))
				require.NoError(t, err)
			}
			files, err := run.t.artifacts.ListArtifacts(ctx, &run.info, "images")
			require.NoError(t, err)
			for _, f := range files {
				t.Logf("RESULT image %q", f.Path)
			}
			// Plain names with %, space, ?, non-ASCII and #.
			for _, n := range []string{"odd/50% off.txt", "odd/a b?c.txt", "odd/é ü.txt", "odd/100%zz.txt", "odd/h#x.txt"} {
				err := run.LogArtifactBytes(ctx, []byte("bytes of "+n), n)
				t.Logf("RESULT upload %q err=%v", n, err)
			}
			files, err = run.t.artifacts.ListArtifacts(ctx, &run.info, "odd")
			require.NoError(t, err)
			for _, f := range files {
				t.Logf("RESULT listed %q size=%d", f.Path, f.Size)
			}
			_, err = tr.EndRun(ctx)
			require.NoError(t, err)
		})
	}
}
