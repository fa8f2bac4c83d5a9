package mlflowexporter

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/xpdata/pref"
	pdatareq "go.opentelemetry.io/collector/pdata/xpdata/request"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/translate"
)

// encodedBatch is the sending queue's request type. A gateway's queue
// batcher holds one open batch per busy run until flush_timeout, and the
// run spool behind it (under a log-batch budget) keeps the same encodings
// for up to coalesce.max_delay. exporterhelper's own metrics request keeps
// merged exports as pdata, each with its own resource, scope and metric
// structs (~600 bytes per held point, measured); here a request that joins
// a batch is kept as its OTLP protobuf encoding instead (~50 bytes per
// point) and decoded once, when the batch is exported.
//
// Durability is the queue's: the persistent queue stores each request as
// exporterhelper's metrics request does (same encoding, with its client
// metadata, so queues written before this type still load), and releases
// it only when the batch holding it was exported.
type encodedBatch struct {
	// md is the request as it arrived, until it joins a batch.
	md    pmetric.Metrics
	hasMD bool
	// chunks are the encoded requests of a batch, in arrival order.
	chunks []encodedChunk
	items  int // data points, md's and the chunks'
	bytes  int // protobuf size of the chunks (md's is computed on demand)
}

type encodedChunk struct {
	data  []byte
	items int
}

var (
	_ xexporterhelper.Request = (*encodedBatch)(nil)
	_ interface {
		OnError(error) xexporterhelper.Request
	} = (*encodedBatch)(nil)

	metricsMarshaler   = &pmetric.ProtoMarshaler{}
	metricsUnmarshaler = &pmetric.ProtoUnmarshaler{}
)

func newEncodedBatch(md pmetric.Metrics) *encodedBatch {
	return &encodedBatch{md: md, hasMD: true, items: md.DataPointCount()}
}

// toEncodedBatch is the exporter's request converter.
func toEncodedBatch(_ context.Context, md pmetric.Metrics) (xexporterhelper.Request, error) {
	return newEncodedBatch(md), nil
}

func (b *encodedBatch) ItemsCount() int { return b.items }

func (b *encodedBatch) BytesSize() int {
	n := b.bytes
	if b.hasMD {
		n += metricsMarshaler.MetricsSize(b.md)
	}
	return n
}

func (b *encodedBatch) size(szt exporterhelper.RequestSizerType) int {
	if szt == exporterhelper.RequestSizerTypeBytes {
		return b.BytesSize()
	}
	return b.items
}

// encode turns the request's pdata into a chunk.
func (b *encodedBatch) encode() error {
	if !b.hasMD {
		return nil
	}
	data, err := metricsMarshaler.MarshalMetrics(b.md)
	if err != nil {
		return fmt.Errorf("encode a queued request: %w", err)
	}
	b.chunks = append(b.chunks, encodedChunk{data: data, items: b.md.DataPointCount()})
	b.bytes += len(data)
	b.md, b.hasMD = pmetric.Metrics{}, false
	return nil
}

// decode returns the whole batch as pdata, in arrival order.
func (b *encodedBatch) decode() (pmetric.Metrics, error) {
	if len(b.chunks) == 0 && b.hasMD {
		return b.md, nil
	}
	out := pmetric.NewMetrics()
	for _, c := range b.chunks {
		md, err := metricsUnmarshaler.UnmarshalMetrics(c.data)
		if err != nil {
			return pmetric.Metrics{}, fmt.Errorf("decode a queued batch: %w", err)
		}
		md.ResourceMetrics().MoveAndAppendTo(out.ResourceMetrics())
	}
	if b.hasMD {
		b.md.ResourceMetrics().MoveAndAppendTo(out.ResourceMetrics())
	}
	return out, nil
}

// MergeSplit appends r2 to the batch as a chunk, then cuts the batch into
// requests of exactly maxSize (the last may be smaller): a chunk that
// straddles a cut is decoded and split at the point, so coalesced batches
// become full log-batch requests.
func (b *encodedBatch) MergeSplit(_ context.Context, maxSize int, szt exporterhelper.RequestSizerType, r2 xexporterhelper.Request) ([]xexporterhelper.Request, error) {
	if szt != exporterhelper.RequestSizerTypeItems && szt != exporterhelper.RequestSizerTypeBytes {
		return nil, errors.New("unknown sizer type")
	}
	if err := b.encode(); err != nil {
		return nil, err
	}
	if r2 != nil {
		o, ok := r2.(*encodedBatch)
		if !ok {
			return nil, fmt.Errorf("cannot merge %T into a queued batch", r2)
		}
		if err := o.encode(); err != nil {
			return nil, err
		}
		b.chunks = append(b.chunks, o.chunks...)
		b.items += o.items
		b.bytes += o.bytes
		o.chunks, o.items, o.bytes = nil, 0, 0
	}
	if maxSize <= 0 || b.size(szt) <= maxSize {
		return []xexporterhelper.Request{b}, nil
	}
	return b.split(maxSize, szt)
}

func (c encodedChunk) size(szt exporterhelper.RequestSizerType) int {
	if szt == exporterhelper.RequestSizerTypeBytes {
		return len(c.data)
	}
	return c.items
}

func (b *encodedBatch) split(maxSize int, szt exporterhelper.RequestSizerType) ([]xexporterhelper.Request, error) {
	var out []xexporterhelper.Request
	cur := &encodedBatch{}
	add := func(c encodedChunk) {
		cur.chunks = append(cur.chunks, c)
		cur.items += c.items
		cur.bytes += len(c.data)
	}
	pending := b.chunks
	for len(pending) > 0 {
		c := pending[0]
		room := maxSize - cur.size(szt)
		if c.size(szt) <= room {
			add(c)
			pending = pending[1:]
			continue
		}
		head, tail, err := splitChunk(c, room, szt)
		if err != nil {
			return out, err
		}
		if head.items > 0 {
			add(head)
		}
		pending[0] = tail
		if cur.items == 0 {
			return out, fmt.Errorf("one data point is larger than max_size %d", maxSize)
		}
		out = append(out, cur)
		cur = &encodedBatch{}
	}
	if cur.items > 0 {
		out = append(out, cur)
	}
	return out, nil
}

// splitChunk cuts c after as many points as fit in room.
func splitChunk(c encodedChunk, room int, szt exporterhelper.RequestSizerType) (head, tail encodedChunk, err error) {
	md, err := metricsUnmarshaler.UnmarshalMetrics(c.data)
	if err != nil {
		return head, tail, fmt.Errorf("decode a queued request: %w", err)
	}
	n := room
	if szt == exporterhelper.RequestSizerTypeBytes {
		// Points of one export are alike: scale, then shrink until it fits.
		n = room * c.items / max(len(c.data), 1)
	}
	for {
		if n <= 0 {
			return encodedChunk{}, c, nil
		}
		h := pmetric.NewMetrics()
		md.CopyTo(h)
		t := takePoints(h, n)
		hc, err := encodeChunk(h)
		if err != nil {
			return head, tail, err
		}
		if szt == exporterhelper.RequestSizerTypeBytes && len(hc.data) > room {
			n = n * 9 / 10
			continue
		}
		tc, err := encodeChunk(t)
		return hc, tc, err
	}
}

func encodeChunk(md pmetric.Metrics) (encodedChunk, error) {
	data, err := metricsMarshaler.MarshalMetrics(md)
	if err != nil {
		return encodedChunk{}, fmt.Errorf("encode a queued request: %w", err)
	}
	return encodedChunk{data: data, items: md.DataPointCount()}, nil
}

// takePoints keeps the first n data points in md and returns the rest, with
// the resource, scope and metric descriptions they need.
func takePoints(md pmetric.Metrics, n int) pmetric.Metrics {
	rest := pmetric.NewMetrics()
	kept := 0
	md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		if kept >= n {
			rm.MoveTo(rest.ResourceMetrics().AppendEmpty())
			return true
		}
		var restRM pmetric.ResourceMetrics
		rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool {
			if kept >= n {
				if restRM == (pmetric.ResourceMetrics{}) {
					restRM = rest.ResourceMetrics().AppendEmpty()
					rm.Resource().CopyTo(restRM.Resource())
					restRM.SetSchemaUrl(rm.SchemaUrl())
				}
				sm.MoveTo(restRM.ScopeMetrics().AppendEmpty())
				return true
			}
			var restSM pmetric.ScopeMetrics
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
				count := translate.DataPointCount(m)
				if kept+count <= n {
					kept += count
					return false
				}
				if restSM == (pmetric.ScopeMetrics{}) {
					if restRM == (pmetric.ResourceMetrics{}) {
						restRM = rest.ResourceMetrics().AppendEmpty()
						rm.Resource().CopyTo(restRM.Resource())
						restRM.SetSchemaUrl(rm.SchemaUrl())
					}
					restSM = restRM.ScopeMetrics().AppendEmpty()
					sm.Scope().CopyTo(restSM.Scope())
					restSM.SetSchemaUrl(sm.SchemaUrl())
				}
				keep := n - kept
				kept = n
				if keep <= 0 {
					m.MoveTo(restSM.Metrics().AppendEmpty())
					return true
				}
				tail := restSM.Metrics().AppendEmpty()
				splitMetric(m, tail, keep)
				return false
			})
			return sm.Metrics().Len() == 0
		})
		return rm.ScopeMetrics().Len() == 0
	})
	return rest
}

// splitMetric keeps m's first keep points and moves the others into tail,
// which gets m's description.
func splitMetric(m, tail pmetric.Metric, keep int) {
	tail.SetName(m.Name())
	tail.SetDescription(m.Description())
	tail.SetUnit(m.Unit())
	m.Metadata().CopyTo(tail.Metadata())
	i := 0
	after := func() bool { i++; return i > keep }
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		t := tail.SetEmptyGauge()
		m.Gauge().DataPoints().RemoveIf(func(p pmetric.NumberDataPoint) bool {
			if after() {
				p.MoveTo(t.DataPoints().AppendEmpty())
				return true
			}
			return false
		})
	case pmetric.MetricTypeSum:
		t := tail.SetEmptySum()
		t.SetAggregationTemporality(m.Sum().AggregationTemporality())
		t.SetIsMonotonic(m.Sum().IsMonotonic())
		m.Sum().DataPoints().RemoveIf(func(p pmetric.NumberDataPoint) bool {
			if after() {
				p.MoveTo(t.DataPoints().AppendEmpty())
				return true
			}
			return false
		})
	case pmetric.MetricTypeHistogram:
		t := tail.SetEmptyHistogram()
		t.SetAggregationTemporality(m.Histogram().AggregationTemporality())
		m.Histogram().DataPoints().RemoveIf(func(p pmetric.HistogramDataPoint) bool {
			if after() {
				p.MoveTo(t.DataPoints().AppendEmpty())
				return true
			}
			return false
		})
	case pmetric.MetricTypeExponentialHistogram:
		t := tail.SetEmptyExponentialHistogram()
		t.SetAggregationTemporality(m.ExponentialHistogram().AggregationTemporality())
		m.ExponentialHistogram().DataPoints().RemoveIf(func(p pmetric.ExponentialHistogramDataPoint) bool {
			if after() {
				p.MoveTo(t.DataPoints().AppendEmpty())
				return true
			}
			return false
		})
	case pmetric.MetricTypeSummary:
		t := tail.SetEmptySummary()
		m.Summary().DataPoints().RemoveIf(func(p pmetric.SummaryDataPoint) bool {
			if after() {
				p.MoveTo(t.DataPoints().AppendEmpty())
				return true
			}
			return false
		})
	}
}

// OnError keeps only what the export could not write, for the retry
// (pushMetrics returns the failed runs' resources).
func (b *encodedBatch) OnError(err error) xexporterhelper.Request {
	var failed consumererror.Metrics
	if errors.As(err, &failed) {
		return newEncodedBatch(failed.Data())
	}
	return b
}

// pushEncoded is the exporter's request consumer.
func pushEncoded(push func(context.Context, pmetric.Metrics) error) xexporterhelper.RequestConsumeFunc {
	return func(ctx context.Context, r xexporterhelper.Request) error {
		md, err := r.(*encodedBatch).decode()
		if err != nil {
			return consumererror.NewPermanent(err)
		}
		return push(ctx, md)
	}
}

// encodedBatchSettings stores requests in the persistent queue exactly as
// exporterhelper's metrics request does.
func encodedBatchSettings() xexporterhelper.QueueBatchSettings {
	return xexporterhelper.QueueBatchSettings{
		Encoding:         encodedBatchEncoding{},
		ReferenceCounter: encodedBatchRefs{},
	}
}

type encodedBatchEncoding struct{}

func (encodedBatchEncoding) Marshal(ctx context.Context, r xexporterhelper.Request) ([]byte, error) {
	md, err := r.(*encodedBatch).decode()
	if err != nil {
		return nil, err
	}
	return pdatareq.MarshalMetrics(ctx, md)
}

func (encodedBatchEncoding) Unmarshal(data []byte) (context.Context, xexporterhelper.Request, error) {
	ctx, md, err := pdatareq.UnmarshalMetrics(data)
	if errors.Is(err, pdatareq.ErrInvalidFormat) {
		// Written without its context, as older collectors did.
		md, err = metricsUnmarshaler.UnmarshalMetrics(data)
	}
	return ctx, newEncodedBatch(md), err
}

// encodedBatchRefs keeps pdata pooling (a feature gate) from reusing a
// queued request's pdata before it is encoded.
type encodedBatchRefs struct{}

func (encodedBatchRefs) Ref(r xexporterhelper.Request) {
	if b := r.(*encodedBatch); b.hasMD {
		pref.RefMetrics(b.md)
	}
}

func (encodedBatchRefs) Unref(r xexporterhelper.Request) {
	if b := r.(*encodedBatch); b.hasMD {
		pref.UnrefMetrics(b.md)
	}
}
