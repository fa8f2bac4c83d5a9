package mlflowexporter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/runspool"
	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/translate"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// spooledSender is the exporter while a log-batch budget applies: the
// sending queue hands each run's exports to the run spool, which holds the
// run's points until they fill one request or have waited
// coalesce.max_delay, and a sender with retries but no queue of its own
// writes them to MLflow. docs/reliability.md §1.
type spooledSender struct {
	front   exporter.Metrics // the sending queue, into the spool
	back    exporter.Metrics // retries, into MLflow
	spool   *runspool.Spool
	id      component.ID
	storage *component.ID
	client  storage.Client
	logger  *zap.Logger
	// start and stop are the exporter's own, where this sender is the
	// whole exporter (not one tenant lane).
	start component.StartFunc
	stop  component.ShutdownFunc
}

// spoolDrainLimit bounds how long an in-memory spool keeps trying to send
// what it holds at shutdown.
const spoolDrainLimit = 30 * time.Second

func newSpooledSender(ctx context.Context, set exporter.Settings, c *Config, queue configoptional.Optional[exporterhelper.QueueBatchConfig], e *mlflowExporter, delay time.Duration) (*spooledSender, error) {
	s := &spooledSender{id: set.ID, logger: set.Logger}
	backSet := set
	// Its own id keeps exporterhelper's self-metrics apart: exporter="mlflow"
	// counts points handed to the spool, "mlflow_spool" points written.
	backSet.ID = spoolID(set.ID)
	back, err := newSender(ctx, backSet, c, configoptional.None[exporterhelper.QueueBatchConfig](), pushEncoded(e.pushMetrics))
	if err != nil {
		return nil, err
	}
	s.back = back
	q := queue.Get()
	capacity := 1_000_000
	if q.Sizer == exporterhelper.RequestSizerTypeItems {
		capacity = int(q.QueueSize)
	}
	s.storage = q.StorageID
	s.spool = runspool.New(runspool.Settings{
		MaxDelay:  delay,
		BatchSize: mlflow.MaxMetricsPerBatch,
		Capacity:  capacity,
		Workers:   spoolWorkers(q.NumConsumers, logBatchRate(c, os.Getenv)),
		Send:      s.send,
		Split:     splitEncoded,
		Logger:    set.Logger,
		Held:      func(d int64) { e.tel.ExporterMlflowSpoolPoints.Add(context.Background(), d) },
	})
	// The queue hands each export to the spool as it reads it, without
	// batching: a request in a batcher is in flight for the persistent
	// queue, which rewrites its list of requests in flight with every
	// operation. With a backlog in the queue, per-run batches held tens of
	// thousands of requests, each operation cost O(held), and the queue
	// drained slower than 1000 runs filled it. Unbatched, at most
	// num_consumers requests are in flight, and the spool does the
	// coalescing the batcher did.
	unbatched := *q
	unbatched.Batch = configoptional.None[exporterhelper.BatchConfig]()
	s.front, err = newSender(ctx, set, c, configoptional.Some(unbatched), s.append)
	return s, err
}

func spoolID(id component.ID) component.ID {
	if id.Name() == "" {
		return component.NewIDWithName(id.Type(), "spool")
	}
	return component.NewIDWithName(id.Type(), id.Name()+"_spool")
}

// append is the sending queue's consumer: one export of one run becomes
// one record. Protobuf encodings of MetricsData concatenate into one.
func (s *spooledSender) append(ctx context.Context, r xexporterhelper.Request) error {
	b := r.(*encodedBatch)
	if err := b.encode(); err != nil {
		return consumererror.NewPermanent(err)
	}
	if b.items == 0 {
		return nil
	}
	data := b.chunks[0].data
	if len(b.chunks) > 1 {
		var buf bytes.Buffer
		buf.Grow(b.bytes)
		for _, c := range b.chunks {
			buf.Write(c.data)
		}
		data = buf.Bytes()
	}
	key := ""
	if v := client.FromContext(ctx).Metadata.Get(runPartitionKey); len(v) > 0 {
		key = v[0]
	}
	if err := s.spool.Append(ctx, key, data, b.items); err != nil {
		return err
	}
	// A run that ended will not fill its request any more, and its users
	// wait to see it FINISHED: what it holds, the end included, leaves now.
	// The name as it appears in the encoding is enough: a false match (the
	// name inside an attribute value) only sends a run's points early.
	if bytes.Contains(data, runEndName) {
		s.spool.SendNow(key)
	}
	return nil
}

var runEndName = []byte(translate.MetricRunEnd)

// send writes held records through the retrying sender.
func (s *spooledSender) send(ctx context.Context, _ string, data [][]byte) error {
	md, err := metricsUnmarshaler.UnmarshalMetrics(bytes.Join(data, nil))
	if err != nil {
		s.logger.Error("Dropping held points that cannot be decoded", zap.Error(err))
		return err
	}
	return s.back.ConsumeMetrics(ctx, md)
}

// splitEncoded cuts a record's encoding after n points.
func splitEncoded(data []byte, n int) (head, tail []byte, headItems, tailItems int, err error) {
	md, err := metricsUnmarshaler.UnmarshalMetrics(data)
	if err != nil {
		return nil, nil, 0, 0, fmt.Errorf("decode a held record: %w", err)
	}
	h, t, err := splitChunk(encodedChunk{data: data, items: md.DataPointCount()}, n, exporterhelper.RequestSizerTypeItems)
	return h.data, t.data, h.items, t.items, err
}

func (s *spooledSender) Start(ctx context.Context, host component.Host) error {
	if s.start != nil {
		if err := s.start(ctx, host); err != nil {
			return err
		}
	}
	if err := s.back.Start(ctx, host); err != nil {
		return err
	}
	if s.storage != nil {
		c, err := spoolStorage(ctx, host, *s.storage, s.id)
		if err != nil {
			return err
		}
		s.client = c
	}
	if err := s.spool.Start(ctx, s.client); err != nil {
		return fmt.Errorf("start run spool: %w", err)
	}
	return s.front.Start(ctx, host)
}

func spoolStorage(ctx context.Context, host component.Host, storageID, owner component.ID) (storage.Client, error) {
	ext, ok := host.GetExtensions()[storageID]
	if !ok {
		return nil, fmt.Errorf("run spool: storage extension %q not found", storageID)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("run spool: %q is not a storage extension", storageID)
	}
	c, err := se.GetClient(ctx, component.KindExporter, owner, "metrics_spool")
	if err != nil {
		return nil, fmt.Errorf("run spool: storage client: %w", err)
	}
	return c, nil
}

// Shutdown empties the sending queue into the spool first; an in-memory
// spool then tries for a while to send what it holds, a stored one keeps
// it for the next start.
func (s *spooledSender) Shutdown(ctx context.Context) error {
	errs := []error{s.front.Shutdown(ctx)}
	if s.client == nil {
		dctx, cancel := context.WithTimeout(ctx, spoolDrainLimit)
		if err := s.spool.Drain(dctx); err != nil {
			s.logger.Warn("Not every held point could be sent before shutdown", zap.Error(err))
		}
		cancel()
	}
	errs = append(errs, s.spool.Stop(ctx), s.back.Shutdown(ctx))
	if s.client != nil {
		errs = append(errs, s.client.Close(ctx))
	}
	if s.stop != nil {
		errs = append(errs, s.stop(ctx))
	}
	return errors.Join(errs...)
}

func (s *spooledSender) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	return s.front.ConsumeMetrics(ctx, md)
}

func (s *spooledSender) Capabilities() consumer.Capabilities {
	return s.front.Capabilities()
}
