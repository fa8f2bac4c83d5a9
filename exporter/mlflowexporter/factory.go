// Package mlflowexporter exports OTLP metrics into MLflow experiments and
// runs: open-source tracking servers and a local MLflow file store.
package mlflowexporter

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/sysmetrics"
	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/translate"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// NewFactory returns the `mlflow` exporter factory.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(metadata.Type, createDefaultConfig,
		exporter.WithMetrics(createMetricsExporter, metadata.MetricsStability))
}

func createDefaultConfig() component.Config {
	client := confighttp.NewDefaultClientConfig()
	client.Timeout = 30 * time.Second

	queue := exporterhelper.NewDefaultQueueConfig()
	// Sized in points, not requests: the run partitions split every OTLP
	// request into one per run, and a backlog is data, not calls. 200k
	// points hold a few minutes of a busy gateway in memory (tens of MB);
	// a persistent queue on disk can hold far more (config/default.yaml).
	queue.Sizer = exporterhelper.RequestSizerTypeItems
	queue.QueueSize = 200_000
	// Batching inside the exporter fills log-batch calls (1000 metrics
	// each); a flush timeout keeps latency to MLflow's UI around a second.
	batch := exporterhelper.NewDefaultBatchConfig()
	batch.FlushTimeout = time.Second
	batch.MinSize = 1000
	batch.MaxSize = 20000
	// One batch per run (partition.go): flushes become full log-batch
	// requests, and coalesce further while the rate budget binds.
	batch.Partition.MetadataKeys = []string{runPartitionKey}
	queue.Batch = configoptional.Some(batch)
	queue.NumConsumers = 4

	retry := configretry.NewDefaultBackOffConfig()
	// Retry until MLflow is back: the queue bounds what is held (when it is
	// full, new data is refused or, with block_on_overflow, waits).
	// exporterhelper's default of 5 minutes would drop every queued point
	// of a longer outage.
	retry.MaxElapsedTime = 0

	return &Config{
		ClientConfig: client,
		ResourceTags: []string{"service.name", "service.version", "service.instance.id", "host.name", "process.pid"},
		Metrics: MetricsConfig{
			StepAttribute:      "step",
			AttributeKeyStyle:  translate.KeyStyleKeyValue,
			HistogramQuantiles: []float64{0.5, 0.9, 0.99},
		},
		RunIdleTimeout:   30 * time.Minute,
		RunIdleEndStatus: EndStatus(mlflow.RunStatusFinished),
		DedupWindow:      4096,
		SystemMetrics: SystemMetricsConfig{
			Mode: sysmetrics.ModeMLflow, NodePrefix: NodePrefixAuto, AttachWindow: 2 * time.Minute, EndCheckInterval: 10 * time.Second,
		},
		QueueConfig: configoptional.Some(queue),
		RetryConfig: retry,
	}
}

func createMetricsExporter(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	c := cfg.(*Config)
	set.Logger = quietRetryLogs(set.Logger) // health.go logs episodes instead
	set.Logger = explainShutdownDrops(set.Logger, c.QueueConfig.HasValue() && c.QueueConfig.Get().StorageID != nil)
	e, err := newExporter(c, set)
	if err != nil {
		return nil, err
	}
	if c.Access.enabled() && c.QueueConfig.HasValue() {
		lanes, err := newTenantLanes(ctx, set, c, e)
		if err != nil {
			return nil, err
		}
		return runPartitioner{partition: partitionedByRun(c), access: &c.Access, tel: e.tel, lanes: lanes}, nil
	}
	exp, err := exporterhelper.NewMetrics(ctx, set, cfg, e.pushMetrics,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		// Each HTTP request has confighttp's timeout; one export may make
		// several (find the run, then one log-batch per 1000 points).
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}),
		exporterhelper.WithRetry(c.RetryConfig),
		exporterhelper.WithQueue(c.QueueConfig),
	)
	if err != nil || !partitionedByRun(c) && !c.Access.enabled() {
		return exp, err
	}
	return runPartitioner{Metrics: exp, partition: partitionedByRun(c), access: &c.Access, tel: e.tel}, nil
}

// partitionedByRun says whether the sending queue batches per run, so that
// requests must carry their run in the client metadata.
func partitionedByRun(c *Config) bool {
	if !c.QueueConfig.HasValue() || !c.QueueConfig.Get().Batch.HasValue() {
		return false
	}
	for _, k := range c.QueueConfig.Get().Batch.Get().Partition.MetadataKeys {
		if strings.EqualFold(k, runPartitionKey) {
			return true
		}
	}
	return false
}
