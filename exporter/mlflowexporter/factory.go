// Package mlflowexporter exports OTLP metrics into MLflow experiments and
// runs: open-source tracking servers and a local MLflow file store.
package mlflowexporter

import (
	"context"
	"math"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.uber.org/zap"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/sysmetrics"
	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/translate"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/databricks"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/restclient"
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
		// Long enough that a run logging 1000 points a minute fills its
		// requests (<= 1.2 requests per 1000 points), short next to
		// attach_window and run_idle_timeout.
		Coalesce:    CoalesceConfig{MaxDelay: 60 * time.Second},
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
	delay, hold := holdDelay(c, os.Getenv, set.Logger)
	queue := c.QueueConfig
	pipeline := func(set exporter.Settings, queue configoptional.Optional[exporterhelper.QueueBatchConfig]) (exporter.Metrics, error) {
		if hold {
			return newSpooledSender(ctx, set, c, queue, e, delay)
		}
		return newSender(ctx, set, c, queue, pushEncoded(e.pushMetrics))
	}
	if c.Access.enabled() && queue.HasValue() {
		lanes, err := newTenantLanes(set, c, queue, e, pipeline)
		if err != nil {
			return nil, err
		}
		return runPartitioner{partition: partitionedByRun(c), access: &c.Access, tel: e.tel, lanes: lanes}, nil
	}
	var exp exporter.Metrics
	if hold {
		s, err := newSpooledSender(ctx, set, c, queue, e, delay)
		if err != nil {
			return nil, err
		}
		s.start, s.stop = e.start, e.shutdown
		exp = s
	} else {
		exp, err = newSender(ctx, set, c, queue, pushEncoded(e.pushMetrics),
			exporterhelper.WithStart(e.start),
			exporterhelper.WithShutdown(e.shutdown))
		if err != nil {
			return nil, err
		}
	}
	if !partitionedByRun(c) && !c.Access.enabled() {
		return exp, nil
	}
	return runPartitioner{Metrics: exp, partition: partitionedByRun(c), access: &c.Access, tel: e.tel}, nil
}

// newSender is exporterhelper's sender (sending queue, batcher, retries)
// around the export, with encodedBatch as its request type.
func newSender(ctx context.Context, set exporter.Settings, c *Config, queue configoptional.Optional[exporterhelper.QueueBatchConfig], consume xexporterhelper.RequestConsumeFunc, opts ...exporterhelper.Option) (exporter.Metrics, error) {
	return xexporterhelper.NewMetricsRequest(ctx, set, toEncodedBatch, consume, append([]exporterhelper.Option{
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		// Each HTTP request has confighttp's timeout; one export may make
		// several (find the run, then one log-batch per 1000 points).
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}),
		exporterhelper.WithRetry(c.RetryConfig),
		xexporterhelper.WithQueueBatch(queue, encodedBatchSettings()),
	}, opts...)...)
}

// holdDelay says whether each run's points are held for full requests and
// for how long at most: while a log-batch budget applies, a run's points
// wait in the run spool (spooled.go) until they fill one request or
// coalesce.max_delay passes, so that requests scale with data, not with
// runs. docs/reliability.md §1.
func holdDelay(c *Config, getenv func(string) string, logger *zap.Logger) (time.Duration, bool) {
	if c.Coalesce.MaxDelay <= 0 || !partitionedByRun(c) || !logBatchBudget(c, getenv) {
		return 0, false
	}
	delay := c.Coalesce.MaxDelay
	if limit := min(c.SystemMetrics.AttachWindow, idleOrMax(c.RunIdleTimeout)) / 2; delay >= 2*limit && limit > 0 {
		logger.Warn("coalesce.max_delay is not shorter than system_metrics.attach_window or run_idle_timeout: held points would reach runs that look gone; holding half as long instead",
			zap.Duration("max_delay", delay), zap.Duration("used", limit))
		delay = limit
	}
	logger.Info("A log-batch request budget applies: each run's points are held until they fill a request, at most coalesce.max_delay",
		zap.Duration("max_delay", delay))
	return delay, true
}

// idleOrMax is run_idle_timeout, where 0 (never idle) is no bound.
func idleOrMax(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Duration(math.MaxInt64)
	}
	return d
}

func noEnv(string) string { return "" }

// logBatchBudget says whether a client-side log-batch rate limit applies:
// Databricks' published one unless rate_limits lifts it, or rate_limits.
func logBatchBudget(c *Config, getenv func(string) string) bool {
	return logBatchRate(c, getenv) > 0
}

// logBatchRate is the client-side log-batch limit in requests per second,
// 0 for none.
func logBatchRate(c *Config, getenv func(string) string) float64 {
	if v, ok := c.RateLimits[restclient.GroupLogBatch]; ok {
		return max(v, 0)
	}
	if databricks.IsURI(resolveTrackingURI(c.TrackingURI, getenv)) {
		return databricks.DefaultRateLimits()[restclient.GroupLogBatch]
	}
	return 0
}

// spoolSendLatency is the log-batch round trip the run spool's senders are
// sized for: num_consumers (4) senders at 250 ms each would spend a third
// of Databricks' 47 requests/s, and a backlog would drain at that third.
const spoolSendLatency = 250 * time.Millisecond

// maxSpoolWorkers bounds the senders a high budget asks for; the limiter
// makes extra ones wait, they cost a goroutine and a connection each.
const maxSpoolWorkers = 32

// spoolWorkers is how many of a run spool's requests may be in flight: as
// many as spend the budget at spoolSendLatency, never fewer than
// num_consumers.
func spoolWorkers(numConsumers int, rate float64) int {
	return max(numConsumers, min(maxSpoolWorkers, int(math.Ceil(rate*spoolSendLatency.Seconds()))))
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
