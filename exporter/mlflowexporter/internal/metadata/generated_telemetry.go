package metadata

import (
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
)

// Meter is the exporter's meter.
func Meter(settings component.TelemetrySettings) metric.Meter {
	return settings.MeterProvider.Meter(ScopeName)
}

// TelemetryBuilder holds every self-metric of the exporter (metadata.yaml's
// telemetry section); the collector adds the exporter's id to each.
type TelemetryBuilder struct {
	meter                             metric.Meter
	ExporterMlflowBackendState        metric.Int64Gauge
	ExporterMlflowDropped             metric.Int64Counter
	ExporterMlflowDuplicatePoints     metric.Int64Counter
	ExporterMlflowLag                 metric.Float64Gauge
	ExporterMlflowMetricPointsWritten metric.Int64Counter
	ExporterMlflowRequestDuration     metric.Float64Histogram
	ExporterMlflowRequests            metric.Int64Counter
	ExporterMlflowRetries             metric.Int64Counter
	ExporterMlflowRunsCreated         metric.Int64Counter
	ExporterMlflowSpoolPoints         metric.Int64UpDownCounter
	ExporterMlflowTenantPoints        metric.Int64Counter
}

// NewTelemetryBuilder creates every instrument from settings' meter provider.
func NewTelemetryBuilder(settings component.TelemetrySettings) (*TelemetryBuilder, error) {
	builder := TelemetryBuilder{meter: Meter(settings)}
	var err, errs error
	builder.ExporterMlflowBackendState, err = builder.meter.Int64Gauge(
		"otelcol_exporter_mlflow_backend_state",
		metric.WithDescription("1 for the state MLflow is in as the exporter last saw it (available, unavailable, throttled), 0 for the others."),
		metric.WithUnit("1"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterMlflowDropped, err = builder.meter.Int64Counter(
		"otelcol_exporter_mlflow_dropped",
		metric.WithDescription("Points, params and tags not written, by reason (see docs/mapping.md)."),
		metric.WithUnit("{item}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterMlflowDuplicatePoints, err = builder.meter.Int64Counter(
		"otelcol_exporter_mlflow_duplicate_points",
		metric.WithDescription("Points skipped because the run already holds them (SDK re-exports, retries)."),
		metric.WithUnit("{point}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterMlflowLag, err = builder.meter.Float64Gauge(
		"otelcol_exporter_mlflow_lag",
		metric.WithDescription("Age of the newest point of the last write when MLflow accepted it: how far behind the backend the exporter is."),
		metric.WithUnit("s"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterMlflowMetricPointsWritten, err = builder.meter.Int64Counter(
		"otelcol_exporter_mlflow_metric_points_written",
		metric.WithDescription("MLflow metric points written."),
		metric.WithUnit("{point}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterMlflowRequestDuration, err = builder.meter.Float64Histogram(
		"otelcol_exporter_mlflow_request_duration",
		metric.WithDescription("Latency of MLflow API calls."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries([]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}...),
	)
	errs = errors.Join(errs, err)
	builder.ExporterMlflowRequests, err = builder.meter.Int64Counter(
		"otelcol_exporter_mlflow_requests",
		metric.WithDescription("MLflow API calls by RPC and outcome (ok, an MLflow error code, HTTP_<status>, or network)."),
		metric.WithUnit("{request}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterMlflowRetries, err = builder.meter.Int64Counter(
		"otelcol_exporter_mlflow_retries",
		metric.WithDescription("Run exports handed back to the retry queue, by cause (unavailable: network, timeout, 408, 5xx; throttled: 429)."),
		metric.WithUnit("{export}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterMlflowRunsCreated, err = builder.meter.Int64Counter(
		"otelcol_exporter_mlflow_runs_created",
		metric.WithDescription("MLflow runs created by this exporter."),
		metric.WithUnit("{run}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterMlflowSpoolPoints, err = builder.meter.Int64UpDownCounter(
		"otelcol_exporter_mlflow_spool_points",
		metric.WithDescription("Points held for their runs' requests while a log-batch budget applies (the run spool, behind the sending queue)."),
		metric.WithUnit("{point}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterMlflowTenantPoints, err = builder.meter.Int64Counter(
		"otelcol_exporter_mlflow_tenant_points",
		metric.WithDescription("With access control, each tenant's data points by outcome (accepted into the sending queue, written to MLflow, refused by access control)."),
		metric.WithUnit("{point}"),
	)
	errs = errors.Join(errs, err)
	return &builder, errs
}
