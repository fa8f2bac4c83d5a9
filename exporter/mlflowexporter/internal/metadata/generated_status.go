// Package metadata holds what mdatagen would generate for the exporter from
// ../../metadata.yaml (mdatagen is not served by this project's module
// proxy; metadata_test.go keeps the two in step).
package metadata

import "go.opentelemetry.io/collector/component"

var (
	// Type is the component type in collector configs: `mlflow`.
	Type = component.MustNewType("mlflow")
	// ScopeName names the exporter's own telemetry.
	ScopeName = "github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter"
)

// MetricsStability is the stability of the metrics signal.
const MetricsStability = component.StabilityLevelDevelopment
