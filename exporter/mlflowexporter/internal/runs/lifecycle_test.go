package runs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/translate"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/gpuset"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/restclient"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// fixture is a Manager on a settable clock writing to a test server.
type fixture struct {
	srv   *mlflowtest.Server
	store mlflow.Store
	clk   *clock
	m     *Manager
	ctx   context.Context
}

func newFixture(t *testing.T, set Settings) *fixture {
	t.Helper()
	f := &fixture{srv: mlflowtest.Start(t), clk: &clock{now: time.Unix(1_700_000_000, 0)}, ctx: context.Background()}
	f.store = newClient(t, f.srv, restclient.Config{})
	set.Now = f.clk.Now
	f.m = NewManager(f.store, set)
	return f
}

func (f *fixture) get(t *testing.T, id translate.Identity) *Run {
	t.Helper()
	r, err := f.m.Get(f.ctx, id, 1000, "")
	require.NoError(t, err)
	return r
}

// serverRun is the run as the backend holds it.
func (f *fixture) serverRun(t *testing.T, id string) mlflow.Run {
	t.Helper()
	for _, r := range f.srv.Runs() {
		if r.Info.RunID == id {
			return r
		}
	}
	t.Fatalf("run %s not on the server", id)
	return mlflow.Run{}
}

// deleteExperiment deletes an experiment (and its runs) the way the UI does;
// mlflow.Store has no such call.
func (f *fixture) deleteExperiment(t *testing.T, id string) {
	t.Helper()
	resp, err := http.Post(f.srv.URL()+"/api/2.0/mlflow/experiments/delete", "application/json",
		strings.NewReader(fmt.Sprintf(`{"experiment_id":%q}`, id)))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func tagOf(r mlflow.Run, key string) string {
	v, _ := r.Tag(key)
	return v
}

// TestGetCreatesRun: a run not seen before is created with its name, start
// time, user, run-key tag and parent, in its experiment (created when
// named and absent).
func TestGetCreatesRun(t *testing.T) {
	tests := []struct {
		name string
		// setup may create what the identity refers to; it returns the
		// identity and the expected parent run id ("" for none, "new" for a
		// parent this Get creates).
		setup func(t *testing.T, f *fixture) (translate.Identity, string)
		user  string
	}{
		{
			name: "experiment by name, created",
			setup: func(*testing.T, *fixture) (translate.Identity, string) {
				return translate.Identity{ExperimentName: "new-exp", RunName: "r1"}, ""
			},
			user: "alice",
		},
		{
			name: "experiment by id",
			setup: func(t *testing.T, f *fixture) (translate.Identity, string) {
				id, err := f.store.CreateExperiment(f.ctx, "by-id", nil)
				require.NoError(t, err)
				return translate.Identity{ExperimentID: id, RunName: "r1"}, ""
			},
		},
		{
			name: "parent by id",
			setup: func(t *testing.T, f *fixture) (translate.Identity, string) {
				p := f.get(t, translate.Identity{ExperimentName: "e", RunName: "parent"})
				return translate.Identity{ExperimentName: "e", RunName: "child", ParentRunID: p.ID}, p.ID
			},
		},
		{
			name: "parent by name, created with the child",
			setup: func(*testing.T, *fixture) (translate.Identity, string) {
				return translate.Identity{ExperimentName: "e", RunName: "child", ParentRunName: "parent"}, "new"
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Settings{})
			id, wantParent := tc.setup(t, f)
			creates := f.srv.RequestCount("runs/create")
			r, err := f.m.Get(f.ctx, id, 4242, tc.user)
			require.NoError(t, err)

			assert.Equal(t, "created", r.Resolution)
			assert.True(t, r.Managed)
			assert.Equal(t, id, r.Identity)
			assert.Equal(t, int64(4242), r.StartTime)
			got := f.serverRun(t, r.ID)
			assert.Equal(t, id.RunName, got.Info.RunName)
			assert.Equal(t, tc.user, got.Info.UserID)
			assert.Equal(t, int64(4242), got.Info.StartTime)
			assert.Equal(t, mlflow.RunStatusRunning, got.Info.Status)
			assert.Equal(t, id.Key(), tagOf(got, RunKeyTag))
			assert.Equal(t, r.ExperimentID, got.Info.ExperimentID)
			if id.ExperimentID != "" {
				assert.Equal(t, id.ExperimentID, r.ExperimentID)
			} else {
				exp, err := f.store.GetExperiment(f.ctx, r.ExperimentID)
				require.NoError(t, err)
				assert.Equal(t, id.ExperimentName, exp.Name)
			}

			switch wantParent {
			case "":
				assert.Equal(t, creates+1, f.srv.RequestCount("runs/create"))
				_, has := got.Tag("mlflow.parentRunId")
				assert.False(t, has)
			case "new":
				assert.Equal(t, creates+2, f.srv.RequestCount("runs/create"), "parent and child")
				parent := f.serverRun(t, tagOf(got, "mlflow.parentRunId"))
				assert.Equal(t, id.ParentRunName, parent.Info.RunName)
				pid, _ := id.Parent()
				assert.Equal(t, pid.Key(), tagOf(parent, RunKeyTag))
				// The parent is cached like any run.
				p := f.m.cached(pid.Key())
				require.NotNil(t, p)
				assert.Equal(t, parent.Info.RunID, p.ID)
			default:
				assert.Equal(t, wantParent, tagOf(got, "mlflow.parentRunId"))
			}

			// Cached: the next Get asks the backend nothing.
			before := f.srv.RequestCount("")
			again := f.get(t, id)
			assert.Same(t, r, again)
			assert.Equal(t, before, f.srv.RequestCount(""))
		})
	}
}

// TestGetFindsExistingRunByKey: a run already holding the identity's run
// key (created by an earlier process) is resumed, not created again; an
// idle-ended one is reopened, one ended otherwise stays ended.
func TestGetFindsExistingRunByKey(t *testing.T) {
	tests := []struct {
		name       string
		status     mlflow.RunStatus
		reason     string // EndReasonTag on the existing run
		wantStatus mlflow.RunStatus
		wantReason string
		wantEnded  bool
	}{
		{name: "running", status: mlflow.RunStatusRunning, wantStatus: mlflow.RunStatusRunning},
		{name: "idle-ended: reopened", status: mlflow.RunStatusKilled, reason: EndReasonIdle,
			wantStatus: mlflow.RunStatusRunning, wantReason: "reopened"},
		{name: "finished by its user: stays ended", status: mlflow.RunStatusFinished,
			wantStatus: mlflow.RunStatusFinished, wantEnded: true},
		{name: "ended at shutdown: stays ended", status: mlflow.RunStatusFailed, reason: "shutdown",
			wantStatus: mlflow.RunStatusFailed, wantReason: "shutdown", wantEnded: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Settings{})
			id := translate.Identity{ExperimentName: "e", RunName: "r"}
			expID, err := mlflow.GetOrCreateExperiment(f.ctx, f.store, "e", nil)
			require.NoError(t, err)
			tags := []mlflow.Tag{{Key: RunKeyTag, Value: id.Key()}}
			if tc.reason != "" {
				tags = append(tags, mlflow.Tag{Key: EndReasonTag, Value: tc.reason})
			}
			existing, err := f.store.CreateRun(f.ctx, mlflow.CreateRunRequest{ExperimentID: expID, RunName: "r", StartTime: 500, Tags: tags})
			require.NoError(t, err)
			require.NoError(t, f.store.LogBatch(f.ctx, existing.Info.RunID, mlflow.Batch{Params: []mlflow.Param{{Key: "lr", Value: "0.1"}}}))
			if tc.status != mlflow.RunStatusRunning {
				_, err := f.store.UpdateRun(f.ctx, mlflow.UpdateRunRequest{RunID: existing.Info.RunID, Status: tc.status, EndTime: 900})
				require.NoError(t, err)
			}
			creates := f.srv.RequestCount("runs/create")

			r := f.get(t, id)
			assert.Equal(t, existing.Info.RunID, r.ID)
			assert.Equal(t, "resumed", r.Resolution)
			assert.Equal(t, int64(500), r.StartTime)
			assert.True(t, r.Managed)
			assert.True(t, r.HasParam("lr", "0.1"), "what the run holds is adopted")
			assert.False(t, r.HasParam("lr", "0.2"))
			assert.Equal(t, creates, f.srv.RequestCount("runs/create"))
			got := f.serverRun(t, r.ID)
			assert.Equal(t, tc.wantStatus, got.Info.Status)
			assert.Equal(t, tc.wantReason, tagOf(got, EndReasonTag))
			ended, err := f.m.EndedElsewhere(f.ctx, r, 0)
			require.NoError(t, err)
			assert.Equal(t, tc.wantEnded, ended)
		})
	}
}

// TestGetByRunID: a run named by mlflow.run.id is used as it is and not
// managed; a missing or deleted one is ErrRunNotFound.
func TestGetByRunID(t *testing.T) {
	f := newFixture(t, Settings{})
	expID, err := mlflow.GetOrCreateExperiment(f.ctx, f.store, "e", nil)
	require.NoError(t, err)
	live, err := f.store.CreateRun(f.ctx, mlflow.CreateRunRequest{ExperimentID: expID, StartTime: 700})
	require.NoError(t, err)
	require.NoError(t, f.store.LogBatch(f.ctx, live.Info.RunID, mlflow.Batch{Params: []mlflow.Param{{Key: "p", Value: "v"}}}))
	gone, err := f.store.CreateRun(f.ctx, mlflow.CreateRunRequest{ExperimentID: expID})
	require.NoError(t, err)
	require.NoError(t, f.store.DeleteRun(f.ctx, gone.Info.RunID))

	tests := []struct {
		name    string
		runID   string
		wantErr error
	}{
		{name: "live", runID: live.Info.RunID},
		{name: "deleted", runID: gone.Info.RunID, wantErr: ErrRunNotFound},
		{name: "unknown", runID: "0123456789abcdef0123456789abcdef", wantErr: ErrRunNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			creates := f.srv.RequestCount("runs/create")
			r, err := f.m.Get(f.ctx, translate.Identity{RunID: tc.runID}, 1000, "")
			assert.Equal(t, creates, f.srv.RequestCount("runs/create"), "never created")
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				assert.Nil(t, r)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.runID, r.ID)
			assert.Equal(t, "by_id", r.Resolution)
			assert.False(t, r.Managed)
			assert.Equal(t, expID, r.ExperimentID)
			assert.Equal(t, int64(700), r.StartTime)
			assert.True(t, r.HasParam("p", "v"))
		})
	}

	// A backend failure other than not-found is no ErrRunNotFound.
	f.srv.AddFault(mlflowtest.Fault{RPC: "runs/get", Status: http.StatusBadRequest, ErrorCode: "INVALID_PARAMETER_VALUE", Message: "nope"})
	_, err = f.m.Get(f.ctx, translate.Identity{RunID: "fedcba9876543210fedcba9876543210"}, 1000, "")
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrRunNotFound)
}

// TestRunDeletedUnderUs: the cached run keeps being returned until the
// caller, told by the backend that it is gone, forgets it; the next Get
// creates a new run rather than finding the deleted one.
func TestRunDeletedUnderUs(t *testing.T) {
	f := newFixture(t, Settings{})
	id := translate.Identity{ExperimentName: "e", RunName: "r"}
	r := f.get(t, id)
	require.NoError(t, f.store.DeleteRun(f.ctx, r.ID))
	assert.Same(t, r, f.get(t, id), "cached until forgotten")

	f.m.Forget(r)
	fresh := f.get(t, id)
	assert.NotEqual(t, r.ID, fresh.ID)
	assert.Equal(t, "created", fresh.Resolution)
	assert.Equal(t, map[string]int{id.Key(): 1}, activeRuns(f.srv))

	// Forgetting a stale copy leaves the current run cached.
	f.m.Forget(r)
	assert.Same(t, fresh, f.get(t, id))
}

// TestDeletedExperiment: an experiment deleted after its id was cached is
// restored (with its runs) when it is named by name; named by id, the
// refusal is returned.
func TestDeletedExperiment(t *testing.T) {
	t.Run("by name: restored", func(t *testing.T) {
		f := newFixture(t, Settings{})
		first := f.get(t, translate.Identity{ExperimentName: "e", RunName: "first"})
		f.deleteExperiment(t, first.ExperimentID)

		r := f.get(t, translate.Identity{ExperimentName: "e", RunName: "second"})
		assert.Equal(t, first.ExperimentID, r.ExperimentID, "the same experiment, restored")
		exp, err := f.store.GetExperiment(f.ctx, r.ExperimentID)
		require.NoError(t, err)
		assert.Equal(t, mlflow.LifecycleActive, exp.LifecycleStage)
		assert.Equal(t, mlflow.LifecycleActive, f.serverRun(t, first.ID).Info.LifecycleStage, "its runs restored with it")
		assert.Equal(t, mlflow.LifecycleActive, f.serverRun(t, r.ID).Info.LifecycleStage)
	})
	t.Run("by id: refused", func(t *testing.T) {
		f := newFixture(t, Settings{})
		expID, err := f.store.CreateExperiment(f.ctx, "e", nil)
		require.NoError(t, err)
		f.deleteExperiment(t, expID)
		_, err = f.m.Get(f.ctx, translate.Identity{ExperimentID: expID, RunName: "r"}, 1000, "")
		require.Error(t, err)
		assert.True(t, mlflow.IsExperimentInactive(err), "%v", err)
		exp, err := f.store.GetExperiment(f.ctx, expID)
		require.NoError(t, err)
		assert.Equal(t, mlflow.LifecycleDeleted, exp.LifecycleStage, "not restored behind the user's back")
	})
}

// TestEnd: a run ends with the status given, at the end time given or at
// its newest host point when that is later; an ended run is left out of
// RunsOnHost and EndAll.
func TestEnd(t *testing.T) {
	tests := []struct {
		name     string
		status   mlflow.RunStatus
		endMs    int64
		systemMs int64 // NoteSystemPoint; 0: none
		wantEnd  int64
	}{
		{name: "finished", status: mlflow.RunStatusFinished, endMs: 5000, wantEnd: 5000},
		{name: "failed", status: mlflow.RunStatusFailed, endMs: 5000, wantEnd: 5000},
		{name: "killed", status: mlflow.RunStatusKilled, endMs: 5000, wantEnd: 5000},
		{name: "host point later", status: mlflow.RunStatusFinished, endMs: 5000, systemMs: 7000, wantEnd: 7000},
		{name: "host point earlier", status: mlflow.RunStatusFinished, endMs: 5000, systemMs: 3000, wantEnd: 5000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Settings{})
			r := f.get(t, translate.Identity{ExperimentName: "e", RunName: "r"})
			f.m.Observe(r, "node-1", 0, "")
			if tc.systemMs != 0 {
				f.m.NoteSystemPoint(r, tc.systemMs)
				f.m.NoteSystemPoint(r, tc.systemMs-1) // an older one changes nothing
			}
			require.NoError(t, f.m.End(f.ctx, r, tc.status, tc.endMs))
			got := f.serverRun(t, r.ID)
			assert.Equal(t, tc.status, got.Info.Status)
			assert.Equal(t, tc.wantEnd, got.Info.EndTime)

			runs, _ := f.m.RunsOnHost("node-1", time.Time{})
			assert.Empty(t, runs, "an ended run gets no more host metrics")
			updates := f.srv.RequestCount("runs/update")
			require.NoError(t, f.m.EndAll(f.ctx, mlflow.RunStatusKilled))
			assert.Equal(t, updates, f.srv.RequestCount("runs/update"), "not ended twice")
		})
	}

	t.Run("refused", func(t *testing.T) {
		f := newFixture(t, Settings{})
		r := f.get(t, translate.Identity{ExperimentName: "e", RunName: "r"})
		f.srv.AddFault(mlflowtest.Fault{RPC: "runs/update", Times: 1, Status: http.StatusBadRequest, ErrorCode: "INVALID_PARAMETER_VALUE", Message: "no"})
		require.Error(t, f.m.End(f.ctx, r, mlflow.RunStatusFinished, 5000))
		ended, err := f.m.EndedElsewhere(f.ctx, r, 0)
		require.NoError(t, err)
		assert.False(t, ended, "a failed end leaves the run open")
	})
}

// TestEndIdle: runs without data for the idle timeout are ended with the
// idle status and tag, at their newest point, and forgotten; runs with
// recent data, runs not managed here and runs already ended are not
// updated.
func TestEndIdle(t *testing.T) {
	type runSpec struct {
		name      string
		byID      bool  // named by mlflow.run.id: not managed
		touchedAt int64 // seconds after the start of the test; -1: never
		pointMs   int64 // newest point passed to Touch
		systemMs  int64 // NoteSystemPoint
		ended     bool  // ended by End before the sweep
	}
	tests := []struct {
		name        string
		timeout     time.Duration
		runs        []runSpec
		wantEnded   []string         // run names ended by the sweep
		wantEnd     map[string]int64 // end time per ended run; 0: now
		wantDropped []string         // run names forgotten
	}{
		{
			name:    "disabled",
			timeout: 0,
			runs:    []runSpec{{name: "a", touchedAt: -1}},
		},
		{
			name:    "idle ends at newest point, recent kept",
			timeout: time.Minute,
			runs: []runSpec{
				{name: "idle", touchedAt: 10, pointMs: 4000},
				{name: "idle-system-later", touchedAt: 10, pointMs: 4000, systemMs: 6000},
				{name: "idle-no-points", touchedAt: -1},
				{name: "recent", touchedAt: 100, pointMs: 9000},
			},
			wantEnded:   []string{"idle", "idle-system-later", "idle-no-points"},
			wantEnd:     map[string]int64{"idle": 4000, "idle-system-later": 6000, "idle-no-points": 0},
			wantDropped: []string{"idle", "idle-system-later", "idle-no-points"},
		},
		{
			name:    "not managed or already ended: forgotten only",
			timeout: time.Minute,
			runs: []runSpec{
				{name: "by-id", byID: true, touchedAt: -1},
				{name: "ended", touchedAt: -1, ended: true},
			},
			wantDropped: []string{"by-id", "ended"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Settings{IdleTimeout: tc.timeout, IdleEndStatus: mlflow.RunStatusKilled})
			start := f.clk.Now()
			byName := map[string]*Run{}
			idents := map[string]translate.Identity{}
			for _, s := range tc.runs {
				id := translate.Identity{ExperimentName: "e", RunName: s.name}
				if s.byID {
					expID, err := mlflow.GetOrCreateExperiment(f.ctx, f.store, "e", nil)
					require.NoError(t, err)
					cr, err := f.store.CreateRun(f.ctx, mlflow.CreateRunRequest{ExperimentID: expID, RunName: s.name})
					require.NoError(t, err)
					id = translate.Identity{RunID: cr.Info.RunID}
				}
				r := f.get(t, id)
				byName[s.name], idents[s.name] = r, id
				if s.systemMs != 0 {
					f.m.NoteSystemPoint(r, s.systemMs)
				}
				if s.ended {
					require.NoError(t, f.m.End(f.ctx, r, mlflow.RunStatusFinished, 1500))
				}
			}
			for sec := int64(0); sec <= 100; sec++ {
				for _, s := range tc.runs {
					if s.touchedAt == sec {
						f.m.Touch(byName[s.name], s.pointMs)
						f.m.Touch(byName[s.name], s.pointMs-1) // an older point changes nothing
					}
				}
				f.clk.Add(time.Second)
			}
			require.Equal(t, start.Add(101*time.Second), f.clk.Now())

			n, err := f.m.EndIdle(f.ctx)
			require.NoError(t, err)
			assert.Equal(t, len(tc.wantEnded), n)
			for _, s := range tc.runs {
				r := byName[s.name]
				got := f.serverRun(t, r.ID)
				if slices.Contains(tc.wantEnded, s.name) {
					assert.Equal(t, mlflow.RunStatusKilled, got.Info.Status, s.name)
					assert.Equal(t, EndReasonIdle, tagOf(got, EndReasonTag), s.name)
					want := tc.wantEnd[s.name]
					if want == 0 {
						want = f.clk.Now().UnixMilli()
					}
					assert.Equal(t, want, got.Info.EndTime, s.name)
				} else {
					_, tagged := got.Tag(EndReasonTag)
					assert.False(t, tagged, s.name)
					if !s.ended {
						assert.Equal(t, mlflow.RunStatusRunning, got.Info.Status, s.name)
					}
				}
				before := f.srv.RequestCount("")
				again := f.get(t, idents[s.name])
				if slices.Contains(tc.wantDropped, s.name) {
					assert.NotSame(t, r, again, "%s forgotten", s.name)
				} else {
					assert.Same(t, r, again, "%s still cached", s.name)
					assert.Equal(t, before, f.srv.RequestCount(""))
				}
			}
		})
	}

	t.Run("a refused end is reported and the others still end", func(t *testing.T) {
		f := newFixture(t, Settings{IdleTimeout: time.Minute, IdleEndStatus: mlflow.RunStatusFinished})
		a := f.get(t, translate.Identity{ExperimentName: "e", RunName: "a"})
		b := f.get(t, translate.Identity{ExperimentName: "e", RunName: "b"})
		f.clk.Add(2 * time.Minute)
		f.srv.AddFault(mlflowtest.Fault{RPC: "runs/update", Times: 1, Status: http.StatusBadRequest, ErrorCode: "INVALID_PARAMETER_VALUE", Message: "no"})
		n, err := f.m.EndIdle(f.ctx)
		require.Error(t, err)
		assert.Equal(t, 1, n)
		statuses := []mlflow.RunStatus{f.serverRun(t, a.ID).Info.Status, f.serverRun(t, b.ID).Info.Status}
		assert.ElementsMatch(t, []mlflow.RunStatus{mlflow.RunStatusRunning, mlflow.RunStatusFinished}, statuses)
	})
}

// TestEndAll: every managed run that has not ended is ended with the
// status, at its newest point (now when it has none); runs named by id and
// runs already ended are left alone; failures are joined.
func TestEndAll(t *testing.T) {
	f := newFixture(t, Settings{})
	withPoints := f.get(t, translate.Identity{ExperimentName: "e", RunName: "with-points"})
	f.m.Touch(withPoints, 3000)
	noPoints := f.get(t, translate.Identity{ExperimentName: "e", RunName: "no-points"})
	ended := f.get(t, translate.Identity{ExperimentName: "e", RunName: "ended"})
	require.NoError(t, f.m.End(f.ctx, ended, mlflow.RunStatusFailed, 2000))
	foreign, err := f.store.CreateRun(f.ctx, mlflow.CreateRunRequest{ExperimentID: withPoints.ExperimentID})
	require.NoError(t, err)
	byID := f.get(t, translate.Identity{RunID: foreign.Info.RunID})
	f.clk.Add(time.Hour)

	require.NoError(t, f.m.EndAll(f.ctx, mlflow.RunStatusKilled))
	for _, tc := range []struct {
		r          *Run
		wantStatus mlflow.RunStatus
		wantEnd    int64
	}{
		{withPoints, mlflow.RunStatusKilled, 3000},
		{noPoints, mlflow.RunStatusKilled, f.clk.Now().UnixMilli()},
		{ended, mlflow.RunStatusFailed, 2000},
		{byID, mlflow.RunStatusRunning, 0},
	} {
		got := f.serverRun(t, tc.r.ID)
		assert.Equal(t, tc.wantStatus, got.Info.Status, tc.r.Identity.String())
		assert.Equal(t, tc.wantEnd, got.Info.EndTime, tc.r.Identity.String())
	}

	// Failures are reported, all of them.
	g := newFixture(t, Settings{})
	g.get(t, translate.Identity{ExperimentName: "e", RunName: "a"})
	g.get(t, translate.Identity{ExperimentName: "e", RunName: "b"})
	g.srv.AddFault(mlflowtest.Fault{RPC: "runs/update", Status: http.StatusBadRequest, ErrorCode: "INVALID_PARAMETER_VALUE", Message: "no"})
	err = g.m.EndAll(g.ctx, mlflow.RunStatusFinished)
	require.Error(t, err)
	var joined interface{ Unwrap() []error }
	require.True(t, errors.As(err, &joined))
	assert.Len(t, joined.Unwrap(), 2)
}

// TestEndedElsewhere: the backend is asked at most once per interval;
// a run finished or deleted there is marked ended (no more host metrics).
func TestEndedElsewhere(t *testing.T) {
	tests := []struct {
		name      string
		elsewhere func(t *testing.T, f *fixture, r *Run)
		wantEnded bool
	}{
		{name: "still running", elsewhere: func(*testing.T, *fixture, *Run) {}},
		{name: "finished", wantEnded: true, elsewhere: func(t *testing.T, f *fixture, r *Run) {
			_, err := f.store.UpdateRun(f.ctx, mlflow.UpdateRunRequest{RunID: r.ID, Status: mlflow.RunStatusFinished})
			require.NoError(t, err)
		}},
		{name: "failed", wantEnded: true, elsewhere: func(t *testing.T, f *fixture, r *Run) {
			_, err := f.store.UpdateRun(f.ctx, mlflow.UpdateRunRequest{RunID: r.ID, Status: mlflow.RunStatusFailed})
			require.NoError(t, err)
		}},
		{name: "deleted", wantEnded: true, elsewhere: func(t *testing.T, f *fixture, r *Run) {
			require.NoError(t, f.store.DeleteRun(f.ctx, r.ID))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Settings{})
			r := f.get(t, translate.Identity{ExperimentName: "e", RunName: "r"})
			f.m.Observe(r, "node-1", 0, "")
			tc.elsewhere(t, f, r)
			gets := f.srv.RequestCount("runs/get")

			ended, err := f.m.EndedElsewhere(f.ctx, r, 0)
			require.NoError(t, err)
			assert.False(t, ended, "every <= 0: never asked")
			assert.Equal(t, gets, f.srv.RequestCount("runs/get"))

			ended, err = f.m.EndedElsewhere(f.ctx, r, 10*time.Second)
			require.NoError(t, err)
			assert.Equal(t, tc.wantEnded, ended)
			assert.Equal(t, gets+1, f.srv.RequestCount("runs/get"))

			// Within the interval: not asked again.
			f.clk.Add(9 * time.Second)
			ended, err = f.m.EndedElsewhere(f.ctx, r, 10*time.Second)
			require.NoError(t, err)
			assert.Equal(t, tc.wantEnded, ended)
			assert.Equal(t, gets+1, f.srv.RequestCount("runs/get"))

			// After it: asked again unless known to have ended.
			f.clk.Add(time.Second)
			ended, err = f.m.EndedElsewhere(f.ctx, r, 10*time.Second)
			require.NoError(t, err)
			assert.Equal(t, tc.wantEnded, ended)
			wantGets := gets + 2
			if tc.wantEnded {
				wantGets = gets + 1
			}
			assert.Equal(t, wantGets, f.srv.RequestCount("runs/get"))

			runs, _ := f.m.RunsOnHost("node-1", time.Time{})
			assert.Equal(t, !tc.wantEnded, slices.Contains(runs, r))
		})
	}

	t.Run("backend error", func(t *testing.T) {
		f := newFixture(t, Settings{})
		r := f.get(t, translate.Identity{ExperimentName: "e", RunName: "r"})
		f.srv.AddFault(mlflowtest.Fault{RPC: "runs/get", Times: 1, Status: http.StatusBadRequest, ErrorCode: "INVALID_PARAMETER_VALUE", Message: "no"})
		ended, err := f.m.EndedElsewhere(f.ctx, r, time.Second)
		require.Error(t, err)
		assert.False(t, ended)
	})
}

// TestRunsOnHost: the runs whose own telemetry came from the host since the
// given time, each with how many hosts it was seen on since then.
func TestRunsOnHost(t *testing.T) {
	f := newFixture(t, Settings{})
	t0 := f.clk.Now()
	single := f.get(t, translate.Identity{ExperimentName: "e", RunName: "single"})
	multi := f.get(t, translate.Identity{ExperimentName: "e", RunName: "multi"})
	old := f.get(t, translate.Identity{ExperimentName: "e", RunName: "old"})
	other := f.get(t, translate.Identity{ExperimentName: "e", RunName: "other"})
	ended := f.get(t, translate.Identity{ExperimentName: "e", RunName: "ended"})

	f.m.Observe(old, "node-1", 0, "")   // at t0
	f.m.Observe(multi, "node-3", 0, "") // at t0: counted only with an early since
	f.m.Observe(ended, "node-1", 0, "") // at t0
	f.m.Observe(single, "", 0, "")      // no host: nothing recorded
	f.clk.Add(time.Minute)
	f.m.Observe(single, "node-1", 0, "")
	f.m.Observe(multi, "node-1", 0, "")
	f.m.Observe(multi, "node-2", 0, "")
	f.m.Observe(other, "node-2", 0, "")
	require.NoError(t, f.m.End(f.ctx, ended, mlflow.RunStatusFinished, 1000))

	tests := []struct {
		name  string
		host  string
		since time.Time
		want  map[*Run]int
	}{
		{name: "recent on node-1", host: "node-1", since: t0.Add(time.Second),
			want: map[*Run]int{single: 1, multi: 2}},
		{name: "all time on node-1", host: "node-1", since: t0,
			want: map[*Run]int{single: 1, multi: 3, old: 1}},
		{name: "node-2", host: "node-2", since: t0.Add(time.Second),
			want: map[*Run]int{multi: 2, other: 1}},
		{name: "node-3 seen too long ago", host: "node-3", since: t0.Add(time.Second), want: map[*Run]int{}},
		{name: "unknown host", host: "node-9", since: t0, want: map[*Run]int{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runs, counts := f.m.RunsOnHost(tc.host, tc.since)
			require.Len(t, counts, len(runs))
			got := map[*Run]int{}
			for i, r := range runs {
				got[r] = counts[i]
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestObserveDevices: the GPUs a run's processes see on a host are joined;
// a host none of them named has no set.
func TestObserveDevices(t *testing.T) {
	m := NewManager(nil, Settings{})
	r := newRun("r", "1", t0ms, translate.Identity{ExperimentName: "e", RunName: "r"}, true, 0)
	_, ok := m.Devices(r, "node-1")
	assert.False(t, ok)

	a := gpuset.Parse("0")
	s, changed := m.ObserveDevices(r, "node-1", a)
	assert.True(t, changed)
	assert.True(t, s.Equal(a))
	_, changed = m.ObserveDevices(r, "node-1", a)
	assert.False(t, changed, "the same set again")
	s, changed = m.ObserveDevices(r, "node-1", gpuset.Parse("1"))
	assert.True(t, changed)
	assert.True(t, s.Equal(a.Merge(gpuset.Parse("1"))))
	got, ok := m.Devices(r, "node-1")
	assert.True(t, ok)
	assert.True(t, got.Equal(s))
	_, ok = m.Devices(r, "node-2")
	assert.False(t, ok)
}

func TestUserFromTags(t *testing.T) {
	tests := []struct {
		tags []mlflow.Tag
		want string
	}{
		{nil, ""},
		{[]mlflow.Tag{{Key: "team", Value: "a"}}, ""},
		{[]mlflow.Tag{{Key: "mlflow.user", Value: "alice"}}, "alice"},
		{[]mlflow.Tag{{Key: "mlflow.user", Value: "alice"}, {Key: "x", Value: "y"}, {Key: "mlflow.user", Value: "bob"}}, "bob"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, UserFromTags(tc.tags), "%v", tc.tags)
	}
}

// TestConvergenceCopiesTheLoserIntoTheWinner: what was written into this
// collector's run before it learned of an earlier duplicate is copied into
// the duplicate (params it lacks, every point of every metric), and the
// loser is deleted.
func TestConvergenceCopiesTheLoserIntoTheWinner(t *testing.T) {
	f := newFixture(t, Settings{})
	r := f.get(t, translate.Identity{ExperimentName: "e", RunName: "r"})
	require.NoError(t, f.store.LogBatch(f.ctx, r.ID, mlflow.Batch{
		Params:  []mlflow.Param{{Key: "lr", Value: "0.1"}, {Key: "shared", Value: "mine"}},
		Metrics: []mlflow.Metric{{Key: "loss", Value: 1, Step: 0, Timestamp: 1000}, {Key: "loss", Value: 0.5, Step: 1, Timestamp: 2000}},
	}))
	dup, err := f.store.CreateRun(f.ctx, mlflow.CreateRunRequest{ExperimentID: r.ExperimentID, StartTime: 1, // earlier: wins
		Tags: []mlflow.Tag{{Key: RunKeyTag, Value: r.key}}})
	require.NoError(t, err)
	require.NoError(t, f.store.LogBatch(f.ctx, dup.Info.RunID, mlflow.Batch{Params: []mlflow.Param{{Key: "shared", Value: "theirs"}}}))
	loser := r.ID

	f.clk.Add(time.Second)
	r.Lock()
	require.NoError(t, f.m.Converge(f.ctx, r))
	r.Unlock()
	require.Equal(t, dup.Info.RunID, r.ID)
	assert.Equal(t, int64(1), r.StartTime)
	assert.Equal(t, mlflow.LifecycleDeleted, f.serverRun(t, loser).Info.LifecycleStage)
	w := f.serverRun(t, dup.Info.RunID)
	params := map[string]string{}
	for _, p := range w.Data.Params {
		params[p.Key] = p.Value
	}
	assert.Equal(t, map[string]string{"lr": "0.1", "shared": "theirs"}, params, "the winner's own param is kept")
	hist := f.srv.MetricHistory(dup.Info.RunID, "loss")
	assert.Equal(t, []int64{0, 1}, steps(hist))
	assert.True(t, r.HasParam("shared", "theirs"), "the run adopted the winner's params")
}

// TestPrepareParamsAndTags: params are write-once (a held or earlier value
// wins, a different one is reported, not sent); a tag is sent with its last
// value in the batch unless the run holds that value already.
func TestPrepareParamsAndTags(t *testing.T) {
	tests := []struct {
		name        string
		params      []mlflow.Param
		tags        []mlflow.Tag
		wantParams  []mlflow.Param
		wantTags    []mlflow.Tag
		wantChanged []mlflow.Param
	}{
		{name: "nothing"},
		{
			name:       "new param",
			params:     []mlflow.Param{{Key: "epochs", Value: "3"}},
			wantParams: []mlflow.Param{{Key: "epochs", Value: "3"}},
		},
		{
			name:   "held param, same value",
			params: []mlflow.Param{{Key: "lr", Value: "0.1"}},
		},
		{
			name:        "held param, other value",
			params:      []mlflow.Param{{Key: "lr", Value: "0.2"}},
			wantChanged: []mlflow.Param{{Key: "lr", Value: "0.2"}},
		},
		{
			name:        "param twice in the batch",
			params:      []mlflow.Param{{Key: "a", Value: "1"}, {Key: "a", Value: "1"}, {Key: "a", Value: "2"}},
			wantParams:  []mlflow.Param{{Key: "a", Value: "1"}},
			wantChanged: []mlflow.Param{{Key: "a", Value: "2"}},
		},
		{
			name:     "tags: held value left out, new and changed sent, last value wins",
			tags:     []mlflow.Tag{{Key: "team", Value: "a"}, {Key: "stage", Value: "x"}, {Key: "owner", Value: "bob"}, {Key: "stage", Value: "y"}},
			wantTags: []mlflow.Tag{{Key: "stage", Value: "y"}, {Key: "owner", Value: "bob"}},
		},
		{
			name:     "held tag with another value",
			tags:     []mlflow.Tag{{Key: "team", Value: "b"}},
			wantTags: []mlflow.Tag{{Key: "team", Value: "b"}},
		},
		{
			name:     "tag changed back to the held value within the batch",
			tags:     []mlflow.Tag{{Key: "team", Value: "b"}, {Key: "team", Value: "a"}},
			wantTags: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := testRun()
			r.adopt(mlflow.RunData{Params: []mlflow.Param{{Key: "lr", Value: "0.1"}}, Tags: []mlflow.Tag{{Key: "team", Value: "a"}}})
			b, st := r.Prepare(nil, tc.params, tc.tags)
			assert.Equal(t, tc.wantParams, b.Params)
			assert.Equal(t, tc.wantTags, b.Tags)
			assert.Equal(t, tc.wantChanged, st.ParamChanged)
			assert.Empty(t, b.Metrics)

			// Once written, the same batch sends nothing.
			r.Commit(b)
			b, _ = r.Prepare(nil, tc.params, tc.tags)
			assert.Empty(t, b.Params)
			assert.Empty(t, b.Tags)
			for _, p := range tc.wantParams {
				assert.True(t, r.HasParam(p.Key, p.Value))
			}
		})
	}
}
