package tracking

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/databricks"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/restclient"
)

// openDatabricks connects to the workspace a databricks[://profile]
// tracking URI names, resolving host and credentials as the Databricks CLI
// does (DATABRICKS_* variables, then the profile in ~/.databrickscfg), with
// the workspace's published rate limits shared by every client of the
// process and its rule that experiment names are absolute paths.
func (t *Tracker) openDatabricks(uri string) error {
	profile, _, err := databricks.ProfileFromURI(uri)
	if err != nil {
		return fmt.Errorf("tracking: %w", err)
	}
	if t.cfg.ExperimentName == "" {
		return fmt.Errorf("tracking: Databricks needs experiment_name, an absolute workspace path such as /Users/<you>/<name>")
	}
	if _, err := databricks.ExperimentPath(t.cfg.ExperimentName, ""); err != nil {
		return fmt.Errorf("tracking: %w", err)
	}
	ws, err := databricks.Resolve(databricks.Config{Profile: profile}, os.Getenv, os.UserHomeDir)
	if err != nil {
		return fmt.Errorf("tracking: %w", err)
	}
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 2 * time.Minute}
	auth, err := databricks.NewAuthenticator(ws, hc)
	if err != nil {
		return fmt.Errorf("tracking: %w", err)
	}
	apiClient := hc
	if m2m, ok := auth.(*databricks.M2M); ok {
		// Token requests keep the plain client; API calls drop a token the
		// workspace refuses so the next call fetches a fresh one.
		cp := *hc
		cp.Transport = m2m.InvalidatingTransport(hc.Transport)
		apiClient = &cp
	}
	limiter, err := databricks.SharedRateLimiter(ws.Host, databricks.DefaultRateLimits())
	if err != nil {
		return fmt.Errorf("tracking: %w", err)
	}
	c, err := restclient.New(restclient.Config{
		TrackingURI: ws.Host, HTTPClient: apiClient, Auth: auth.Authorize, RateLimiter: limiter,
		UserAgent: "otelcol-mlflow-tracking",
	})
	if err != nil {
		return fmt.Errorf("tracking: databricks workspace %s: %w", ws.Host, err)
	}
	t.store = &databricks.PathStore{Store: c}
	t.closer, t.registry = c, c
	t.artifacts = c.Artifacts(restclient.DefaultRetryPolicy())
	return nil
}
