package mlflowexporter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/runs"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want backendState
		ok   bool
	}{
		{"success", nil, stateAvailable, true},
		{"connection refused", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), stateUnavailable, true},
		{"timeout", fmt.Errorf("log batch: %w", context.DeadlineExceeded), stateUnavailable, true},
		{"503", &mlflow.APIError{HTTPStatus: http.StatusServiceUnavailable}, stateUnavailable, true},
		{"408", &mlflow.APIError{HTTPStatus: http.StatusRequestTimeout}, stateUnavailable, true},
		{"429", &mlflow.APIError{HTTPStatus: http.StatusTooManyRequests, RetryAfter: time.Second}, stateThrottled, true},
		{"429 wrapped", fmt.Errorf("run x: %w", &mlflow.APIError{HTTPStatus: http.StatusTooManyRequests}), stateThrottled, true},
		{"400 answers", &mlflow.APIError{HTTPStatus: http.StatusBadRequest, Code: mlflow.ErrorCodeInvalidParameterValue}, stateAvailable, true},
		{"401 answers", &mlflow.APIError{HTTPStatus: http.StatusUnauthorized}, stateAvailable, true},
		{"run gone", fmt.Errorf("log: %w", mlflow.ErrRunGone), stateAvailable, true},
		{"run not found", fmt.Errorf("get: %w", runs.ErrRunNotFound), stateAvailable, true},
		{"shutdown", fmt.Errorf("export: %w", context.Canceled), 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := classify(tc.err)
			assert.Equal(t, tc.ok, ok)
			if tc.ok {
				assert.Equal(t, tc.want, got)
			}
		})
	}
}

// TestHealthLogsStateChangesOnly feeds an outage and a throttling episode
// of many failures each and expects one line per change.
func TestHealthLogsStateChangesOnly(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := newHealth(zap.New(core), nopTelemetry(t), func() time.Time { return now })
	ctx := context.Background()
	refused := errors.New("connect: connection refused")
	throttled := &mlflow.APIError{HTTPStatus: http.StatusTooManyRequests}

	h.observe(ctx, nil)
	for range 100 {
		h.observe(ctx, refused)
		now = now.Add(100 * time.Millisecond)
	}
	h.observe(ctx, context.Canceled) // says nothing about MLflow
	st, since := h.current()
	assert.Equal(t, stateUnavailable, st)
	assert.Equal(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), since)
	h.observe(ctx, nil)
	h.observe(ctx, nil)
	for range 50 {
		h.observe(ctx, throttled)
	}
	h.observe(ctx, nil)

	var msgs []string
	for _, e := range logs.All() {
		msgs = append(msgs, e.Message)
	}
	require.Equal(t, []string{
		"MLflow is unavailable: keeping data queued and retrying with backoff",
		"MLflow is available again: queued data is being written",
		"MLflow is throttling requests (429): backing off; further 429s of this episode are not logged",
		"MLflow is available again: queued data is being written",
	}, msgs)
	back := logs.All()[1].ContextMap()
	assert.Equal(t, int64(100), back["failed_exports"])
	assert.Equal(t, 10*time.Second, back["episode_duration"])
	assert.Equal(t, int64(50), logs.All()[3].ContextMap()["failed_exports"])
}

func TestQuietRetryLogs(t *testing.T) {
	for _, level := range []zapcore.Level{zapcore.InfoLevel, zapcore.DebugLevel} {
		t.Run(level.String(), func(t *testing.T) {
			core, logs := observer.New(level)
			l := quietRetryLogs(zap.New(core)).With(zap.String("otelcol.component.id", "mlflow"))
			l.Info(retryLogMessage, zap.String("interval", "1s"))
			l.Info("something else")
			l.Error("Exporting failed. Dropping data.")
			var got []string
			for _, e := range logs.All() {
				got = append(got, e.Level.String()+" "+e.Message)
			}
			want := []string{"info something else", "error Exporting failed. Dropping data."}
			if level == zapcore.DebugLevel {
				want = append([]string{"debug " + retryLogMessage}, want...)
			}
			assert.Equal(t, want, got)
		})
	}
}
