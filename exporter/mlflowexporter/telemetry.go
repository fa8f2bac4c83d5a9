package mlflowexporter

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// telemetry holds the exporter's self-metrics. The collector adds the
// exporter's id; exporterhelper already counts sent/failed OTLP points and
// queue size.
type telemetry struct {
	requests      metric.Int64Counter
	duration      metric.Float64Histogram
	pointsWritten metric.Int64Counter
	dropped       metric.Int64Counter
	duplicates    metric.Int64Counter
	runsCreated   metric.Int64Counter
	// tenantPoints counts, with access control, each tenant's points by
	// outcome: accepted (into the queue), written, refused.
	tenantPoints metric.Int64Counter
}

func newTelemetry(mp metric.MeterProvider) (*telemetry, error) {
	m := mp.Meter(metadata.ScopeName)
	var t telemetry
	var errs [7]error
	t.requests, errs[0] = m.Int64Counter("otelcol_exporter_mlflow_requests",
		metric.WithDescription("MLflow API calls by RPC and outcome (ok, an MLflow error code, HTTP_<status>, or network)."),
		metric.WithUnit("{request}"))
	t.duration, errs[1] = m.Float64Histogram("otelcol_exporter_mlflow_request_duration",
		metric.WithDescription("Latency of MLflow API calls."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
	t.pointsWritten, errs[2] = m.Int64Counter("otelcol_exporter_mlflow_metric_points_written",
		metric.WithDescription("MLflow metric points written."), metric.WithUnit("{point}"))
	t.dropped, errs[3] = m.Int64Counter("otelcol_exporter_mlflow_dropped",
		metric.WithDescription("Points, params and tags not written, by reason (see docs/mapping.md)."), metric.WithUnit("{item}"))
	t.duplicates, errs[4] = m.Int64Counter("otelcol_exporter_mlflow_duplicate_points",
		metric.WithDescription("Points skipped because the run already holds them (SDK re-exports, retries)."), metric.WithUnit("{point}"))
	t.runsCreated, errs[5] = m.Int64Counter("otelcol_exporter_mlflow_runs_created",
		metric.WithDescription("MLflow runs created by this exporter."), metric.WithUnit("{run}"))
	t.tenantPoints, errs[6] = m.Int64Counter("otelcol_exporter_mlflow_tenant_points",
		metric.WithDescription("With access control: each tenant's data points by outcome (accepted into the sending queue, written to MLflow, refused by access control)."),
		metric.WithUnit("{point}"))
	return &t, errors.Join(errs[:]...)
}

// instrumentedStore counts and times every call to the backend.
type instrumentedStore struct {
	backend
	tel *telemetry
}

func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	var ae *mlflow.APIError
	if errors.As(err, &ae) {
		if ae.Code != "" {
			return ae.Code
		}
		return "HTTP_" + strconv.Itoa(ae.HTTPStatus)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "network"
}

func (s *instrumentedStore) record(ctx context.Context, rpc string, start time.Time, err error) {
	attrs := metric.WithAttributes(attribute.String("rpc", rpc), attribute.String("outcome", outcome(err)))
	s.tel.requests.Add(ctx, 1, attrs)
	s.tel.duration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(attribute.String("rpc", rpc)))
}

func (s *instrumentedStore) GetExperimentByName(ctx context.Context, name string) (*mlflow.Experiment, error) {
	start := time.Now()
	e, err := s.backend.GetExperimentByName(ctx, name)
	s.record(ctx, "experiments/get-by-name", start, err)
	return e, err
}

func (s *instrumentedStore) CreateExperiment(ctx context.Context, name string, tags []mlflow.Tag) (string, error) {
	start := time.Now()
	id, err := s.backend.CreateExperiment(ctx, name, tags)
	s.record(ctx, "experiments/create", start, err)
	return id, err
}

func (s *instrumentedStore) CreateRun(ctx context.Context, req mlflow.CreateRunRequest) (*mlflow.Run, error) {
	start := time.Now()
	r, err := s.backend.CreateRun(ctx, req)
	s.record(ctx, "runs/create", start, err)
	if err == nil {
		s.tel.runsCreated.Add(ctx, 1)
	}
	return r, err
}

func (s *instrumentedStore) GetRun(ctx context.Context, runID string) (*mlflow.Run, error) {
	start := time.Now()
	r, err := s.backend.GetRun(ctx, runID)
	s.record(ctx, "runs/get", start, err)
	return r, err
}

func (s *instrumentedStore) UpdateRun(ctx context.Context, req mlflow.UpdateRunRequest) (*mlflow.RunInfo, error) {
	start := time.Now()
	r, err := s.backend.UpdateRun(ctx, req)
	s.record(ctx, "runs/update", start, err)
	return r, err
}

func (s *instrumentedStore) DeleteRun(ctx context.Context, runID string) error {
	start := time.Now()
	err := s.backend.DeleteRun(ctx, runID)
	s.record(ctx, "runs/delete", start, err)
	return err
}

func (s *instrumentedStore) SearchRuns(ctx context.Context, req mlflow.SearchRunsRequest) (*mlflow.SearchRunsResult, error) {
	start := time.Now()
	r, err := s.backend.SearchRuns(ctx, req)
	s.record(ctx, "runs/search", start, err)
	return r, err
}

func (s *instrumentedStore) LogBatch(ctx context.Context, runID string, b mlflow.Batch) error {
	start := time.Now()
	err := s.backend.LogBatch(ctx, runID, b)
	s.record(ctx, "runs/log-batch", start, err)
	if err == nil {
		s.tel.pointsWritten.Add(ctx, int64(len(b.Metrics)))
	}
	return err
}

// dropLog logs each kind of drop once, then at most once per interval with
// the count since the last line: bad input must be visible without flooding
// the log at the data rate.
type dropLog struct {
	logger   *zap.Logger
	tel      *telemetry
	interval time.Duration
	now      func() time.Time

	mu    sync.Mutex
	state map[string]*dropState
}

type dropState struct {
	last       time.Time
	suppressed int
}

func newDropLog(logger *zap.Logger, tel *telemetry) *dropLog {
	return &dropLog{logger: logger, tel: tel, interval: time.Minute, now: time.Now, state: map[string]*dropState{}}
}

// drop counts n items dropped for reason; detail (already free of secrets)
// and fields go into the log line when one is due.
func (d *dropLog) drop(ctx context.Context, reason string, n int, msg string, fields ...zap.Field) {
	if n <= 0 {
		return
	}
	d.tel.dropped.Add(ctx, int64(n), metric.WithAttributes(attribute.String("reason", reason)))
	d.mu.Lock()
	st := d.state[reason]
	now := d.now()
	if st == nil {
		st = &dropState{}
		d.state[reason] = st
	} else if now.Sub(st.last) < d.interval {
		st.suppressed += n
		d.mu.Unlock()
		return
	}
	suppressed := st.suppressed
	st.last, st.suppressed = now, 0
	d.mu.Unlock()
	fields = append(fields, zap.String("reason", reason), zap.Int("count", n))
	if suppressed > 0 {
		fields = append(fields, zap.Int("dropped_since_last_log", suppressed))
	}
	d.logger.Warn(msg, fields...)
}
