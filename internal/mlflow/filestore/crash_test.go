package filestore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

const (
	crashChildEnv  = "FILESTORE_CRASH_CHILD_DIR"
	crashKeys      = 5
	crashPerBatch  = 20
	crashKillAfter = 150 // batches the parent waits for before kill -9
)

// runCrashChild is the body of the re-executed test binary: it writes to
// the store as fast as it can, reporting each finished batch on stdout,
// until the parent kills it.
func runCrashChild(dir string) {
	ctx := context.Background()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	s, err := Open(dir)
	if err != nil {
		fail(err)
	}
	expID, err := mlflow.GetOrCreateExperiment(ctx, s, "crash", nil)
	if err != nil {
		fail(err)
	}
	run, err := s.CreateRun(ctx, mlflow.CreateRunRequest{ExperimentID: expID, RunName: "victim"})
	if err != nil {
		fail(err)
	}
	fmt.Printf("run %s\n", run.Info.RunID)
	for i := 0; ; i++ {
		var b mlflow.Batch
		for j := 0; j < crashPerBatch; j++ {
			for k := 0; k < crashKeys; k++ {
				b.Metrics = append(b.Metrics, mlflow.Metric{
					Key: fmt.Sprintf("system/key_%d", k), Value: float64(i) + float64(j)/100,
					Timestamp: int64(1_700_000_000_000 + i), Step: int64(i*crashPerBatch + j),
				})
			}
		}
		b.Params = []mlflow.Param{{Key: fmt.Sprintf("p%d", i), Value: strconv.Itoa(i)}}
		b.Tags = []mlflow.Tag{{Key: "progress", Value: strconv.Itoa(i)}}
		if err := s.LogBatch(ctx, run.Info.RunID, b); err != nil {
			fail(err)
		}
		if i%10 == 0 {
			if _, err := s.UpdateRun(ctx, mlflow.UpdateRunRequest{RunID: run.Info.RunID, RunName: fmt.Sprintf("victim-%d", i)}); err != nil {
				fail(err)
			}
		}
		fmt.Printf("batch %d\n", i)
	}
}

func TestCrashMidWriteLeavesReadableStore(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	var runID string
	sc := bufio.NewScanner(out)
	batches := 0
	for sc.Scan() {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "run "); ok {
			runID = id
		}
		if strings.HasPrefix(line, "batch ") {
			batches++
		}
		if batches >= crashKillAfter {
			break
		}
	}
	require.NoError(t, cmd.Process.Kill()) // SIGKILL: no deferred cleanup runs
	_ = cmd.Wait()
	require.NotEmpty(t, runID, "child never reported its run")
	require.GreaterOrEqual(t, batches, crashKillAfter, "child stopped early")

	// Raw files first: every complete line parses; only a final line may
	// be cut short.
	expDirs, err := filepath.Glob(filepath.Join(dir, "*", runID))
	require.NoError(t, err)
	require.Len(t, expDirs, 1)
	runDir := expDirs[0]
	for k := 0; k < crashKeys; k++ {
		data, err := os.ReadFile(filepath.Join(runDir, "metrics", "system", fmt.Sprintf("key_%d", k)))
		require.NoError(t, err)
		require.NoError(t, splitMetricLines(data, func(line []byte) error {
			_, err := parseMetricLine("k", line)
			return err
		}))
	}

	s, err := Open(dir)
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	run, err := s.GetRun(ctx, runID)
	require.NoError(t, err)
	assert.Equal(t, mlflow.RunStatusRunning, run.Info.Status)
	assert.True(t, strings.HasPrefix(run.Info.RunName, "victim"))

	// Each key's history is whole batches: steps 0..n-1 without gaps.
	for k := 0; k < crashKeys; k++ {
		key := fmt.Sprintf("system/key_%d", k)
		hist, err := s.GetMetricHistory(ctx, runID, key)
		require.NoError(t, err)
		require.Zero(t, len(hist)%crashPerBatch, "key %s has a partial batch", key)
		require.GreaterOrEqual(t, len(hist), (crashKillAfter-1)*crashPerBatch)
		for i, m := range hist {
			require.Equal(t, int64(i), m.Step, "key %s", key)
		}
	}
	for _, p := range run.Data.Params {
		assert.Equal(t, strings.TrimPrefix(p.Key, "p"), p.Value)
	}

	// Logging again works (a torn tail would be repaired first), and an
	// independent reader agrees on the whole tree.
	require.NoError(t, s.LogBatch(ctx, runID, mlflow.Batch{Metrics: []mlflow.Metric{{Key: "system/key_0", Value: 1, Timestamp: 1, Step: 1 << 40}}}))
	tree := independentRead(t, dir)
	var found bool
	for _, e := range tree {
		if r, ok := e.runs[runID]; ok {
			found = true
			hist, err := s.GetMetricHistory(ctx, runID, "system/key_1")
			require.NoError(t, err)
			assert.Equal(t, hist, r.metrics["system/key_1"])
		}
	}
	assert.True(t, found)
}

func TestTornTailIsRepairedBeforeAppending(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	runID := mustRun(t, s, mlflow.CreateRunRequest{RunName: "r"})
	require.NoError(t, s.LogBatch(ctx, runID, mlflow.Batch{Metrics: []mlflow.Metric{{Key: "m", Value: 1, Timestamp: 10, Step: 0}}}))
	require.NoError(t, s.Close())

	// Simulate a write cut short by power loss.
	path := filepath.Join(s.Root(), "0", runID, "metrics", "m")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString("11 2.")
	require.NoError(t, err)
	require.NoError(t, f.Close())

	s2, err := Open(s.Root())
	require.NoError(t, err)
	defer s2.Close()
	hist, err := s2.GetMetricHistory(ctx, runID, "m")
	require.NoError(t, err)
	assert.Equal(t, []mlflow.Metric{{Key: "m", Value: 1, Timestamp: 10}}, hist, "the torn line is skipped")
	require.NoError(t, s2.LogBatch(ctx, runID, mlflow.Batch{Metrics: []mlflow.Metric{{Key: "m", Value: 3, Timestamp: 12, Step: 1}}}))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "10 1.0 0\n12 3.0 1\n", string(data))
}

func TestRepairTornTail(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"1 1 0\n", "1 1 0\n"},
		{"1 1 0\n2 2", "1 1 0\n"},
		{"2 2", ""},
		{strings.Repeat("1 1 0\n", 2000) + strings.Repeat("9", 5000), strings.Repeat("1 1 0\n", 2000)},
	}
	for i, tt := range tests {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m")
			require.NoError(t, os.WriteFile(path, []byte(tt.in), 0o644))
			f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
			require.NoError(t, err)
			defer f.Close()
			require.NoError(t, repairTornTail(f))
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(data))
		})
	}
}
