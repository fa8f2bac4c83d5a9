package runs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/translate"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// ErrRunNotFound is returned for a run id that does not exist or is deleted.
var ErrRunNotFound = errors.New("run not found or deleted")

// Settings configure a Manager.
type Settings struct {
	DedupWindow   int
	IdleTimeout   time.Duration
	IdleEndStatus mlflow.RunStatus
	// ConvergenceWindow is how long after finding or creating a run the
	// manager keeps checking for a duplicate created by another collector.
	ConvergenceWindow time.Duration
	// ConvergenceSearchRate bounds the searches that convergence checks
	// send, in requests per second for the whole manager (default 1, a
	// seventh of Databricks' search limit; negative: unbounded), with
	// bursts of up to ConvergenceSearchBurst (default 5). A check that
	// finds the budget spent waits for the next export of its run.
	ConvergenceSearchRate  float64
	ConvergenceSearchBurst int
	// ListingMaxAge is how long a listing of an experiment's runs answers
	// lookups before new runs are created (default 10s); ListingMaxRuns
	// bounds the runs one listing reads (default 5000, in pages of 1000).
	ListingMaxAge  time.Duration
	ListingMaxRuns int
	Logger         *zap.Logger
	Now            func() time.Time
}

// Manager maps run identities to MLflow runs.
type Manager struct {
	store mlflow.Store
	set   Settings

	mu   sync.Mutex
	runs map[string]*Run
	exps map[string]string // experiment name -> id
	idx  map[string]*expIndex

	// budget spaces convergence searches; listings counts listings taken.
	budget   budget
	listings atomic.Int64

	// resolveMu serialises finding and creating runs, so that two exports of
	// a new run in this process cannot both create it. Creation is rare: the
	// result is cached.
	resolveMu sync.Mutex
}

// NewManager returns a Manager writing through store.
func NewManager(store mlflow.Store, set Settings) *Manager {
	if set.Now == nil {
		set.Now = time.Now
	}
	if set.DedupWindow <= 0 {
		set.DedupWindow = 4096
	}
	if set.Logger == nil {
		set.Logger = zap.NewNop()
	}
	if set.ConvergenceWindow == 0 {
		set.ConvergenceWindow = 2 * time.Minute
	}
	if set.ConvergenceSearchRate == 0 {
		set.ConvergenceSearchRate = 1
	}
	if set.ConvergenceSearchBurst <= 0 {
		set.ConvergenceSearchBurst = 5
	}
	if set.ListingMaxAge <= 0 {
		set.ListingMaxAge = 10 * time.Second
	}
	if set.ListingMaxRuns <= 0 {
		set.ListingMaxRuns = 5000
	}
	return &Manager{
		store: store, set: set, runs: map[string]*Run{}, exps: map[string]string{}, idx: map[string]*expIndex{},
		budget: budget{rate: set.ConvergenceSearchRate, burst: float64(set.ConvergenceSearchBurst)},
	}
}

// Get returns the run for id, finding or creating it. startMs is the start
// time and user the user_id of a run created now.
func (m *Manager) Get(ctx context.Context, id translate.Identity, startMs int64, user string) (*Run, error) {
	key := id.Key()
	if r := m.cached(key); r != nil {
		return r, nil
	}
	m.resolveMu.Lock()
	defer m.resolveMu.Unlock()
	if r := m.cached(key); r != nil {
		return r, nil
	}
	r, err := m.resolve(ctx, id, startMs, user)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.runs[key] = r
	r.lastSeen = m.set.Now()
	m.mu.Unlock()
	if r.Managed {
		r.verifyUntil = m.set.Now().Add(m.set.ConvergenceWindow)
	}
	return r, nil
}

// Converge checks, during the convergence window of a run, whether another
// collector created a run for the same key that wins (see winner). If so, it
// copies what was written into r's run over to the winner, deletes r's run
// and points r at the winner. A collector whose first search saw only its
// own run cannot know about a replica that created one a moment later; the
// later replica may win the comparison, so the earlier one must look again.
// Checks fall due at once after a creation that was not searched again,
// then 1, 2, 4, ... seconds after the run was resolved (nextCheck); the due
// checks of one experiment share one listing, and their searches stay
// within ConvergenceSearchRate (a check is postponed, not skipped, while
// the budget is spent). Call with r locked.
func (m *Manager) Converge(ctx context.Context, r *Run) error {
	now := m.set.Now()
	if !r.Managed || !now.Before(r.verifyUntil) {
		return nil
	}
	due, ok := m.nextCheck(r)
	if !ok || now.Before(due) {
		return nil
	}
	found, ok, err := m.checkRuns(ctx, r.ExperimentID, r.key, due)
	if err != nil || !ok {
		return err
	}
	r.lastVerify = now
	if len(found) < 2 {
		return nil
	}
	w := winner(found)
	if w.Info.RunID == r.ID {
		return nil
	}
	m.invalidate(r.ExperimentID, r.key)
	if err := m.retire(ctx, r.ID, w); err != nil {
		return err
	}
	m.set.Logger.Info("Merged a duplicate run created concurrently by another collector",
		zap.String("run", r.Identity.String()), zap.String("from_run_id", r.ID), zap.String("into_run_id", w.Info.RunID))
	r.ID, r.StartTime = w.Info.RunID, w.Info.StartTime
	r.adopt(w.Data)
	return nil
}

// retire deletes the duplicate run loser, then copies what it holds into
// the winner. Deleting first matters: a replica still writing to the loser
// gets an error (and retries into the winner) instead of writing data that
// the copy would miss.
func (m *Manager) retire(ctx context.Context, loser string, w mlflow.Run) error {
	if err := m.store.DeleteRun(ctx, loser); err != nil && !mlflow.IsNotFound(err) && !mlflow.IsInvalidParameter(err) {
		return fmt.Errorf("delete duplicate run %q: %w", loser, err)
	}
	return m.merge(ctx, loser, w)
}

// merge copies the metric histories and params of run from into winner.
// Identical points already there are not duplicated by MLflow's SQL store.
func (m *Manager) merge(ctx context.Context, from string, winner mlflow.Run) error {
	src, err := m.store.GetRun(ctx, from)
	if err != nil {
		if mlflow.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("read duplicate run %q: %w", from, err)
	}
	var b mlflow.Batch
	have := map[string]bool{}
	for _, p := range winner.Data.Params {
		have[p.Key] = true
	}
	for _, p := range src.Data.Params {
		if !have[p.Key] {
			b.Params = append(b.Params, p)
		}
	}
	for _, latest := range src.Data.Metrics {
		hist, err := m.store.GetMetricHistory(ctx, from, latest.Key)
		if err != nil {
			return fmt.Errorf("read history %q of duplicate run %q: %w", latest.Key, from, err)
		}
		b.Metrics = append(b.Metrics, hist...)
	}
	for _, part := range mlflow.Pack(b) {
		if err := m.store.LogBatch(ctx, winner.Info.RunID, part); err != nil {
			return fmt.Errorf("copy duplicate run %q into %q: %w", from, winner.Info.RunID, err)
		}
	}
	return nil
}

func (m *Manager) cached(key string) *Run {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.runs[key]
	if r != nil {
		r.lastSeen = m.set.Now()
	}
	return r
}

// Touch records that data for r arrived, with its newest point.
func (m *Manager) Touch(r *Run, lastPointMs int64) {
	m.mu.Lock()
	r.lastSeen = m.set.Now()
	r.lastPointMs = max(r.lastPointMs, lastPointMs)
	m.mu.Unlock()
}

// Forget drops r from the cache, so that the next Get resolves it again
// (after the run was deleted under us, for instance).
func (m *Manager) Forget(r *Run) {
	m.mu.Lock()
	if m.runs[r.key] == r {
		delete(m.runs, r.key)
	}
	m.mu.Unlock()
	m.invalidate(r.ExperimentID, r.key)
}

func (m *Manager) resolve(ctx context.Context, id translate.Identity, startMs int64, user string) (*Run, error) {
	r, err := m.resolveOnce(ctx, id, startMs, user)
	if err != nil && id.RunID == "" && id.ExperimentID == "" && mlflow.IsExperimentInactive(err) {
		// The experiment was deleted after its id was cached. Looking it up
		// by name again restores it, and MLflow restores its runs with it.
		m.mu.Lock()
		if expID, ok := m.exps[id.ExperimentName]; ok {
			delete(m.idx, expID)
		}
		delete(m.exps, id.ExperimentName)
		m.mu.Unlock()
		return m.resolveOnce(ctx, id, startMs, user)
	}
	return r, err
}

func (m *Manager) resolveOnce(ctx context.Context, id translate.Identity, startMs int64, user string) (*Run, error) {
	if id.RunID != "" {
		got, err := m.store.GetRun(ctx, id.RunID)
		if err != nil {
			if mlflow.IsNotFound(err) {
				return nil, fmt.Errorf("run %q: %w", id.RunID, ErrRunNotFound)
			}
			return nil, fmt.Errorf("get run %q: %w", id.RunID, err)
		}
		if got.Info.LifecycleStage == mlflow.LifecycleDeleted {
			return nil, fmt.Errorf("run %q: %w", id.RunID, ErrRunNotFound)
		}
		r := newRun(got.Info.RunID, got.Info.ExperimentID, got.Info.StartTime, id, false, m.set.DedupWindow)
		r.Resolution = "by_id"
		r.adopt(got.Data)
		return r, nil
	}

	expID, err := m.experimentID(ctx, id)
	if err != nil {
		return nil, err
	}
	key := id.Key()
	found, seenAt, err := m.lookup(ctx, expID, key)
	if err != nil {
		return nil, err
	}
	if len(found) > 0 {
		r, err := m.adoptExisting(ctx, winner(found), id)
		if r != nil {
			// What the lookup saw counts as a check at that time.
			r.lastVerify = seenAt
		}
		return r, err
	}

	// The run is created with only what identifies it; every other tag goes
	// through log-batch with the run's data, where a value MLflow refuses
	// is narrowed down and dropped alone instead of failing the creation
	// (and with it all of the run's data).
	tags := []mlflow.Tag{{Key: RunKeyTag, Value: key}}
	if parentID, err := m.parentID(ctx, id, startMs); err != nil {
		return nil, err
	} else if parentID != "" {
		tags = append(tags, mlflow.Tag{Key: "mlflow.parentRunId", Value: parentID})
	}
	created, err := m.store.CreateRun(ctx, mlflow.CreateRunRequest{
		ExperimentID: expID, RunName: id.RunName, StartTime: startMs, Tags: tags, UserID: user,
	})
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", id, err)
	}
	m.noteCreated(expID, key, mlflow.Run{Info: created.Info, Data: mlflow.RunData{Tags: tags}})
	// Another collector may have created the same run concurrently. Every
	// collector that sees several picks the same winner; a loser deletes its
	// own run, which holds no data yet. The search after the creation is
	// made at once while the convergence budget allows; in a burst of new
	// runs it is left to the first convergence check (Converge), which one
	// listing answers for all of them.
	checked := time.Time{}
	found = nil
	if m.budget.take(m.set.Now()) {
		checked = m.set.Now()
		found, err = m.findByKey(ctx, expID, key)
		if err != nil {
			return nil, err
		}
	}
	if len(found) > 1 {
		if w := winner(found); w.Info.RunID != created.Info.RunID {
			// Another replica may already have adopted our run and written
			// to it: retire it like any duplicate, not as if it were empty.
			if err := m.retire(ctx, created.Info.RunID, w); err != nil {
				return nil, err
			}
			m.set.Logger.Info("Another collector created the same run; using the one all collectors agree on",
				zap.String("run", id.String()), zap.String("run_id", w.Info.RunID))
			m.invalidate(expID, key)
			r, err := m.adoptExisting(ctx, w, id)
			if err == nil {
				r.verifyUntil = m.set.Now().Add(m.set.ConvergenceWindow)
				r.lastVerify = checked
			}
			return r, err
		}
	}
	m.set.Logger.Info("Created MLflow run", zap.String("run", id.String()),
		zap.String("run_id", created.Info.RunID), zap.String("experiment_id", expID))
	r := newRun(created.Info.RunID, expID, created.Info.StartTime, id, true, m.set.DedupWindow)
	r.Resolution = "created"
	if r.StartTime == 0 {
		r.StartTime = startMs
	}
	r.adopt(mlflow.RunData{Tags: tags})
	r.lastVerify = checked
	return r, nil
}

// UserFromTags is the run's user as its tags name it (the last
// mlflow.user), for runs/create's user_id.
func UserFromTags(tags []mlflow.Tag) string {
	user := ""
	for _, t := range tags {
		if t.Key == "mlflow.user" {
			user = t.Value
		}
	}
	return user
}

func (m *Manager) adoptExisting(ctx context.Context, found mlflow.Run, id translate.Identity) (*Run, error) {
	r := newRun(found.Info.RunID, found.Info.ExperimentID, found.Info.StartTime, id, true, m.set.DedupWindow)
	r.Resolution = "resumed"
	r.adopt(found.Data)
	if found.Info.Status.Terminal() {
		if reason, _ := found.Tag(EndReasonTag); reason == EndReasonIdle {
			if _, err := m.store.UpdateRun(ctx, mlflow.UpdateRunRequest{RunID: r.ID, Status: mlflow.RunStatusRunning}); err != nil {
				return nil, fmt.Errorf("reopen idle-ended run %q: %w", r.ID, err)
			}
			if err := m.store.LogBatch(ctx, r.ID, mlflow.Batch{Tags: []mlflow.Tag{{Key: EndReasonTag, Value: "reopened"}}}); err != nil {
				return nil, fmt.Errorf("tag reopened run %q: %w", r.ID, err)
			}
			r.tags[EndReasonTag] = "reopened"
		} else {
			r.ended = true
		}
	}
	return r, nil
}

// winner is the run every collector agrees on: earliest start, then
// smallest id.
func winner(runs []mlflow.Run) mlflow.Run {
	w := runs[0]
	for _, r := range runs[1:] {
		if r.Info.StartTime < w.Info.StartTime || r.Info.StartTime == w.Info.StartTime && r.Info.RunID < w.Info.RunID {
			w = r
		}
	}
	return w
}

func (m *Manager) findByKey(ctx context.Context, expID, key string) ([]mlflow.Run, error) {
	var out []mlflow.Run
	req := mlflow.SearchRunsRequest{
		ExperimentIDs: []string{expID},
		Filter:        fmt.Sprintf("tags.`%s` = '%s'", RunKeyTag, key),
		ViewType:      mlflow.ViewActiveOnly,
		MaxResults:    100,
		OrderBy:       []string{"attributes.start_time ASC"},
	}
	for page := 0; page < 10; page++ {
		res, err := m.store.SearchRuns(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("search runs with key %s in experiment %s: %w", key, expID, err)
		}
		out = append(out, res.Runs...)
		if res.NextPageToken == "" {
			break
		}
		req.PageToken = res.NextPageToken
	}
	return out, nil
}

func (m *Manager) experimentID(ctx context.Context, id translate.Identity) (string, error) {
	if id.ExperimentID != "" {
		return id.ExperimentID, nil
	}
	m.mu.Lock()
	expID, ok := m.exps[id.ExperimentName]
	m.mu.Unlock()
	if ok {
		return expID, nil
	}
	expID, err := mlflow.GetOrCreateExperiment(ctx, m.store, id.ExperimentName, nil)
	if err != nil {
		return "", err
	}
	m.mu.Lock()
	m.exps[id.ExperimentName] = expID
	m.mu.Unlock()
	return expID, nil
}

// parentID resolves the parent run; a parent named but not yet seen is
// created like any run (called with resolveMu held).
func (m *Manager) parentID(ctx context.Context, id translate.Identity, startMs int64) (string, error) {
	if id.ParentRunID != "" {
		return id.ParentRunID, nil
	}
	pid, ok := id.Parent()
	if !ok {
		return "", nil
	}
	if r := m.cached(pid.Key()); r != nil {
		return r.ID, nil
	}
	r, err := m.resolve(ctx, pid, startMs, "")
	if err != nil {
		return "", fmt.Errorf("parent %s: %w", pid, err)
	}
	m.mu.Lock()
	m.runs[pid.Key()] = r
	r.lastSeen = m.set.Now()
	m.mu.Unlock()
	return r.ID, nil
}

// End ends r with status at endMs, or at its newest system point when
// that is later, so that no host metric lies after the run's end.
func (m *Manager) End(ctx context.Context, r *Run, status mlflow.RunStatus, endMs int64) error {
	m.mu.Lock()
	endMs = max(endMs, r.lastSystemMs)
	m.mu.Unlock()
	if _, err := m.store.UpdateRun(ctx, mlflow.UpdateRunRequest{RunID: r.ID, Status: status, EndTime: endMs}); err != nil {
		return fmt.Errorf("end run %q with %s: %w", r.ID, status, err)
	}
	m.mu.Lock()
	r.ended = true
	m.mu.Unlock()
	m.invalidate(r.ExperimentID, r.key)
	return nil
}

// EndIdle ends managed runs without data for the idle timeout and forgets
// every idle run. It returns the number of runs ended.
func (m *Manager) EndIdle(ctx context.Context) (int, error) {
	if m.set.IdleTimeout <= 0 {
		return 0, nil
	}
	cutoff := m.set.Now().Add(-m.set.IdleTimeout)
	var idle []*Run
	m.mu.Lock()
	for k, r := range m.runs {
		if r.lastSeen.Before(cutoff) {
			idle = append(idle, r)
			delete(m.runs, k)
		}
	}
	m.mu.Unlock()
	for _, r := range idle {
		m.invalidate(r.ExperimentID, r.key)
	}
	var errs []error
	ended := 0
	for _, r := range idle {
		if !r.Managed || r.ended {
			continue
		}
		r.Lock()
		err := m.store.LogBatch(ctx, r.ID, mlflow.Batch{Tags: []mlflow.Tag{{Key: EndReasonTag, Value: EndReasonIdle}}})
		if err == nil {
			m.mu.Lock()
			end := max(r.lastPointMs, r.lastSystemMs)
			m.mu.Unlock()
			if end == 0 {
				end = m.set.Now().UnixMilli()
			}
			_, err = m.store.UpdateRun(ctx, mlflow.UpdateRunRequest{RunID: r.ID, Status: m.set.IdleEndStatus, EndTime: end})
		}
		r.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("end idle run %q: %w", r.ID, err))
			continue
		}
		ended++
		m.set.Logger.Info("Ended idle MLflow run", zap.String("run_id", r.ID),
			zap.String("status", string(m.set.IdleEndStatus)), zap.Duration("idle_timeout", m.set.IdleTimeout))
	}
	return ended, errors.Join(errs...)
}

// EndAll ends every managed run that has not ended (used at shutdown when
// configured).
func (m *Manager) EndAll(ctx context.Context, status mlflow.RunStatus) error {
	m.mu.Lock()
	var open []*Run
	for _, r := range m.runs {
		if r.Managed && !r.ended {
			open = append(open, r)
		}
	}
	m.mu.Unlock()
	var errs []error
	for _, r := range open {
		m.mu.Lock()
		end := r.lastPointMs
		m.mu.Unlock()
		if end == 0 {
			end = m.set.Now().UnixMilli()
		}
		if err := m.End(ctx, r, status, end); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// NoteSystemPoint records that a host point at tsMs was written into r.
// Unlike Touch it does not keep the run alive: host metrics are not the
// run's own data.
func (m *Manager) NoteSystemPoint(r *Run, tsMs int64) {
	m.mu.Lock()
	r.lastSystemMs = max(r.lastSystemMs, tsMs)
	m.mu.Unlock()
}

// EndedElsewhere asks the backend, at most once per every, whether r was
// ended there (mlflow.end_run(), the UI, the tracking API's own update) and
// if so marks it ended, so that host metrics stop going into it. MLflow
// accepts data for finished runs, so nothing else would tell.
func (m *Manager) EndedElsewhere(ctx context.Context, r *Run, every time.Duration) (bool, error) {
	now := m.set.Now()
	m.mu.Lock()
	ended, due := r.ended, every > 0 && now.Sub(r.lastEndCheck) >= every
	if due {
		r.lastEndCheck = now
	}
	m.mu.Unlock()
	if ended || !due {
		return ended, nil
	}
	got, err := m.store.GetRun(ctx, r.ID)
	if err != nil {
		return false, fmt.Errorf("check status of run %q: %w", r.ID, err)
	}
	if !got.Info.Status.Terminal() && got.Info.LifecycleStage != mlflow.LifecycleDeleted {
		return false, nil
	}
	m.mu.Lock()
	r.ended = true
	m.mu.Unlock()
	m.invalidate(r.ExperimentID, r.key)
	m.set.Logger.Info("MLflow run ended outside the collector; no more system metrics go into it",
		zap.String("run_id", r.ID), zap.String("status", string(got.Info.Status)))
	return true, nil
}

// containerPID is a process.pid with the container.id of its resource.
type containerPID struct {
	pid       int64
	container string
}

// Observe records where the run's own telemetry came from: host, the
// resource's process.pid (0: none) and container.id ("": none).
func (m *Manager) Observe(r *Run, host string, pid int64, containerID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if host != "" {
		r.hosts[host] = m.set.Now()
	}
	if pid == 0 {
		return
	}
	if containerID != "" && r.cpids == nil {
		// Until now every pid came without a container.
		r.cpids = make(map[containerPID]struct{}, len(r.pids)+1)
		for p := range r.pids {
			r.cpids[containerPID{p, ""}] = struct{}{}
		}
	}
	r.pids[pid] = struct{}{}
	if r.cpids != nil {
		r.cpids[containerPID{pid, containerID}] = struct{}{}
	}
}

// RunsOnHost returns the runs that have not ended and whose own telemetry
// came from host after since, with the number of hosts each run has seen
// since then (more than one: a multi-node run).
func (m *Manager) RunsOnHost(host string, since time.Time) (runs []*Run, hostCounts []int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.runs {
		if r.ended {
			continue
		}
		if t, ok := r.hosts[host]; !ok || t.Before(since) {
			continue
		}
		n := 0
		for _, t := range r.hosts {
			if !t.Before(since) {
				n++
			}
		}
		runs = append(runs, r)
		hostCounts = append(hostCounts, n)
	}
	return runs, hostCounts
}

// HasPID reports whether a per-process point belongs to the run
// (docs/mapping.md §9): its host pid is a process.pid the run's telemetry
// reported, or, for a process in another PID namespace, its pid there
// (vpid, 0 when none) is one the run reported from a resource without a
// container.id or with the point's container.id.
func (m *Manager) HasPID(r *Run, pid, vpid int64, containerID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := r.pids[pid]; ok {
		return true
	}
	if vpid == 0 {
		return false
	}
	if r.cpids == nil {
		_, ok := r.pids[vpid] // no resource named a container
		return ok
	}
	if _, ok := r.cpids[containerPID{vpid, ""}]; ok {
		return true
	}
	if containerID == "" {
		return false
	}
	_, ok := r.cpids[containerPID{vpid, containerID}]
	return ok
}
