package mlflowexporter

import (
	"context"
	"fmt"
	"maps"
	"os"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configtls"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/databricks"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/filestore"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/restclient"
)

// defaultTrackingURI is MLflow's own default: a file store in ./mlruns.
const defaultTrackingURI = "file:./mlruns"

// backend is a Store that may hold resources (files, connections).
type backend interface {
	mlflow.Store
	Close() error
}

// resolveTrackingURI applies MLflow's precedence: config, then
// MLFLOW_TRACKING_URI, then ./mlruns.
func resolveTrackingURI(configured string, getenv func(string) string) string {
	if configured != "" {
		return configured
	}
	if u := getenv("MLFLOW_TRACKING_URI"); u != "" {
		return u
	}
	return defaultTrackingURI
}

// openBackend opens the store the tracking URI names. kind describes it for
// logs, without credentials.
func openBackend(ctx context.Context, cfg *Config, host component.Host, set component.TelemetrySettings, tel *metadata.TelemetryBuilder, getenv func(string) string) (b backend, kind string, err error) {
	uri := resolveTrackingURI(cfg.TrackingURI, getenv)
	if err := validateTrackingURI(uri); err != nil {
		return nil, "", err
	}
	if databricks.IsURI(uri) {
		return openDatabricks(ctx, cfg, uri, host, set, tel, getenv)
	}
	if filestore.IsFileURI(uri) {
		fs, err := filestore.Open(uri)
		if err != nil {
			return nil, "", fmt.Errorf("open local MLflow store %q: %w", uri, err)
		}
		return fs, "file store " + fs.Root(), nil
	}

	rc := restclient.ConfigFromEnv(uri, getenv)
	if cfg.Token != "" {
		rc.Token = string(cfg.Token)
	}
	if cfg.Username != "" {
		rc.Username, rc.Password = cfg.Username, string(cfg.Password)
	}
	clientCfg := cfg.ClientConfig
	if rc.InsecureTLS && !cfg.TLS.InsecureSkipVerify {
		// MLFLOW_TRACKING_INSECURE_TLS applies unless the config decides.
		clientCfg.TLS = configtls.ClientConfig{Config: cfg.TLS.Config, InsecureSkipVerify: true, ServerName: cfg.TLS.ServerName}
	}
	var extensions map[component.ID]component.Component
	if host != nil {
		extensions = host.GetExtensions()
	}
	hc, err := clientCfg.ToClient(ctx, extensions, set)
	if err != nil {
		return nil, "", fmt.Errorf("build HTTP client: %w", err)
	}
	rc.HTTPClient = hc
	rc.UserAgent = "otelcol-mlflow"
	if len(cfg.RateLimits) > 0 {
		if rc.RateLimiter, err = databricks.SharedRateLimiter(mlflow.RedactURI(uri), cfg.RateLimits); err != nil {
			return nil, "", fmt.Errorf("rate_limits: %w", err)
		}
	}
	client, err := restclient.New(rc)
	if err != nil {
		return nil, "", fmt.Errorf("tracking server %q: %w", mlflow.RedactURI(uri), err)
	}
	return withQuotas(client, cfg.RunQuotas, runQuotas{}, set.Logger, tel), "tracking server " + mlflow.RedactURI(uri), nil
}

// openDatabricks resolves the workspace and its credentials, and builds a
// REST client with the workspace's rate limits, experiment path rules and
// per-run quotas.
func openDatabricks(ctx context.Context, cfg *Config, uri string, host component.Host, set component.TelemetrySettings, tel *metadata.TelemetryBuilder, getenv func(string) string) (backend, string, error) {
	uriProfile, _, err := databricks.ProfileFromURI(uri)
	if err != nil {
		return nil, "", err
	}
	d := cfg.Databricks
	dc := databricks.Config{
		Host: d.Host, Token: string(d.Token), ClientID: d.ClientID, ClientSecret: string(d.ClientSecret),
		Profile: d.Profile, ConfigFile: d.ConfigFile, AuthType: d.AuthType,
	}
	if dc.Profile == "" {
		dc.Profile = uriProfile
	}
	ws, err := databricks.Resolve(dc, getenv, os.UserHomeDir)
	if err != nil {
		return nil, "", err
	}
	var extensions map[component.ID]component.Component
	if host != nil {
		extensions = host.GetExtensions()
	}
	hc, err := cfg.ClientConfig.ToClient(ctx, extensions, set)
	if err != nil {
		return nil, "", fmt.Errorf("build HTTP client: %w", err)
	}
	auth, err := databricks.NewAuthenticator(ws, hc)
	if err != nil {
		return nil, "", err
	}
	apiClient := hc
	if m2m, ok := auth.(*databricks.M2M); ok {
		// Token requests keep the plain client; API calls drop a token the
		// workspace refuses.
		cp := *hc
		cp.Transport = m2m.InvalidatingTransport(hc.Transport)
		apiClient = &cp
	}
	limits := databricks.DefaultRateLimits()
	maps.Copy(limits, cfg.RateLimits)
	limiter, err := databricks.SharedRateLimiter(ws.Host, limits)
	if err != nil {
		return nil, "", fmt.Errorf("rate_limits: %w", err)
	}
	client, err := restclient.New(restclient.Config{
		TrackingURI: ws.Host,
		HTTPClient:  apiClient,
		UserAgent:   "otelcol-mlflow",
		Auth:        auth.Authorize,
		RateLimiter: limiter,
	})
	if err != nil {
		return nil, "", fmt.Errorf("databricks workspace %s: %w", ws.Host, err)
	}
	store := &databricks.PathStore{Store: client, Base: d.ExperimentBase}
	quotas := runQuotas{metricSteps: databricks.QuotaMetricSteps, params: databricks.QuotaParams, tags: databricks.QuotaTags}
	return withQuotas(store, cfg.RunQuotas, quotas, set.Logger, tel), "Databricks workspace " + ws.Describe(), nil
}

// backendID names b as the tracking API names its own store (see
// mlflow.BackendAttr), so that the two can be compared.
func backendID(b backend, uri string) string {
	if fs, ok := b.(*filestore.Store); ok {
		return mlflow.FileBackendID(fs.Root())
	}
	if databricks.IsURI(uri) || filestore.IsFileURI(uri) {
		return ""
	}
	return mlflow.ServerBackendID(uri)
}
