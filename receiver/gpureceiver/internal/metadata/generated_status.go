// Package metadata describes what the gpu receiver emits: its component type,
// every metric (name, unit, type, default), the per-metric enable switches,
// the attributes and their fixed values, and the resource attributes.
//
// ../../metadata.yaml is the description in mdatagen's schema, and the files
// here are laid out as mdatagen generates them: generated_status.go (type,
// scope, stability), generated_config.go (per-metric switches),
// generated_metrics.go (metric descriptors, attribute enums, MetricsBuilder)
// and generated_resource.go (ResourceBuilder). mdatagen is not available to
// this project, so they are written by hand; TestMetadataConsistency fails
// when they, metadata.yaml and docs/gpureceiver.md drift apart.
package metadata

import (
	"go.opentelemetry.io/collector/component"
)

// Type is the component type of the receiver in collector configuration.
var Type = component.MustNewType("gpu")

// ScopeName is the instrumentation scope every metric is emitted under.
const ScopeName = "github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver"

// MetricsStability is the stability level of the metrics signal.
const MetricsStability = component.StabilityLevelDevelopment
