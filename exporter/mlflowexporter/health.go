package mlflowexporter

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/runs"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// backendState is what the exporter currently knows about MLflow; its
// values are the state attribute of otelcol_exporter_mlflow_backend_state.
type backendState = metadata.AttributeState

const (
	stateAvailable   = metadata.AttributeStateAvailable   // the last export got an answer other than 408/429/5xx
	stateUnavailable = metadata.AttributeStateUnavailable // network errors, timeouts, 408, 5xx
	stateThrottled   = metadata.AttributeStateThrottled   // 429
)

var allStates = [...]backendState{stateAvailable, stateUnavailable, stateThrottled}

// health turns the outcome of every run export into a state (available,
// unavailable, throttled) and logs only the changes: during an outage the
// exporter retries thousands of times, and one line per retry would bury
// the one line that matters. Counts and durations of an episode go into
// the line that ends it.
type health struct {
	logger *zap.Logger
	now    func() time.Time

	tel *metadata.TelemetryBuilder

	mu       sync.Mutex
	cur      backendState
	since    time.Time
	failures int // failed run exports since the episode began
}

func newHealth(logger *zap.Logger, tel *metadata.TelemetryBuilder, now func() time.Time) *health {
	h := &health{logger: logger, tel: tel, now: now, cur: stateAvailable, since: now()}
	h.record(context.Background(), stateAvailable)
	return h
}

// classify maps an export result to the state it shows. ok is false for
// results that say nothing about MLflow (a cancelled context at shutdown).
func classify(err error) (s backendState, ok bool) {
	if err == nil {
		return stateAvailable, true
	}
	if errors.Is(err, context.Canceled) {
		return 0, false
	}
	if mlflow.IsThrottled(err) {
		return stateThrottled, true
	}
	// A deleted run or a refused entity is an answer: MLflow is up.
	if errors.Is(err, mlflow.ErrRunGone) || errors.Is(err, runs.ErrRunNotFound) || !retryable(err) {
		return stateAvailable, true
	}
	return stateUnavailable, true
}

// observe records the result of one run export.
func (h *health) observe(ctx context.Context, err error) {
	s, ok := classify(err)
	if !ok {
		return
	}
	if s != stateAvailable {
		h.tel.ExporterMlflowRetries.Add(ctx, 1, metric.WithAttributes(attribute.String(metadata.AttributeKeyCause, s.String())))
	}
	h.mu.Lock()
	prev, since, failures := h.cur, h.since, h.failures
	if s == prev {
		if s != stateAvailable {
			h.failures++
		}
		h.mu.Unlock()
		return
	}
	now := h.now()
	h.cur, h.since, h.failures = s, now, 0
	if s != stateAvailable {
		h.failures = 1
	}
	h.mu.Unlock()
	h.record(ctx, s)

	// The error text comes from the REST client, which masks configured
	// credentials in every error it returns.
	switch {
	case s == stateUnavailable:
		h.logger.Warn("MLflow is unavailable: keeping data queued and retrying with backoff",
			zap.String("previous_state", prev.String()), zap.Error(err))
	case s == stateThrottled:
		h.logger.Warn("MLflow is throttling requests (429): backing off; further 429s of this episode are not logged",
			zap.String("previous_state", prev.String()), zap.Error(err))
	default:
		h.logger.Info("MLflow is available again: queued data is being written",
			zap.String("previous_state", prev.String()),
			zap.Duration("episode_duration", now.Sub(since)),
			zap.Int("failed_exports", failures))
	}
}

// current returns the state and when it began.
func (h *health) current() (backendState, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cur, h.since
}

func (h *health) record(ctx context.Context, s backendState) {
	for _, st := range allStates {
		v := int64(0)
		if st == s {
			v = 1
		}
		h.tel.ExporterMlflowBackendState.Record(ctx, v, metric.WithAttributes(attribute.String(metadata.AttributeKeyState, st.String())))
	}
}

// retryLogMessage is what exporterhelper's retry sender logs, at info, for
// every failed attempt.
const retryLogMessage = "Exporting failed. Will retry the request after interval."

// quietRetryLogs returns logger with exporterhelper's per-attempt retry
// line moved to debug: health logs each outage or throttling episode once,
// and a per-request line would repeat it at the retry rate.
func quietRetryLogs(logger *zap.Logger) *zap.Logger {
	return logger.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return retryDemoter{c} }))
}

type retryDemoter struct{ zapcore.Core }

func (c retryDemoter) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if e.Message == retryLogMessage && e.Level > zapcore.DebugLevel {
		e.Level = zapcore.DebugLevel
	}
	return c.Core.Check(e, ce)
}

func (c retryDemoter) With(fields []zapcore.Field) zapcore.Core {
	return retryDemoter{c.Core.With(fields)}
}
