package mlflowexporter

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

func TestLanes(t *testing.T) {
	a := &AccessConfig{Tenants: map[string][]string{"team-b": {"x"}, "team-a": {"x"}, "*": {"y"}}, Weights: map[string]float64{"team-a": 3, "*": 2}}
	assert.Equal(t, []string{"team-a", "team-b", laneOthers, laneAnonymous}, laneNames(a))
	for tenant, lane := range map[string]string{"team-a": "team-a", "team-b": "team-b", "carol": laneOthers, "*": laneOthers, "": laneAnonymous} {
		assert.Equal(t, lane, laneOf(a, tenant), "tenant %q", tenant)
	}
	assert.Equal(t, 3.0, a.weightOf("team-a"))
	assert.Equal(t, 1.0, a.weightOf("team-b"), "named without a weight")
	assert.Equal(t, 2.0, a.weightOf("carol"), `unnamed: weights["*"]`)
	assert.Equal(t, 2.0, laneWeight(a, laneOthers))
	assert.Equal(t, 1.0, a.weightOf(""), "anonymous")

	id := component.MustNewIDWithName("mlflow", "gw")
	ids := map[component.ID]string{}
	for _, lane := range []string{"team-a", "team/a", "team a", laneOthers, laneAnonymous, "ünï"} {
		got := laneID(id, lane)
		require.NoError(t, got.UnmarshalText([]byte(got.String())), "lane %q: id %q must be a valid component id", lane, got)
		assert.Regexp(t, `^mlflow/gw_lane_[A-Za-z0-9_-]+$`, got.String())
		assert.Equal(t, got, laneID(id, lane), "stable")
		assert.NotContains(t, ids, got, "lanes %q and %q share an id", lane, ids[got])
		ids[got] = lane
	}
}

// A noisy tenant sending 20 times the quiet one's points, through 20 runs,
// under a request budget that binds: the noisy tenant's backlog waits in
// its own lane and the budget is shared by tenant, so the quiet tenant's
// points land within a flush and one of its slots, while the noisy one
// falls behind. With one first-in-first-out queue and a first-come limiter
// the quiet run's flushes queue behind the noisy runs' (seconds).
func TestQuietTenantIsNotDelayedByANoisyOne(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 4 s")
	}
	srv := mlflowtest.Start(t)
	cfg := createDefaultConfig().(*Config)
	cfg.TrackingURI = srv.URL()
	const flush = 100 * time.Millisecond
	cfg.QueueConfig.Get().Batch.Get().FlushTimeout = flush
	cfg.RateLimits = map[string]float64{"log_batch": 6} // a slot every 167 ms, 333 ms per tenant
	cfg.Coalesce.MaxDelay = 0                           // the lanes alone: coalescing would hold every run's points
	cfg.Access = AccessConfig{
		TenantFrom: []string{"auth.subject"},
		Tenants:    map[string][]string{"noisy": {"/Shared/noisy/*"}, "quiet": {"/Shared/quiet/*"}},
	}
	require.NoError(t, cfg.Validate())
	exp, err := NewFactory().CreateMetrics(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })

	run := func(exp, name string, step int64) res {
		return res{attrs: map[string]any{"mlflow.experiment.name": exp, "mlflow.run.name": name},
			points: []pt{{name: "loss", value: 1, step: step, at: time.Duration(step) * time.Millisecond}}}
	}
	// Create the runs first, so that what follows measures data alone.
	noisyRuns := make([]res, 20)
	for i := range noisyRuns {
		noisyRuns[i] = run("/Shared/noisy/e", fmt.Sprintf("noisy-%d", i), 0)
	}
	require.NoError(t, exp.ConsumeMetrics(asTenant("noisy"), metrics(noisyRuns...)))
	require.NoError(t, exp.ConsumeMetrics(asTenant("quiet"), metrics(run("/Shared/quiet/e", "quiet", 0))))
	require.Eventually(t, func() bool {
		for i := range noisyRuns {
			if len(runsNamed(srv, fmt.Sprintf("noisy-%d", i))) != 1 {
				return false
			}
		}
		return len(runsNamed(srv, "quiet")) == 1
	}, 30*time.Second, 10*time.Millisecond)
	quietID := oneRun(t, srv, "quiet").Info.RunID
	noisyID := oneRun(t, srv, "noisy-0").Info.RunID

	var mu sync.Mutex
	sent := map[int64]time.Time{}
	landed := map[int64]time.Duration{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // every 500 ms the quiet tenant logs one point (2/s)...
		for step := int64(1); ; step++ {
			mu.Lock()
			sent[step] = time.Now()
			mu.Unlock()
			assert.NoError(t, exp.ConsumeMetrics(asTenant("quiet"), metrics(run("/Shared/quiet/e", "quiet", step))))
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond): // the sender's pace
			}
		}
	})
	wg.Go(func() { // ...and the noisy one 20 times that, one point per run.
		for step := int64(1); ; step++ {
			rs := make([]res, 20)
			for i := range rs {
				rs[i] = run("/Shared/noisy/e", fmt.Sprintf("noisy-%d", i), step)
			}
			assert.NoError(t, exp.ConsumeMetrics(asTenant("noisy"), metrics(rs...)))
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	})
	// Watch the quiet run: when does each step land?
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range srv.MetricHistory(quietID, "loss") {
			mu.Lock()
			if _, seen := landed[m.Step]; !seen && !sent[m.Step].IsZero() {
				landed[m.Step] = time.Since(sent[m.Step])
			}
			mu.Unlock()
		}
		time.Sleep(10 * time.Millisecond) // the polling interval of the observer
	}
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(landed), 6, "quiet steps landed: %v", landed)
	worst := time.Duration(0)
	for _, d := range landed {
		worst = max(worst, d)
	}
	// Its own share is a slot every 333 ms: a point waits for its flush and
	// at most one such slot (plus scheduling slack on a loaded machine).
	assert.Less(t, worst, flush+333*time.Millisecond+600*time.Millisecond, "quiet tenant's worst delay (landed: %v)", landed)
	// The budget did bind: the noisy tenant is behind.
	noisyMax := int64(0)
	for _, m := range srv.MetricHistory(noisyID, "loss") {
		noisyMax = max(noisyMax, m.Step)
	}
	quietMax := int64(0)
	for s := range landed {
		quietMax = max(quietMax, s)
	}
	t.Logf("quiet: %d steps landed, worst delay %v; noisy-0 reached step %d of %d sent", len(landed), worst, noisyMax, quietMax)
}
