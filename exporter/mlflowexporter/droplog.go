package mlflowexporter

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
)

// dropLog logs each kind of drop once, then at most once per interval with
// the count since the last line: bad input must be visible without flooding
// the log at the data rate.
type dropLog struct {
	logger   *zap.Logger
	tel      *metadata.TelemetryBuilder
	interval time.Duration
	now      func() time.Time

	mu    sync.Mutex
	state map[string]*dropState
}

type dropState struct {
	last       time.Time
	suppressed int
}

func newDropLog(logger *zap.Logger, tel *metadata.TelemetryBuilder) *dropLog {
	return &dropLog{logger: logger, tel: tel, interval: time.Minute, now: time.Now, state: map[string]*dropState{}}
}

// drop counts n items dropped for reason; detail (already free of secrets)
// and fields go into the log line when one is due.
func (d *dropLog) drop(ctx context.Context, reason string, n int, msg string, fields ...zap.Field) {
	if n <= 0 {
		return
	}
	d.tel.ExporterMlflowDropped.Add(ctx, int64(n), metric.WithAttributes(attribute.String(metadata.AttributeKeyReason, reason)))
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
