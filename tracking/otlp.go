package tracking

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/gpuset"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// deltaTemporality is set on the exporter for any SDK instrument that might
// share it: with cumulative temporality the Go SDK re-exports every step's
// point at every collection (docs: collector.md), which the collector would
// have to deduplicate.
func deltaTemporality(sdkmetric.InstrumentKind) metricdata.Temporality {
	return metricdata.DeltaTemporality
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(os.Getenv(n)); v != "" {
			return v
		}
	}
	return ""
}

// newExporter builds the OTLP metric exporter to the local collector. Its
// own retries are off: the pipeline retries and keeps the points buffered,
// and an exporter retrying inside Export would hold them invisibly.
func newExporter(ctx context.Context, cfg OTLP) (sdkmetric.Exporter, error) {
	protocol := cfg.Protocol
	if protocol == "" {
		protocol = firstEnv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	endpoint := cfg.Endpoint
	fromEnv := endpoint == "" && firstEnv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT") != ""
	isURL := strings.Contains(endpoint, "://")
	switch protocol {
	case "", "grpc":
		opts := []otlpmetricgrpc.Option{
			otlpmetricgrpc.WithTemporalitySelector(deltaTemporality),
			otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig{Enabled: false}),
		}
		switch {
		case fromEnv:
			// The exporter reads the variables itself, TLS settings included.
		case isURL:
			opts = append(opts, otlpmetricgrpc.WithEndpointURL(endpoint))
		default:
			if endpoint == "" {
				endpoint = "localhost:4317"
			}
			opts = append(opts, otlpmetricgrpc.WithEndpoint(endpoint))
			if cfg.Insecure || isLoopback(endpoint) {
				opts = append(opts, otlpmetricgrpc.WithInsecure())
			}
		}
		exp, err := otlpmetricgrpc.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("otlp grpc exporter: %w", err)
		}
		return exp, nil
	case "http/protobuf":
		opts := []otlpmetrichttp.Option{
			otlpmetrichttp.WithTemporalitySelector(deltaTemporality),
			otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}),
		}
		switch {
		case fromEnv:
		case isURL:
			// A base URL, as in OTEL_EXPORTER_OTLP_ENDPOINT: the signal path
			// is appended unless one is given.
			if u, err := url.Parse(endpoint); err == nil && (u.Path == "" || u.Path == "/") {
				u.Path = "/v1/metrics"
				endpoint = u.String()
			}
			opts = append(opts, otlpmetrichttp.WithEndpointURL(endpoint))
		default:
			if endpoint == "" {
				endpoint = "localhost:4318"
			}
			opts = append(opts, otlpmetrichttp.WithEndpoint(endpoint))
			if cfg.Insecure || isLoopback(endpoint) {
				opts = append(opts, otlpmetrichttp.WithInsecure())
			}
		}
		exp, err := otlpmetrichttp.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("otlp http exporter: %w", err)
		}
		return exp, nil
	}
	return nil, fmt.Errorf("otlp protocol %q is not grpc or http/protobuf", protocol)
}

func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// runResource is the OTel resource of a run's metrics: the run identity of
// docs/mapping.md plus the process and host, so the collector can tag the
// run and place the machine's system metrics beside it.
func runResource(ctx context.Context, serviceName, backendID string, info *mlflow.RunInfo, parentID string) (*resource.Resource, error) {
	if serviceName == "" {
		serviceName = filepath.Base(os.Args[0])
	}
	attrs := []attribute.KeyValue{
		attribute.String("mlflow.run.id", info.RunID),
		attribute.String("mlflow.experiment.id", info.ExperimentID),
		attribute.String("service.name", serviceName),
	}
	if info.RunName != "" {
		attrs = append(attrs, attribute.String("mlflow.run.name", info.RunName))
	}
	if parentID != "" {
		attrs = append(attrs, attribute.String("mlflow.parent_run.id", parentID))
	}
	if backendID != "" {
		attrs = append(attrs, attribute.String(mlflow.BackendAttr, backendID))
	}
	// The GPUs this process sees (CUDA_VISIBLE_DEVICES, else
	// NVIDIA_VISIBLE_DEVICES): the collector attaches only their metrics
	// to the run, under the index the process sees (docs/mapping.md §9).
	// OTEL_RESOURCE_ATTRIBUTES may override it.
	var devices []attribute.KeyValue
	if v, ok := gpuset.FromEnv(nil); ok {
		devices = append(devices, attribute.String(gpuset.Attr, v))
	}
	// Under Slurm the job's cgroup holds every rank on the node: the gpu
	// receiver names it on each GPU process, which gives the run its GPUs.
	if v := os.Getenv("SLURM_JOB_ID"); v != "" {
		devices = append(devices, attribute.String("slurm.job.id", v))
	}
	// Detectors first, the run's identity last: later attributes win.
	res, err := resource.New(ctx,
		resource.WithAttributes(devices...),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithAttributes(attrs...),
	)
	if err != nil {
		return nil, fmt.Errorf("run resource: %w", err)
	}
	return res, nil
}
