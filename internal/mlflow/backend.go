package mlflow

import (
	"net/url"
	"path/filepath"
	"strings"
)

// BackendAttr is the resource attribute the tracking API sets to the
// backend its runs live in (see BackendID). A collector that cannot find
// such a run compares it with its own backend to say why, instead of
// dropping the run's data as merely "not found".
const BackendAttr = "mlflow.tracking.backend"

// ServerBackendID names a tracking server by its URI, with no credentials,
// query or fragment: scheme://host[:port][/path].
func ServerBackendID(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + strings.TrimSuffix(u.EscapedPath(), "/")
}

// FileBackendID names a local file store by its absolute root directory.
func FileBackendID(root string) string {
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	return "file://" + filepath.ToSlash(root)
}
