package restclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// artifactsProxyPath is the upload/download endpoint of a server started
// with --serve-artifacts; it sits beside the tracking API, not under it.
const artifactsProxyPath = "/api/2.0/mlflow-artifacts/artifacts/"

// RetryPolicy bounds the retries of an artifact upload. Uploads, unlike
// tracking RPCs, are retried by this package: a file must be re-read from
// the start, which only the uploader can do.
type RetryPolicy struct {
	// MaxAttempts counts the first try; values below 1 mean 1.
	MaxAttempts int
	// InitialBackoff doubles after each failure up to MaxBackoff; a server's
	// Retry-After wins when longer.
	InitialBackoff, MaxBackoff time.Duration
}

// DefaultRetryPolicy is close to MLflow's own client (which retries 7 times
// with backoff factor 2), shortened because a training program waits on it.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 5, InitialBackoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second}
}

// Artifacts uploads and lists run artifacts through the tracking server's
// artifact proxy. It implements mlflow.ArtifactStore.
type Artifacts struct {
	c     *Client
	retry RetryPolicy
	// sleep waits between attempts; tests replace it to run instantly.
	sleep func(ctx context.Context, d time.Duration) error
}

var _ mlflow.ArtifactStore = (*Artifacts)(nil)

// Artifacts returns the artifact API of the server c talks to. Uploads use
// c's HTTP client without its whole-exchange Timeout (2 minutes for the
// client New builds), which suits RPCs but would cut off any file that
// takes longer to send; transfers are bounded by the caller's context and
// the transport's dial, TLS and response-header timeouts instead.
func (c *Client) Artifacts(p RetryPolicy) *Artifacts {
	if p.MaxAttempts < 1 {
		p.MaxAttempts = 1
	}
	hc := *c.httpClient
	hc.Timeout = 0
	uc := *c
	uc.httpClient = &hc
	uc.ownsClient = false
	return &Artifacts{c: &uc, retry: p, sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// serverRoot is the tracking URI without the REST prefix.
func (c *Client) serverRoot() string { return strings.TrimSuffix(c.base, apiPath) }

// proxyPath turns a run's artifact URI into the path the proxy serves it
// under. Only mlflow-artifacts URIs go through the proxy: a server that
// hands out s3:// or file:// URIs expects clients to write there directly,
// which this client does not do.
func proxyPath(artifactURI string) (string, error) {
	rest, ok := strings.CutPrefix(artifactURI, "mlflow-artifacts:")
	if !ok {
		return "", fmt.Errorf("artifact URI %q: only mlflow-artifacts: URIs (a server started with --serve-artifacts) are supported", artifactURI)
	}
	if strings.HasPrefix(rest, "//") {
		// mlflow-artifacts://host:port/path names the proxy explicitly; the
		// path is what matters, the host is the tracking server anyway.
		u, err := url.Parse(artifactURI)
		if err != nil {
			return "", fmt.Errorf("artifact URI %q: %w", artifactURI, err)
		}
		rest = u.Path
	}
	rest = strings.Trim(rest, "/")
	if rest == "" {
		return "", fmt.Errorf("artifact URI %q has no path", artifactURI)
	}
	return rest, nil
}

func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

func (a *Artifacts) artifactURI(ctx context.Context, run *mlflow.RunInfo) (string, error) {
	if run == nil || run.RunID == "" {
		return "", errors.New("artifact upload needs a run id")
	}
	if run.ArtifactURI != "" {
		return run.ArtifactURI, nil
	}
	r, err := a.c.GetRun(ctx, run.RunID)
	if err != nil {
		return "", err
	}
	return r.Info.ArtifactURI, nil
}

// UploadArtifact PUTs src to the proxy, or for a Databricks run to the
// workspace Files API. The body streams from src (a file
// is never held in memory) with its length announced; failed attempts
// (network errors, 408, 429, 5xx) are retried from a freshly opened source.
// Multipart upload is not used: the proxy accepts single PUTs of any size
// the server's artifact repository takes, and the Files API up to 5 GiB.
func (a *Artifacts) UploadArtifact(ctx context.Context, run *mlflow.RunInfo, artifactPath string, src mlflow.ArtifactSource) error {
	if err := mlflow.ValidateArtifactPath(artifactPath); err != nil {
		return err
	}
	uri, err := a.artifactURI(ctx, run)
	if err != nil {
		return fmt.Errorf("upload artifact %q: %w", artifactPath, err)
	}
	send, err := a.sender(uri, artifactPath, src)
	if err != nil {
		return fmt.Errorf("upload artifact %q: %w", artifactPath, err)
	}
	backoff := a.retry.InitialBackoff
	for attempt := 1; ; attempt++ {
		err := send(ctx)
		if err == nil {
			return nil
		}
		var srcErr *sourceError
		if errors.As(err, &srcErr) || !retryableUpload(ctx, err) || attempt >= a.retry.MaxAttempts {
			return fmt.Errorf("upload artifact %q (attempt %d of %d): %w", artifactPath, attempt, a.retry.MaxAttempts, err)
		}
		wait := max(backoff, mlflow.RetryAfter(err))
		// Jitter keeps parallel uploaders from retrying in lockstep.
		wait += time.Duration(rand.Int64N(int64(wait)/4 + 1))
		if err := a.sleep(ctx, wait); err != nil {
			return fmt.Errorf("upload artifact %q (attempt %d of %d): %w", artifactPath, attempt, a.retry.MaxAttempts, err)
		}
		backoff = min(2*backoff, max(a.retry.MaxBackoff, a.retry.InitialBackoff))
	}
}

// sender returns the single-attempt upload for a run's artifact URI:
// Databricks' Files API for dbfs: URIs (artifacts_databricks.go), the
// mlflow-artifacts proxy otherwise.
func (a *Artifacts) sender(uri, artifactPath string, src mlflow.ArtifactSource) (func(context.Context) error, error) {
	if strings.HasPrefix(uri, "dbfs:") {
		return a.filesAPISender(uri, artifactPath, src)
	}
	base, err := proxyPath(uri)
	if err != nil {
		return nil, err
	}
	target := a.c.serverRoot() + artifactsProxyPath + escapePath(base+"/"+artifactPath)
	return func(ctx context.Context) error { return a.put(ctx, target, src) }, nil
}

// sourceError marks a failure to read the local source: retrying the
// upload cannot fix it.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return "read source: " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// sourceReader tags read errors of the source so they are not mistaken for
// network errors (net/http reports both through Do).
type sourceReader struct{ r io.ReadCloser }

func (s sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = &sourceError{err: err}
	}
	return n, err
}

func (s sourceReader) Close() error { return s.r.Close() }

func (a *Artifacts) put(ctx context.Context, target string, src mlflow.ArtifactSource) error {
	body, err := src.Open()
	if err != nil {
		return &sourceError{err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, target, sourceReader{r: body})
	if err != nil {
		_ = body.Close()
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	if n := src.Size(); n >= 0 {
		req.ContentLength = n
		if n == 0 {
			// net/http treats ContentLength 0 with a non-nil body as
			// unknown and would send it chunked.
			req.Body = http.NoBody
			_ = body.Close()
		}
	}
	return a.c.do(req, "mlflow-artifacts/artifacts", nil)
}

func retryableUpload(ctx context.Context, err error) bool {
	return ctx.Err() == nil && mlflow.IsTransient(err)
}

// ListArtifacts calls artifacts/list, which the tracking server answers
// from the run's artifact repository.
func (a *Artifacts) ListArtifacts(ctx context.Context, run *mlflow.RunInfo, dir string) ([]mlflow.FileInfo, error) {
	if run == nil || run.RunID == "" {
		return nil, errors.New("list artifacts: run id missing")
	}
	dir = strings.Trim(dir, "/")
	if dir != "" {
		if err := mlflow.ValidateArtifactPath(dir); err != nil {
			return nil, fmt.Errorf("list artifacts: %w", err)
		}
	}
	q := url.Values{"run_id": {run.RunID}}
	if dir != "" {
		q.Set("path", dir)
	}
	var out struct {
		Files []struct {
			Path     string    `json:"path"`
			IsDir    bool      `json:"is_dir"`
			FileSize flexInt64 `json:"file_size"`
		} `json:"files"`
	}
	if err := a.c.get(ctx, "artifacts/list", q, &out); err != nil {
		return nil, err
	}
	files := make([]mlflow.FileInfo, 0, len(out.Files))
	for _, f := range out.Files {
		files = append(files, mlflow.FileInfo{Path: f.Path, IsDir: f.IsDir, Size: int64(f.FileSize)})
	}
	slices.SortFunc(files, func(x, y mlflow.FileInfo) int { return strings.Compare(x.Path, y.Path) })
	return files, nil
}
