package tracking

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// noteTag holds a run's description in MLflow.
const noteTag = "mlflow.note.content"

// LogOption qualifies a logged metric or image.
type LogOption func(*logOptions)

type logOptions struct {
	step    int64
	hasStep bool
	ts      time.Time
}

// Step sets the MLflow step (an epoch or iteration, >= 0). Without it the
// collector derives the step from the time since the run started.
func Step(n int64) LogOption {
	return func(o *logOptions) { o.step, o.hasStep = n, true }
}

// Timestamp sets the time of the values; default the time of the call.
func Timestamp(t time.Time) LogOption {
	return func(o *logOptions) { o.ts = t }
}

// RunStatus is an MLflow run status, spelled as MLflow spells it.
type RunStatus string

// The statuses a run has: RUNNING while open, then the one it ended with.
const (
	StatusRunning  RunStatus = "RUNNING"
	StatusFinished RunStatus = "FINISHED"
	StatusFailed   RunStatus = "FAILED"
	StatusKilled   RunStatus = "KILLED"
)

// RunInfo is a run's metadata.
type RunInfo struct {
	RunID        string
	ExperimentID string
	RunName      string
	UserID       string
	Status       RunStatus
	// StartTime and EndTime are milliseconds since the Unix epoch; EndTime
	// is 0 while the run has not ended.
	StartTime int64
	EndTime   int64
	// ArtifactURI is the root of the run's artifacts.
	ArtifactURI string
	// LifecycleStage is "active", or "deleted" for a deleted run.
	LifecycleStage string
}

// Run is one MLflow run. Its methods are safe for concurrent use.
type Run struct {
	t      *Tracker
	info   mlflow.RunInfo
	parent *Run
	sink   *sink

	mu     sync.Mutex
	ended  bool
	params map[string]string // logged so far, to skip repeats
	models []map[string]any  // mlflow.log-model.history entries
}

// ID is the MLflow run id.
func (r *Run) ID() string { return r.info.RunID }

// Info returns the run's metadata as created.
func (r *Run) Info() RunInfo {
	return RunInfo{
		RunID: r.info.RunID, ExperimentID: r.info.ExperimentID, RunName: r.info.RunName,
		UserID: r.info.UserID, Status: RunStatus(r.info.Status),
		StartTime: r.info.StartTime, EndTime: r.info.EndTime,
		ArtifactURI: r.info.ArtifactURI, LifecycleStage: r.info.LifecycleStage,
	}
}

// Parent returns the enclosing run of a child run, else nil.
func (r *Run) Parent() *Run { return r.parent }

func (r *Run) checkOpen() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return ErrRunEnded
	}
	return nil
}

// LogParameters logs params in as few calls as MLflow's limits allow.
// Values are rendered as MLflow's Python client renders them (0.0001, 32,
// True). Declared parameters must match their type; the whole call is
// refused on any invalid name, type or value, so nothing lands half.
// Params are write-once in MLflow: the same value again is skipped, a
// different value fails with the server's error.
func (r *Run) LogParameters(ctx context.Context, params map[string]any) error {
	if err := r.checkOpen(); err != nil {
		return err
	}
	var out []mlflow.Param
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v := params[k]
		if err := mlflow.ValidateKey(k); err != nil {
			errs = append(errs, fmt.Errorf("parameter: %w", err))
			continue
		}
		t, err := r.t.params.lookup(k)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if t != "" && !checkParamType(t, v) {
			errs = append(errs, fmt.Errorf("parameter %q is declared %s, got %T (%v)", k, t, v, v))
			continue
		}
		s, err := formatParam(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("parameter %q: %w", k, err))
			continue
		}
		if len([]rune(s)) > mlflow.MaxParamValueLength {
			errs = append(errs, fmt.Errorf("parameter %q: value longer than %d characters", k, mlflow.MaxParamValueLength))
			continue
		}
		out = append(out, mlflow.Param{Key: k, Value: s})
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tracking: log parameters: %w", err)
	}
	r.mu.Lock()
	fresh := out[:0]
	for _, p := range out {
		if prev, ok := r.params[p.Key]; !ok || prev != p.Value {
			fresh = append(fresh, p)
		}
	}
	r.mu.Unlock()
	for chunk := range slices.Chunk(fresh, mlflow.MaxParamsPerBatch) {
		if err := r.logBatch(ctx, mlflow.Batch{Params: chunk}); err != nil {
			return fmt.Errorf("tracking: log parameters: %w", err)
		}
		r.mu.Lock()
		for _, p := range chunk {
			r.params[p.Key] = p.Value
		}
		r.mu.Unlock()
	}
	return nil
}

func (r *Run) logBatch(ctx context.Context, b mlflow.Batch) error {
	return retry(ctx, func() error { return r.t.store.LogBatch(ctx, r.info.RunID, b) })
}

// LogMetrics queues metrics for the collector and returns at once: it never
// waits on the network. Names must be valid MLflow keys and declared
// metrics must match their type (an int metric takes integral values);
// otherwise the whole call is refused with an error. When the buffer is
// full (the collector is down for long) the call's points are dropped and
// counted; EndRun reports them.
func (r *Run) LogMetrics(metrics map[string]float64, opts ...LogOption) error {
	if err := r.checkOpen(); err != nil {
		return err
	}
	o := logOptions{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.hasStep && o.step < 0 {
		return fmt.Errorf("tracking: log metrics: step %d is negative", o.step)
	}
	if o.ts.IsZero() {
		o.ts = r.t.now()
	}
	pts := make([]point, 0, len(metrics))
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(metrics)) {
		v := metrics[k]
		if err := mlflow.ValidateKey(k); err != nil {
			errs = append(errs, fmt.Errorf("metric: %w", err))
			continue
		}
		t, err := r.t.metrics.lookup(k)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if t != "" && !checkMetricType(t, v) {
			errs = append(errs, fmt.Errorf("metric %q is declared %s, got %v", k, t, v))
			continue
		}
		pts = append(pts, point{sink: r.sink, key: k, value: v, step: o.step, hasStep: o.hasStep, time: o.ts})
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tracking: log metrics: %w", err)
	}
	if len(pts) > 0 {
		r.t.pipe.enqueue(r.sink, pts)
	}
	return nil
}

// LogMetric logs one metric; see LogMetrics.
func (r *Run) LogMetric(key string, value float64, opts ...LogOption) error {
	return r.LogMetrics(map[string]float64{key: value}, opts...)
}

// SetTags sets (or overwrites) tags; values longer than MLflow's limit are
// cut to it, as MLflow 2.17+ servers do.
func (r *Run) SetTags(ctx context.Context, tags map[string]string) error {
	if err := r.checkOpen(); err != nil {
		return err
	}
	var out []mlflow.Tag
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		if err := mlflow.ValidateKey(k); err != nil {
			return fmt.Errorf("tracking: set tags: %w", err)
		}
		out = append(out, mlflow.Tag{Key: k, Value: mlflow.TruncateRunes(tags[k], mlflow.MaxTagValueLength)})
	}
	for chunk := range slices.Chunk(out, mlflow.MaxTagsPerBatch) {
		if err := r.logBatch(ctx, mlflow.Batch{Tags: chunk}); err != nil {
			return fmt.Errorf("tracking: set tags: %w", err)
		}
	}
	return nil
}

// SetTag sets one tag.
func (r *Run) SetTag(ctx context.Context, key, value string) error {
	return r.SetTags(ctx, map[string]string{key: value})
}

// SetNote sets the run's description (Markdown), MLflow's run notes.
func (r *Run) SetNote(ctx context.Context, markdown string) error {
	return r.SetTag(ctx, noteTag, markdown)
}

// StartChildRun starts a run nested under r and makes it the tracker's
// active run.
func (r *Run) StartChildRun(ctx context.Context, name string) (*Run, error) {
	if err := r.checkOpen(); err != nil {
		return nil, err
	}
	return r.t.startRun(ctx, name, r)
}

// EndReport tells what became of a run's metrics when it ended.
type EndReport struct {
	RunID  string
	Status RunStatus
	// Sent counts points the collector acknowledged.
	Sent int64
	// Dropped counts points refused because the buffer was full; they are
	// lost.
	Dropped int64
	// Pending counts points still buffered when the flush deadline passed;
	// they are retried in the background until Close, which reports them
	// if they are lost then.
	Pending int64
	// FlushErr is why the flush stopped early, nil when it completed.
	FlushErr error
	// NotLanded says why the run's data could not be seen arriving in this
	// tracker's MLflow store after a complete flush: most often the
	// collector writes to another backend (a different
	// MLFLOW_TRACKING_URI) and drops the run's metrics. Nil when the
	// collector was seen ending the run, or when not checked.
	NotLanded error
}

// Complete reports whether every point logged reached the collector.
func (e *EndReport) Complete() bool { return e.Dropped == 0 && e.Pending == 0 }

func (e *EndReport) String() string {
	s := fmt.Sprintf("run %s %s: %d metric points sent, %d dropped (buffer full), %d pending", e.RunID, e.Status, e.Sent, e.Dropped, e.Pending)
	if e.FlushErr != nil {
		s += ": " + e.FlushErr.Error()
	}
	if e.NotLanded != nil {
		s += "; NOT CONFIRMED: " + e.NotLanded.Error()
	}
	return s
}

// End flushes the run's metrics to the collector (until ctx's deadline or
// Config.OTLP.FlushTimeout, whichever comes first), then sets the status
// (StatusFinished, StatusFailed or StatusKilled) and end time. Children still open are ended first with the same status.
// The report counts what was lost; the error is about the status update.
func (r *Run) End(ctx context.Context, status RunStatus) (*EndReport, error) {
	if !mlflow.RunStatus(status).Terminal() {
		return nil, fmt.Errorf("tracking: end run: status %q is not FINISHED, FAILED or KILLED", status)
	}
	r.t.mu.Lock()
	var children []*Run
	for _, c := range r.t.stack {
		if c != r && c.descendsFrom(r) {
			children = append(children, c)
		}
	}
	r.t.mu.Unlock()
	for i := len(children) - 1; i >= 0; i-- {
		if _, err := children[i].End(ctx, status); err != nil && !errors.Is(err, ErrRunEnded) {
			return nil, err
		}
	}
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return nil, ErrRunEnded
	}
	r.ended = true
	r.mu.Unlock()
	r.t.forget(r)
	// Tell the collector first, in the same flush as the run's last
	// metrics: it stops attaching host metrics to the run now.
	r.t.pipe.enqueueEnd(r.sink, string(status), r.t.now())

	// The flush leaves a fifth of the caller's deadline for the status
	// update: a run must not stay RUNNING because metrics were slow.
	budget := r.t.cfg.OTLP.FlushTimeout
	if dl, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(dl)*4/5)
	}
	fctx, cancel := context.WithTimeout(ctx, budget)
	ferr := r.t.pipe.flushSink(fctx, r.sink)
	cancel()
	rep := &EndReport{RunID: r.info.RunID, Status: status, FlushErr: ferr,
		Sent: r.sink.sent.Load(), Dropped: r.sink.dropped.Load(), Pending: r.sink.pending.Load() - r.sink.control.Load()}
	if !rep.Complete() {
		r.t.logger.Warn("run ended with undelivered metrics", "run_id", rep.RunID,
			"dropped", rep.Dropped, "pending", rep.Pending, "error", ferr)
	}
	if ferr == nil && r.t.cfg.OTLP.ConfirmTimeout > 0 {
		if rep.NotLanded = r.awaitCollector(ctx, r.t.cfg.OTLP.ConfirmTimeout); rep.NotLanded != nil {
			r.t.logger.Warn("the collector was not seen writing this run", "run_id", rep.RunID,
				"tracking_uri", r.t.backendID, "error", rep.NotLanded)
		}
	}
	err := retry(ctx, func() error {
		_, err := r.t.store.UpdateRun(ctx, mlflow.UpdateRunRequest{RunID: r.info.RunID, Status: mlflow.RunStatus(status), EndTime: r.t.now().UnixMilli()})
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("tracking: end run %s: %w", r.info.RunID, err)
	}
	return rep, nil
}

// awaitCollector waits until the store shows the collector acted on the
// run's flushed data: the run ended by its mlflow.run.end point, or any
// metric in it. The collector acknowledges OTLP before writing, so a
// collector writing elsewhere (or dropping the run) shows only here.
func (r *Run) awaitCollector(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		got, err := r.t.store.GetRun(ctx, r.info.RunID)
		switch {
		case err != nil:
			if ctx.Err() == nil { // a check cut short by the deadline says nothing
				last = err
			}
		case got.Info.Status.Terminal() || len(got.Data.Metrics) > 0:
			return nil
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("the collector acknowledged the run's data but did not write it to %s within %s; "+
				"it may write to another MLflow backend (set the same MLFLOW_TRACKING_URI for both) or be dropping the run (see its log)",
				cmp.Or(r.t.backendID, "this tracker's store"), timeout)
			if last != nil {
				return fmt.Errorf("%s: last check: %w", msg, last)
			}
			return errors.New(msg)
		case <-tick.C:
		}
	}
}

func (r *Run) descendsFrom(a *Run) bool {
	for p := r.parent; p != nil; p = p.parent {
		if p == a {
			return true
		}
	}
	return false
}
