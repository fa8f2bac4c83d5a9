package databricks

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/restclient"
)

// DefaultRateLimits are the per-workspace limits Databricks publishes for
// the MLflow tracking API (Azure Databricks resource limits), in requests
// per second. They are the client-side defaults for databricks tracking
// URIs.
func DefaultRateLimits() restclient.RateLimits {
	return restclient.RateLimits{
		restclient.GroupLogBatch:    47,
		restclient.GroupSearch:      7,
		restclient.GroupExperiments: 7,
		restclient.GroupOther:       127,
	}
}

// Per-run quotas Databricks enforces (since March 2024).
const (
	QuotaMetricSteps = 1_000_000 // metric values logged per run, all keys together
	QuotaParams      = 1600
	QuotaTags        = 1600
)

var (
	limitersMu sync.Mutex
	limiters   = map[string]*restclient.RateLimiter{}
)

// SharedRateLimiter returns the process-wide limiter for a workspace host
// and set of limits, creating it on first use. Databricks limits a whole
// workspace, so every exporter of one collector that writes to the same
// workspace must draw from one budget.
func SharedRateLimiter(host string, limits restclient.RateLimits) (*restclient.RateLimiter, error) {
	key := host
	for _, g := range slices.Sorted(maps.Keys(limits)) {
		key += fmt.Sprintf(" %s=%g", g, limits[g])
	}
	limitersMu.Lock()
	defer limitersMu.Unlock()
	if l, ok := limiters[key]; ok {
		return l, nil
	}
	l, err := restclient.NewRateLimiter(limits)
	if err != nil {
		return nil, err
	}
	limiters[key] = l
	return l, nil
}

// ExperimentPath applies Databricks' rule that experiment names are
// absolute workspace paths ("/Users/<user>/x", "/Shared/x"). An absolute
// name is checked and returned as is. A relative name is placed under base
// when base is set ("/Shared/otel" + "train" = "/Shared/otel/train"), and
// refused otherwise, as the workspace itself would refuse it.
func ExperimentPath(name, base string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("experiment name is empty")
	}
	p := name
	if !strings.HasPrefix(name, "/") {
		if base == "" {
			return "", fmt.Errorf("experiment name %q is not an absolute workspace path: Databricks experiments live at paths such as /Users/<user>/%s or /Shared/%s; use an absolute name or set databricks.experiment_base", name, name, name)
		}
		p = strings.TrimRight(base, "/") + "/" + name
	}
	if err := ValidateWorkspacePath(p); err != nil {
		if p != name {
			return "", fmt.Errorf("experiment %q under base %q: %w", name, base, err)
		}
		return "", err
	}
	return p, nil
}

// ValidateWorkspacePath checks an absolute workspace path for an
// experiment: at least a folder and a name, no empty, "." or ".." segment,
// no trailing slash, no control characters, at most MLflow's 500
// characters.
func ValidateWorkspacePath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("workspace path %q is not absolute", p)
	}
	if n := len([]rune(p)); n > mlflow.MaxExperimentNameLength {
		return fmt.Errorf("workspace path is %d characters, the limit is %d", n, mlflow.MaxExperimentNameLength)
	}
	segs := strings.Split(p[1:], "/")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return fmt.Errorf("workspace path %q: empty, '.' or '..' segment", p)
		}
		if strings.IndexFunc(s, unicode.IsControl) >= 0 {
			return fmt.Errorf("workspace path %q: control character", p)
		}
	}
	if len(segs) < 2 {
		return fmt.Errorf("workspace path %q: an experiment needs a folder, e.g. /Shared%s", p, p)
	}
	return nil
}

// Store is an MLflow store that can be closed (the REST client).
type Store interface {
	mlflow.Store
	io.Closer
}

// PathStore applies ExperimentPath to the experiment names passed to it,
// so that relative names from telemetry resolve under Base, and names the
// workspace would refuse are refused without a request (400
// INVALID_PARAMETER_VALUE, as Databricks answers).
type PathStore struct {
	Store
	Base string
}

func (s *PathStore) path(name string) (string, error) {
	p, err := ExperimentPath(name, s.Base)
	if err != nil {
		return "", mlflow.NewError(mlflow.ErrorCodeInvalidParameterValue, "%s", err)
	}
	return p, nil
}

// GetExperimentByName implements mlflow.Store.
func (s *PathStore) GetExperimentByName(ctx context.Context, name string) (*mlflow.Experiment, error) {
	p, err := s.path(name)
	if err != nil {
		return nil, err
	}
	return s.Store.GetExperimentByName(ctx, p)
}

// CreateExperiment implements mlflow.Store.
func (s *PathStore) CreateExperiment(ctx context.Context, name string, tags []mlflow.Tag) (string, error) {
	p, err := s.path(name)
	if err != nil {
		return "", err
	}
	return s.Store.CreateExperiment(ctx, p, tags)
}
