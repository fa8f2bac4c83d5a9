package restclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// Databricks hands out run artifact URIs of the form
// dbfs:/databricks/mlflow-tracking/<exp>/<run>/artifacts. Current MLflow
// (DatabricksRunArtifactRepository, via the Databricks SDK) writes them
// through the workspace Files API under
// /WorkspaceInternal/Mlflow/Artifacts/<exp>/Runs/<run>/artifacts/<path>;
// that is what this file does. MLflow's fallback, pre-signed cloud URLs
// from mlflow/artifacts/credentials-for-write, is absent here: a Files
// API failure is reported after the retries instead.
const (
	filesAPIPath       = "/api/2.0/fs/files"
	filesAPIRPC        = "fs/files" // the rate limiter's "other" group
	dbxTrackingPrefix  = "dbfs:/databricks/mlflow-tracking/"
	dbxArtifactsPrefix = "/WorkspaceInternal/Mlflow/Artifacts/"
)

// MaxFilesAPIUpload is the largest file one Files API PUT accepts (5 GiB).
// The SDK's multipart path for larger files is absent here.
const MaxFilesAPIUpload int64 = 5 << 30

// FilesAPIPath maps a Databricks-managed artifact URI (run or MLflow 3
// logged model) to its path in the workspace Files API, as MLflow's
// DatabricksRunArtifactRepository and DatabricksLoggedModelArtifactRepository
// derive it: dbfs:/databricks/mlflow-tracking/<exp>/<run>/<rel> becomes
// /WorkspaceInternal/Mlflow/Artifacts/<exp>/Runs/<run>/<rel>, and
// .../<exp>/logged_models/<id>/<rel> becomes .../<exp>/LoggedModels/<id>/<rel>.
// Other dbfs: locations (an experiment created with its own
// artifact_location) are refused: MLflow writes those through the DBFS API
// or pre-signed URLs, neither of which this client speaks.
func FilesAPIPath(artifactURI string) (string, error) {
	rest, ok := strings.CutPrefix(artifactURI, dbxTrackingPrefix)
	if !ok {
		return "", fmt.Errorf("artifact URI %q: only Databricks-managed storage (%s<experiment>/<run>/artifacts) can be written through the Files API", artifactURI, dbxTrackingPrefix)
	}
	rest = strings.TrimSuffix(rest, "/")
	segs := strings.Split(rest, "/")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return "", fmt.Errorf("artifact URI %q: malformed path", artifactURI)
		}
	}
	if len(segs) < 2 {
		return "", fmt.Errorf("artifact URI %q: want %s<experiment>/<run>/...", artifactURI, dbxTrackingPrefix)
	}
	exp, owner := segs[0], segs[1]
	switch {
	case owner == "logged_models":
		if len(segs) < 3 {
			return "", fmt.Errorf("artifact URI %q: logged model id missing", artifactURI)
		}
		return dbxArtifactsPrefix + exp + "/LoggedModels/" + strings.Join(segs[2:], "/"), nil
	case strings.HasPrefix(owner, "tr-"):
		// MLflow keeps trace data in a repository of its own.
		return "", fmt.Errorf("artifact URI %q: trace artifacts are not supported", artifactURI)
	}
	return dbxArtifactsPrefix + exp + "/Runs/" + strings.Join(segs[1:], "/"), nil
}

// filesAPISender prepares the upload of src to artifactPath under a dbfs:
// artifact URI. The size limit is checked here, before anything is sent, so
// that an oversized file fails at once instead of after a transfer.
func (a *Artifacts) filesAPISender(artifactURI, artifactPath string, src mlflow.ArtifactSource) (func(context.Context) error, error) {
	root, err := FilesAPIPath(artifactURI)
	if err != nil {
		return nil, err
	}
	if n := src.Size(); n > MaxFilesAPIUpload {
		return nil, fmt.Errorf("%d bytes exceed the Databricks Files API limit of %d bytes (5 GiB) per file; multipart upload is not supported", n, MaxFilesAPIUpload)
	}
	// overwrite=true: a retried or repeated upload replaces the file, as
	// MLflow's own client asks.
	target := a.c.serverRoot() + filesAPIPath + escapePath(root+"/"+artifactPath) + "?overwrite=true"
	return func(ctx context.Context) error { return a.putFile(ctx, target, src) }, nil
}

// putFile streams src in one PUT. Success is any 2xx: the Files API
// answers 204 with no body, which Client.do (made for MLflow's 200 {}
// answers) reports as an APIError carrying that status.
func (a *Artifacts) putFile(ctx context.Context, target string, src mlflow.ArtifactSource) error {
	body, err := src.Open()
	if err != nil {
		return &sourceError{err: err}
	}
	size := src.Size()
	var rc io.ReadCloser = body
	if size < 0 {
		// Unknown length goes out chunked; stop at the limit rather than
		// let the workspace refuse it after gigabytes.
		rc = &cappedReader{r: body, limit: MaxFilesAPIUpload}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, target, sourceReader{r: rc})
	if err != nil {
		_ = body.Close()
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	if size >= 0 {
		req.ContentLength = size
		if size == 0 {
			// net/http treats ContentLength 0 with a non-nil body as
			// unknown and would send it chunked.
			req.Body = http.NoBody
			_ = body.Close()
		}
	}
	err = a.c.do(req, filesAPIRPC, nil)
	var apiErr *mlflow.APIError
	if errors.As(err, &apiErr) && apiErr.HTTPStatus >= 200 && apiErr.HTTPStatus < 300 {
		return nil
	}
	return err
}

// errTooLarge is what cappedReader reports; sourceReader marks it as a
// source error, so it is not retried.
var errTooLarge = fmt.Errorf("source is larger than the Databricks Files API limit of %d bytes (5 GiB)", MaxFilesAPIUpload)

// cappedReader fails once more than limit bytes were read.
type cappedReader struct {
	r     io.ReadCloser
	limit int64
	read  int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += int64(n)
	if c.read > c.limit {
		return n, errTooLarge
	}
	return n, err
}

func (c *cappedReader) Close() error { return c.r.Close() }
