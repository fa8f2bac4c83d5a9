package restclient_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/restclient"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// These tests run every Store method against the project's MLflow test
// server, which decodes requests with its own structs and enforces the real
// server's validation.

func newClient(t *testing.T, cfg restclient.Config) *restclient.Client {
	t.Helper()
	c, err := restclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestStoreAgainstTestServer(t *testing.T) {
	s := mlflowtest.Start(t)
	c := newClient(t, restclient.Config{TrackingURI: s.URL() + "/", UserAgent: "restclient-test"})
	ctx := t.Context()

	if _, err := c.GetExperimentByName(ctx, "exp"); !mlflow.IsNotFound(err) {
		t.Fatalf("GetExperimentByName of a missing experiment: %v, want not found", err)
	}
	expID, err := mlflow.GetOrCreateExperiment(ctx, c, "exp", []mlflow.Tag{{Key: "team", Value: "ml"}})
	if err != nil {
		t.Fatal(err)
	}
	exp, err := c.GetExperiment(ctx, expID)
	if err != nil {
		t.Fatal(err)
	}
	if exp.Name != "exp" || exp.LifecycleStage != mlflow.LifecycleActive || exp.CreationTime == 0 ||
		!slices.Equal(exp.Tags, []mlflow.Tag{{Key: "team", Value: "ml"}}) {
		t.Errorf("GetExperiment = %+v", exp)
	}
	if _, err := c.CreateExperiment(ctx, "exp", nil); !mlflow.IsAlreadyExists(err) {
		t.Errorf("duplicate CreateExperiment: %v, want already exists", err)
	}

	run, err := c.CreateRun(ctx, mlflow.CreateRunRequest{ExperimentID: expID, RunName: "r", StartTime: 1700000000000,
		UserID: "u", Tags: []mlflow.Tag{{Key: "mlflow.source.type", Value: "LOCAL"}}})
	if err != nil {
		t.Fatal(err)
	}
	if name, _ := run.Tag("mlflow.runName"); name != "r" || run.Info.Status != mlflow.RunStatusRunning ||
		len(run.Info.RunID) != 32 || run.Info.ExperimentID != expID || run.Info.StartTime != 1700000000000 {
		t.Errorf("CreateRun = %+v", run)
	}
	runID := run.Info.RunID

	batch := mlflow.Batch{
		Metrics: []mlflow.Metric{
			{Key: "loss", Value: 0.5, Timestamp: 1700000000001, Step: 0},
			{Key: "loss", Value: math.NaN(), Timestamp: 1700000000002, Step: 1},
			{Key: "loss", Value: math.Inf(1), Timestamp: 1700000000003, Step: 2},
			{Key: "loss", Value: 1.0 / 3, Timestamp: 1700000000004, Step: 3},
			{Key: "system/gpu_0_utilization_percentage", Value: math.Inf(-1), Timestamp: 1700000000005, Step: 0},
		},
		Params: []mlflow.Param{{Key: "lr", Value: "0.001"}, {Key: "note", Value: "quote\" back\\ \n日本 \u2028"}},
		Tags:   []mlflow.Tag{{Key: "phase", Value: "train"}},
	}
	if err := c.LogBatch(ctx, runID, batch); err != nil {
		t.Fatal(err)
	}
	hist, err := c.GetMetricHistory(ctx, runID, "loss")
	if err != nil {
		t.Fatal(err)
	}
	if want := s.MetricHistory(runID, "loss"); !sameMetrics(hist, want) {
		t.Errorf("GetMetricHistory = %+v, server stored %+v", hist, want)
	}
	wantLoss := []float64{0.5, math.NaN(), math.MaxFloat64, 1.0 / 3} // the SQL store clamps +Inf
	if len(hist) != len(wantLoss) {
		t.Fatalf("history has %d points, want %d", len(hist), len(wantLoss))
	}
	for i, m := range hist {
		if !sameFloat(m.Value, wantLoss[i]) || m.Step != int64(i) || m.Timestamp != 1700000000001+int64(i) {
			t.Errorf("point %d = %+v, want value %v", i, m, wantLoss[i])
		}
	}
	if h, err := c.GetMetricHistory(ctx, runID, "never-logged"); err != nil || len(h) != 0 {
		t.Errorf("history of an unlogged key = %v, %v; want empty", h, err)
	}

	got, err := c.GetRun(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := got.Tag("phase"); v != "train" {
		t.Errorf("tag phase = %q", v)
	}
	if !slices.Contains(got.Data.Params, mlflow.Param{Key: "note", Value: "quote\" back\\ \n日本 \u2028"}) {
		t.Errorf("params = %+v", got.Data.Params)
	}
	if len(got.Data.Metrics) != 2 {
		t.Errorf("GetRun latest metrics = %+v, want one per key", got.Data.Metrics)
	}

	info, err := c.UpdateRun(ctx, mlflow.UpdateRunRequest{RunID: runID, Status: mlflow.RunStatusFinished, EndTime: 1700000009999})
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != mlflow.RunStatusFinished || info.EndTime != 1700000009999 || info.RunID != runID {
		t.Errorf("UpdateRun = %+v", info)
	}

	res, err := c.SearchRuns(ctx, mlflow.SearchRunsRequest{ExperimentIDs: []string{expID},
		Filter: "tags.`phase` = 'train' and attributes.status = 'FINISHED'"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 1 || res.Runs[0].Info.RunID != runID {
		t.Errorf("SearchRuns = %+v", res)
	}

	if err := c.DeleteRun(ctx, runID); err != nil {
		t.Fatal(err)
	}
	err = c.LogBatch(ctx, runID, mlflow.Batch{Metrics: []mlflow.Metric{{Key: "loss", Timestamp: 1, Step: 9}}})
	if !mlflow.IsInvalidParameter(err) {
		t.Errorf("LogBatch to a deleted run: %v, want invalid parameter", err)
	}
	if err := c.RestoreRun(ctx, runID); err != nil {
		t.Fatal(err)
	}
	if err := c.LogBatch(ctx, runID, mlflow.Batch{Metrics: []mlflow.Metric{{Key: "loss", Timestamp: 1, Step: 9}}}); err != nil {
		t.Errorf("LogBatch after RestoreRun: %v", err)
	}

	if err := c.RestoreExperiment(ctx, expID); err == nil {
		t.Error("RestoreExperiment of an active experiment succeeded")
	}

	for _, r := range s.Requests() {
		if r.Method == http.MethodPost && r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s sent with Content-Type %q", r.RPC, r.Header.Get("Content-Type"))
		}
		if ua := r.Header.Get("User-Agent"); ua != "restclient-test" {
			t.Errorf("%s sent with User-Agent %q", r.RPC, ua)
		}
	}
}

func TestSearchRunsPagesAgainstTestServer(t *testing.T) {
	s := mlflowtest.Start(t)
	c := newClient(t, restclient.Config{TrackingURI: s.URL()})
	ctx := t.Context()
	expID, err := c.CreateExperiment(ctx, "paged", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for i := 0; i < 5; i++ {
		r, err := c.CreateRun(ctx, mlflow.CreateRunRequest{ExperimentID: expID, StartTime: int64(1000 + i)})
		if err != nil {
			t.Fatal(err)
		}
		want[r.Info.RunID] = true
	}
	got := map[string]bool{}
	req := mlflow.SearchRunsRequest{ExperimentIDs: []string{expID}, MaxResults: 2, OrderBy: []string{"attributes.start_time ASC"}}
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("paging does not end")
		}
		res, err := c.SearchRuns(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Runs {
			got[r.Info.RunID] = true
		}
		if res.NextPageToken == "" {
			break
		}
		req.PageToken = res.NextPageToken
	}
	if len(got) != len(want) {
		t.Errorf("paged search found %d runs, want %d", len(got), len(want))
	}
}

func TestPackedBatchesAcceptedByTestServer(t *testing.T) {
	s := mlflowtest.Start(t)
	c := newClient(t, restclient.Config{TrackingURI: s.URL()})
	ctx := t.Context()
	run, err := c.CreateRun(ctx, mlflow.CreateRunRequest{ExperimentID: "0"})
	if err != nil {
		t.Fatal(err)
	}
	var b mlflow.Batch
	for i := 0; i < 2500; i++ {
		b.Metrics = append(b.Metrics, mlflow.Metric{Key: "m", Value: float64(i), Timestamp: int64(i), Step: int64(i)})
	}
	for i := 0; i < 150; i++ {
		b.Params = append(b.Params, mlflow.Param{Key: fmt.Sprintf("p%d", i), Value: strings.Repeat("\"", 1000)})
	}
	if err := c.LogBatch(ctx, run.Info.RunID, b); !mlflow.IsInvalidParameter(err) {
		t.Errorf("unsplit oversize batch: %v, want invalid parameter", err)
	}
	for _, pb := range mlflow.Pack(b) {
		if err := c.LogBatch(ctx, run.Info.RunID, pb); err != nil {
			t.Fatalf("packed batch refused: %v", err)
		}
	}
	if n := len(s.MetricHistory(run.Info.RunID, "m")); n != 2500 {
		t.Errorf("server holds %d points, want 2500", n)
	}
}

func TestFaultsFromTestServer(t *testing.T) {
	tests := []struct {
		name  string
		fault mlflowtest.Fault
		check func(t *testing.T, err error)
	}{
		{
			name:  "429 with Retry-After",
			fault: mlflowtest.Fault{Status: 429, ErrorCode: "REQUEST_LIMIT_EXCEEDED", Message: "slow down", RetryAfter: "3"},
			check: func(t *testing.T, err error) {
				var e *mlflow.APIError
				if !errors.As(err, &e) || e.RetryAfter != 3*time.Second || !mlflow.IsThrottled(err) || !mlflow.IsRetryable(err) {
					t.Errorf("got %v, want a throttled APIError with RetryAfter 3s", err)
				}
			},
		},
		{
			name:  "503",
			fault: mlflowtest.Fault{Status: 503, ErrorCode: "TEMPORARILY_UNAVAILABLE", Message: "busy"},
			check: func(t *testing.T, err error) {
				if !mlflow.IsRetryable(err) {
					t.Errorf("got %v, want retryable", err)
				}
			},
		},
		{
			name:  "HTML 502 from a proxy",
			fault: mlflowtest.Fault{Status: 502, Body: "<html><body><h1>502 Bad Gateway</h1></body></html>"},
			check: func(t *testing.T, err error) {
				var e *mlflow.APIError
				if !errors.As(err, &e) || e.Code != "" || e.Message != "502 Bad Gateway" || !mlflow.IsRetryable(err) {
					t.Errorf("got %#v, want a code-less retryable APIError with the page text", e)
				}
			},
		},
		{
			name:  "dropped connection",
			fault: mlflowtest.Fault{DropConnection: true},
			check: func(t *testing.T, err error) {
				var e *mlflow.APIError
				if err == nil || errors.As(err, &e) || !strings.HasPrefix(err.Error(), "mlflow runs/log-batch: ") {
					t.Errorf("got %v, want a transport error naming the RPC", err)
				}
			},
		},
		{
			name:  "hang until the context expires",
			fault: mlflowtest.Fault{Hang: true},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("got %v, want context.DeadlineExceeded", err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mlflowtest.Start(t)
			c := newClient(t, restclient.Config{TrackingURI: s.URL()})
			run, err := c.CreateRun(t.Context(), mlflow.CreateRunRequest{ExperimentID: "0"})
			if err != nil {
				t.Fatal(err)
			}
			f := tc.fault
			f.RPC, f.Times = "runs/log-batch", 1
			s.AddFault(f)
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			batch := mlflow.Batch{Metrics: []mlflow.Metric{{Key: "k", Value: 1, Timestamp: 1}}}
			tc.check(t, c.LogBatch(ctx, run.Info.RunID, batch))
			// The fault is spent: the client, not the server, must not be
			// left broken (a pooled body, a poisoned connection).
			if err := c.LogBatch(t.Context(), run.Info.RunID, batch); err != nil {
				t.Errorf("LogBatch after the fault: %v", err)
			}
		})
	}
}

func TestAuthAgainstTestServer(t *testing.T) {
	tests := []struct {
		name    string
		opt     mlflowtest.Option
		cfg     func(url string) restclient.Config
		wantErr bool
	}{
		{"bearer", mlflowtest.WithBearerToken("tok"),
			func(u string) restclient.Config { return restclient.Config{TrackingURI: u, Token: "tok"} }, false},
		{"wrong bearer", mlflowtest.WithBearerToken("tok"),
			func(u string) restclient.Config { return restclient.Config{TrackingURI: u, Token: "nope"} }, true},
		{"basic", mlflowtest.WithBasicAuth("alice", "pw"),
			func(u string) restclient.Config {
				return restclient.Config{TrackingURI: u, Username: "alice", Password: "pw"}
			}, false},
		{"basic from userinfo", mlflowtest.WithBasicAuth("alice", "pw"),
			func(u string) restclient.Config {
				return restclient.Config{TrackingURI: strings.Replace(u, "http://", "http://alice:pw@", 1)}
			}, false},
		{"wrong basic", mlflowtest.WithBasicAuth("alice", "pw"),
			func(u string) restclient.Config {
				return restclient.Config{TrackingURI: u, Username: "alice", Password: "bad"}
			}, true},
		{"auth hook", mlflowtest.WithBearerToken("hooked"),
			func(u string) restclient.Config {
				return restclient.Config{TrackingURI: u, Token: "ignored", Auth: func(r *http.Request) error {
					r.Header.Set("Authorization", "Bearer hooked")
					return nil
				}}
			}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mlflowtest.Start(t, tc.opt)
			c := newClient(t, tc.cfg(s.URL()))
			_, err := c.GetExperiment(t.Context(), "0")
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("GetExperiment: %v", err)
				}
				return
			}
			var e *mlflow.APIError
			if !errors.As(err, &e) || e.HTTPStatus != http.StatusUnauthorized {
				t.Fatalf("got %v, want a 401 APIError", err)
			}
			if strings.Contains(err.Error(), "pw") || strings.Contains(err.Error(), "tok") {
				t.Errorf("error leaks a credential: %v", err)
			}
		})
	}
}

func TestConcurrentWritersAgainstTestServer(t *testing.T) {
	s := mlflowtest.Start(t)
	c := newClient(t, restclient.Config{TrackingURI: s.URL()})
	ctx := t.Context()
	run, err := c.CreateRun(ctx, mlflow.CreateRunRequest{ExperimentID: "0"})
	if err != nil {
		t.Fatal(err)
	}
	const workers, perWorker = 6, 200
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ms := make([]mlflow.Metric, perWorker)
			for i := range ms {
				ms[i] = mlflow.Metric{Key: fmt.Sprintf("w%d", w), Value: float64(i), Timestamp: int64(i), Step: int64(i)}
			}
			for i := 0; i < perWorker; i += 50 {
				if err := c.LogBatch(ctx, run.Info.RunID, mlflow.Batch{Metrics: ms[i : i+50]}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for w := 0; w < workers; w++ {
		if n := len(s.MetricHistory(run.Info.RunID, fmt.Sprintf("w%d", w))); n != perWorker {
			t.Errorf("worker %d: server holds %d points, want %d", w, n, perWorker)
		}
	}
}

func sameFloat(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return a == b
}

func sameMetrics(a, b []mlflow.Metric) bool {
	return slices.EqualFunc(a, b, func(x, y mlflow.Metric) bool {
		return x.Key == y.Key && x.Timestamp == y.Timestamp && x.Step == y.Step && sameFloat(x.Value, y.Value)
	})
}
