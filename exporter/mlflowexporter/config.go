package mlflowexporter

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/sysmetrics"
	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/translate"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/databricks"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/enum"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/filestore"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/restclient"
)

// Config is the `mlflow` exporter's configuration. docs/mapping.md explains
// what each mapping setting does.
type Config struct {
	// HTTP client settings for REST tracking servers: timeout, tls,
	// headers, compression, proxy, keepalive. `endpoint` is not used:
	// the server is named by tracking_uri.
	confighttp.ClientConfig `mapstructure:",squash"`

	// TrackingURI selects the backend as MLflow does: http(s)://host[:port]
	// for a tracking server; file:./mlruns, file:///abs or a plain path for a
	// local store. Empty: MLFLOW_TRACKING_URI, else ./mlruns (MLflow's default).
	TrackingURI string `mapstructure:"tracking_uri"`
	// Token is a bearer token; empty: MLFLOW_TRACKING_TOKEN.
	Token configopaque.String `mapstructure:"token"`
	// Username and Password are basic-auth credentials; empty:
	// MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD.
	Username string              `mapstructure:"username"`
	Password configopaque.String `mapstructure:"password"`

	// ExperimentName is used when a resource names no experiment.
	ExperimentName string `mapstructure:"experiment_name"`
	// RunName is used when a resource has no mlflow.run.name (before service.name).
	RunName string `mapstructure:"run_name"`
	// ResourceTags lists resource attributes copied onto runs as tags.
	ResourceTags []string `mapstructure:"resource_tags"`

	Metrics MetricsConfig `mapstructure:"metrics"`

	// RunIdleTimeout ends a run after this long without data; 0 disables.
	RunIdleTimeout time.Duration `mapstructure:"run_idle_timeout"`
	// RunIdleEndStatus is the status idle runs end with.
	RunIdleEndStatus EndStatus `mapstructure:"run_idle_end_status"`
	// EndRunsOnShutdown ends open runs (FINISHED) when the collector stops.
	EndRunsOnShutdown bool `mapstructure:"end_runs_on_shutdown"`
	// DedupWindow is how many steps per metric key are remembered to skip
	// points that SDKs re-export.
	DedupWindow int `mapstructure:"dedup_window"`

	// SystemMetrics attaches host and GPU telemetry to runs (docs/mapping.md §9).
	SystemMetrics SystemMetricsConfig `mapstructure:"system_metrics"`

	// Access restricts what each sender (tenant) may write; docs/deploy.md.
	Access AccessConfig `mapstructure:"access"`

	// Databricks configures databricks tracking URIs; docs/databricks.md.
	Databricks DatabricksConfig `mapstructure:"databricks"`
	// RateLimits caps requests per second per endpoint group (log_batch,
	// search, experiments, other) on the client side, shared by every
	// exporter of the process that writes to the same server. Databricks
	// URIs start from the workspace's published limits (set a group to 0
	// to lift it); other servers are unlimited unless set.
	RateLimits map[string]float64 `mapstructure:"rate_limits"`
	// RunQuotas bounds what one run receives, degrading predictably before
	// a server quota would refuse it.
	RunQuotas RunQuotasConfig `mapstructure:"run_quotas"`
	// Coalesce fills log-batch requests while a request budget applies.
	Coalesce CoalesceConfig `mapstructure:"coalesce"`

	QueueConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	RetryConfig configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`
}

// DatabricksConfig holds explicit workspace settings. Empty fields are
// resolved as the Databricks CLI does: DATABRICKS_* environment variables,
// then the profile (databricks.profile, the tracking URI's
// databricks://<profile>, DATABRICKS_CONFIG_PROFILE, else DEFAULT) of
// ~/.databrickscfg.
type DatabricksConfig struct {
	Host         string              `mapstructure:"host"`
	Token        configopaque.String `mapstructure:"token"`
	ClientID     string              `mapstructure:"client_id"`
	ClientSecret configopaque.String `mapstructure:"client_secret"`
	Profile      string              `mapstructure:"profile"`
	ConfigFile   string              `mapstructure:"config_file"`
	// AuthType is pat or oauth-m2m; needed only when both kinds of
	// credentials resolve.
	AuthType string `mapstructure:"auth_type"`
	// ExperimentBase is the workspace folder relative experiment names are
	// placed in ("/Shared/otel"); without it they are refused.
	ExperimentBase string `mapstructure:"experiment_base"`
}

func (d DatabricksConfig) isSet() bool {
	return d != DatabricksConfig{}
}

// RunQuotasConfig bounds a run's metric steps (all values logged), params
// and tags. 0 takes the backend's quota (Databricks: 1,000,000, 1600,
// 1600; none elsewhere); a negative value means unlimited.
type RunQuotasConfig struct {
	MetricSteps int64 `mapstructure:"metric_steps"`
	Params      int64 `mapstructure:"params"`
	Tags        int64 `mapstructure:"tags"`
}

// CoalesceConfig shapes requests while a client-side log-batch budget
// applies (Databricks' published limits, or rate_limits.log_batch): a
// budget shared by a whole workspace is spent on full requests, not on one
// small request per run per flush. docs/reliability.md §1.
type CoalesceConfig struct {
	// MaxDelay is the longest a run's points wait in the run spool for a
	// full log-batch request (1000 metrics). 0 leaves batching to
	// sending_queue.batch alone. Without a budget it does
	// nothing: requests then cost the server little and latency wins.
	MaxDelay time.Duration `mapstructure:"max_delay"`
}

// MetricsConfig shapes metric keys and steps, and selects metrics.
type MetricsConfig struct {
	StepAttribute      string                     `mapstructure:"step_attribute"`
	AttributeKeyStyle  translate.KeyStyle         `mapstructure:"attribute_key_style"`
	IgnoreAttributes   []string                   `mapstructure:"ignore_attributes"`
	HistogramQuantiles []float64                  `mapstructure:"histogram_quantiles"`
	Include            []string                   `mapstructure:"include"`
	Exclude            []string                   `mapstructure:"exclude"`
	Declared           []translate.DeclaredMetric `mapstructure:"declared"`
}

// EndStatus is a terminal run status (FINISHED, FAILED or KILLED), written
// in any case in the config.
type EndStatus mlflow.RunStatus

// UnmarshalText refuses a status a run cannot end with when the config is read.
func (s *EndStatus) UnmarshalText(text []byte) error {
	v := EndStatus(strings.ToUpper(string(text)))
	if !v.Status().Terminal() {
		return fmt.Errorf("%q: want FINISHED, FAILED or KILLED", text)
	}
	*s = v
	return nil
}

// Status is the status as the MLflow API spells it.
func (s EndStatus) Status() mlflow.RunStatus { return mlflow.RunStatus(strings.ToUpper(string(s))) }

// SystemMetricsConfig says how host and GPU telemetry (resources that name
// no run but carry host.name, such as the gpu receiver's) is attached to runs.
type SystemMetricsConfig struct {
	// Mode: "mlflow" writes MLflow's system metric keys and units (its UI
	// charts them), "otel" the OTel names under system/, "off" drops them.
	Mode sysmetrics.Mode `mapstructure:"mode"`
	// NodePrefix: "auto" writes system/<host>/... once a run has telemetry
	// from more than one host (multi-node training), "always", or "never".
	NodePrefix NodePrefix `mapstructure:"node_prefix"`
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

// NodePrefix says when system metric keys carry the host name.
type NodePrefix string

const (
	// NodePrefixAuto prefixes once a run has telemetry from more than one host.
	NodePrefixAuto NodePrefix = "auto"
	// NodePrefixAlways always writes system/<host>/...
	NodePrefixAlways NodePrefix = "always"
	// NodePrefixNever never does (hosts' series share keys).
	NodePrefixNever NodePrefix = "never"
)

var nodePrefixes = []NodePrefix{NodePrefixAuto, NodePrefixAlways, NodePrefixNever}

// Valid reports a known setting.
func (p NodePrefix) Valid() bool { return slices.Contains(nodePrefixes, p) }

// UnmarshalText refuses an unknown setting when the config is read.
func (p *NodePrefix) UnmarshalText(text []byte) (err error) {
	*p, err = enum.Parse(text, nodePrefixes...)
	return err
}

func (c *SystemMetricsConfig) validate() error {
	if c.AttachWindow <= 0 {
		return fmt.Errorf("system_metrics.attach_window %s: must be positive", c.AttachWindow)
	}
	if c.EndCheckInterval < 0 {
		return fmt.Errorf("system_metrics.end_check_interval %s: must not be negative", c.EndCheckInterval)
	}
	if !c.Mode.Valid() {
		return fmt.Errorf("system_metrics.mode %q: want mlflow, otel or off", c.Mode)
	}
	if !c.NodePrefix.Valid() {
		return fmt.Errorf("system_metrics.node_prefix %q: want auto, always or never", c.NodePrefix)
	}
	return nil
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration without touching the environment or
// the network; the tracking URI is resolved at start.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.Endpoint != "" {
		errs = append(errs, errors.New("endpoint is not used by the mlflow exporter: set tracking_uri"))
	}
	if u := cfg.TrackingURI; u != "" {
		if err := validateTrackingURI(u); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, cfg.validateDatabricks()...)
	if err := restclient.RateLimits(cfg.RateLimits).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("rate_limits: %w", err))
	}
	if (cfg.Username == "") != (cfg.Password == "") {
		errs = append(errs, errors.New("username and password must be set together"))
	}
	if cfg.Token != "" && cfg.Username != "" {
		errs = append(errs, errors.New("set either token or username/password, not both"))
	}
	if n := len(cfg.ExperimentName); n > mlflow.MaxExperimentNameLength {
		errs = append(errs, fmt.Errorf("experiment_name is %d characters, MLflow allows %d", n, mlflow.MaxExperimentNameLength))
	}
	if !cfg.Metrics.AttributeKeyStyle.Valid() {
		errs = append(errs, fmt.Errorf("metrics.attribute_key_style %q: want key_value, value or ignore", cfg.Metrics.AttributeKeyStyle))
	}
	for _, q := range cfg.Metrics.HistogramQuantiles {
		if q <= 0 || q >= 1 {
			errs = append(errs, fmt.Errorf("metrics.histogram_quantiles: %v is not in (0, 1)", q))
		}
	}
	if _, err := translate.NewFilter(cfg.Metrics.Include, cfg.Metrics.Exclude, cfg.Metrics.Declared); err != nil {
		errs = append(errs, fmt.Errorf("metrics: %w", err))
	}
	if cfg.RunIdleTimeout < 0 {
		errs = append(errs, errors.New("run_idle_timeout must not be negative"))
	}
	if cfg.Coalesce.MaxDelay < 0 {
		errs = append(errs, errors.New("coalesce.max_delay must not be negative"))
	}
	// Held points reach their run late: the run must not look idle or
	// gone from its host meanwhile. Checked where the config itself sets a
	// budget (with MLFLOW_TRACKING_URI=databricks it is clamped at start).
	if d := cfg.Coalesce.MaxDelay; d > 0 && logBatchBudget(cfg, noEnv) {
		if cfg.RunIdleTimeout > 0 && d >= cfg.RunIdleTimeout {
			errs = append(errs, fmt.Errorf("coalesce.max_delay %s must be shorter than run_idle_timeout %s", d, cfg.RunIdleTimeout))
		}
		if cfg.SystemMetrics.AttachWindow > 0 && d >= cfg.SystemMetrics.AttachWindow {
			errs = append(errs, fmt.Errorf("coalesce.max_delay %s must be shorter than system_metrics.attach_window %s", d, cfg.SystemMetrics.AttachWindow))
		}
	}
	if !cfg.RunIdleEndStatus.Status().Terminal() {
		errs = append(errs, fmt.Errorf("run_idle_end_status %q: want FINISHED, FAILED or KILLED", cfg.RunIdleEndStatus))
	}
	if cfg.TrackingURI != "" {
		// The check start makes: `otelcol validate` must refuse what start would.
		if err := validateTrackingURI(cfg.TrackingURI); err != nil {
			errs = append(errs, err)
		}
	}
	if cfg.DedupWindow < 0 {
		errs = append(errs, errors.New("dedup_window must not be negative"))
	}
	if err := cfg.SystemMetrics.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.Access.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func validateTrackingURI(u string) error {
	switch {
	case strings.HasPrefix(u, "http://"), strings.HasPrefix(u, "https://"):
		return nil
	case databricks.IsURI(u):
		_, _, err := databricks.ProfileFromURI(u)
		return err
	case filestore.IsFileURI(u):
		return nil
	}
	// What MLflow would take for a scheme: "localhost:5000" is scheme
	// "localhost" to it too, and no store serves that.
	scheme, _, _ := strings.Cut(u, ":")
	hint := ""
	if !strings.Contains(u, "://") {
		hint = fmt.Sprintf(" (a server needs its scheme: http://%s)", mlflow.RedactURI(u))
	}
	return fmt.Errorf("tracking_uri %q: unsupported scheme %q, want http, https, databricks, file or a path%s", mlflow.RedactURI(u), scheme, hint)
}

// validateDatabricks checks the databricks section against the tracking
// URI. With tracking_uri empty the URI may still come from
// MLFLOW_TRACKING_URI, so only contradictions are reported then.
func (cfg *Config) validateDatabricks() []error {
	var errs []error
	d := cfg.Databricks
	isDBX := databricks.IsURI(cfg.TrackingURI)
	if cfg.TrackingURI != "" && !isDBX && d.isSet() {
		errs = append(errs, fmt.Errorf("databricks settings apply only to tracking_uri databricks or databricks://<profile>, not %q", mlflow.RedactURI(cfg.TrackingURI)))
	}
	if isDBX {
		if uriProfile, _, err := databricks.ProfileFromURI(cfg.TrackingURI); err == nil && uriProfile != "" && d.Profile != "" && uriProfile != d.Profile {
			errs = append(errs, fmt.Errorf("databricks.profile %q contradicts tracking_uri profile %q", d.Profile, uriProfile))
		}
		if cfg.Token != "" || cfg.Username != "" {
			errs = append(errs, errors.New("token, username and password are for MLflow tracking servers: on Databricks use databricks.token or databricks.client_id/client_secret"))
		}
		if cfg.ExperimentName != "" {
			if _, err := databricks.ExperimentPath(cfg.ExperimentName, d.ExperimentBase); err != nil {
				errs = append(errs, fmt.Errorf("experiment_name: %w", err))
			}
		}
	}
	switch d.AuthType {
	case "", databricks.AuthPAT, databricks.AuthOAuthM2M:
	default:
		errs = append(errs, fmt.Errorf("databricks.auth_type %q: want %s or %s", d.AuthType, databricks.AuthPAT, databricks.AuthOAuthM2M))
	}
	if b := d.ExperimentBase; b != "" {
		// A base is sound when a name placed in it is.
		if _, err := databricks.ExperimentPath("x", b); err != nil || !strings.HasPrefix(b, "/") {
			errs = append(errs, fmt.Errorf("databricks.experiment_base %q: want an absolute workspace folder such as /Shared/otel", b))
		}
	}
	return errs
}
