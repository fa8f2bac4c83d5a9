package runs

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// Run resolution within the search budget (docs/reliability.md section 5,
// docs/mapping.md section 1).
//
// MLflow's filter has no OR, so one search cannot ask for several run keys.
// It can ask for every run that carries the run-key tag at all:
// tags.`otelcol.mlflow.run_key` LIKE '%' selects exactly those (an empty
// value too) on MLflow 2.9.2 and 3.0.0 (conformance case
// search-tag-present). A listing of an experiment by that filter answers
// many lookups at once:
//
//   - before creating a run: a lone lookup searches by its key (one
//     request, as a single new run needs); a second miss in the same
//     experiment within ListingMaxAge lists the experiment, and later
//     lookups are answered from that listing while it is younger than
//     ListingMaxAge. A listing cut short by ListingMaxRuns answers only for
//     the keys it holds; others are searched by key.
//   - convergence checks (Manager.Converge) of every run of the experiment
//     that is due are answered by one listing started after they fell due,
//     and these searches draw from their own budget
//     (ConvergenceSearchRate, ConvergenceSearchBurst), so that they stay a
//     small share of the backend's search limit whatever the number of runs.
//
// A listing is a snapshot: a run another collector creates after it started
// is not in it. Creating a duplicate then is the race two collectors always
// had, and it is settled the same way: every run created here is searched
// for again after its creation (at once while the convergence budget
// allows, else by the next listing), and the winner is agreed on.

// listing is what one paged search of an experiment's keyed runs returned.
type listing struct {
	started     time.Time // Settings.Now when the search began
	startedWall time.Time // wall clock, for ListingMaxAge
	complete    bool
	byKey       map[string][]mlflow.Run
	// unknown keys have changed here since the listing (a run ended,
	// forgotten or retired): they are searched by key.
	unknown map[string]bool
}

func (l *listing) answer(key string) ([]mlflow.Run, bool) {
	if l.unknown[key] {
		return nil, false
	}
	runs, ok := l.byKey[key]
	if !ok && !l.complete {
		return nil, false
	}
	return slices.Clone(runs), true
}

// expIndex is what the manager knows about one experiment's keyed runs.
// Its mutex is held during a listing, so concurrent checks of one
// experiment wait for one listing instead of each sending their own.
type expIndex struct {
	mu       sync.Mutex
	last     *listing
	lastMiss time.Time // wall clock of the last lookup searched by key
}

// budget is a token bucket for convergence searches; it may go into debt
// when a listing takes several pages.
type budget struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

// take spends one token when one is there.
func (b *budget) take(now time.Time) bool {
	if b.rate <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last.IsZero() {
		b.tokens = b.burst
	} else if d := now.Sub(b.last).Seconds(); d > 0 {
		b.tokens = min(b.burst, b.tokens+d*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// charge spends n more tokens, into debt if need be.
func (b *budget) charge(n int) {
	if b.rate <= 0 || n <= 0 {
		return
	}
	b.mu.Lock()
	b.tokens -= float64(n)
	b.mu.Unlock()
}

func (m *Manager) index(expID string) *expIndex {
	m.mu.Lock()
	defer m.mu.Unlock()
	x := m.idx[expID]
	if x == nil {
		x = &expIndex{}
		m.idx[expID] = x
	}
	return x
}

// list searches every active run of the experiment that carries the run-key
// tag, newest first, up to ListingMaxRuns. It returns the listing and the
// number of requests it took.
func (m *Manager) list(ctx context.Context, expID string) (*listing, int, error) {
	l := &listing{started: m.set.Now(), startedWall: time.Now(), byKey: map[string][]mlflow.Run{}, unknown: map[string]bool{}}
	page := min(1000, m.set.ListingMaxRuns)
	req := mlflow.SearchRunsRequest{
		ExperimentIDs: []string{expID},
		Filter:        fmt.Sprintf("tags.`%s` LIKE '%%'", RunKeyTag),
		ViewType:      mlflow.ViewActiveOnly,
		MaxResults:    page,
		OrderBy:       []string{"attributes.start_time DESC"},
	}
	seen := map[string]bool{}
	n, requests := 0, 0
	for {
		res, err := m.store.SearchRuns(ctx, req)
		requests++
		if err != nil {
			return nil, requests, fmt.Errorf("list runs of experiment %s: %w", expID, err)
		}
		for _, r := range res.Runs {
			// Offset paging may return a run twice when runs are created
			// meanwhile.
			if seen[r.Info.RunID] {
				continue
			}
			seen[r.Info.RunID] = true
			k, _ := r.Tag(RunKeyTag)
			l.byKey[k] = append(l.byKey[k], r)
		}
		n += len(res.Runs)
		if res.NextPageToken == "" {
			l.complete = true
			break
		}
		if n >= m.set.ListingMaxRuns {
			break
		}
		req.PageToken = res.NextPageToken
	}
	m.listings.Add(1)
	return l, requests, nil
}

// lookup returns the active runs of the experiment carrying key, for
// deciding whether to create one; seenAt is when what it returns was
// current (Settings.Now). Call with resolveMu held.
func (m *Manager) lookup(ctx context.Context, expID, key string) (found []mlflow.Run, seenAt time.Time, err error) {
	x := m.index(expID)
	x.mu.Lock()
	defer x.mu.Unlock()
	wall := time.Now()
	fresh := x.last != nil && wall.Sub(x.last.startedWall) < m.set.ListingMaxAge
	if !fresh && (x.lastMiss.IsZero() || wall.Sub(x.lastMiss) >= m.set.ListingMaxAge) {
		// A lone new run: one search by its key.
		x.lastMiss = wall
		at := m.set.Now()
		found, err := m.findByKey(ctx, expID, key)
		return found, at, err
	}
	if !fresh {
		l, _, err := m.list(ctx, expID)
		if err != nil {
			return nil, time.Time{}, err
		}
		x.last = l
	}
	if found, ok := x.last.answer(key); ok {
		return found, x.last.started, nil
	}
	at := m.set.Now()
	found, err = m.findByKey(ctx, expID, key)
	return found, at, err
}

// noteCreated adds a run created here to the experiment's listing, so that
// a later lookup within the listing's age finds it.
func (m *Manager) noteCreated(expID, key string, run mlflow.Run) {
	x := m.index(expID)
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.last != nil {
		x.last.byKey[key] = append(x.last.byKey[key], run)
		delete(x.last.unknown, key)
	}
}

// invalidate makes lookups of key search by key again: what the listing
// says about it is no longer true (the run ended, was deleted or retired).
func (m *Manager) invalidate(expID, key string) {
	m.mu.Lock()
	x := m.idx[expID]
	m.mu.Unlock()
	if x == nil {
		return
	}
	x.mu.Lock()
	if x.last != nil {
		x.last.unknown[key] = true
	}
	x.mu.Unlock()
}

// checkRuns answers a convergence check due at due: the active runs
// carrying key, from a listing of the experiment that started at or after
// due. ok is false when the convergence budget is spent; the check is then
// postponed.
func (m *Manager) checkRuns(ctx context.Context, expID, key string, due time.Time) (found []mlflow.Run, ok bool, err error) {
	x := m.index(expID)
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.last == nil || x.last.started.Before(due) {
		if !m.budget.take(m.set.Now()) {
			return nil, false, nil
		}
		l, requests, err := m.list(ctx, expID)
		m.budget.charge(requests - 1)
		if err != nil {
			return nil, false, err
		}
		x.last = l
	}
	if found, ok := x.last.answer(key); ok {
		return found, true, nil
	}
	// Not in a listing cut short, or changed since: by key.
	m.budget.charge(1)
	found, err = m.findByKey(ctx, expID, key)
	return found, err == nil, err
}

// nextCheck is when r's next convergence check falls due: at once after a
// creation that was not searched again, then 1, 2, 4, 8, ... seconds after
// the run was resolved, and a last one a second before the window ends.
func (m *Manager) nextCheck(r *Run) (time.Time, bool) {
	start := r.verifyUntil.Add(-m.set.ConvergenceWindow)
	if r.lastVerify.IsZero() {
		return start, true
	}
	d := max(time.Second, r.lastVerify.Sub(start))
	next := r.lastVerify.Add(d)
	if last := r.verifyUntil.Add(-time.Second); next.After(last) {
		if !r.lastVerify.Before(last) {
			return time.Time{}, false
		}
		next = last
	}
	return next, true
}
