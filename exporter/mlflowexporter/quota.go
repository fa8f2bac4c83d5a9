package mlflowexporter

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// QuotaWarningTag is set on a run once quota tracking starts degrading it;
// its value says what is being held back.
const QuotaWarningTag = "otelcol.quota.warning"

// How a run degrades as it nears its metric-step quota: past
// quotaDownsampleAt of it, system metrics (system/...) keep one point in
// quotaDownsampleEvery per key; past quotaSystemStopAt they stop, leaving
// the rest to training metrics; at the quota every metric stops. One tag
// slot is kept for QuotaWarningTag.
const (
	quotaDownsampleAt    = 0.80
	quotaSystemStopAt    = 0.95
	quotaDownsampleEvery = 10
	systemMetricPrefix   = "system/"
)

// runQuotas are per-run limits; 0 is unlimited.
type runQuotas struct {
	metricSteps, params, tags int64
}

func (q runQuotas) any() bool { return q.metricSteps > 0 || q.params > 0 || q.tags > 0 }

// resolveQuotas applies the configuration over the backend's quotas: 0
// keeps the backend's, negative lifts it.
func resolveQuotas(c RunQuotasConfig, backendDefault runQuotas) runQuotas {
	pick := func(set, def int64) int64 {
		switch {
		case set < 0:
			return 0
		case set > 0:
			return set
		}
		return def
	}
	return runQuotas{
		metricSteps: pick(c.MetricSteps, backendDefault.metricSteps),
		params:      pick(c.Params, backendDefault.params),
		tags:        pick(c.Tags, backendDefault.tags),
	}
}

// withQuotas wraps b with per-run quota tracking when any quota applies.
func withQuotas(b backend, c RunQuotasConfig, backendDefault runQuotas, logger *zap.Logger, tel *metadata.TelemetryBuilder) backend {
	q := resolveQuotas(c, backendDefault)
	if !q.any() {
		return b
	}
	return &quotaStore{backend: b, q: q, logger: logger, dropped: tel.ExporterMlflowDropped, runs: map[string]*runUsage{}}
}

// quotaStore counts what each run received and filters log-batch calls so
// that a run degrades predictably instead of being refused at its quota.
// Counts start from the run's params and tags as the server holds them;
// metric steps logged before this process started are not known (MLflow
// has no call that counts them cheaply), so after a restart the step count
// starts at zero.
type quotaStore struct {
	backend
	q       runQuotas
	logger  *zap.Logger
	dropped metric.Int64Counter

	mu   sync.Mutex
	runs map[string]*runUsage
}

type runUsage struct {
	mu      sync.Mutex
	seeded  bool
	steps   int64
	params  map[string]struct{}
	tags    map[string]struct{}
	sysSeen map[string]int64 // system metric points offered while downsampling, per key
	warning string           // current QuotaWarningTag value, "" before any degradation
}

func (s *quotaStore) usage(runID string) *runUsage {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.runs[runID]
	if u == nil {
		u = &runUsage{params: map[string]struct{}{}, tags: map[string]struct{}{}, sysSeen: map[string]int64{}}
		s.runs[runID] = u
	}
	return u
}

// DeleteRun implements mlflow.Store; the run's usage is forgotten.
func (s *quotaStore) DeleteRun(ctx context.Context, runID string) error {
	err := s.backend.DeleteRun(ctx, runID)
	if err == nil {
		s.mu.Lock()
		delete(s.runs, runID)
		s.mu.Unlock()
	}
	return err
}

// LogBatch implements mlflow.Store. What a quota holds back is counted as
// dropped and not sent; an empty remainder sends nothing. Usage is counted
// only for batches the server accepted.
func (s *quotaStore) LogBatch(ctx context.Context, runID string, b mlflow.Batch) error {
	u := s.usage(runID)
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.seeded {
		run, err := s.backend.GetRun(ctx, runID)
		if err != nil {
			return fmt.Errorf("read run %q for quota tracking: %w", runID, err)
		}
		for _, p := range run.Data.Params {
			u.params[p.Key] = struct{}{}
		}
		for _, t := range run.Data.Tags {
			// The warning tag has its own slot and is not counted.
			if t.Key == QuotaWarningTag {
				u.warning = t.Value
				continue
			}
			u.tags[t.Key] = struct{}{}
		}
		u.seeded = true
	}
	out, drops := s.filter(u, b)
	for reason, n := range drops {
		if n > 0 && s.dropped != nil {
			s.dropped.Add(ctx, n, metric.WithAttributes(attribute.String("reason", reason)))
		}
	}
	w := s.warning(u, out)
	if w != u.warning {
		out.Tags = append(out.Tags, mlflow.Tag{Key: QuotaWarningTag, Value: w})
	}
	if out.Len() == 0 {
		return nil
	}
	if err := s.backend.LogBatch(ctx, runID, out); err != nil {
		return err
	}
	if w != u.warning {
		s.logger.Warn("MLflow run near its quota, degrading", zap.String("run_id", runID), zap.String("state", w))
		u.warning = w
	}
	u.steps += int64(len(out.Metrics))
	for _, p := range out.Params {
		u.params[p.Key] = struct{}{}
	}
	for _, t := range out.Tags {
		if t.Key != QuotaWarningTag {
			u.tags[t.Key] = struct{}{}
		}
	}
	return nil
}

// filter returns what b may send under the quotas, and the counts held
// back by reason.
func (s *quotaStore) filter(u *runUsage, b mlflow.Batch) (mlflow.Batch, map[string]int64) {
	drops := map[string]int64{}
	out := mlflow.Batch{}
	if lim := s.q.metricSteps; lim > 0 {
		soft := int64(float64(lim) * quotaDownsampleAt)
		stop := int64(float64(lim) * quotaSystemStopAt)
		used := u.steps
		for _, m := range b.Metrics {
			sys := strings.HasPrefix(m.Key, systemMetricPrefix)
			switch {
			case used >= lim:
				drops["quota_metric_steps"]++
				continue
			case sys && used >= stop:
				drops["quota_system_metrics"]++
				continue
			case sys && used >= soft:
				n := u.sysSeen[m.Key]
				u.sysSeen[m.Key] = n + 1
				if n%quotaDownsampleEvery != 0 {
					drops["quota_downsampled"]++
					continue
				}
			}
			out.Metrics = append(out.Metrics, m)
			used++
		}
	} else {
		out.Metrics = b.Metrics
	}
	out.Params = keepKeys(b.Params, func(p mlflow.Param) string { return p.Key }, u.params, s.q.params, drops, "quota_params")
	tagRoom := s.q.tags
	if tagRoom > 0 {
		tagRoom-- // kept for QuotaWarningTag
	}
	out.Tags = keepKeys(b.Tags, func(t mlflow.Tag) string { return t.Key }, u.tags, tagRoom, drops, "quota_tags")
	return out, drops
}

// keepKeys keeps items whose key the run holds already, and new keys while
// the run has room for them.
func keepKeys[T any](items []T, key func(T) string, have map[string]struct{}, limit int64, drops map[string]int64, reason string) []T {
	if limit <= 0 || len(items) == 0 {
		return items
	}
	var out []T
	added := map[string]struct{}{}
	for _, it := range items {
		k := key(it)
		if _, ok := have[k]; ok {
			out = append(out, it)
			continue
		}
		if _, ok := added[k]; ok {
			out = append(out, it)
			continue
		}
		if int64(len(have)+len(added)) >= limit {
			drops[reason]++
			continue
		}
		added[k] = struct{}{}
		out = append(out, it)
	}
	return out
}

// warning describes the run's degradation after out is written, "" while
// nothing is held back.
func (s *quotaStore) warning(u *runUsage, out mlflow.Batch) string {
	var parts []string
	if lim := s.q.metricSteps; lim > 0 {
		used := u.steps + int64(len(out.Metrics))
		switch {
		case used >= lim:
			parts = append(parts, fmt.Sprintf("metric steps at the quota of %d: further metrics dropped", lim))
		case used >= int64(float64(lim)*quotaSystemStopAt):
			parts = append(parts, fmt.Sprintf("metric steps past %.0f%% of %d: system metrics stopped", quotaSystemStopAt*100, lim))
		case used >= int64(float64(lim)*quotaDownsampleAt):
			parts = append(parts, fmt.Sprintf("metric steps past %.0f%% of %d: system metrics downsampled 1:%d", quotaDownsampleAt*100, lim, quotaDownsampleEvery))
		}
	}
	if lim := s.q.params; lim > 0 && int64(len(u.params)+countNew(out.Params, func(p mlflow.Param) string { return p.Key }, u.params)) >= lim {
		parts = append(parts, fmt.Sprintf("params at the quota of %d: new params dropped", lim))
	}
	if lim := s.q.tags; lim > 0 && int64(len(u.tags)+countNew(out.Tags, func(t mlflow.Tag) string { return t.Key }, u.tags)) >= lim-1 {
		// lim-1: the warning tag holds the last slot.
		parts = append(parts, fmt.Sprintf("tags at the quota of %d: new tags dropped", lim))
	}
	if len(parts) == 0 {
		return ""
	}
	return "otelcol-mlflow: " + strings.Join(parts, "; ")
}

func countNew[T any](items []T, key func(T) string, have map[string]struct{}) int {
	seen := map[string]struct{}{}
	for _, it := range items {
		k := key(it)
		if _, ok := have[k]; !ok {
			seen[k] = struct{}{}
		}
	}
	return len(seen)
}
