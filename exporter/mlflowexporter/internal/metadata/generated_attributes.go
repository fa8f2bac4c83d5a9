package metadata

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Attribute keys of the exporter's self-metrics (metadata.yaml's attributes).
const (
	AttributeKeyRPC     = "rpc"
	AttributeKeyOutcome = "outcome"
	AttributeKeyReason  = "reason"
	AttributeKeyCause   = "cause"
	AttributeKeyState   = "state"
	AttributeKeyTenant  = "tenant"
)

// AttributeCause is the cause attribute of exporter_mlflow_retries.
type AttributeCause int

const (
	_ AttributeCause = iota
	AttributeCauseUnavailable
	AttributeCauseThrottled
)

// String returns the attribute's value.
func (a AttributeCause) String() string {
	switch a {
	case AttributeCauseUnavailable:
		return "unavailable"
	case AttributeCauseThrottled:
		return "throttled"
	}
	return ""
}

// MapAttributeCause maps each value to its enum.
var MapAttributeCause = map[string]AttributeCause{
	"unavailable": AttributeCauseUnavailable,
	"throttled":   AttributeCauseThrottled,
}

// AttributeState is the state attribute of exporter_mlflow_backend_state.
type AttributeState int

const (
	_ AttributeState = iota
	AttributeStateAvailable
	AttributeStateUnavailable
	AttributeStateThrottled
)

// String returns the attribute's value.
func (a AttributeState) String() string {
	switch a {
	case AttributeStateAvailable:
		return "available"
	case AttributeStateUnavailable:
		return "unavailable"
	case AttributeStateThrottled:
		return "throttled"
	}
	return ""
}

// MapAttributeState maps each value to its enum.
var MapAttributeState = map[string]AttributeState{
	"available":   AttributeStateAvailable,
	"unavailable": AttributeStateUnavailable,
	"throttled":   AttributeStateThrottled,
}

// AttributeTenantOutcome is the outcome attribute of exporter_mlflow_tenant_points.
type AttributeTenantOutcome int

const (
	_ AttributeTenantOutcome = iota
	AttributeTenantOutcomeAccepted
	AttributeTenantOutcomeWritten
	AttributeTenantOutcomeRefused
)

// String returns the attribute's value.
func (a AttributeTenantOutcome) String() string {
	switch a {
	case AttributeTenantOutcomeAccepted:
		return "accepted"
	case AttributeTenantOutcomeWritten:
		return "written"
	case AttributeTenantOutcomeRefused:
		return "refused"
	}
	return ""
}

// MapAttributeTenantOutcome maps each value to its enum.
var MapAttributeTenantOutcome = map[string]AttributeTenantOutcome{
	"accepted": AttributeTenantOutcomeAccepted,
	"written":  AttributeTenantOutcomeWritten,
	"refused":  AttributeTenantOutcomeRefused,
}

// WithTenantOutcome is the attribute set of one tenant_points point.
func WithTenantOutcome(tenant string, outcome AttributeTenantOutcome) metric.MeasurementOption {
	return metric.WithAttributes(attribute.String(AttributeKeyTenant, tenant), attribute.String(AttributeKeyOutcome, outcome.String()))
}
