// Package tracking is a small experiment-tracking API for Go training
// programs, modelled on MLflow's fluent API. Run lifecycle, parameters, tags
// and artifacts go straight to the MLflow tracking store (REST server or
// local file store); metrics go through the OpenTelemetry Go SDK to the
// local collector, which batches, retries and persists them and writes them
// into the run named by the resource attribute mlflow.run.id.
//
// See docs/tracking.md for the configuration, the metric pipeline and what
// is reported when metrics are lost.
package tracking

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// ValueType is the declared type of a metric or parameter.
type ValueType string

const (
	TypeFloat  ValueType = "float"
	TypeInt    ValueType = "int"
	TypeString ValueType = "str"
	TypeBool   ValueType = "bool"
)

// UndeclaredPolicy says what happens to a metric or parameter whose name is
// not declared, when declarations of that kind exist. With no declarations
// of a kind, every name of that kind is accepted.
type UndeclaredPolicy string

const (
	// UndeclaredWarn accepts the value and logs a warning once per name
	// (the default: typos surface without losing data).
	UndeclaredWarn UndeclaredPolicy = "warn"
	// UndeclaredAllow accepts silently, as MLflow does.
	UndeclaredAllow UndeclaredPolicy = "allow"
	// UndeclaredReject fails the call; nothing of it is logged.
	UndeclaredReject UndeclaredPolicy = "reject"
)

// Declaration declares one metric or parameter, as in MLflow users' YAML:
// {name: loss, type: float}.
type Declaration struct {
	Name string    `yaml:"name"`
	Type ValueType `yaml:"type"`
}

// Logging holds the declared metrics and parameters.
type Logging struct {
	Metrics    []Declaration    `yaml:"metrics"`
	Parameters []Declaration    `yaml:"parameters"`
	Undeclared UndeclaredPolicy `yaml:"undeclared"`
}

// OTLP configures the metric pipeline to the local collector.
type OTLP struct {
	// Endpoint is host:port or a base URL (http://localhost:4318; for
	// http/protobuf /v1/metrics is appended when the URL has no path). Empty: the
	// standard OTEL_EXPORTER_OTLP_METRICS_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT
	// variables, else localhost on the protocol's default port. A host:port
	// on a loopback host is reached without TLS.
	Endpoint string `yaml:"endpoint"`
	// Protocol is "grpc" or "http/protobuf"; empty reads
	// OTEL_EXPORTER_OTLP_METRICS_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL,
	// else grpc.
	Protocol string `yaml:"protocol"`
	// Insecure forces plain-text transport for a non-loopback host:port.
	Insecure bool `yaml:"insecure"`
	// ExportInterval is how often buffered points are sent (default 2s).
	ExportInterval time.Duration `yaml:"export_interval"`
	// BufferSize bounds the points held while the collector is slow or
	// down (default 100000). Points beyond it are dropped and counted.
	BufferSize int `yaml:"buffer_size"`
	// FlushTimeout bounds the metric flush of EndRun when the context has
	// no earlier deadline (default 10s).
	FlushTimeout time.Duration `yaml:"flush_timeout"`
	// ConfirmTimeout bounds how long EndRun waits, after a flush, to see
	// the collector act on the run in this tracker's store (default 10s; a
	// negative value skips the check). The collector writes
	// asynchronously, so only this shows that both use the same MLflow
	// backend; when they do not, the collector drops the run's metrics.
	ConfirmTimeout time.Duration `yaml:"confirm_timeout"`
	// ServiceName is the resource's service.name; default the program name.
	ServiceName string `yaml:"service_name"`
}

// Config configures a Tracker. The YAML form is the mlflow: section MLflow
// users already have (see ParseConfig).
type Config struct {
	// TrackingURI selects the store: http(s)://host[:port] for a tracking
	// server (with --serve-artifacts for artifacts), a path or file: URI for
	// the local file store, "databricks" or "databricks://<profile>" for a
	// Databricks workspace (experiment names then absolute paths; artifacts
	// written through the workspace Files API).
	// Empty: MLFLOW_TRACKING_URI, else ./mlruns.
	TrackingURI string `yaml:"tracking_uri"`
	// ExperimentName is created when absent; empty means Default.
	ExperimentName string `yaml:"experiment_name"`
	// RunName names runs started by StartRun; empty lets the store pick one.
	RunName string `yaml:"run_name"`
	// Tags are set on every run this tracker starts.
	Tags    map[string]string `yaml:"tags"`
	Logging Logging           `yaml:"logging"`
	OTLP    OTLP              `yaml:"otlp"`
}

const (
	defaultExportInterval = 2 * time.Second
	defaultBufferSize     = 100_000
	defaultFlushTimeout   = 10 * time.Second
	defaultConfirmTimeout = 10 * time.Second
)

// LoadConfig reads the YAML file at path; see ParseConfig.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("load tracking config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("load tracking config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses a YAML document with an mlflow: section:
//
//	mlflow:
//	  tracking_uri: "http://localhost:5000"
//	  experiment_name: "cv_experiment"
//	  run_name: "run_1"
//	  logging:
//	    metrics: [{name: loss, type: float}]
//	    parameters: [{name: batch_size, type: int}]
//
// Unknown keys inside mlflow: are errors (a typo would otherwise silently
// disable a setting); other top-level sections are ignored. The result is
// validated.
func ParseConfig(data []byte) (Config, error) {
	// Top-level keys other than mlflow: belong to the training program and
	// land in Rest; inside mlflow: unknown keys are errors.
	var doc struct {
		MLflow *Config        `yaml:"mlflow"`
		Rest   map[string]any `yaml:",inline"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return Config{}, fmt.Errorf("parse tracking config: %w", err)
	}
	if doc.MLflow == nil {
		return Config{}, errors.New("parse tracking config: no mlflow: section")
	}
	cfg := *doc.MLflow
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// normalizeType accepts the spellings YAML configs use for each type.
func normalizeType(t ValueType) (ValueType, bool) {
	switch strings.ToLower(strings.TrimSpace(string(t))) {
	case "float", "double", "float32", "float64", "number":
		return TypeFloat, true
	case "int", "integer", "int32", "int64", "long":
		return TypeInt, true
	case "str", "string", "text":
		return TypeString, true
	case "bool", "boolean":
		return TypeBool, true
	}
	return t, false
}

// Validate checks declarations (names valid MLflow keys, known types, no
// duplicates; metrics only float or int), the policy and the OTLP settings.
func (c *Config) Validate() error {
	var errs []error
	if len(c.ExperimentName) > mlflow.MaxExperimentNameLength {
		errs = append(errs, fmt.Errorf("experiment_name: longer than %d characters", mlflow.MaxExperimentNameLength))
	}
	check := func(kind string, decls []Declaration, allowed ...ValueType) {
		seen := map[string]bool{}
		for i, d := range decls {
			if err := mlflow.ValidateKey(d.Name); err != nil {
				errs = append(errs, fmt.Errorf("logging.%s[%d]: %w", kind, i, err))
				continue
			}
			if seen[d.Name] {
				errs = append(errs, fmt.Errorf("logging.%s[%d]: %q declared twice", kind, i, d.Name))
			}
			seen[d.Name] = true
			t, ok := normalizeType(d.Type)
			if !ok || !containsType(allowed, t) {
				errs = append(errs, fmt.Errorf("logging.%s[%d] %q: type %q not one of %v", kind, i, d.Name, d.Type, allowed))
			}
		}
	}
	check("metrics", c.Logging.Metrics, TypeFloat, TypeInt)
	check("parameters", c.Logging.Parameters, TypeFloat, TypeInt, TypeString, TypeBool)
	switch c.Logging.Undeclared {
	case "", UndeclaredWarn, UndeclaredAllow, UndeclaredReject:
	default:
		errs = append(errs, fmt.Errorf("logging.undeclared: %q is not warn, allow or reject", c.Logging.Undeclared))
	}
	for k := range c.Tags {
		if err := mlflow.ValidateKey(k); err != nil {
			errs = append(errs, fmt.Errorf("tags: %w", err))
		}
	}
	switch c.OTLP.Protocol {
	case "", "grpc", "http/protobuf":
	default:
		errs = append(errs, fmt.Errorf("otlp.protocol: %q is not grpc or http/protobuf", c.OTLP.Protocol))
	}
	if c.OTLP.ExportInterval < 0 || c.OTLP.FlushTimeout < 0 || c.OTLP.BufferSize < 0 {
		errs = append(errs, errors.New("otlp: export_interval, flush_timeout and buffer_size must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid tracking config: %w", err)
	}
	return nil
}

func containsType(ts []ValueType, t ValueType) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.Logging.Undeclared == "" {
		out.Logging.Undeclared = UndeclaredWarn
	}
	if out.OTLP.ExportInterval == 0 {
		out.OTLP.ExportInterval = defaultExportInterval
	}
	if out.OTLP.BufferSize == 0 {
		out.OTLP.BufferSize = defaultBufferSize
	}
	if out.OTLP.FlushTimeout == 0 {
		out.OTLP.FlushTimeout = defaultFlushTimeout
	}
	if out.OTLP.ConfirmTimeout == 0 {
		out.OTLP.ConfirmTimeout = defaultConfirmTimeout
	}
	return out
}
