package runs

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/translate"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/databricks"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/restclient"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// clock is a settable Settings.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newClient(t testing.TB, srv *mlflowtest.Server, cfg restclient.Config) mlflow.Store {
	t.Helper()
	cfg.TrackingURI = srv.URL()
	c, err := restclient.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ident(exp string, i int) translate.Identity {
	return translate.Identity{ExperimentName: exp, RunName: fmt.Sprintf("run-%d", i)}
}

// activeRuns counts the active runs carrying the run-key tag, per key.
func activeRuns(srv *mlflowtest.Server) map[string]int {
	out := map[string]int{}
	for _, r := range srv.Runs() {
		if r.Info.LifecycleStage != mlflow.LifecycleActive {
			continue
		}
		if k, ok := r.Tag(RunKeyTag); ok {
			out[k]++
		}
	}
	return out
}

func TestLoneNewRunSearchesByKey(t *testing.T) {
	srv := mlflowtest.Start(t)
	m := NewManager(newClient(t, srv, restclient.Config{}), Settings{})
	ctx := context.Background()
	r, err := m.Get(ctx, ident("e", 0), 1000, "")
	require.NoError(t, err)
	r.Lock()
	require.NoError(t, m.Converge(ctx, r))
	r.Unlock()
	// One search before the creation, one after it; the convergence check
	// right after is not due yet.
	assert.Equal(t, 2, srv.RequestCount("runs/search"))
	assert.Equal(t, 1, srv.RequestCount("runs/create"))
	assert.Equal(t, int64(0), m.listings.Load())
}

func TestBurstOfNewRunsListsTheExperimentOnce(t *testing.T) {
	srv := mlflowtest.Start(t)
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	m := NewManager(newClient(t, srv, restclient.Config{}), Settings{Now: clk.Now})
	ctx := context.Background()
	const n = 200
	rs := make([]*Run, n)
	for i := range n {
		r, err := m.Get(ctx, ident("e", i), 1000, "")
		require.NoError(t, err)
		r.Lock()
		require.NoError(t, m.Converge(ctx, r))
		r.Unlock()
		rs[i] = r
	}
	// One search by key (a lone new run), one listing answering the other
	// 199 lookups, and the post-creation searches the convergence budget's
	// burst allows (5); the other runs' checks wait for the budget.
	assert.Equal(t, 1+1+5, srv.RequestCount("runs/search"))
	assert.Equal(t, n, srv.RequestCount("runs/create"))
	for k, c := range activeRuns(srv) {
		assert.Equal(t, 1, c, k)
	}

	// A second later the postponed checks are answered by one listing.
	clk.Add(time.Second)
	before := srv.RequestCount("runs/search")
	for _, r := range rs {
		r.Lock()
		require.NoError(t, m.Converge(ctx, r))
		r.Unlock()
	}
	assert.Equal(t, before+1, srv.RequestCount("runs/search"))
	for _, r := range rs {
		assert.False(t, r.lastVerify.IsZero(), "every run checked once after its creation")
	}
}

func TestRestartFindsExistingRunsWithOneListing(t *testing.T) {
	srv := mlflowtest.Start(t)
	ctx := context.Background()
	const n = 300
	a := NewManager(newClient(t, srv, restclient.Config{}), Settings{})
	ids := map[string]string{}
	for i := range n {
		r, err := a.Get(ctx, ident("e", i), 1000, "")
		require.NoError(t, err)
		ids[r.key] = r.ID
	}
	searches, creates := srv.RequestCount("runs/search"), srv.RequestCount("runs/create")

	b := NewManager(newClient(t, srv, restclient.Config{}), Settings{})
	for i := range n {
		r, err := b.Get(ctx, ident("e", i), 1000, "")
		require.NoError(t, err)
		assert.Equal(t, ids[r.key], r.ID, "the restarted collector finds the same run")
	}
	assert.Equal(t, creates, srv.RequestCount("runs/create"), "nothing created again")
	assert.Equal(t, searches+2, srv.RequestCount("runs/search"), "one search by key, then one listing")
}

func TestListingCutShortFallsBackToSearchByKey(t *testing.T) {
	srv := mlflowtest.Start(t)
	ctx := context.Background()
	const n = 30
	a := NewManager(newClient(t, srv, restclient.Config{}), Settings{})
	for i := range n {
		_, err := a.Get(ctx, ident("e", i), int64(1000+i), "")
		require.NoError(t, err)
	}
	searches := srv.RequestCount("runs/search")
	b := NewManager(newClient(t, srv, restclient.Config{}), Settings{ListingMaxRuns: 10})
	for i := range n {
		_, err := b.Get(ctx, ident("e", i), int64(1000+i), "")
		require.NoError(t, err)
	}
	for k, c := range activeRuns(srv) {
		assert.Equal(t, 1, c, "no duplicate of %s", k)
	}
	// The listing reads the 10 newest runs (started last); run-0 is searched
	// by key first, run-1 triggers the listing, and the 19 older runs
	// missing from it (run-1 among them) are searched by key.
	assert.Equal(t, searches+1+1+(n-10-1), srv.RequestCount("runs/search"))
}

func TestStaleListingDoesNotHideChanges(t *testing.T) {
	srv := mlflowtest.Start(t)
	ctx := context.Background()
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	m := NewManager(newClient(t, srv, restclient.Config{}), Settings{Now: clk.Now, IdleTimeout: time.Minute, IdleEndStatus: mlflow.RunStatusKilled})
	r0, err := m.Get(ctx, ident("e", 0), 1000, "")
	require.NoError(t, err)
	r1, err := m.Get(ctx, ident("e", 1), 1000, "") // lists the experiment
	require.NoError(t, err)
	require.Equal(t, int64(1), m.listings.Load())

	// Idle-ended: found again, and reopened, not read from the listing
	// that still says RUNNING.
	clk.Add(2 * time.Minute)
	ended, err := m.EndIdle(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, ended)
	again, err := m.Get(ctx, ident("e", 0), 1000, "")
	require.NoError(t, err)
	assert.Equal(t, r0.ID, again.ID)
	got, err := m.store.GetRun(ctx, r0.ID)
	require.NoError(t, err)
	assert.Equal(t, mlflow.RunStatusRunning, got.Info.Status, "reopened")

	// Deleted under us: forgotten, then created anew rather than adopted
	// from the listing.
	require.NoError(t, m.store.DeleteRun(ctx, r1.ID))
	m.Forget(r1)
	fresh, err := m.Get(ctx, ident("e", 1), 1000, "")
	require.NoError(t, err)
	assert.NotEqual(t, r1.ID, fresh.ID)
}

// TestConvergenceMergesALaterWinner: a replica's duplicate that wins (it
// started earlier) is found by a scheduled check, and the run moves to it.
func TestConvergenceMergesALaterWinner(t *testing.T) {
	srv := mlflowtest.Start(t)
	ctx := context.Background()
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	store := newClient(t, srv, restclient.Config{})
	m := NewManager(store, Settings{Now: clk.Now})
	r, err := m.Get(ctx, ident("e", 0), 2000, "")
	require.NoError(t, err)
	dup, err := store.CreateRun(ctx, mlflow.CreateRunRequest{ExperimentID: r.ExperimentID, StartTime: 1000,
		Tags: []mlflow.Tag{{Key: RunKeyTag, Value: r.key}}})
	require.NoError(t, err)
	r.Lock()
	require.NoError(t, m.Converge(ctx, r))
	assert.NotEqual(t, dup.Info.RunID, r.ID, "not due yet")
	clk.Add(time.Second)
	require.NoError(t, m.Converge(ctx, r))
	r.Unlock()
	assert.Equal(t, dup.Info.RunID, r.ID)
	assert.Equal(t, map[string]int{r.key: 1}, activeRuns(srv))
}

// TestConvergenceScheduleBoundsSearches counts the searches of the
// convergence window of 500 new runs of one experiment exported every
// second: the checks fall due at 1, 2, 4, ... s and share listings.
// Before, each run searched every second for two minutes: 60,000 searches.
func TestConvergenceScheduleBoundsSearches(t *testing.T) {
	srv := mlflowtest.Start(t)
	ctx := context.Background()
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	m := NewManager(newClient(t, srv, restclient.Config{}), Settings{Now: clk.Now})
	const n = 500
	rs := make([]*Run, n)
	for i := range n {
		r, err := m.Get(ctx, ident("e", i), 1000, "")
		require.NoError(t, err)
		rs[i] = r
		if i%50 == 49 { // creation takes a while: 50 runs per 100 ms
			clk.Add(100 * time.Millisecond)
		}
	}
	before := srv.RequestCount("runs/search")
	checks := 0
	for s := 0; s <= 125; s++ {
		for _, r := range rs {
			r.Lock()
			last := r.lastVerify
			require.NoError(t, m.Converge(ctx, r))
			if r.lastVerify != last {
				checks++
			}
			r.Unlock()
		}
		clk.Add(time.Second)
	}
	searches := srv.RequestCount("runs/search") - before
	t.Logf("convergence of %d runs: %d checks answered by %d searches over the 2 min window", n, checks, searches)
	// About 7 checks per run (1, 2, 4, ... 64 s and near the window's end;
	// a check waiting for the next listing shifts the later ones).
	assert.GreaterOrEqual(t, checks, n*6, "every run is checked all through its window")
	assert.LessOrEqual(t, searches, 30)
	for k, c := range activeRuns(srv) {
		assert.Equal(t, 1, c, k)
	}
}

// TestFiveHundredNewRunsInADatabricksWorkspace resolves 500 new runs of one
// experiment through the client-side limiter with Databricks' published
// limits (as the exporter applies them), against the fake workspace that
// refuses with 429 what exceeds them. Ten workers stand for the exporter's
// queue consumers; each writes a run's first data right after resolving it.
func TestFiveHundredNewRunsInADatabricksWorkspace(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 11 s of rate-limited requests")
	}
	srv := mlflowtest.Start(t, mlflowtest.WithDatabricks(mlflowtest.Databricks{PATs: []string{"dapi-t"}}))
	lim, err := restclient.NewRateLimiter(databricks.DefaultRateLimits())
	require.NoError(t, err)
	store := newClient(t, srv, restclient.Config{Token: "dapi-t", RateLimiter: lim})
	m := NewManager(store, Settings{})
	ctx := context.Background()
	const n, workers = 500, 10
	start := time.Now()
	var (
		mu    sync.Mutex
		first []time.Duration
		wg    sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				r, err := m.Get(ctx, ident("/Shared/burst", i), start.UnixMilli(), "")
				if !assert.NoError(t, err) {
					return
				}
				r.Lock()
				err = m.Converge(ctx, r)
				if err == nil {
					err = store.LogBatch(ctx, r.ID, mlflow.Batch{Metrics: []mlflow.Metric{{Key: "loss", Value: 1, Timestamp: start.UnixMilli()}}})
				}
				r.Unlock()
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				first = append(first, time.Since(start))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Len(t, first, n)
	last := time.Since(start)
	searches, creates, batches := srv.RequestCount("runs/search"), srv.RequestCount("runs/create"), srv.RequestCount("runs/log-batch")
	// The time the rate limits impose on these requests, whichever group
	// binds.
	derived := time.Duration(max(float64(searches)/7, float64(creates)/127, float64(batches)/47) * float64(time.Second))
	t.Logf("%d new runs: every run's first data after %s (limits alone: %s); %d runs/search, %d runs/create, %d log-batch, %d experiments calls",
		n, last.Round(time.Millisecond), derived.Round(time.Millisecond), searches, creates, batches,
		srv.RequestCount("experiments/get-by-name")+srv.RequestCount("experiments/create"))
	assert.LessOrEqual(t, last, 90*time.Second)
	assert.LessOrEqual(t, searches, 25)
	for _, g := range restclient.Groups {
		assert.Zero(t, srv.DatabricksThrottled(g), "nothing refused in group %s", g)
	}
	for k, c := range activeRuns(srv) {
		assert.Equal(t, 1, c, k)
	}
}
