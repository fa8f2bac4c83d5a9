package filestore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

var _ mlflow.ArtifactStore = (*Store)(nil)

// uploadPrefix names files being written; listings skip them.
const uploadPrefix = ".mlflow-upload-"

// UploadArtifact copies src into the run's artifacts directory. The file is
// written under a temporary name and renamed into place, so a reader never
// sees half an artifact and a failed copy leaves the previous one intact.
// All file operations go through an os.Root, which refuses paths (and
// symlinks) leading out of the artifact directory.
func (s *Store) UploadArtifact(ctx context.Context, run *mlflow.RunInfo, artifactPath string, src mlflow.ArtifactSource) error {
	if err := mlflow.ValidateArtifactPath(artifactPath); err != nil {
		return invalidParam("%v", err)
	}
	dir, err := s.artifactDir(ctx, run)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("upload artifact %q: %w", artifactPath, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("upload artifact %q: %w", artifactPath, err)
	}
	defer root.Close()
	if parent := path.Dir(artifactPath); parent != "." {
		if err := root.MkdirAll(parent, 0o755); err != nil {
			return fmt.Errorf("upload artifact %q: %w", artifactPath, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("upload artifact %q: %w", artifactPath, err)
	}
	tmp := path.Join(path.Dir(artifactPath), uploadPrefix+path.Base(artifactPath)+"-"+randomSuffix())
	if err := copyInto(ctx, root, tmp, src); err != nil {
		_ = root.Remove(tmp)
		return fmt.Errorf("upload artifact %q: %w", artifactPath, err)
	}
	if err := root.Rename(tmp, artifactPath); err != nil {
		_ = root.Remove(tmp)
		return fmt.Errorf("upload artifact %q: %w", artifactPath, err)
	}
	return nil
}

func copyInto(ctx context.Context, root *os.Root, name string, src mlflow.ArtifactSource) error {
	in, err := src.Open()
	if err != nil {
		return fmt.Errorf("open source: %w", err)
	}
	defer in.Close()
	out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	n, err := io.Copy(out, ctxReader{ctx: ctx, r: in})
	if err != nil {
		_ = out.Close()
		return err
	}
	if want := src.Size(); want >= 0 && n != want {
		_ = out.Close()
		return fmt.Errorf("source yielded %d bytes, expected %d", n, want)
	}
	if err := out.Sync(); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// ctxReader stops a long local copy when the caller gives up.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ListArtifacts lists the direct children of dir, as MLflow's
// LocalArtifactRepository does: files with their sizes, directories
// without. A missing directory lists as empty.
func (s *Store) ListArtifacts(ctx context.Context, run *mlflow.RunInfo, dir string) ([]mlflow.FileInfo, error) {
	dir = strings.Trim(dir, "/")
	if dir != "" {
		if err := mlflow.ValidateArtifactPath(dir); err != nil {
			return nil, invalidParam("%v", err)
		}
	}
	base, err := s.artifactDir(ctx, run)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list artifacts: %w", err)
	}
	defer root.Close()
	name := dir
	if name == "" {
		name = "."
	}
	entries, err := fs.ReadDir(root.FS(), name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list artifacts %q: %w", dir, err)
	}
	out := make([]mlflow.FileInfo, 0, len(entries))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), uploadPrefix) && !e.IsDir() {
			continue // an upload in progress
		}
		fi := mlflow.FileInfo{Path: mlflow.JoinArtifactPath(dir, e.Name()), IsDir: e.IsDir()}
		if !e.IsDir() {
			info, err := e.Info()
			if err != nil {
				continue // removed while listing
			}
			fi.Size = info.Size()
		}
		out = append(out, fi)
	}
	slices.SortFunc(out, func(a, b mlflow.FileInfo) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}
