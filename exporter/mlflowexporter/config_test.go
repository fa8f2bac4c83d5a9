package mlflowexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.uber.org/zap"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/sysmetrics"
	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/translate"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

func TestConfigStruct(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(createDefaultConfig()))
}

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, confmap.Validate(cfg)
}

func TestLoadConfig(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		cfg, err := loadConfig(t, "")
		require.NoError(t, err)
		assert.Equal(t, createDefaultConfig(), cfg)
		assert.Equal(t, "step", cfg.Metrics.StepAttribute)
		assert.Equal(t, 30*time.Minute, cfg.RunIdleTimeout)
		assert.True(t, cfg.QueueConfig.HasValue())
		assert.True(t, cfg.QueueConfig.Get().Batch.HasValue(), "batching in the exporter is on by default")
	})
	t.Run("full", func(t *testing.T) {
		// Every field of testdata/config.yaml's mlflow/full, compared as one
		// struct: a field that stops being read, or is read into the wrong
		// place, fails here.
		cfg, err := loadConfig(t, "full")
		require.NoError(t, err)
		want := createDefaultConfig().(*Config)
		want.TrackingURI = "https://mlflow.example.com:5000"
		want.Token = "s3cret-token"
		want.Timeout = 10 * time.Second
		want.Headers = configopaque.MapList{{Name: "X-Team", Value: "vision"}}
		want.ExperimentName = "cv_experiment"
		want.RunName = "run_1"
		want.ResourceTags = []string{"service.name", "k8s.pod.name"}
		want.Metrics = MetricsConfig{
			StepAttribute:      "epoch_step",
			AttributeKeyStyle:  translate.KeyStyleValue,
			IgnoreAttributes:   []string{"rank"},
			HistogramQuantiles: []float64{0.5, 0.95},
			Include:            []string{"train/*", "val_*"},
			Exclude:            []string{"*.debug"},
			Declared:           []translate.DeclaredMetric{{Name: "loss", Type: "float"}, {Name: "batch_size", Type: "int"}},
		}
		want.RunIdleTimeout = 10 * time.Minute
		want.RunIdleEndStatus = EndStatus(mlflow.RunStatusKilled)
		want.EndRunsOnShutdown = true
		want.DedupWindow = 100
		want.SystemMetrics = SystemMetricsConfig{Mode: sysmetrics.ModeOTel, NodePrefix: NodePrefixAlways, LocalHostName: "node-7",
			AttachWindow: 90 * time.Second, EndCheckInterval: 5 * time.Second}
		want.Access = AccessConfig{
			TenantFrom: []string{"auth.subject", "resource.team"},
			Tenants:    map[string][]string{"team-a": {"/Shared/team-a/*"}, "*": {"/Users/{tenant}/*"}},
			Anonymous:  []string{"/Shared/sandbox/*"},
			Weights:    map[string]float64{"team-a": 3, "*": 0.5},
		}
		want.RateLimits = map[string]float64{"log_batch": 40, "search": 5}
		want.RunQuotas = RunQuotasConfig{MetricSteps: 1000, Params: 50, Tags: -1}
		want.Coalesce = CoalesceConfig{MaxDelay: 45 * time.Second}
		q := want.QueueConfig.Get()
		q.NumConsumers = 2
		q.QueueSize = 5000
		storage := component.MustNewID("file_storage")
		q.StorageID = &storage
		q.Batch.Get().FlushTimeout = 10 * time.Second
		want.RetryConfig.InitialInterval = time.Second
		want.RetryConfig.MaxInterval = 20 * time.Second
		want.RetryConfig.MaxElapsedTime = 10 * time.Minute
		assert.Equal(t, want, cfg)
	})
	t.Run("basic auth", func(t *testing.T) {
		cfg, err := loadConfig(t, "basic")
		require.NoError(t, err)
		want := createDefaultConfig().(*Config)
		want.TrackingURI = "http://localhost:5000"
		want.Username, want.Password = "alice", "pw"
		assert.Equal(t, want, cfg)
	})
	t.Run("end status in any case", func(t *testing.T) {
		cfg, err := loadConfig(t, "lower_status")
		require.NoError(t, err)
		assert.Equal(t, mlflow.RunStatusFailed, cfg.RunIdleEndStatus.Status())
	})
	t.Run("databricks", func(t *testing.T) {
		cfg, err := loadConfig(t, "databricks_full")
		require.NoError(t, err)
		assert.Equal(t, DatabricksConfig{
			Host: "https://adb-1.2.azuredatabricks.net", ClientID: "sp-id", ClientSecret: "sp-s3cret",
			Profile: "ml", ConfigFile: "/etc/otelcol/databrickscfg", AuthType: "oauth-m2m", ExperimentBase: "/Shared/otel",
		}, cfg.Databricks)
		assert.Equal(t, map[string]float64{"log_batch": 20, "other": 0}, cfg.RateLimits)
		assert.Equal(t, RunQuotasConfig{MetricSteps: 500000, Params: -1}, cfg.RunQuotas)
		out, err := cfg.Databricks.ClientSecret.MarshalText()
		require.NoError(t, err)
		assert.NotContains(t, string(out), "s3cret")
	})
	t.Run("secrets are opaque", func(t *testing.T) {
		cfg, err := loadConfig(t, "full")
		require.NoError(t, err)
		out, err := cfg.Token.MarshalText()
		require.NoError(t, err)
		assert.NotContains(t, string(out), "s3cret")
	})
	for _, tc := range []struct{ name, wantErr string }{
		{"file", ""},
		{"basic", ""},
		{"bad_style", "attribute_key_style"},
		{"bad_status", "run_idle_end_status"},
		{"bad_mode", `'system_metrics.mode' "verbose": want mlflow, otel or off`},
		{"bad_node_prefix", `'system_metrics.node_prefix' "sometimes": want auto, always or never`},
		{"bad_attach_window", "system_metrics.attach_window"},
		{"bad_coalesce", "coalesce.max_delay must not be negative"},
		{"coalesce_past_idle", "coalesce.max_delay 1m30s must be shorter than run_idle_timeout 1m0s"},
		{"coalesce_past_attach", "coalesce.max_delay 1m0s must be shorter than system_metrics.attach_window 30s"},
		{"bad_access", `access.tenant_from "header.x"`},
		{"bad_weight", `access.weights["a"]: 0 is not a positive number`},
		{"databricks", ""}, // supported since the Databricks backend landed
		{"databricks_relative", "not an absolute workspace path"},
		{"databricks_profile_conflict", "contradicts"},
		{"databricks_secret_scope", "secret form is not supported"},
		{"databricks_mlflow_token", "on Databricks use databricks.token"},
		{"databricks_auth_type", "databricks.auth_type"},
		{"databricks_bad_base", "experiment_base"},
		{"databricks_on_oss", "databricks settings apply only"},
		{"bad_rate_limits", `group "logbatch"`},
		{"endpoint", "endpoint is not used"},
		{"half_basic", "username and password"},
		{"bad_type", "unknown type"},
		{"bad_quantile", "histogram_quantiles"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(t, tc.name)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestResolveTrackingURI(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		configured string
		env        map[string]string
		want       string
	}{
		{"http://a:5000", map[string]string{"MLFLOW_TRACKING_URI": "http://b"}, "http://a:5000"},
		{"", map[string]string{"MLFLOW_TRACKING_URI": "http://b"}, "http://b"},
		{"", nil, "file:./mlruns"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, resolveTrackingURI(tc.configured, env(tc.env)))
	}
}

// validate refuses what start would refuse: a server address without its
// scheme is a URI with scheme "localhost" to MLflow too.
func TestValidateTrackingURILikeStart(t *testing.T) {
	tests := []struct {
		uri     string
		wantErr string
	}{
		{"http://localhost:5000", ""},
		{"https://mlflow.example.com", ""},
		{"databricks", ""},
		{"databricks://prod", ""},
		{"file:./mlruns", ""},
		{"./mlruns", ""},
		{"/var/mlruns", ""},
		{"mlruns", ""},
		{"localhost:5000", `unsupported scheme "localhost", want http, https, databricks, file or a path (a server needs its scheme: http://localhost:5000)`},
		{"ftp://x", `unsupported scheme "ftp"`},
		{"s3://bucket/x", `unsupported scheme "s3"`},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.TrackingURI = tt.uri
			err := cfg.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			_, _, startErr := openBackend(t.Context(), cfg, nil, componenttest.NewNopTelemetrySettings(), nopTelemetry(t), func(string) string { return "" })
			require.Error(t, startErr, "start refuses it as well")
		})
	}
}

// A config that tunes sending_queue.batch (as config/default.yaml does)
// keeps the per-run partitioning it did not mention.
func TestBatchOverrideKeepsRunPartitions(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("..", "..", "config", "default.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub("exporters")
	require.NoError(t, err)
	sub, err = sub.Sub("mlflow")
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	b := cfg.QueueConfig.Get().Batch.Get()
	assert.Equal(t, time.Second, b.FlushTimeout, "the shipped config's own batch settings apply")
	assert.Equal(t, []string{runPartitionKey}, b.Partition.MetadataKeys)
	assert.True(t, partitionedByRun(cfg))
}

// The run spool sends with enough concurrent requests to spend the
// log-batch budget at 250 ms a request, never fewer than num_consumers,
// never more than 32.
func TestSpoolWorkers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		uri      string
		limits   map[string]float64
		rate     float64
		consumer int
		want     int
	}{
		{name: "databricks: 47/s", uri: "databricks", consumer: 4, rate: 47, want: 12},
		{name: "a small rate_limits budget keeps num_consumers", uri: "http://mlflow:5000", limits: map[string]float64{"log_batch": 5}, consumer: 4, rate: 5, want: 4},
		{name: "more consumers configured", uri: "databricks", consumer: 20, rate: 47, want: 20},
		{name: "a high budget is capped", uri: "http://mlflow:5000", limits: map[string]float64{"log_batch": 1000}, consumer: 4, rate: 1000, want: 32},
		{name: "no budget", uri: "http://mlflow:5000", consumer: 4, rate: 0, want: 4},
		{name: "databricks with the limit lifted", uri: "databricks", limits: map[string]float64{"log_batch": 0}, consumer: 4, rate: 0, want: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.TrackingURI, cfg.RateLimits = tc.uri, tc.limits
			rate := logBatchRate(cfg, noEnv)
			assert.InDelta(t, tc.rate, rate, 0.001)
			assert.Equal(t, tc.want, spoolWorkers(tc.consumer, rate))
		})
	}
}

// Under a log-batch budget each run's partition waits to fill a request;
// without one, sending_queue.batch decides alone.
func TestHoldDelay(t *testing.T) {
	noPartition := func(c *Config) { c.QueueConfig.Get().Batch.Get().Partition.MetadataKeys = nil }
	for _, tc := range []struct {
		name      string
		uri, env  string
		limits    map[string]float64
		maxDelay  time.Duration
		mutate    func(*Config)
		coalesced bool
		wantDelay time.Duration // the flush timeout used; maxDelay when 0
	}{
		{name: "open-source server", uri: "http://mlflow:5000", maxDelay: time.Minute},
		{name: "databricks", uri: "databricks", maxDelay: time.Minute, coalesced: true},
		{name: "databricks profile from the environment", env: "databricks://ml", maxDelay: time.Minute, coalesced: true},
		{name: "databricks with the log-batch limit lifted", uri: "databricks", limits: map[string]float64{"log_batch": 0}, maxDelay: time.Minute},
		{name: "rate_limits on an open-source server", uri: "http://mlflow:5000", limits: map[string]float64{"log_batch": 5}, maxDelay: 30 * time.Second, coalesced: true},
		{name: "only a search limit", uri: "http://mlflow:5000", limits: map[string]float64{"search": 5}, maxDelay: time.Minute},
		{name: "max_delay 0", uri: "databricks", maxDelay: 0},
		{name: "batches not partitioned by run", uri: "databricks", maxDelay: time.Minute, mutate: noPartition},
		{name: "clamped under attach_window (databricks from the environment)", env: "databricks", maxDelay: time.Minute, coalesced: true,
			mutate: func(c *Config) { c.SystemMetrics.AttachWindow = 40 * time.Second }, wantDelay: 20 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.TrackingURI, cfg.RateLimits, cfg.Coalesce.MaxDelay = tc.uri, tc.limits, tc.maxDelay
			if tc.mutate != nil {
				tc.mutate(cfg)
			}
			before := *cfg.QueueConfig.Get().Batch.Get()
			getenv := func(k string) string {
				if k == "MLFLOW_TRACKING_URI" {
					return tc.env
				}
				return ""
			}
			delay, hold := holdDelay(cfg, getenv, zap.NewNop())
			assert.Equal(t, before, *cfg.QueueConfig.Get().Batch.Get(), "the user's config is not changed")
			require.Equal(t, tc.coalesced, hold)
			if !tc.coalesced {
				return
			}
			want := tc.maxDelay
			if tc.wantDelay != 0 {
				want = tc.wantDelay
			}
			assert.Equal(t, want, delay)
		})
	}
}
