package restclient_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/restclient"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// loadRun sends workers*perWorker log-batch calls through clients (round
// robin) against a workspace limiting log-batch to qps, and returns the
// errors.
func loadRun(t *testing.T, s *mlflowtest.Server, clients []*restclient.Client, workers, perWorker int) []error {
	t.Helper()
	ctx := t.Context()
	run, err := clients[0].CreateRun(ctx, mlflow.CreateRunRequest{ExperimentID: "0", StartTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			c := clients[w%len(clients)]
			for i := range perWorker {
				b := mlflow.Batch{Metrics: []mlflow.Metric{{Key: "m", Value: 1, Timestamp: 1, Step: int64(w*perWorker + i)}}}
				if err := c.LogBatch(ctx, run.Info.RunID, b); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return errs
}

func TestRateLimiterLoadAgainstWorkspace(t *testing.T) {
	const qps = 40
	limits := map[string]float64{restclient.GroupLogBatch: qps}
	tests := []struct {
		name      string
		limiter   bool
		clients   int
		perWorker int
		throttle  bool // whether the workspace is expected to answer 429
	}{
		// 120 calls: the workspace's one-second bucket (40) runs dry unless
		// they take over 2 s, which even a loaded -race run does not.
		{"no client limiter floods the workspace", false, 1, 15, true},
		// 48 calls: 1.2 s of budget, more than the bucket holds.
		{"one client under the limiter", true, 1, 6, false},
		{"two clients sharing one limiter", true, 2, 6, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := mlflowtest.Start(t, mlflowtest.WithDatabricks(mlflowtest.Databricks{PATs: []string{"dapi-load"}, RateLimits: limits}))
			var lim *restclient.RateLimiter
			if tc.limiter {
				var err error
				if lim, err = restclient.NewRateLimiter(limits); err != nil {
					t.Fatal(err)
				}
			}
			var clients []*restclient.Client
			for range tc.clients {
				clients = append(clients, newClient(t, restclient.Config{TrackingURI: s.URL(), Token: "dapi-load", RateLimiter: lim}))
			}
			errs := loadRun(t, s, clients, 8, tc.perWorker)
			throttled := s.DatabricksThrottled(restclient.GroupLogBatch)
			if !tc.throttle {
				if throttled != 0 || len(errs) != 0 {
					t.Fatalf("%d requests over the workspace limit, %d errors (first: %v)", throttled, len(errs), first(errs))
				}
				return
			}
			if throttled == 0 {
				t.Fatal("without a client limiter the load must exceed the workspace limit (else this test proves nothing)")
			}
			for _, err := range errs {
				var ae *mlflow.APIError
				if !errors.As(err, &ae) || !mlflow.IsThrottled(err) || ae.RetryAfter != restclient.ThrottleBackoff {
					t.Fatalf("err = %v, want a 429 carrying the %v backoff hint", err, restclient.ThrottleBackoff)
				}
			}
		})
	}
}

func first(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errs[0]
}
