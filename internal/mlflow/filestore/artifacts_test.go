package filestore

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

func artifactRun(t *testing.T) (*Store, *mlflow.RunInfo) {
	t.Helper()
	s := openTest(t)
	r, err := s.CreateRun(context.Background(), mlflow.CreateRunRequest{ExperimentID: "0", RunName: "art"})
	require.NoError(t, err)
	return s, &r.Info
}

func TestUploadArtifactByteForByte(t *testing.T) {
	ctx := context.Background()
	s, run := artifactRun(t)
	big := make([]byte, 3<<20+17)
	_, _ = rand.Read(big)
	src := filepath.Join(t.TempDir(), "weights.bin")
	require.NoError(t, os.WriteFile(src, big, 0o600))
	fsrc, err := mlflow.FileSource(src)
	require.NoError(t, err)

	tests := []struct {
		path string
		src  mlflow.ArtifactSource
		want []byte
	}{
		{"plots/loss.png", mlflow.BytesSource([]byte("\x89PNG\r\n\x1a\nxyz")), []byte("\x89PNG\r\n\x1a\nxyz")},
		{"model/deep/er/weights.bin", fsrc, big},
		{"empty.txt", mlflow.BytesSource(nil), []byte{}},
		{"with space/ü.txt", mlflow.BytesSource([]byte("u")), []byte("u")},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			require.NoError(t, s.UploadArtifact(ctx, run, tt.path, tt.src))
			dir, err := rootFromURI(run.ArtifactURI)
			require.NoError(t, err)
			got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(tt.path)))
			require.NoError(t, err)
			require.True(t, bytes.Equal(tt.want, got), "content differs for %s", tt.path)
		})
	}

	// Replacing keeps one file with the new content.
	require.NoError(t, s.UploadArtifact(ctx, run, "plots/loss.png", mlflow.BytesSource([]byte("v2"))))
	files, err := s.ListArtifacts(ctx, run, "plots")
	require.NoError(t, err)
	require.Equal(t, []mlflow.FileInfo{{Path: "plots/loss.png", Size: 2}}, files)

	root, err := s.ListArtifacts(ctx, run, "")
	require.NoError(t, err)
	require.Equal(t, []mlflow.FileInfo{
		{Path: "empty.txt", Size: 0},
		{Path: "model", IsDir: true},
		{Path: "plots", IsDir: true},
		{Path: "with space", IsDir: true},
	}, root)

	missing, err := s.ListArtifacts(ctx, run, "nope")
	require.NoError(t, err)
	require.Empty(t, missing)
}

func TestUploadArtifactRejectsTraversal(t *testing.T) {
	ctx := context.Background()
	s, run := artifactRun(t)
	dir, err := rootFromURI(run.ArtifactURI)
	require.NoError(t, err)
	outside := t.TempDir()
	// A symlink planted inside the artifact directory must not be followed
	// out of it.
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "link")))

	for _, p := range []string{"", "../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a\\b", "link/escape.txt", "a/.."} {
		t.Run(p, func(t *testing.T) {
			err := s.UploadArtifact(ctx, run, p, mlflow.BytesSource([]byte("x")))
			require.Error(t, err)
		})
	}
	entries, err := os.ReadDir(outside)
	require.NoError(t, err)
	require.Empty(t, entries, "a write escaped the artifact root")

	_, err = s.ListArtifacts(ctx, run, "../")
	require.Error(t, err)
}

func TestUploadArtifactSizeMismatchLeavesNothing(t *testing.T) {
	ctx := context.Background()
	s, run := artifactRun(t)
	err := s.UploadArtifact(ctx, run, "a.bin", lyingSource{data: []byte("abc"), size: 10})
	require.ErrorContains(t, err, "expected 10")
	files, err := s.ListArtifacts(ctx, run, "")
	require.NoError(t, err)
	require.Empty(t, files)
	dir, err := rootFromURI(run.ArtifactURI)
	require.NoError(t, err)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "temporary file left behind")
}

func TestUploadArtifactUnknownRun(t *testing.T) {
	s := openTest(t)
	err := s.UploadArtifact(context.Background(), &mlflow.RunInfo{RunID: "0123456789abcdef0123456789abcdef"}, "a", mlflow.BytesSource(nil))
	require.True(t, mlflow.IsNotFound(err), "got %v", err)
}

type lyingSource struct {
	data []byte
	size int64
}

func (l lyingSource) Open() (io.ReadCloser, error) { return mlflow.BytesSource(l.data).Open() }
func (l lyingSource) Size() int64                  { return l.size }
