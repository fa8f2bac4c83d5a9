package filestore

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

func TestIsFileURI(t *testing.T) {
	tests := map[string]bool{
		"file:./mlruns":         true,
		"file:///abs/mlruns":    true,
		"FILE:///abs":           true,
		"./mlruns":              true,
		"mlruns":                true,
		"/abs/mlruns":           true,
		"../up/mlruns":          true,
		"dir/with:colon":        true,
		"":                      false,
		"http://localhost:5000": false,
		"https://x":             false,
		"databricks":            true, // a plain word is a relative path, as in MLflow
		"databricks://profile":  false,
		"sqlite:///mlflow.db":   false,
		"postgresql://u@h/db":   false,
	}
	for uri, want := range tests {
		assert.Equal(t, want, IsFileURI(uri), "IsFileURI(%q)", uri)
	}
}

func TestOpenResolvesURIsLikeMLflow(t *testing.T) {
	base := t.TempDir()
	t.Chdir(base)
	tests := []struct {
		uri     string
		want    string
		wantURI string
	}{
		{uri: "file:./mlruns", want: filepath.Join(base, "mlruns")},
		{uri: "rel/store", want: filepath.Join(base, "rel", "store")},
		{uri: "file://" + base + "/abs", want: filepath.Join(base, "abs")},
		{uri: "file://localhost" + base + "/local", want: filepath.Join(base, "local")},
		{uri: base + "/plain", want: filepath.Join(base, "plain")},
		{uri: "file://" + base + "/with%20space", want: filepath.Join(base, "with space"),
			wantURI: "file://" + base + "/with%20space"},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			s, err := Open(tt.uri)
			require.NoError(t, err)
			defer s.Close()
			assert.Equal(t, tt.want, s.Root())
			for _, d := range []string{".trash", "models", "0"} {
				assert.DirExists(t, filepath.Join(tt.want, d))
			}
			exp, err := s.GetExperiment(context.Background(), "0")
			require.NoError(t, err)
			assert.Equal(t, "Default", exp.Name)
			if tt.wantURI != "" {
				assert.Equal(t, tt.wantURI+"/0", exp.ArtifactLocation)
			}
		})
	}
	for _, bad := range []string{"", "http://x/y", "file://remote/x", "file:", "sqlite:///db"} {
		_, err := Open(bad)
		assert.Error(t, err, "Open(%q)", bad)
	}
}

func TestOpenKeepsExistingStore(t *testing.T) {
	s := openTest(t)
	id := mustExperiment(t, s, "kept")
	meta, err := os.ReadFile(filepath.Join(s.Root(), "0", "meta.yaml"))
	require.NoError(t, err)
	s2, err := Open(s.Root(), WithClock(newStepClock().Now))
	require.NoError(t, err)
	defer s2.Close()
	again, err := os.ReadFile(filepath.Join(s.Root(), "0", "meta.yaml"))
	require.NoError(t, err)
	assert.Equal(t, string(meta), string(again), "Default experiment is not rewritten")
	exp, err := s2.GetExperimentByName(context.Background(), "kept")
	require.NoError(t, err)
	assert.Equal(t, id, exp.ID)
}

func TestExperimentSemantics(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	id := mustExperiment(t, s, "exp", mlflow.Tag{Key: "a/b", Value: "c"})

	exp, err := s.GetExperimentByName(ctx, "exp")
	require.NoError(t, err)
	assert.Equal(t, id, exp.ID)
	assert.Equal(t, []mlflow.Tag{{Key: "a/b", Value: "c"}}, exp.Tags)
	assert.Equal(t, mlflow.LifecycleActive, exp.LifecycleStage)

	tests := []struct {
		name string
		run  func() error
		code string
	}{
		{"duplicate name", func() error { _, err := s.CreateExperiment(ctx, "exp", nil); return err }, mlflow.ErrorCodeResourceAlreadyExists},
		{"Default name taken", func() error { _, err := s.CreateExperiment(ctx, "Default", nil); return err }, mlflow.ErrorCodeResourceAlreadyExists},
		{"empty name", func() error { _, err := s.CreateExperiment(ctx, "", nil); return err }, mlflow.ErrorCodeInvalidParameterValue},
		{"long name", func() error { _, err := s.CreateExperiment(ctx, strings.Repeat("x", 501), nil); return err }, mlflow.ErrorCodeInvalidParameterValue},
		{"bad tag key", func() error { _, err := s.CreateExperiment(ctx, "t", []mlflow.Tag{{Key: "../x"}}); return err }, mlflow.ErrorCodeInvalidParameterValue},
		{"tag keys collide", func() error {
			_, err := s.CreateExperiment(ctx, "t", []mlflow.Tag{{Key: "a"}, {Key: "a/b"}})
			return err
		}, mlflow.ErrorCodeInvalidParameterValue},
		{"unknown name", func() error { _, err := s.GetExperimentByName(ctx, "nope"); return err }, mlflow.ErrorCodeResourceDoesNotExist},
		{"unknown id", func() error { _, err := s.GetExperiment(ctx, "12345"); return err }, mlflow.ErrorCodeResourceDoesNotExist},
		{"models is not an experiment", func() error { _, err := s.GetExperiment(ctx, "models"); return err }, mlflow.ErrorCodeResourceDoesNotExist},
		{"traversal id", func() error { _, err := s.GetExperiment(ctx, "../0"); return err }, mlflow.ErrorCodeInvalidParameterValue},
		{"trash id", func() error { _, err := s.GetExperiment(ctx, ".trash"); return err }, mlflow.ErrorCodeInvalidParameterValue},
		{"delete Default", func() error { return s.DeleteExperiment(ctx, "0") }, mlflow.ErrorCodeInvalidParameterValue},
		{"restore active", func() error { return s.RestoreExperiment(ctx, id) }, mlflow.ErrorCodeResourceDoesNotExist},
		{"restore unknown", func() error { return s.RestoreExperiment(ctx, "999") }, mlflow.ErrorCodeResourceDoesNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { requireCode(t, tt.run(), tt.code) })
	}

	runID := mustRun(t, s, mlflow.CreateRunRequest{ExperimentID: id, RunName: "r"})
	require.NoError(t, s.DeleteExperiment(ctx, id))
	assert.DirExists(t, filepath.Join(s.Root(), ".trash", id))
	assert.NoDirExists(t, filepath.Join(s.Root(), id))

	exp, err = s.GetExperimentByName(ctx, "exp")
	require.NoError(t, err, "a deleted experiment is still found by name")
	assert.Equal(t, mlflow.LifecycleDeleted, exp.LifecycleStage)
	_, err = s.CreateExperiment(ctx, "exp", nil)
	requireCode(t, err, mlflow.ErrorCodeResourceAlreadyExists)
	requireCode(t, s.DeleteExperiment(ctx, id), mlflow.ErrorCodeResourceDoesNotExist)
	run, err := s.GetRun(ctx, runID)
	require.NoError(t, err, "runs of deleted experiments stay readable")
	assert.Equal(t, mlflow.LifecycleDeleted, run.Info.LifecycleStage)
	_, err = s.CreateRun(ctx, mlflow.CreateRunRequest{ExperimentID: id})
	requireCode(t, err, mlflow.ErrorCodeInvalidState)
	requireCode(t, s.LogBatch(ctx, runID, mlflow.Batch{Tags: []mlflow.Tag{{Key: "k", Value: "v"}}}), mlflow.ErrorCodeInvalidParameterValue)

	// GetOrCreateExperiment restores the deleted experiment with its runs.
	got, err := mlflow.GetOrCreateExperiment(ctx, s, "exp", nil)
	require.NoError(t, err)
	assert.Equal(t, id, got)
	exp, err = s.GetExperiment(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, mlflow.LifecycleActive, exp.LifecycleStage)
	run, err = s.GetRun(ctx, runID)
	require.NoError(t, err)
	assert.Equal(t, mlflow.LifecycleActive, run.Info.LifecycleStage)
	require.NoError(t, s.LogBatch(ctx, runID, mlflow.Batch{Tags: []mlflow.Tag{{Key: "k", Value: "v"}}}))
}

func TestRunSemantics(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	expID := mustExperiment(t, s, "runs")

	t.Run("create", func(t *testing.T) {
		tests := []struct {
			name     string
			req      mlflow.CreateRunRequest
			wantName string
			code     string
		}{
			{name: "run name", req: mlflow.CreateRunRequest{ExperimentID: expID, RunName: "n1"}, wantName: "n1"},
			{name: "name from tag", req: mlflow.CreateRunRequest{ExperimentID: expID, Tags: []mlflow.Tag{{Key: "mlflow.runName", Value: "n2"}}}, wantName: "n2"},
			{name: "same name both ways", req: mlflow.CreateRunRequest{ExperimentID: expID, RunName: "n3", Tags: []mlflow.Tag{{Key: "mlflow.runName", Value: "n3"}}}, wantName: "n3"},
			{name: "generated", req: mlflow.CreateRunRequest{ExperimentID: expID}, wantName: "generated-run-1"},
			{name: "default experiment", req: mlflow.CreateRunRequest{RunName: "d"}, wantName: "d"},
			{name: "conflicting names", req: mlflow.CreateRunRequest{ExperimentID: expID, RunName: "a", Tags: []mlflow.Tag{{Key: "mlflow.runName", Value: "b"}}}, code: mlflow.ErrorCodeInvalidParameterValue},
			{name: "unknown experiment", req: mlflow.CreateRunRequest{ExperimentID: "424242"}, code: mlflow.ErrorCodeResourceDoesNotExist},
			{name: "traversal experiment", req: mlflow.CreateRunRequest{ExperimentID: "../../etc"}, code: mlflow.ErrorCodeInvalidParameterValue},
			{name: "bad tag", req: mlflow.CreateRunRequest{ExperimentID: expID, Tags: []mlflow.Tag{{Key: "a//b"}}}, code: mlflow.ErrorCodeInvalidParameterValue},
			{name: "run name too long", req: mlflow.CreateRunRequest{ExperimentID: expID, RunName: strings.Repeat("n", 5001)}, code: mlflow.ErrorCodeInvalidParameterValue},
			{name: "colliding tags", req: mlflow.CreateRunRequest{ExperimentID: expID, Tags: []mlflow.Tag{{Key: "a/b"}, {Key: "a"}}}, code: mlflow.ErrorCodeInvalidParameterValue},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				run, err := s.CreateRun(ctx, tt.req)
				if tt.code != "" {
					requireCode(t, err, tt.code)
					return
				}
				require.NoError(t, err)
				assert.Equal(t, tt.wantName, run.Info.RunName)
				tag, _ := run.Tag("mlflow.runName")
				assert.Equal(t, tt.wantName, tag)
				assert.Equal(t, mlflow.RunStatusRunning, run.Info.Status)
				assert.Equal(t, mlflow.LifecycleActive, run.Info.LifecycleStage)
				assert.Regexp(t, `^[0-9a-f]{32}$`, run.Info.RunID)
				assert.NotZero(t, run.Info.StartTime)
				assert.Equal(t, fileURI(s.Root())+"/"+run.Info.ExperimentID+"/"+run.Info.RunID+"/artifacts", run.Info.ArtifactURI)
				assert.DirExists(t, filepath.Join(s.Root(), run.Info.ExperimentID, run.Info.RunID, "artifacts"))
			})
		}
	})

	t.Run("lookup errors", func(t *testing.T) {
		for id, code := range map[string]string{
			"0123456789abcdef0123456789abcdef": mlflow.ErrorCodeResourceDoesNotExist,
			"../../../etc/passwd":              mlflow.ErrorCodeInvalidParameterValue,
			"..":                               mlflow.ErrorCodeInvalidParameterValue,
			"":                                 mlflow.ErrorCodeInvalidParameterValue,
			"a/b":                              mlflow.ErrorCodeInvalidParameterValue,
		} {
			_, err := s.GetRun(ctx, id)
			requireCode(t, err, code)
			requireCode(t, s.LogBatch(ctx, id, mlflow.Batch{}), code)
			_, err = s.GetMetricHistory(ctx, id, "m")
			requireCode(t, err, code)
			_, err = s.UpdateRun(ctx, mlflow.UpdateRunRequest{RunID: id, Status: mlflow.RunStatusFinished})
			requireCode(t, err, code)
			requireCode(t, s.DeleteRun(ctx, id), code)
		}
	})

	t.Run("update", func(t *testing.T) {
		runID := mustRun(t, s, mlflow.CreateRunRequest{ExperimentID: expID, RunName: "u", StartTime: 100})
		info, err := s.UpdateRun(ctx, mlflow.UpdateRunRequest{RunID: runID, Status: mlflow.RunStatusFailed, EndTime: 200})
		require.NoError(t, err)
		assert.Equal(t, mlflow.RunStatusFailed, info.Status)
		assert.Equal(t, int64(200), info.EndTime)
		info, err = s.UpdateRun(ctx, mlflow.UpdateRunRequest{RunID: runID, RunName: "renamed"})
		require.NoError(t, err)
		assert.Equal(t, mlflow.RunStatusFailed, info.Status, "zero fields are left alone")
		assert.Equal(t, int64(200), info.EndTime)
		run, err := s.GetRun(ctx, runID)
		require.NoError(t, err)
		assert.Equal(t, "renamed", run.Info.RunName)
		tag, _ := run.Tag("mlflow.runName")
		assert.Equal(t, "renamed", tag)
		_, err = s.UpdateRun(ctx, mlflow.UpdateRunRequest{RunID: runID, Status: "DONE"})
		requireCode(t, err, mlflow.ErrorCodeInvalidParameterValue)

		// A finished run still accepts data, a deleted one does not.
		require.NoError(t, s.LogBatch(ctx, runID, mlflow.Batch{Metrics: []mlflow.Metric{{Key: "m", Value: 1, Timestamp: 1}}}))
		require.NoError(t, s.DeleteRun(ctx, runID))
		run, err = s.GetRun(ctx, runID)
		require.NoError(t, err)
		assert.Equal(t, mlflow.LifecycleDeleted, run.Info.LifecycleStage)
		err = s.LogBatch(ctx, runID, mlflow.Batch{Metrics: []mlflow.Metric{{Key: "m", Value: 2, Timestamp: 2}}})
		requireCode(t, err, mlflow.ErrorCodeInvalidParameterValue)
		_, err = s.UpdateRun(ctx, mlflow.UpdateRunRequest{RunID: runID, Status: mlflow.RunStatusFinished})
		requireCode(t, err, mlflow.ErrorCodeInvalidParameterValue)
	})
}

func TestLogBatchSemantics(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	runID := mustRun(t, s, mlflow.CreateRunRequest{RunName: "b"})
	require.NoError(t, s.LogBatch(ctx, runID, mlflow.Batch{
		Params:  []mlflow.Param{{Key: "p", Value: "1"}, {Key: "multi", Value: "a\nb"}},
		Tags:    []mlflow.Tag{{Key: "t", Value: "1"}},
		Metrics: []mlflow.Metric{{Key: "m", Value: 1, Timestamp: 5, Step: 0}},
	}))
	many := func(n int, f func(i int) mlflow.Batch) mlflow.Batch {
		var b mlflow.Batch
		for i := 0; i < n; i++ {
			x := f(i)
			b.Metrics, b.Params, b.Tags = append(b.Metrics, x.Metrics...), append(b.Params, x.Params...), append(b.Tags, x.Tags...)
		}
		return b
	}
	tests := []struct {
		name  string
		batch mlflow.Batch
		code  string
		msg   string
	}{
		{name: "same param value again", batch: mlflow.Batch{Params: []mlflow.Param{{Key: "p", Value: "1"}, {Key: "multi", Value: "a\nb"}}}},
		{name: "changed param", batch: mlflow.Batch{Params: []mlflow.Param{{Key: "p", Value: "2"}}}, code: mlflow.ErrorCodeInvalidParameterValue, msg: "Changing param values is not allowed"},
		{name: "duplicate param keys", batch: mlflow.Batch{Params: []mlflow.Param{{Key: "q", Value: "1"}, {Key: "q", Value: "1"}}}, code: mlflow.ErrorCodeInvalidParameterValue, msg: "Duplicate parameter keys"},
		{name: "tag overwrite", batch: mlflow.Batch{Tags: []mlflow.Tag{{Key: "t", Value: "2"}}}},
		{name: "nan and inf", batch: mlflow.Batch{Metrics: []mlflow.Metric{{Key: "m", Value: math.NaN(), Timestamp: 6, Step: 1}, {Key: "m", Value: math.Inf(1), Timestamp: 7, Step: 2}}}},
		{name: "negative timestamp", batch: mlflow.Batch{Metrics: []mlflow.Metric{{Key: "m", Value: 1, Timestamp: -1}}}, code: mlflow.ErrorCodeInvalidParameterValue},
		{name: "too many metrics", batch: many(1001, func(i int) mlflow.Batch { return mlflow.Batch{Metrics: []mlflow.Metric{{Key: "m", Timestamp: 1}}} }), code: mlflow.ErrorCodeInvalidParameterValue},
		{name: "too many params", batch: many(101, func(i int) mlflow.Batch { return mlflow.Batch{Params: []mlflow.Param{{Key: fmt.Sprint("k", i)}}} }), code: mlflow.ErrorCodeInvalidParameterValue},
		{name: "too many tags", batch: many(101, func(i int) mlflow.Batch { return mlflow.Batch{Tags: []mlflow.Tag{{Key: fmt.Sprint("k", i)}}} }), code: mlflow.ErrorCodeInvalidParameterValue},
		{name: "too many entities", batch: many(901, func(i int) mlflow.Batch {
			b := mlflow.Batch{Metrics: []mlflow.Metric{{Key: "m", Timestamp: 1}}}
			if i < 100 {
				b.Tags = []mlflow.Tag{{Key: fmt.Sprint("k", i)}}
			}
			return b
		}), code: mlflow.ErrorCodeInvalidParameterValue},
		{name: "param value too long", batch: mlflow.Batch{Params: []mlflow.Param{{Key: "long", Value: strings.Repeat("é", 6001)}}}, code: mlflow.ErrorCodeInvalidParameterValue},
		{name: "param value at limit", batch: mlflow.Batch{Params: []mlflow.Param{{Key: "long", Value: strings.Repeat("é", 6000)}}}},
		{name: "tag value too long", batch: mlflow.Batch{Tags: []mlflow.Tag{{Key: "long", Value: strings.Repeat("x", 5001)}}}, code: mlflow.ErrorCodeInvalidParameterValue},
		{name: "key path conflict", batch: mlflow.Batch{Metrics: []mlflow.Metric{{Key: "m/sub", Value: 1, Timestamp: 1}}}, code: mlflow.ErrorCodeInvalidParameterValue},
		{name: "param path conflict", batch: mlflow.Batch{Params: []mlflow.Param{{Key: "p/sub", Value: "1"}}}, code: mlflow.ErrorCodeInvalidParameterValue},
		{name: "tag path conflict", batch: mlflow.Batch{Tags: []mlflow.Tag{{Key: "t/sub", Value: "1"}}}, code: mlflow.ErrorCodeInvalidParameterValue},
		{name: "conflict within batch", batch: mlflow.Batch{Metrics: []mlflow.Metric{{Key: "x/y", Timestamp: 1}, {Key: "x", Timestamp: 1}}}, code: mlflow.ErrorCodeInvalidParameterValue, msg: "folder"},
		{name: "segment over 255 bytes", batch: mlflow.Batch{Tags: []mlflow.Tag{{Key: strings.Repeat("é", 200), Value: "1"}}}, code: mlflow.ErrorCodeInvalidParameterValue},
	}
	for _, key := range []string{"../escape", "/abs", "a//b", "a/./b", "a/../b", "", "x:y", "a\x00b", strings.Repeat("k", 251), "trailing/", "..hidden", "e\u0301"} {
		tests = append(tests,
			struct {
				name  string
				batch mlflow.Batch
				code  string
				msg   string
			}{name: "metric key " + key, batch: mlflow.Batch{Metrics: []mlflow.Metric{{Key: key, Timestamp: 1}}}, code: mlflow.ErrorCodeInvalidParameterValue},
			struct {
				name  string
				batch mlflow.Batch
				code  string
				msg   string
			}{name: "param key " + key, batch: mlflow.Batch{Params: []mlflow.Param{{Key: key}}}, code: mlflow.ErrorCodeInvalidParameterValue},
			struct {
				name  string
				batch mlflow.Batch
				code  string
				msg   string
			}{name: "tag key " + key, batch: mlflow.Batch{Tags: []mlflow.Tag{{Key: key}}}, code: mlflow.ErrorCodeInvalidParameterValue})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.LogBatch(ctx, runID, tt.batch)
			if tt.code == "" {
				require.NoError(t, err)
				return
			}
			requireCode(t, err, tt.code)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}

	run, err := s.GetRun(ctx, runID)
	require.NoError(t, err)
	assert.Equal(t, []mlflow.Param{{Key: "long", Value: strings.Repeat("é", 6000)}, {Key: "multi", Value: "a\nb"}, {Key: "p", Value: "1"}}, run.Data.Params)
	tag, _ := run.Tag("t")
	assert.Equal(t, "2", tag)
	require.Len(t, run.Data.Metrics, 1)
	assert.Equal(t, mlflow.Metric{Key: "m", Value: math.Inf(1), Timestamp: 7, Step: 2}, run.Data.Metrics[0])
	hist, err := s.GetMetricHistory(ctx, runID, "m")
	require.NoError(t, err)
	require.Len(t, hist, 3)
	assert.True(t, math.IsNaN(hist[1].Value))
	hist, err = s.GetMetricHistory(ctx, runID, "never")
	require.NoError(t, err)
	assert.Empty(t, hist)

	// Nothing escaped the store: the temp dir holds only the root.
	entries, err := os.ReadDir(filepath.Dir(s.Root()))
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}

func TestRejectedBatchWritesNothing(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	runID := mustRun(t, s, mlflow.CreateRunRequest{RunName: "atomic"})
	require.NoError(t, s.LogBatch(ctx, runID, mlflow.Batch{Params: []mlflow.Param{{Key: "fixed", Value: "1"}}}))
	err := s.LogBatch(ctx, runID, mlflow.Batch{
		Params:  []mlflow.Param{{Key: "new", Value: "x"}, {Key: "fixed", Value: "2"}},
		Metrics: []mlflow.Metric{{Key: "m", Value: 1, Timestamp: 1}},
		Tags:    []mlflow.Tag{{Key: "t", Value: "v"}},
	})
	requireCode(t, err, mlflow.ErrorCodeInvalidParameterValue)
	run, err := s.GetRun(ctx, runID)
	require.NoError(t, err)
	assert.Equal(t, []mlflow.Param{{Key: "fixed", Value: "1"}}, run.Data.Params)
	assert.Empty(t, run.Data.Metrics)
	_, ok := run.Tag("t")
	assert.False(t, ok)
}

func TestLatestMetricPicksMaxStepTimestampValue(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	runID := mustRun(t, s, mlflow.CreateRunRequest{RunName: "latest"})
	require.NoError(t, s.LogBatch(ctx, runID, mlflow.Batch{Metrics: []mlflow.Metric{
		{Key: "a", Value: 5, Timestamp: 10, Step: 2},
		{Key: "a", Value: 1, Timestamp: 99, Step: 1},
		{Key: "a", Value: 3, Timestamp: 10, Step: 2},
		{Key: "b", Value: 1, Timestamp: 10, Step: 0},
		{Key: "b", Value: 2, Timestamp: 11, Step: 0},
		{Key: "c", Value: 7, Timestamp: 10, Step: 0},
		{Key: "c", Value: math.NaN(), Timestamp: 10, Step: 0},
	}}))
	run, err := s.GetRun(ctx, runID)
	require.NoError(t, err)
	assert.Equal(t, []mlflow.Metric{
		{Key: "a", Value: 5, Timestamp: 10, Step: 2},
		{Key: "b", Value: 2, Timestamp: 11, Step: 0},
		{Key: "c", Value: 7, Timestamp: 10, Step: 0},
	}, run.Data.Metrics)
}

func TestSearchRuns(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	e1 := mustExperiment(t, s, "s1")
	e2 := mustExperiment(t, s, "s2")
	var ids []string
	for i := 0; i < 5; i++ {
		exp := e1
		if i%2 == 1 {
			exp = e2
		}
		id := mustRun(t, s, mlflow.CreateRunRequest{ExperimentID: exp, RunName: fmt.Sprint("r", i), StartTime: int64(1000 + i),
			Tags: []mlflow.Tag{{Key: "collector.id", Value: fmt.Sprint("c", i%2)}}})
		require.NoError(t, s.LogBatch(ctx, id, mlflow.Batch{Metrics: []mlflow.Metric{{Key: "loss", Value: float64(i), Timestamp: 1}}}))
		ids = append(ids, id)
	}
	_, err := s.UpdateRun(ctx, mlflow.UpdateRunRequest{RunID: ids[2], Status: mlflow.RunStatusFinished})
	require.NoError(t, err)
	require.NoError(t, s.DeleteRun(ctx, ids[4]))

	names := func(res *mlflow.SearchRunsResult) []string {
		var out []string
		for _, r := range res.Runs {
			out = append(out, r.Info.RunName)
		}
		return out
	}
	both := []string{e1, e2}
	tests := []struct {
		name string
		req  mlflow.SearchRunsRequest
		want []string
		code string
	}{
		{name: "all active, start_time DESC", req: mlflow.SearchRunsRequest{ExperimentIDs: both}, want: []string{"r3", "r2", "r1", "r0"}},
		{name: "by tag", req: mlflow.SearchRunsRequest{ExperimentIDs: both, Filter: "tags.`collector.id` = 'c0'"}, want: []string{"r2", "r0"}},
		{name: "tag and status", req: mlflow.SearchRunsRequest{ExperimentIDs: both, Filter: "tags.`collector.id` = 'c0' and attributes.status = 'RUNNING'"}, want: []string{"r0"}},
		{name: "deleted only", req: mlflow.SearchRunsRequest{ExperimentIDs: both, ViewType: mlflow.ViewDeletedOnly}, want: []string{"r4"}},
		{name: "all views", req: mlflow.SearchRunsRequest{ExperimentIDs: both, ViewType: mlflow.ViewAll}, want: []string{"r4", "r3", "r2", "r1", "r0"}},
		{name: "one experiment", req: mlflow.SearchRunsRequest{ExperimentIDs: []string{e2}}, want: []string{"r3", "r1"}},
		{name: "metric filter and order", req: mlflow.SearchRunsRequest{ExperimentIDs: both, Filter: "metrics.loss >= 1", OrderBy: []string{"metrics.loss ASC"}}, want: []string{"r1", "r2", "r3"}},
		{name: "order by name", req: mlflow.SearchRunsRequest{ExperimentIDs: both, OrderBy: []string{"attributes.run_name ASC"}}, want: []string{"r0", "r1", "r2", "r3"}},
		{name: "unknown experiment", req: mlflow.SearchRunsRequest{ExperimentIDs: []string{"777"}}},
		{name: "bad filter", req: mlflow.SearchRunsRequest{ExperimentIDs: both, Filter: "tags.x = 'a' or tags.y = 'b'"}, code: mlflow.ErrorCodeInvalidParameterValue},
		{name: "bad max results", req: mlflow.SearchRunsRequest{ExperimentIDs: both, MaxResults: 50001}, code: mlflow.ErrorCodeInvalidParameterValue},
		{name: "bad page token", req: mlflow.SearchRunsRequest{ExperimentIDs: both, PageToken: "!!"}, code: mlflow.ErrorCodeInvalidParameterValue},
		{name: "traversal experiment", req: mlflow.SearchRunsRequest{ExperimentIDs: []string{"../x"}}, code: mlflow.ErrorCodeInvalidParameterValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.SearchRuns(ctx, tt.req)
			if tt.code != "" {
				requireCode(t, err, tt.code)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, names(res))
			for _, r := range res.Runs {
				require.Len(t, r.Data.Metrics, 1, "search results carry latest metrics")
			}
		})
	}

	var pages [][]string
	req := mlflow.SearchRunsRequest{ExperimentIDs: both, MaxResults: 3, ViewType: mlflow.ViewAll}
	for {
		res, err := s.SearchRuns(ctx, req)
		require.NoError(t, err)
		pages = append(pages, names(res))
		if res.NextPageToken == "" {
			break
		}
		req.PageToken = res.NextPageToken
	}
	assert.Equal(t, [][]string{{"r4", "r3", "r2"}, {"r1", "r0"}}, pages)
}

func TestFDCacheIsBounded(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, WithMaxOpenFiles(2))
	runID := mustRun(t, s, mlflow.CreateRunRequest{RunName: "fds"})
	for round := 0; round < 3; round++ {
		var b mlflow.Batch
		for k := 0; k < 5; k++ {
			b.Metrics = append(b.Metrics, mlflow.Metric{Key: fmt.Sprint("k", k), Value: float64(round), Timestamp: 1, Step: int64(round)})
		}
		require.NoError(t, s.LogBatch(ctx, runID, b))
		assert.LessOrEqual(t, s.fds.len(), 2)
	}
	for k := 0; k < 5; k++ {
		hist, err := s.GetMetricHistory(ctx, runID, fmt.Sprint("k", k))
		require.NoError(t, err)
		assert.Len(t, hist, 3)
	}
	require.NoError(t, s.Close())
	assert.Zero(t, s.fds.len())
	assert.Error(t, s.LogBatch(ctx, runID, mlflow.Batch{}), "a closed store refuses writes")
}

func TestContextCanceled(t *testing.T) {
	s := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.GetExperimentByName(ctx, "Default")
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, s.LogBatch(ctx, "0123456789abcdef0123456789abcdef", mlflow.Batch{}), context.Canceled)
}
