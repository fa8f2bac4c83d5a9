package tracking

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
)

// stepAttribute is the point attribute the collector's exporter reads the
// MLflow step from (docs/mapping.md, metrics.step_attribute).
const stepAttribute = "step"

// maxExportBatch bounds the points of one export so that a backlog after an
// outage goes out in messages well under gRPC's 4 MiB default.
const maxExportBatch = 5000

// maxRetryBackoff caps the wait between exports while the collector fails.
const maxRetryBackoff = 30 * time.Second

// The pipeline hands points to an OTel SDK metric exporter itself instead of
// recording them on SDK instruments: an instrument would stamp every point
// with the collection time (so MLflow timestamps would be flush times), keep
// only the last value per step between collections, and an SDK reader
// drops whatever one failed export held. Here each point keeps its own
// timestamp and step, is exported exactly once per success, and stays
// buffered (up to the bound) while the collector is down.

// runEndMetric is the point that tells the collector a run ended
// (docs/mapping.md, info metrics): it stops attaching host metrics to the
// run at once instead of finding out later.
const runEndMetric = "mlflow.run.end"

// point is one metric value waiting for export.
type point struct {
	sink    *sink
	key     string
	value   float64
	step    int64
	hasStep bool
	time    time.Time
	// status marks a run-end point: not a metric of the user's, so it is
	// not counted as sent.
	status string
}

// sink is one run's share of the pipeline: its resource (which names the
// run) and its counters.
type sink struct {
	res     *resource.Resource
	sent    atomic.Int64 // acknowledged by the collector
	dropped atomic.Int64 // refused because the buffer was full
	pending atomic.Int64 // in the buffer now
	warned  atomic.Bool  // a drop has been logged
	// control counts run-end points among pending: flushes wait for them,
	// reports leave them out (they are not the user's metrics).
	control atomic.Int64
}

type flushReq struct {
	ctx  context.Context
	sink *sink // nil: everything
	done chan error
}

// pipeline buffers points and exports them from one goroutine, so the
// exporter is never called concurrently.
type pipeline struct {
	exp      sdkmetric.Exporter
	scope    instrumentation.Scope
	interval time.Duration
	capacity int
	logger   *slog.Logger

	mu       sync.Mutex
	buf      []point
	closed   bool
	failures int // consecutive failed exports

	wake    chan struct{}
	flushes chan flushReq
	stop    chan struct{}
	done    chan struct{}
}

func newPipeline(exp sdkmetric.Exporter, interval time.Duration, capacity int, logger *slog.Logger) *pipeline {
	p := &pipeline{
		exp:      exp,
		scope:    instrumentation.Scope{Name: "github.com/otelcol-mlflow/otelcol-mlflow/tracking"},
		interval: interval,
		capacity: capacity,
		logger:   logger,
		wake:     make(chan struct{}, 1),
		flushes:  make(chan flushReq),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go p.loop()
	return p
}

// enqueue adds pts without blocking. A call's points are taken whole or not
// at all, so one step's metrics never land half; refused points are counted
// on their sink. It reports whether the points were taken.
func (p *pipeline) enqueue(s *sink, pts []point) bool {
	p.mu.Lock()
	if p.closed || len(p.buf)+len(pts) > p.capacity {
		closed := p.closed
		p.mu.Unlock()
		s.dropped.Add(int64(len(pts)))
		if !closed && s.warned.CompareAndSwap(false, true) {
			p.logger.Warn("metric buffer full (collector slow or down): dropping points; the count is reported at EndRun",
				"buffer_size", p.capacity)
		}
		return false
	}
	p.buf = append(p.buf, pts...)
	// Counted under the lock: the loop must not see (and subtract) the
	// points before they are counted.
	s.pending.Add(int64(len(pts)))
	full := len(p.buf) >= maxExportBatch
	p.mu.Unlock()
	if full {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// enqueueEnd queues the run-end point of s. It is taken even when the
// buffer is full: one point per run, and the collector must learn the end.
func (p *pipeline) enqueueEnd(s *sink, status string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.buf = append(p.buf, point{sink: s, key: runEndMetric, value: 1, time: at, status: status})
	s.pending.Add(1)
	s.control.Add(1)
}

func (p *pipeline) loop() {
	defer close(p.done)
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	var next time.Time // no export before this after failures
	for {
		select {
		case <-p.stop:
			return
		case fr := <-p.flushes:
			fr.done <- p.flush(fr.ctx, fr.sink)
			continue
		case <-tick.C:
		case <-p.wake:
		}
		if time.Now().Before(next) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := p.exportOnce(ctx)
		cancel()
		if err != nil {
			next = time.Now().Add(p.backoff())
		}
	}
}

// backoff doubles from the export interval up to maxRetryBackoff with the
// number of consecutive failures.
func (p *pipeline) backoff() time.Duration {
	p.mu.Lock()
	n := p.failures
	p.mu.Unlock()
	d := p.interval
	for i := 1; i < n && d < maxRetryBackoff; i++ {
		d *= 2
	}
	return min(d, maxRetryBackoff)
}

// flush exports until no point of s (of any sink when s is nil) is
// buffered, retrying failed exports until ctx ends.
func (p *pipeline) flush(ctx context.Context, s *sink) error {
	for {
		if s != nil && s.pending.Load() == 0 || s == nil && p.buffered() == 0 {
			return nil
		}
		err := p.exportOnce(ctx)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return fmt.Errorf("flush metrics: %w (last export error: %v)", ctx.Err(), err)
		}
		t := time.NewTimer(min(p.backoff(), time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("flush metrics: %w (last export error: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

func (p *pipeline) buffered() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.buf)
}

// exportOnce sends the oldest points, one export per run. Points of a run
// whose export failed go back to the head of the buffer in order; only the
// loop goroutine removes points, so the head is unchanged meanwhile.
func (p *pipeline) exportOnce(ctx context.Context) error {
	p.mu.Lock()
	n := min(len(p.buf), maxExportBatch)
	batch := p.buf[:n:n]
	p.mu.Unlock()
	if n == 0 {
		return nil
	}
	var order []*sink
	groups := map[*sink][]point{}
	for _, pt := range batch {
		if _, ok := groups[pt.sink]; !ok {
			order = append(order, pt.sink)
		}
		groups[pt.sink] = append(groups[pt.sink], pt)
	}
	var failed []point
	var errs []error
	for _, s := range order {
		pts := groups[s]
		if err := p.exp.Export(ctx, buildResourceMetrics(s.res, p.scope, pts)); err != nil {
			failed = append(failed, pts...)
			errs = append(errs, err)
			continue
		}
		ctl := int64(controlPoints(pts))
		s.sent.Add(int64(len(pts)) - ctl)
		s.control.Add(-ctl)
		s.pending.Add(-int64(len(pts)))
	}
	err := errors.Join(errs...)
	p.mu.Lock()
	switch len(failed) {
	case n:
		// Nothing went out: the buffer stays as it is.
	case 0:
		// The common case reslices instead of copying the backlog; append
		// reallocates (copying only live points) once the array is used up.
		clear(p.buf[:n])
		p.buf = p.buf[n:]
	default:
		p.buf = append(failed, p.buf[n:]...)
	}
	if err != nil {
		p.failures++
		if p.failures == 1 {
			p.logger.Warn("metric export to the collector failed; points stay buffered and are retried", "error", err)
		}
	} else {
		if p.failures > 0 {
			p.logger.Info("metric export to the collector recovered", "failed_exports", p.failures)
		}
		p.failures = 0
	}
	p.mu.Unlock()
	return err
}

func controlPoints(pts []point) int {
	n := 0
	for i := range pts {
		if pts[i].status != "" {
			n++
		}
	}
	return n
}

// buildResourceMetrics turns points into one gauge per key, each point with
// its own timestamp and, when given, the step attribute.
func buildResourceMetrics(res *resource.Resource, scope instrumentation.Scope, pts []point) *metricdata.ResourceMetrics {
	idx := map[string]int{}
	var ms []metricdata.Metrics
	var gauges []*metricdata.Gauge[float64]
	for _, pt := range pts {
		i, ok := idx[pt.key]
		if !ok {
			i = len(gauges)
			idx[pt.key] = i
			gauges = append(gauges, &metricdata.Gauge[float64]{})
			ms = append(ms, metricdata.Metrics{Name: pt.key})
		}
		dp := metricdata.DataPoint[float64]{Time: pt.time, Value: pt.value}
		switch {
		case pt.status != "":
			dp.Attributes = attribute.NewSet(attribute.String("status", pt.status))
		case pt.hasStep:
			dp.Attributes = attribute.NewSet(attribute.Int64(stepAttribute, pt.step))
		}
		gauges[i].DataPoints = append(gauges[i].DataPoints, dp)
	}
	for i := range ms {
		ms[i].Data = *gauges[i]
	}
	return &metricdata.ResourceMetrics{
		Resource:     res,
		ScopeMetrics: []metricdata.ScopeMetrics{{Scope: scope, Metrics: ms}},
	}
}

// flushSink asks the loop to flush s and waits for it or for ctx.
func (p *pipeline) flushSink(ctx context.Context, s *sink) error {
	fr := flushReq{ctx: ctx, sink: s, done: make(chan error, 1)}
	select {
	case p.flushes <- fr:
	case <-p.done:
		return errors.New("flush metrics: pipeline closed")
	case <-ctx.Done():
		return fmt.Errorf("flush metrics: %w", ctx.Err())
	}
	select {
	case err := <-fr.done:
		return err
	case <-p.done:
		return errors.New("flush metrics: pipeline closed")
	}
}

// shutdown flushes everything for at most flushTimeout (or until ctx
// ends), stops the loop and the exporter, and returns the number of points
// still buffered, which are lost.
func (p *pipeline) shutdown(ctx context.Context, flushTimeout time.Duration) (lost int, err error) {
	fctx, cancel := context.WithTimeout(ctx, flushTimeout)
	ferr := p.flushSink(fctx, nil)
	cancel()
	p.mu.Lock()
	p.closed = true
	lost = len(p.buf)
	for _, pt := range p.buf {
		pt.sink.pending.Add(-1)
		if pt.status != "" {
			pt.sink.control.Add(-1)
			lost--
			continue
		}
		pt.sink.dropped.Add(1)
	}
	p.buf = nil
	p.mu.Unlock()
	close(p.stop)
	<-p.done
	serr := p.exp.Shutdown(ctx)
	if lost == 0 {
		ferr = nil
	}
	return lost, errors.Join(ferr, serr)
}
