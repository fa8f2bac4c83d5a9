package filestore

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

func TestConcurrentWritersKeepEveryPoint(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, WithMaxOpenFiles(8)) // fewer descriptors than files: eviction races writes
	const (
		runs, writersPerRun, batches, keys, perKey = 4, 2, 15, 5, 4
	)
	var runIDs []string
	for i := 0; i < runs; i++ {
		runIDs = append(runIDs, mustRun(t, s, mlflow.CreateRunRequest{RunName: fmt.Sprint("c", i)}))
	}
	var wg sync.WaitGroup
	errs := make(chan error, runs*writersPerRun)
	for _, runID := range runIDs {
		for w := 0; w < writersPerRun; w++ {
			wg.Add(1)
			go func(runID string, w int) {
				defer wg.Done()
				for b := 0; b < batches; b++ {
					var batch mlflow.Batch
					for k := 0; k < keys; k++ {
						for p := 0; p < perKey; p++ {
							batch.Metrics = append(batch.Metrics, mlflow.Metric{
								Key: fmt.Sprintf("sys/k%d", k), Value: float64(w), Timestamp: int64(b), Step: int64(w*1000 + b*perKey + p),
							})
						}
					}
					batch.Params = []mlflow.Param{{Key: "shared", Value: "same"}, {Key: fmt.Sprintf("w%d_b%d", w, b), Value: "x"}}
					batch.Tags = []mlflow.Tag{{Key: "last_writer", Value: fmt.Sprint(w)}}
					if err := s.LogBatch(ctx, runID, batch); err != nil {
						errs <- err
						return
					}
				}
			}(runID, w)
		}
	}
	wg.Wait()
	s.mu.Lock()
	assert.Empty(t, s.runLocks, "a run's lock is dropped when nobody holds or waits for it")
	s.mu.Unlock()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, runID := range runIDs {
		for k := 0; k < keys; k++ {
			hist, err := s.GetMetricHistory(ctx, runID, fmt.Sprintf("sys/k%d", k))
			require.NoError(t, err)
			require.Len(t, hist, writersPerRun*batches*perKey)
			seen := map[int64]bool{}
			for _, m := range hist {
				assert.False(t, seen[m.Step], "step %d twice", m.Step)
				seen[m.Step] = true
			}
		}
		run, err := s.GetRun(ctx, runID)
		require.NoError(t, err)
		assert.Len(t, run.Data.Params, 1+writersPerRun*batches)
	}
}

func TestConcurrentParamWritesOneWinner(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	runID := mustRun(t, s, mlflow.CreateRunRequest{RunName: "p"})
	const writers = 8
	results := make(chan error, writers)
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results <- s.LogBatch(ctx, runID, mlflow.Batch{Params: []mlflow.Param{{Key: "race", Value: fmt.Sprint(i)}}})
		}(i)
	}
	wg.Wait()
	close(results)
	ok := 0
	for err := range results {
		if err == nil {
			ok++
			continue
		}
		requireCode(t, err, mlflow.ErrorCodeInvalidParameterValue)
	}
	assert.Equal(t, 1, ok)
}

func TestConcurrentExperimentCreation(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	const workers = 8
	ids := make(chan string, workers)
	created := make(chan error, workers)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := s.CreateExperiment(ctx, "contended", nil)
			created <- err
		}()
		go func() {
			defer wg.Done()
			id, err := mlflow.GetOrCreateExperiment(ctx, s, "shared", nil)
			if err != nil {
				id = "error: " + err.Error()
			}
			ids <- id
		}()
	}
	wg.Wait()
	close(ids)
	close(created)
	wins := 0
	for err := range created {
		if err == nil {
			wins++
		} else {
			assert.True(t, mlflow.IsAlreadyExists(err), "%v", err)
		}
	}
	assert.Equal(t, 1, wins)
	distinct := map[string]bool{}
	for id := range ids {
		distinct[id] = true
	}
	assert.Len(t, distinct, 1, "every caller got the same experiment: %v", distinct)
}

func TestLoggingWhileExperimentMoves(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	expID := mustExperiment(t, s, "moving")
	runID := mustRun(t, s, mlflow.CreateRunRequest{ExperimentID: expID, RunName: "m"})
	var wg sync.WaitGroup
	wg.Add(1)
	logged := 0
	go func() {
		defer wg.Done()
		for i := 0; i < 60; i++ {
			err := s.LogBatch(ctx, runID, mlflow.Batch{Metrics: []mlflow.Metric{{Key: "m", Value: float64(i), Timestamp: 1, Step: int64(i)}}})
			if err == nil {
				logged++
				continue
			}
			// Only "deleted run" is acceptable while the experiment is in .trash.
			var apiErr *mlflow.APIError
			if !assert.ErrorAs(t, err, &apiErr) || !assert.Equal(t, mlflow.ErrorCodeInvalidParameterValue, apiErr.Code) {
				return
			}
		}
	}()
	for i := 0; i < 10; i++ {
		require.NoError(t, s.DeleteExperiment(ctx, expID))
		require.NoError(t, s.RestoreExperiment(ctx, expID))
	}
	wg.Wait()
	hist, err := s.GetMetricHistory(ctx, runID, "m")
	require.NoError(t, err)
	assert.Len(t, hist, logged, "every accepted point is in the file that moved")
}
