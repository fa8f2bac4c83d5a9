package filestore

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// IsFileURI reports whether a tracking URI selects the file store: a file:
// URI or a plain path without a scheme, as MLflow decides from
// urlparse(uri).scheme.
func IsFileURI(uri string) bool {
	if uri == "" {
		return false
	}
	scheme, _, found := strings.Cut(uri, ":")
	if !found || strings.ContainsAny(scheme, "/\\") {
		return true
	}
	if !validScheme(scheme) {
		return true
	}
	return strings.EqualFold(scheme, "file")
}

// validScheme is RFC 3986's scheme syntax, what urlparse accepts as one.
func validScheme(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// rootFromURI resolves uri as MLflow's local_file_uri_to_path does: the path
// of a file: URI (percent-decoded; "file:./x" is relative), or the plain
// path, made absolute against the working directory.
func rootFromURI(uri string) (string, error) {
	if !IsFileURI(uri) {
		return "", fmt.Errorf("%q is not a file store URI", uri)
	}
	p := uri
	if len(uri) >= 5 && strings.EqualFold(uri[:5], "file:") {
		u, err := url.Parse(uri)
		if err != nil {
			return "", fmt.Errorf("parse %q: %w", uri, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			// MLflow silently drops the host; writing locally what names a
			// remote machine would put the data somewhere unexpected.
			return "", fmt.Errorf("file URI %q names host %q; only local paths are supported", uri, u.Host)
		}
		p = u.Path
		if u.Opaque != "" {
			if p, err = url.PathUnescape(u.Opaque); err != nil {
				return "", fmt.Errorf("parse %q: %w", uri, err)
			}
		}
	}
	if p == "" {
		return "", fmt.Errorf("file URI %q has no path", uri)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("resolve %q: %w", p, err)
	}
	return abs, nil
}

// fileURI is pathlib.Path(abs).as_uri(): file:// and the path with every
// byte outside [A-Za-z0-9_.~/-] percent-encoded.
func fileURI(abs string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	b.WriteString("file://")
	for i := 0; i < len(abs); i++ {
		c := abs[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_.~/-", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

// experimentArtifactLocation is where a new experiment keeps its
// artifacts: <store root URI>/<experiment id>.
func experimentArtifactLocation(rootURI, expID string) string {
	return rootURI + "/" + expID
}

// runArtifactURI is the artifact root of a new run: <experiment artifact
// location>/<run id>/artifacts.
func runArtifactURI(expLocation, runID string) string {
	return strings.TrimRight(expLocation, "/") + "/" + runID + "/" + artifactsDir
}

// artifactDir resolves the local directory of run's artifact root. The URI
// in run is trusted only when it is a local file URI; otherwise the run is
// read back, so a RunInfo built by hand cannot aim writes elsewhere.
func (s *Store) artifactDir(ctx context.Context, run *mlflow.RunInfo) (string, error) {
	if run == nil || run.RunID == "" {
		return "", invalidParam("artifact upload needs a run id")
	}
	uri := run.ArtifactURI
	if uri == "" {
		r, err := s.GetRun(ctx, run.RunID)
		if err != nil {
			return "", err
		}
		uri = r.Info.ArtifactURI
	}
	dir, err := rootFromURI(uri)
	if err != nil {
		return "", fmt.Errorf("artifact root of run %s: %w", run.RunID, err)
	}
	return dir, nil
}
