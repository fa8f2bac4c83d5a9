// Package runs finds or creates the MLflow run behind each run identity and
// keeps per-run state: what has been written (for dedup of re-exported
// points and write-once params), when data last arrived, and whether the run
// has ended. See docs/mapping.md sections 1, 2 (re-exported points), 5 and 7.
package runs

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/translate"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// Tags the exporter keeps on runs it manages.
const (
	RunKeyTag     = "otelcol.mlflow.run_key"
	EndReasonTag  = "otelcol.mlflow.end_reason"
	EndReasonIdle = "idle"
)

// Run is one MLflow run and what this collector knows it holds. Callers
// hold Lock while preparing and sending a batch for it: writes to one run are
// serialised, which keeps its steps in order; different runs proceed in
// parallel.
type Run struct {
	sync.Mutex

	ID           string
	ExperimentID string
	StartTime    int64
	Identity     translate.Identity
	// Managed is false for runs named by mlflow.run.id: their lifecycle
	// belongs to whoever created them, so the exporter never ends them.
	Managed bool

	key         string
	dedupWindow int
	params      map[string]string
	tags        map[string]string
	series      map[string]*series

	// Guarded by the manager's mutex, not the run's: the idle sweeper reads
	// them without waiting for a write in progress.
	lastSeen    time.Time
	lastPointMs int64
	ended       bool
	// lastSystemMs is the newest host point written into the run: the run
	// must not end before it (an end time earlier than its system metrics
	// would chart them after the run). lastEndCheck is when the backend was
	// last asked whether the run ended there.
	lastSystemMs int64
	lastEndCheck time.Time

	// Until verifyUntil the run is checked against concurrent duplicates
	// (see Manager.Converge); guarded by the run's own lock.
	verifyUntil time.Time
	lastVerify  time.Time

	// hosts (guarded by the manager's mutex) are the host.name values the
	// run's own telemetry came from, with when; pids its process.pid values.
	hosts map[string]time.Time
	pids  map[int64]struct{}
	// baselines hold the first value of each system counter the run saw,
	// per host (guarded by the run's lock).
	baselines map[string]float64
}

type seen struct {
	bits uint64
	ts   int64
}

// series remembers the last points written to one key, bounded by the
// dedup window (oldest insertions are forgotten first).
type series struct {
	m    map[int64]seen
	ring []int64
	pos  int
}

func newRun(id, expID string, start int64, ident translate.Identity, managed bool, window int) *Run {
	return &Run{
		ID: id, ExperimentID: expID, StartTime: start, Identity: ident, Managed: managed,
		key: ident.Key(), dedupWindow: window,
		params: map[string]string{}, tags: map[string]string{}, series: map[string]*series{},
		hosts: map[string]time.Time{}, pids: map[int64]struct{}{}, baselines: map[string]float64{},
	}
}

// adopt loads what an existing run already holds, so that a restarted
// collector neither re-sends tags nor trips over its own params.
func (r *Run) adopt(data mlflow.RunData) {
	for _, p := range data.Params {
		r.params[p.Key] = p.Value
	}
	for _, t := range data.Tags {
		r.tags[t.Key] = t.Value
	}
}

// PrepareStats counts what Prepare left out.
type PrepareStats struct {
	Duplicates   int // points already written (re-exports, retries)
	ParamChanged []mlflow.Param
}

type localKey struct {
	key  string
	step int64
}

// Prepare builds the batch still to be written for the given points,
// params and tags: derived steps filled in, points and tags already written
// left out, params that would change an existing value dropped. Call with
// the run locked; call Commit for each part that was written.
func (r *Run) Prepare(points []translate.Point, params []mlflow.Param, tags []mlflow.Tag) (mlflow.Batch, PrepareStats) {
	var (
		b     mlflow.Batch
		st    PrepareStats
		local map[localKey]seen
	)
	seenParams := map[string]string{}
	for _, p := range params {
		if old, ok := r.params[p.Key]; ok {
			if old != p.Value {
				st.ParamChanged = append(st.ParamChanged, p)
			}
			continue
		}
		if old, ok := seenParams[p.Key]; ok {
			if old != p.Value {
				st.ParamChanged = append(st.ParamChanged, p)
			}
			continue
		}
		seenParams[p.Key] = p.Value
		b.Params = append(b.Params, p)
	}
	// The last value of a tag in the batch wins, as it would on the server;
	// tags the run already holds with that value are not re-sent.
	if len(tags) > 0 {
		order := make([]string, 0, len(tags))
		final := make(map[string]string, len(tags))
		for _, t := range tags {
			if _, ok := final[t.Key]; !ok {
				order = append(order, t.Key)
			}
			final[t.Key] = t.Value
		}
		for _, k := range order {
			if old, ok := r.tags[k]; ok && old == final[k] {
				continue
			}
			b.Tags = append(b.Tags, mlflow.Tag{Key: k, Value: final[k]})
		}
	}
	b.Metrics = make([]mlflow.Metric, 0, len(points))
	for i := range points {
		m := points[i].Metric
		if !points[i].ExplicitStep {
			m.Step = max(0, (m.Timestamp-r.StartTime)/1000)
		}
		bits := math.Float64bits(m.Value)
		if s, ok := r.series[m.Key]; ok {
			if prev, ok := s.m[m.Step]; ok && prev.bits == bits && (points[i].ExplicitStep || prev.ts == m.Timestamp) {
				st.Duplicates++
				continue
			}
		}
		lk := localKey{m.Key, m.Step}
		if prev, ok := local[lk]; ok && prev.bits == bits && (points[i].ExplicitStep || prev.ts == m.Timestamp) {
			st.Duplicates++
			continue
		}
		if local == nil {
			local = make(map[localKey]seen, len(points))
		}
		local[lk] = seen{bits, m.Timestamp}
		b.Metrics = append(b.Metrics, m)
	}
	// SDKs export the series of one metric in no particular order; MLflow
	// keeps points in the order they arrive, so hand them over by step.
	byStep := func(x, y mlflow.Metric) int {
		if c := cmp.Compare(x.Step, y.Step); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Key, y.Key); c != 0 {
			return c
		}
		return cmp.Compare(x.Timestamp, y.Timestamp)
	}
	if !slices.IsSortedFunc(b.Metrics, byStep) {
		slices.SortFunc(b.Metrics, byStep)
	}
	return b, st
}

// Commit records a written batch.
func (r *Run) Commit(b mlflow.Batch) {
	for _, p := range b.Params {
		r.params[p.Key] = p.Value
	}
	for _, t := range b.Tags {
		r.tags[t.Key] = t.Value
	}
	for i := range b.Metrics {
		m := &b.Metrics[i]
		s := r.series[m.Key]
		if s == nil {
			s = &series{m: map[int64]seen{}}
			r.series[m.Key] = s
		}
		if _, ok := s.m[m.Step]; !ok {
			if len(s.ring) < r.dedupWindow {
				s.ring = append(s.ring, m.Step)
			} else {
				delete(s.m, s.ring[s.pos])
				s.ring[s.pos] = m.Step
				s.pos = (s.pos + 1) % len(s.ring)
			}
		}
		s.m[m.Step] = seen{math.Float64bits(m.Value), m.Timestamp}
	}
}

// HasParam reports whether the run holds the param with that value.
func (r *Run) HasParam(key, value string) bool {
	v, ok := r.params[key]
	return ok && v == value
}

// SinceFirst returns how much a running total grew since the run first saw
// it. A total that went down (a counter reset: reboot, driver reload) starts
// a new baseline at zero growth. Call with the run locked.
func (r *Run) SinceFirst(key string, total float64) float64 {
	base, ok := r.baselines[key]
	if !ok || total < base {
		r.baselines[key] = total
		return 0
	}
	return total - base
}
