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

// lagWarning is how old the data being written may get before the
// exporter says it is behind: the sending queue absorbs a backlog caused by
// the backend's rate budget or an outage and drains it at the budget; the
// log says so once, and once more when it has caught up.
const lagWarning = time.Minute

// lagTracker measures how far behind MLflow the exporter is: the age of
// the newest point of each write when it lands (point time, as the SDK
// stamped it, to now).
type lagTracker struct {
	logger *zap.Logger
	now    func() time.Time
	gauge  metric.Float64Gauge // otelcol_exporter_mlflow_lag

	mu     sync.Mutex
	behind bool
	since  time.Time
	worst  time.Duration
}

func newLagTracker(logger *zap.Logger, tel *metadata.TelemetryBuilder, now func() time.Time) *lagTracker {
	return &lagTracker{logger: logger, now: now, gauge: tel.ExporterMlflowLag}
}

// landed records a write whose newest point has time newestMs; attrs
// (the tenant, with access control) go on the gauge.
func (l *lagTracker) landed(ctx context.Context, newestMs int64, attrs ...attribute.KeyValue) {
	if newestMs <= 0 {
		return
	}
	now := l.now()
	lag := max(now.Sub(time.UnixMilli(newestMs)), 0)
	l.gauge.Record(ctx, lag.Seconds(), metric.WithAttributes(attrs...))
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case !l.behind && lag >= lagWarning:
		l.behind, l.since, l.worst = true, now, lag
		l.logger.Warn("MLflow export is behind: the data being written now is old; the sending queue holds the backlog and drains it at the backend's request budget",
			zap.Duration("lag", lag.Round(time.Second)))
	case l.behind && lag > l.worst:
		l.worst = lag
	case l.behind && lag < lagWarning/2:
		l.behind = false
		l.logger.Info("MLflow export caught up",
			zap.Duration("lag", lag.Round(time.Second)), zap.Duration("behind_for", now.Sub(l.since).Round(time.Second)),
			zap.Duration("max_lag", l.worst.Round(time.Second)))
	}
}
