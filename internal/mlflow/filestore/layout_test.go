package filestore

import (
	"context"
	"flag"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

const goldenRootURI = "file:///MLRUNS"

// writeScenario drives a store through every kind of write the layout has:
// experiment tags, nested keys, NaN/inf, multi-line values, a finished run,
// a deleted run, a renamed run and a deleted experiment.
func writeScenario(t *testing.T, s *Store) (expID, runID string) {
	ctx := context.Background()
	expID = mustExperiment(t, s, "fmt-exp", mlflow.Tag{Key: "team", Value: "ml"}, mlflow.Tag{Key: "note/x", Value: "nested"})
	runID = mustRun(t, s, mlflow.CreateRunRequest{
		ExperimentID: expID, RunName: "fmt-run", StartTime: 1795650496047, UserID: "u",
		Tags: []mlflow.Tag{{Key: "mlflow.source.type", Value: "LOCAL"}},
	})
	require.NoError(t, s.LogBatch(ctx, runID, mlflow.Batch{
		Metrics: []mlflow.Metric{
			{Key: "loss", Value: 0.5, Timestamp: 1795650496050, Step: 0},
			{Key: "system/gpu_0_utilization_percentage", Value: 97, Timestamp: 1795650496050, Step: 0},
			{Key: "loss", Value: 0.25, Timestamp: 1795650496051, Step: 1},
			{Key: "loss", Value: math.NaN(), Timestamp: 1795650496052, Step: 2},
			{Key: "odd", Value: math.Inf(1), Timestamp: 1795650496052, Step: 0},
			{Key: "odd", Value: math.Inf(-1), Timestamp: 1795650496052, Step: 1},
			{Key: "odd", Value: 1e-7, Timestamp: 1795650496053, Step: 2},
			{Key: "odd", Value: 1e16, Timestamp: 1795650496053, Step: 3},
		},
		Params: []mlflow.Param{{Key: "lr", Value: "0.01"}, {Key: "model/layers", Value: "12"}},
		Tags:   []mlflow.Tag{{Key: "mlflow.note.content", Value: "line one\nline two"}, {Key: "host", Value: "gpu-01"}},
	}))
	require.NoError(t, s.LogBatch(ctx, runID, mlflow.Batch{
		Metrics: []mlflow.Metric{{Key: "loss", Value: 0.125, Timestamp: 1795650496060, Step: 3}},
		Tags:    []mlflow.Tag{{Key: "host", Value: "gpu-02"}},
	}))
	_, err := s.UpdateRun(ctx, mlflow.UpdateRunRequest{RunID: runID, Status: mlflow.RunStatusFinished, EndTime: 1795650496065})
	require.NoError(t, err)

	deletedRun := mustRun(t, s, mlflow.CreateRunRequest{ExperimentID: expID, StartTime: 1795650496070, UserID: "u"})
	require.NoError(t, s.DeleteRun(ctx, deletedRun))

	renamed := mustRun(t, s, mlflow.CreateRunRequest{ExperimentID: "0", RunName: "before", StartTime: 1795650496080})
	require.NoError(t, s.LogBatch(ctx, renamed, mlflow.Batch{Tags: []mlflow.Tag{{Key: "mlflow.runName", Value: "after the rename"}}}))

	gone := mustExperiment(t, s, "gone")
	mustRun(t, s, mlflow.CreateRunRequest{ExperimentID: gone, RunName: "orphan", StartTime: 1795650496090, UserID: "u"})
	require.NoError(t, s.DeleteExperiment(ctx, gone))
	return expID, runID
}

// snapshot is a store tree as path -> content ("" plus isDir for folders),
// with the store's root URI replaced by a fixed one.
type snapshot struct {
	files map[string]string
	dirs  []string
}

func takeSnapshot(t *testing.T, root, rootURI string) snapshot {
	snap := snapshot{files: map[string]string{}}
	require.NoError(t, filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		rel, err := filepath.Rel(root, path)
		require.NoError(t, err)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			snap.dirs = append(snap.dirs, rel)
			return nil
		}
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		snap.files[rel] = strings.ReplaceAll(string(data), rootURI, goldenRootURI)
		return nil
	}))
	sort.Strings(snap.dirs)
	return snap
}

func TestGoldenLayout(t *testing.T) {
	s := openTest(t)
	writeScenario(t, s)
	got := takeSnapshot(t, s.Root(), fileURI(s.Root()))
	goldenDir := filepath.Join("testdata", "golden")
	goldenTree := filepath.Join(goldenDir, "mlruns")
	dirsFile := filepath.Join(goldenDir, "dirs.txt")

	if *update {
		require.NoError(t, os.RemoveAll(goldenTree))
		for rel, content := range got.files {
			p := filepath.Join(goldenTree, filepath.FromSlash(rel))
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		}
		require.NoError(t, os.WriteFile(dirsFile, []byte(strings.Join(got.dirs, "\n")+"\n"), 0o644))
	}

	// Empty folders (artifacts/, models/) cannot live in git, so folders are
	// compared through a listing and files through the tree.
	want := takeSnapshot(t, goldenTree, goldenRootURI)
	assert.Equal(t, want.files, got.files)
	dirs, err := os.ReadFile(dirsFile)
	require.NoError(t, err)
	assert.Equal(t, strings.Split(strings.TrimSuffix(string(dirs), "\n"), "\n"), got.dirs)
}

// The reader below parses a store with nothing from the package under test
// (no meta structs, no line parser), following MLflow's readers: yaml
// safe_load of meta.yaml, one file per key, lines split on spaces.

type readRunT struct {
	meta    map[string]any
	params  map[string]string
	tags    map[string]string
	metrics map[string][]mlflow.Metric
}

type readExpT struct {
	meta    map[string]any
	tags    map[string]string
	deleted bool
	runs    map[string]*readRunT
}

func independentRead(t *testing.T, root string) map[string]*readExpT {
	t.Helper()
	out := map[string]*readExpT{}
	for _, parent := range []string{root, filepath.Join(root, ".trash")} {
		entries, err := os.ReadDir(parent)
		require.NoError(t, err)
		for _, e := range entries {
			if !e.IsDir() || e.Name() == ".trash" || e.Name() == "models" {
				continue
			}
			dir := filepath.Join(parent, e.Name())
			exp := &readExpT{meta: readYAMLMap(t, filepath.Join(dir, "meta.yaml")), tags: readFiles(t, filepath.Join(dir, "tags")),
				deleted: parent != root, runs: map[string]*readRunT{}}
			runDirs, err := os.ReadDir(dir)
			require.NoError(t, err)
			for _, rd := range runDirs {
				if !rd.IsDir() || rd.Name() == "tags" {
					continue
				}
				rdir := filepath.Join(dir, rd.Name())
				run := &readRunT{
					meta:    readYAMLMap(t, filepath.Join(rdir, "meta.yaml")),
					params:  readFiles(t, filepath.Join(rdir, "params")),
					tags:    readFiles(t, filepath.Join(rdir, "tags")),
					metrics: map[string][]mlflow.Metric{},
				}
				for key, content := range readFiles(t, filepath.Join(rdir, "metrics")) {
					require.True(t, strings.HasSuffix(content, "\n"), "metric file %s ends mid-line", key)
					for _, line := range strings.Split(strings.TrimSuffix(content, "\n"), "\n") {
						f := strings.Split(line, " ")
						require.Len(t, f, 3, "metric %s line %q", key, line)
						ts, err := strconv.ParseInt(f[0], 10, 64)
						require.NoError(t, err)
						v, err := strconv.ParseFloat(f[1], 64)
						require.NoError(t, err)
						step, err := strconv.ParseInt(f[2], 10, 64)
						require.NoError(t, err)
						run.metrics[key] = append(run.metrics[key], mlflow.Metric{Key: key, Value: v, Timestamp: ts, Step: step})
					}
				}
				exp.runs[rd.Name()] = run
			}
			out[e.Name()] = exp
		}
	}
	return out
}

func readYAMLMap(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, yaml.Unmarshal(data, &m), "%s", path)
	require.NotEmpty(t, m, "%s", path)
	return m
}

func readFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return out
	}
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		require.NoError(t, err)
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		out[filepath.ToSlash(rel)] = string(data)
		return nil
	}))
	return out
}

func TestIndependentReaderSeesWhatWasWritten(t *testing.T) {
	s := openTest(t)
	expID, runID := writeScenario(t, s)
	tree := independentRead(t, s.Root())

	def := tree["0"]
	require.NotNil(t, def)
	assert.Equal(t, "Default", def.meta["name"])
	assert.Equal(t, "0", def.meta["experiment_id"])
	assert.Equal(t, fileURI(s.Root())+"/0", def.meta["artifact_location"])

	exp := tree[expID]
	require.NotNil(t, exp)
	assert.False(t, exp.deleted)
	assert.Equal(t, map[string]any{
		"artifact_location": fileURI(s.Root()) + "/" + expID, "creation_time": exp.meta["creation_time"],
		"experiment_id": expID, "last_update_time": exp.meta["last_update_time"],
		"lifecycle_stage": "active", "name": "fmt-exp",
	}, exp.meta)
	assert.Equal(t, map[string]string{"team": "ml", "note/x": "nested"}, exp.tags)
	require.Len(t, exp.runs, 2)

	run := exp.runs[runID]
	require.NotNil(t, run)
	assert.Equal(t, map[string]any{
		"artifact_uri": fileURI(s.Root()) + "/" + expID + "/" + runID + "/artifacts",
		"end_time":     1795650496065, "entry_point_name": "", "experiment_id": expID,
		"lifecycle_stage": "active", "run_id": runID, "run_name": "fmt-run", "run_uuid": runID,
		"source_name": "", "source_type": 4, "source_version": "", "start_time": 1795650496047,
		"status": 3, "tags": []any{}, "user_id": "u",
	}, run.meta)
	assert.Equal(t, map[string]string{"lr": "0.01", "model/layers": "12"}, run.params)
	assert.Equal(t, map[string]string{
		"mlflow.runName": "fmt-run", "mlflow.source.type": "LOCAL",
		"mlflow.note.content": "line one\nline two", "host": "gpu-02",
	}, run.tags)
	loss := run.metrics["loss"]
	require.Len(t, loss, 4)
	assert.Equal(t, []float64{0.5, 0.25}, []float64{loss[0].Value, loss[1].Value})
	assert.True(t, math.IsNaN(loss[2].Value))
	assert.Equal(t, mlflow.Metric{Key: "loss", Value: 0.125, Timestamp: 1795650496060, Step: 3}, loss[3])
	assert.Equal(t, []mlflow.Metric{{Key: "system/gpu_0_utilization_percentage", Value: 97, Timestamp: 1795650496050}},
		run.metrics["system/gpu_0_utilization_percentage"])
	odd := run.metrics["odd"]
	require.Len(t, odd, 4)
	assert.Equal(t, []float64{math.Inf(1), math.Inf(-1), 1e-7, 1e16}, []float64{odd[0].Value, odd[1].Value, odd[2].Value, odd[3].Value})

	var deletedRuns int
	for id, r := range exp.runs {
		if id == runID {
			continue
		}
		deletedRuns++
		assert.Equal(t, "deleted", r.meta["lifecycle_stage"])
		assert.NotNil(t, r.meta["deleted_time"])
		assert.Nil(t, r.meta["end_time"])
		assert.Equal(t, "generated-run-1", r.meta["run_name"])
		assert.Equal(t, 1, r.meta["status"])
	}
	assert.Equal(t, 1, deletedRuns)

	for id, e := range tree {
		if e.meta["name"] != "gone" {
			continue
		}
		assert.True(t, e.deleted, "experiment %s not in .trash", id)
		assert.Equal(t, "deleted", e.meta["lifecycle_stage"])
		for _, r := range e.runs {
			assert.Equal(t, "deleted", r.meta["lifecycle_stage"])
		}
	}
	for _, r := range def.runs {
		assert.Equal(t, "after the rename", r.meta["run_name"])
		assert.Equal(t, "after the rename", r.tags["mlflow.runName"])
		_, has := r.meta["deleted_time"]
		assert.False(t, has, "rewrites drop deleted_time as MLflow's _overwrite_run_info does")
	}
}
