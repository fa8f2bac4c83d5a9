package mlflowtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs:\n got: %s\nwant: %s", name, got, want)
	}
}

// waitForRequests polls until the server has received n requests; used to
// know a faulted request is in flight, not to measure time.
func waitForRequests(t *testing.T, s *Server, rpc string, n int) {
	t.Helper()
	for i := 0; s.RequestCount(rpc) < n; i++ {
		if i > 5000 {
			t.Fatalf("request %s never arrived", rpc)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestFaultStatus(t *testing.T) {
	s := Start(t)
	run := createRun(t, s, "0")
	s.AddFault(Fault{RPC: "runs/log-batch", Times: 2, Status: 503, ErrorCode: "TEMPORARILY_UNAVAILABLE", Message: "busy", RetryAfter: "3"})
	body := fmt.Sprintf(`{"run_id":%q,"metrics":[{"key":"m","value":1,"timestamp":1}]}`, run)
	for i := 0; i < 2; i++ {
		r := post(t, s, "runs/log-batch", body)
		m := r.json(t)
		if r.Status != 503 || m["error_code"] != "TEMPORARILY_UNAVAILABLE" || m["message"] != "busy" || r.Header.Get("Retry-After") != "3" {
			t.Errorf("attempt %d: %d %s %v", i, r.Status, r.Body, r.Header)
		}
	}
	// Other RPCs are not affected, and the fault is used up after Times.
	mustOK(t, get(t, s, "runs/get?run_id="+run))
	mustOK(t, post(t, s, "runs/log-batch", body))
	if n := len(s.MetricHistory(run, "m")); n != 1 {
		t.Errorf("faulted requests were applied: %d points", n)
	}
	reqs := s.Requests()
	if reqs[1].Status != 503 || reqs[len(reqs)-1].Status != 200 {
		t.Errorf("recorded statuses: %+v", reqs)
	}
}

func TestFaultBodyVerbatimAndOrder(t *testing.T) {
	s := Start(t)
	s.AddFault(Fault{Times: 1, Status: 502, Body: "<html>bad gateway</html>"})
	s.AddFault(Fault{Status: 429, ErrorCode: "REQUEST_LIMIT_EXCEEDED", Message: "slow down"})
	r := get(t, s, "experiments/get?experiment_id=0")
	if r.Status != 502 || string(r.Body) != "<html>bad gateway</html>" {
		t.Errorf("first: %d %s", r.Status, r.Body)
	}
	for i := 0; i < 3; i++ {
		if r := get(t, s, "experiments/get?experiment_id=0"); r.Status != 429 {
			t.Errorf("Times 0 fault stopped applying: %d", r.Status)
		}
	}
	s.ClearFaults()
	mustOK(t, get(t, s, "experiments/get?experiment_id=0"))
}

func TestFaultLatency(t *testing.T) {
	s := Start(t)
	s.AddFault(Fault{Latency: time.Millisecond})
	mustOK(t, get(t, s, "experiments/get?experiment_id=0"))

	// The unlimited 1 ms fault above still matches first, so this one is
	// never reached.
	s.AddFault(Fault{Latency: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/api/2.0/mlflow/experiments/get?experiment_id=0", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("first fault should win: %v", err)
	}
	// A long delay ends when the client gives up.
	s.ClearFaults()
	s.AddFault(Fault{Latency: time.Hour})
	n := s.RequestCount("")
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/api/2.0/mlflow/experiments/get?experiment_id=0", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitForRequests(t, s, "", n+1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("client error = %v, want context.Canceled", err)
	}
}

func TestFaultDropConnection(t *testing.T) {
	s := Start(t)
	s.AddFault(Fault{RPC: "runs/create", DropConnection: true})
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/api/2.0/mlflow/runs/create", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got a response (%d), want a dropped connection", resp.StatusCode)
	}
	if len(s.Runs()) != 0 {
		t.Error("dropped request was applied")
	}
	s.ClearFaults()
	createRun(t, s, "0")
}

func TestFaultHang(t *testing.T) {
	t.Run("client gives up", func(t *testing.T) {
		s := Start(t)
		s.AddFault(Fault{Hang: true})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/api/2.0/mlflow/experiments/get?experiment_id=0", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatal("hung request answered")
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v", err)
		}
	})
	t.Run("released by ClearFaults", func(t *testing.T) {
		s := Start(t)
		s.AddFault(Fault{RPC: "experiments/get", Hang: true})
		done := make(chan response, 1)
		go func() { done <- get(t, s, "experiments/get?experiment_id=0") }()
		waitForRequests(t, s, "experiments/get", 1)
		s.ClearFaults()
		if r := <-done; r.Status != 200 {
			t.Errorf("released request: %d %s", r.Status, r.Body)
		}
	})
	t.Run("dropped by Close", func(t *testing.T) {
		s := Start(t)
		s.AddFault(Fault{Hang: true})
		errc := make(chan error, 1)
		go func() {
			resp, err := http.Get(s.URL() + "/api/2.0/mlflow/experiments/get?experiment_id=0")
			if err == nil {
				resp.Body.Close()
			}
			errc <- err
		}()
		waitForRequests(t, s, "", 1)
		s.Close()
		if err := <-errc; err == nil {
			t.Error("hung request answered at Close")
		}
	})
}

// TestConcurrentUse runs writers, readers and fault changes together; run
// with -race.
func TestConcurrentUse(t *testing.T) {
	s := Start(t)
	run := createRun(t, s, "0")
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				body := fmt.Sprintf(`{"run_id":%q,"metrics":[{"key":"m%d","value":%d,"timestamp":%d}]}`, run, w, i, i)
				req, _ := http.NewRequest(http.MethodPost, s.URL()+"/api/2.0/mlflow/runs/log-batch", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				_ = s.Runs()
				_ = s.Requests()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			s.AddFault(Fault{RPC: "runs/log-batch", Times: 1, Status: 500, ErrorCode: "INTERNAL_ERROR", Message: "x"})
			s.ClearFaults()
		}
	}()
	wg.Wait()
	if n := s.RequestCount("runs/log-batch"); n != 80 {
		t.Errorf("RequestCount = %d, want 80", n)
	}
}
