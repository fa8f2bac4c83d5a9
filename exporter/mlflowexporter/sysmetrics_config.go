package mlflowexporter

import (
	"fmt"

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
}

func (c *SystemMetricsConfig) validate() error {
	if !sysmetrics.Mode(c.Mode).Valid() {
		return fmt.Errorf("system_metrics.mode %q: want mlflow, otel or off", c.Mode)
	}
	switch c.NodePrefix {
	case "auto", "always", "never":
		return nil
	}
	return fmt.Errorf("system_metrics.node_prefix %q: want auto, always or never", c.NodePrefix)
}
