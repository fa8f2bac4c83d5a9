package mlflowexporter

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configtls"

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
func openBackend(ctx context.Context, cfg *Config, host component.Host, set component.TelemetrySettings, getenv func(string) string) (b backend, kind string, err error) {
	uri := resolveTrackingURI(cfg.TrackingURI, getenv)
	if err := validateTrackingURI(uri); err != nil {
		return nil, "", err
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
	client, err := restclient.New(rc)
	if err != nil {
		return nil, "", fmt.Errorf("tracking server %q: %w", redactURI(uri), err)
	}
	return client, "tracking server " + redactURI(uri), nil
}

// redactURI drops userinfo so a URI can be logged.
func redactURI(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return uri
	}
	hostPart, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndexByte(hostPart, '@'); at >= 0 {
		hostPart = hostPart[at+1:]
	}
	if path != "" {
		return scheme + "://" + hostPart + "/" + path
	}
	return scheme + "://" + hostPart
}
