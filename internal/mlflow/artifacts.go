package mlflow

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
)

// ArtifactStore writes and lists the files of a run. It is implemented by the
// REST client (the mlflow-artifacts proxy of open-source servers) and by the
// local file store. Artifact paths are relative, '/'-separated and
// normalised (see ValidateArtifactPath); implementations reject anything that
// could leave the run's artifact root.
type ArtifactStore interface {
	// UploadArtifact writes src to artifactPath under run's artifact root,
	// replacing a file already there. src may be opened more than once (a
	// failed upload is retried from the start).
	UploadArtifact(ctx context.Context, run *RunInfo, artifactPath string, src ArtifactSource) error
	// ListArtifacts lists the direct children of dir ("" for the root),
	// sorted by path. Paths in the answer are relative to the root.
	ListArtifacts(ctx context.Context, run *RunInfo, dir string) ([]FileInfo, error)
}

// FileInfo is one entry of an artifact listing.
type FileInfo struct {
	Path  string
	IsDir bool
	Size  int64 // bytes; 0 for directories
}

// ArtifactSource is the content of one artifact. Open may be called once
// per upload attempt; Size is the number of bytes Open's reader yields, or
// -1 when unknown (the upload then cannot announce its length).
type ArtifactSource interface {
	Open() (io.ReadCloser, error)
	Size() int64
}

// FileSource returns a source reading the local file at path. The size is
// read once, now; a file that changes while it is uploaded is the caller's
// problem, as with any copy.
func FileSource(path string) (ArtifactSource, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("artifact source: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("artifact source %q: not a regular file", path)
	}
	return fileSource{path: path, size: fi.Size()}, nil
}

type fileSource struct {
	path string
	size int64
}

func (f fileSource) Open() (io.ReadCloser, error) { return os.Open(f.path) }
func (f fileSource) Size() int64                  { return f.size }

// BytesSource returns a source over b, which must not change afterwards.
func BytesSource(b []byte) ArtifactSource { return bytesSource(b) }

type bytesSource []byte

func (b bytesSource) Open() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
func (b bytesSource) Size() int64                  { return int64(len(b)) }

// ValidateArtifactPath accepts a relative, '/'-separated path made of plain
// names: no empty, '.' or '..' segment, no backslash or NUL, no leading '/'.
// MLflow's server refuses '..' with "Invalid path"; the others are refused
// here because they would name a different file than written.
func ValidateArtifactPath(p string) error {
	if p == "" {
		return fmt.Errorf("invalid artifact path %q: empty", p)
	}
	if strings.ContainsAny(p, "\\\x00") {
		return fmt.Errorf("invalid artifact path %q: backslash or NUL", p)
	}
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "":
			return fmt.Errorf("invalid artifact path %q: absolute or empty segment", p)
		case ".", "..":
			return fmt.Errorf("invalid artifact path %q: %q segment", p, seg)
		}
	}
	return nil
}

// JoinArtifactPath joins dir and name; an empty dir gives name.
func JoinArtifactPath(dir, name string) string {
	dir = strings.Trim(dir, "/")
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
