package mlflowexporter

import (
	"fmt"
	"time"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/sysmetrics"
)

// SystemMetricsConfig says how host and GPU telemetry (resources that name
// no run but carry host.name, such as the gpu receiver's) is attached to runs.
type SystemMetricsConfig struct {
	// Mode: "mlflow" writes MLflow's system metric keys and units (its UI
	// charts them), "otel" the OTel names under system/, "off" drops them.
	Mode string `mapstructure:"mode"`
	// NodePrefix: "auto" writes system/<host>/... once a run has telemetry
	// from more than one host (multi-node training), "always", or "never".
	NodePrefix string `mapstructure:"node_prefix"`
	// LocalHostName is the host a run's telemetry is taken to come from
	// when its resource has no host.name (default: this machine's hostname).
	LocalHostName string `mapstructure:"local_host_name"`
	// AttachWindow is how recently a run's own telemetry must have arrived
	// from a host for that host's system metrics to go into the run. It
	// bounds what a run that is never ended collects: at most this long of
	// host metrics after its last data point. Default 2m, two export
	// intervals of the OTel SDKs' default 60 s.
	AttachWindow time.Duration `mapstructure:"attach_window"`
	// EndCheckInterval is how often a run receiving system metrics is
	// checked on the backend for an end made there (mlflow.end_run(), the
	// UI, another tool), which the collector is not told about. Runs ended
	// through an mlflow.run.end point stop at once. Default 10s; 0 disables.
	EndCheckInterval time.Duration `mapstructure:"end_check_interval"`
}

func (c *SystemMetricsConfig) validate() error {
	if c.AttachWindow <= 0 {
		return fmt.Errorf("system_metrics.attach_window %s: must be positive", c.AttachWindow)
	}
	if c.EndCheckInterval < 0 {
		return fmt.Errorf("system_metrics.end_check_interval %s: must not be negative", c.EndCheckInterval)
	}
	if !sysmetrics.Mode(c.Mode).Valid() {
		return fmt.Errorf("system_metrics.mode %q: want mlflow, otel or off", c.Mode)
	}
	switch c.NodePrefix {
	case "auto", "always", "never":
		return nil
	}
	return fmt.Errorf("system_metrics.node_prefix %q: want auto, always or never", c.NodePrefix)
}
