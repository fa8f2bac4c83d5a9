// Package runs finds or creates the MLflow run behind each run identity and
// keeps per-run state: what has been written (for dedup of re-exported
// points and write-once params), when data last arrived, and whether the run
// has ended. See docs/mapping.md sections 1, 2 (re-exported points), 5 and 7.
package runs

import (
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/gpuset"

	"cmp"
	"math"
	"slices"
	"strings"
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
	// Resolution says how this collector came to the run: "created",
	// "resumed" (found by its run key, e.g. after a restart) or "by_id"
	// (named by mlflow.run.id). Audited is set once the exporter logged it
	// (under the run's lock).
	Resolution string
	Audited    bool
	// Tenant is the access-control tenant whose data created or first used
	// the run here; host metrics of another tenant's agents stay out of it.
	Tenant string

	key    string
	params map[string]string
	tags   map[string]string
	// series holds the dedup watermark of every series written (see
	// series); seeds the newest point per key the run held when adopted.
	series map[seriesID]*series
	seeds  map[string]mlflow.Metric
	// epoch numbers Prepare calls; prep and pend (the series of each
	// prepared metric) let Commit find the series of what was written,
	// cursor is how far the Commits of the last Prepare got.
	epoch  uint32
	prep   []mlflow.Metric
	pend   *[]*series
	cursor int

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
	// cpids (guarded by the manager's mutex), nil until a resource with a
	// container.id came, pair each process.pid with its resource's
	// container.id ("" for none) for the pid-namespace rule (HasPID).
	cpids map[containerPID]struct{}
	// devices (guarded by the manager's mutex) are the GPUs the run's
	// processes see on each host (gpuset.Attr); no entry: the whole host.
	devices map[string]gpuset.Set
	// placement and gpuProcs (guarded by the manager's mutex): per host,
	// the pod or Slurm job the run's resources name, and the GPUs (hw.id)
	// its processes were last seen on, with when (placement.go).
	placement map[string]translate.PodRef
	slurmJobs map[string]string
	gpuProcs  map[string]map[string]time.Time
	// scopedUsage (guarded by the manager's mutex): per host, when the
	// run's pod or Slurm job last reported its cgroup's own use.
	scopedUsage map[string]time.Time
	// baselines hold the first value of each system counter the run saw,
	// per host (guarded by the run's lock).
	baselines map[string]float64
}

// newRun makes the state of one run. The last argument is the deprecated
// dedup_window: dedup state no longer grows with steps (docs/mapping.md §2).
func newRun(id, expID string, start int64, ident translate.Identity, managed bool, _ int) *Run {
	return &Run{
		ID: id, ExperimentID: expID, StartTime: start, Identity: ident, Managed: managed,
		key:    ident.Key(),
		params: map[string]string{}, tags: map[string]string{}, series: map[seriesID]*series{},
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
	// The newest point of each key (MLflow's latest metrics): a series
	// first seen after a restart starts from it, so that re-delivered data
	// that had landed is recognised (docs/mapping.md §2).
	for _, m := range data.Metrics {
		if r.seeds == nil {
			r.seeds = make(map[string]mlflow.Metric, len(data.Metrics))
		}
		if old, ok := r.seeds[m.Key]; !ok || m.Step > old.Step || (m.Step == old.Step && m.Timestamp > old.Timestamp) {
			r.seeds[m.Key] = m
		}
	}
}

// seriesID names one series for dedup: one writer's points (a resource:
// translate.Point.Writer) under one key, shifted left one bit with the low
// bit set for points with derived steps.
type seriesID struct {
	writer uint64
	key    string
}

// series is everything dedup remembers of one series, whatever its number
// of steps: a watermark and the values written at it. The watermark is the
// newest step written (explicit steps) or the newest timestamp (derived
// steps, where the step is a function of the timestamp). The rule
// (docs/mapping.md §2, "Re-exported points"), for a point at position c:
//   - c above the watermark: new;
//   - c at the watermark: a re-export when its value is one of vals;
//   - c below it: a re-export when the writer re-exports its history (the
//     same export sends the watermark point again, or the series is known
//     to be cumulative: snapshot); otherwise a late point (an earlier batch
//     delivered after a later one, a retry, a step logged out of order),
//     written.
type series struct {
	mark   int64     // watermark: step or timestamp (ms)
	markTs int64     // explicit steps: earliest timestamp written at mark
	vals   [4]uint64 // value bits written at mark, at most 4 distinct
	n      uint8     // vals in use; 0: nothing written yet
	next   uint8     // ring position once vals is full
	// explicit: the series' points carry explicit steps. snapshot: the
	// writer was seen re-exporting its watermark point later (a cumulative
	// SDK re-sends every step at every flush).
	explicit bool
	snapshot bool
	// seenMark is the Prepare epoch in which the watermark point came again.
	seenMark uint32
	// The newest late point written (below mark), so that the retry of a
	// late batch is recognised like that of a current one: seenLate is the
	// epoch in which it came again.
	hasLate  bool
	seenLate uint32
	lateMark int64
	lateVal  uint64
}

func (s *series) pos(m *mlflow.Metric) int64 {
	if s.explicit {
		return m.Step
	}
	return m.Timestamp
}

func (s *series) has(bits uint64) bool {
	for i := uint8(0); i < s.n; i++ {
		if s.vals[i] == bits {
			return true
		}
	}
	return false
}

// written tells whether m (of this series) is already written.
func (s *series) written(m *mlflow.Metric, epoch uint32) bool {
	if s.n == 0 {
		return false
	}
	c := s.pos(m)
	switch {
	case c > s.mark:
		return false
	case c == s.mark:
		return s.has(math.Float64bits(m.Value))
	case s.snapshot || s.seenMark == epoch:
		return true
	case !s.hasLate || c > s.lateMark:
		return false
	case c == s.lateMark:
		return s.lateVal == math.Float64bits(m.Value)
	default:
		return s.seenLate == epoch
	}
}

// commit records m as written.
func (s *series) commit(m *mlflow.Metric) {
	c, bits := s.pos(m), math.Float64bits(m.Value)
	switch {
	case s.n == 0 || c > s.mark:
		s.mark, s.markTs = c, m.Timestamp
		s.vals[0], s.n, s.next = bits, 1, 0
	case c == s.mark:
		s.markTs = min(s.markTs, m.Timestamp)
		if s.has(bits) {
			return
		}
		if int(s.n) < len(s.vals) {
			s.vals[s.n] = bits
			s.n++
		} else {
			s.vals[s.next] = bits
			s.next = (s.next + 1) % uint8(len(s.vals))
		}
	case !s.hasLate || c >= s.lateMark:
		// Below the watermark: a late point; the watermark stays.
		s.hasLate, s.lateMark, s.lateVal = true, c, bits
	}
}

// lookup returns the series, creating it (from the adopted run's newest
// point of the key, if any).
func (r *Run) lookup(writer uint64, key string, explicit bool) *series {
	id := seriesID{writer << 1, key}
	if !explicit {
		id.writer |= 1
	}
	if s := r.series[id]; s != nil {
		return s
	}
	s := &series{explicit: explicit}
	if seed, ok := r.seeds[key]; ok {
		s.commit(&seed)
	}
	r.series[id] = s
	return s
}

// Series returns how many series the run holds dedup state for.
func (r *Run) Series() int { return len(r.series) }

// PrepareStats counts what Prepare left out.
type PrepareStats struct {
	Duplicates   int // points already written (re-exports, retries)
	ParamChanged []mlflow.Param
}

// elem is a point being prepared, with its series.
type elem struct {
	m mlflow.Metric
	s *series
}

var (
	elemPool = sync.Pool{New: func() any { return new([]elem) }}
	idxPool  = sync.Pool{New: func() any { return new([]int32) }}
	pendPool = sync.Pool{New: func() any { return new([]*series) }}
)

// Prepare builds the batch still to be written for the given points,
// params and tags: derived steps filled in, points and tags already written
// left out, params that would change an existing value dropped. Call with
// the run locked; call Commit for each part that was written, in order.
func (r *Run) Prepare(points []translate.Point, params []mlflow.Param, tags []mlflow.Tag) (mlflow.Batch, PrepareStats) {
	var (
		b  mlflow.Batch
		st PrepareStats
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
	r.release()
	if len(points) == 0 {
		return b, st
	}
	r.epoch++
	if r.epoch == 0 { // wrapped: forget old marks rather than match them
		for _, s := range r.series {
			s.seenMark, s.seenLate = 0, 0
		}
		r.epoch = 1
	}
	epoch := r.epoch

	// Pass 1: each point's series and step; note which series send their
	// watermark point again (a re-export of their history).
	ep := elemPool.Get().(*[]elem)
	el := slices.Grow((*ep)[:0], len(points))
	var (
		last     *series
		lastKey  string
		lastW    uint64
		lastExpl bool
	)
	for i := range points {
		p := &points[i]
		e := elem{m: p.Metric}
		if !p.ExplicitStep {
			e.m.Step = max(0, (e.m.Timestamp-r.StartTime)/1000)
		}
		if last == nil || p.Writer != lastW || p.ExplicitStep != lastExpl || e.m.Key != lastKey {
			last, lastW, lastExpl, lastKey = r.lookup(p.Writer, e.m.Key, p.ExplicitStep), p.Writer, p.ExplicitStep, e.m.Key
		}
		s := last
		e.s = s
		if s.n > 0 {
			c, bits := s.pos(&e.m), math.Float64bits(e.m.Value)
			if c == s.mark && s.has(bits) {
				s.seenMark = epoch
				if s.explicit && e.m.Timestamp > s.markTs {
					s.snapshot = true
				}
			} else if s.hasLate && c == s.lateMark && bits == s.lateVal {
				s.seenLate = epoch
			}
		}
		el = append(el, e)
	}
	// Pass 2: leave out what was written.
	ip := idxPool.Get().(*[]int32)
	kept := (*ip)[:0]
	for i := range el {
		if el[i].s.written(&el[i].m, epoch) {
			st.Duplicates++
			continue
		}
		kept = append(kept, int32(i))
	}
	// SDKs export the series of one metric in no particular order; MLflow
	// keeps points in the order they arrive, so hand them over by step.
	// Indices are sorted, not points: moving points (strings, pointers)
	// costs write barriers while the GC runs.
	tp := idxPool.Get().(*[]int32)
	kept, other := sortIdx(el, kept, (*tp)[:0])
	// Pass 3: points repeated within the export (several flushes batched
	// together) are written once; they are adjacent now.
	pp := pendPool.Get().(*[]*series)
	pend := (*pp)[:0]
	b.Metrics = make([]mlflow.Metric, 0, len(kept))
	group := 0 // first metric of the current (step, key)
	for _, k := range kept {
		e := &el[k]
		if n := len(b.Metrics); n == 0 || b.Metrics[n-1].Step != e.m.Step || b.Metrics[n-1].Key != e.m.Key {
			group = n
		} else if dupIn(b.Metrics[group:], pend[group:], e) {
			st.Duplicates++
			continue
		}
		b.Metrics = append(b.Metrics, e.m)
		pend = append(pend, e.s)
	}
	clear(el)
	*ep = el[:0]
	elemPool.Put(ep)
	*ip, *tp = kept[:0], other[:0]
	idxPool.Put(ip)
	idxPool.Put(tp)
	*pp = pend
	r.prep, r.pend, r.cursor = b.Metrics, pp, 0
	return b, st
}

func dupIn(ms []mlflow.Metric, ss []*series, e *elem) bool {
	bits := math.Float64bits(e.m.Value)
	for j := range ms {
		if ss[j] == e.s && math.Float64bits(ms[j].Value) == bits && (e.s.explicit || ms[j].Timestamp == e.m.Timestamp) {
			return true
		}
	}
	return false
}

// release hands back what the last Prepare kept for its Commits.
func (r *Run) release() {
	if r.pend != nil {
		clear(*r.pend)
		*r.pend = (*r.pend)[:0]
		pendPool.Put(r.pend)
	}
	r.prep, r.pend, r.cursor = nil, nil, 0
}

// Commit records a written part of the last prepared batch (parts are
// committed in the order Prepare returned them; some may be missing).
func (r *Run) Commit(b mlflow.Batch) {
	for _, p := range b.Params {
		r.params[p.Key] = p.Value
	}
	for _, t := range b.Tags {
		r.tags[t.Key] = t.Value
	}
	for i := range b.Metrics {
		m := &b.Metrics[i]
		r.seriesOf(m).commit(m)
	}
	if r.pend != nil && r.cursor >= len(r.prep) {
		r.release()
	}
}

// seriesOf finds the series of a committed metric among the prepared ones.
func (r *Run) seriesOf(m *mlflow.Metric) *series {
	if r.pend != nil {
		for j := r.cursor; j < len(r.prep); j++ {
			p := &r.prep[j]
			if p.Step == m.Step && p.Timestamp == m.Timestamp && math.Float64bits(p.Value) == math.Float64bits(m.Value) && p.Key == m.Key {
				r.cursor = j + 1
				return (*r.pend)[j]
			}
		}
	}
	// Not prepared here (a caller committing on its own): the key's series
	// of an unnamed writer, by the step the metric carries.
	return r.lookup(0, m.Key, true)
}

// cmpElem orders points by step, key and timestamp.
func cmpElem(a, b *elem) int {
	if a.m.Step != b.m.Step {
		return cmp.Compare(a.m.Step, b.m.Step)
	}
	if a.m.Key != b.m.Key {
		return strings.Compare(a.m.Key, b.m.Key)
	}
	return cmp.Compare(a.m.Timestamp, b.m.Timestamp)
}

// sortIdx sorts the indices a of el by cmpElem, stably, with tmp as
// scratch: a merge sort of the ascending runs already there (an export
// holds each series' steps mostly in order, so there are few). It returns
// the sorted slice and the other buffer.
func sortIdx(el []elem, a, tmp []int32) (sorted, scratch []int32) {
	n := len(a)
	less := func(i, j int32) bool { return cmpElem(&el[i], &el[j]) < 0 }
	const minRun = 24
	// Runs: natural ascending runs, short ones extended by insertion sort.
	var bounds []int
	for i := 0; i < n; {
		j := i + 1
		for j < n && !less(a[j], a[j-1]) {
			j++
		}
		if j-i < minRun && j < n {
			end := min(i+minRun, n)
			for k := j; k < end; k++ {
				for l := k; l > i && less(a[l], a[l-1]); l-- {
					a[l-1], a[l] = a[l], a[l-1]
				}
			}
			j = end
		}
		bounds = append(bounds, i)
		i = j
	}
	if len(bounds) <= 1 {
		return a, tmp
	}
	bounds = append(bounds, n)
	tmp = slices.Grow(tmp[:0], n)[:n]
	src, dst := a, tmp
	for len(bounds) > 2 {
		nb := make([]int, 0, len(bounds)/2+2)
		for k := 0; k+1 < len(bounds); k += 2 {
			lo := bounds[k]
			nb = append(nb, lo)
			if k+2 >= len(bounds) { // odd run out: copied as is
				copy(dst[lo:n], src[lo:n])
				break
			}
			mid, hi := bounds[k+1], bounds[k+2]
			i, j, o := lo, mid, lo
			for i < mid && j < hi {
				if less(src[j], src[i]) {
					dst[o] = src[j]
					j++
				} else {
					dst[o] = src[i]
					i++
				}
				o++
			}
			o += copy(dst[o:], src[i:mid])
			copy(dst[o:], src[j:hi])
		}
		bounds = append(nb, n)
		src, dst = dst, src
	}
	return src, dst
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
