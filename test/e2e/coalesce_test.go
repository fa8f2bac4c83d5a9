package e2e

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// coalesceExtra is a log-batch budget (rate_limits) with coalescing: each
// run's points wait in its partition of the sending queue until they fill a
// request or maxDelay passes.
func coalesceExtra(maxDelay time.Duration) string {
	return fmt.Sprintf("rate_limits:\n  log_batch: 50\ncoalesce:\n  max_delay: %s\n", maxDelay)
}

// TestCoalescedRequestsUnderBudget: six runs send ten small exports each
// (one step of every key, as a training loop flushing often). Under a
// budget each run's points leave as one log-batch request; without
// coalescing (the control) every flush makes its own request.
func TestCoalescedRequestsUnderBudget(t *testing.T) {
	const runs, rounds = 6, 10
	for _, tc := range []struct {
		name      string
		maxDelay  time.Duration
		coalesced bool
	}{
		{"coalesced", 3 * time.Second, true},
		{"control", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startMLflow(t)
			via, logBatches := countingProxy(t, srv.URL(), "runs/log-batch")
			c := StartCollector(t, relConfigExp(t, via, srv.Experiment("coalesce"), true, coalesceExtra(tc.maxDelay)))
			var streams []*stream
			for i := range runs {
				streams = append(streams, newStream(t, c, GRPC, fmt.Sprintf("coalesce-%d", i), 0, 1))
			}
			start := time.Now()
			for range rounds {
				for _, st := range streams {
					st.mustSend(t, 1)
				}
				time.Sleep(150 * time.Millisecond) // pacing: one step per flush, longer than flush_timeout
			}
			for i, st := range streams {
				awaitLanded(t, srv, fmt.Sprintf("coalesce-%d", i), st.acked, true, 30*time.Second)
			}
			took := time.Since(start)
			n := logBatches()
			t.Logf("%d runs x %d exports: %d log-batch requests; all landed after %v", runs, rounds, n, took.Round(10*time.Millisecond))
			if tc.coalesced {
				// One request per run holds all its points, once the
				// oldest has waited max_delay (not before: nothing is full).
				assert.Equal(t, runs, n)
				assert.GreaterOrEqual(t, took, tc.maxDelay)
			} else {
				assert.Greater(t, n, 2*runs, "the control must make many small requests, or the coalesced case proves nothing")
			}
		})
	}
}

// TestCoalescedPointsSurviveACrash: points held for coalescing are in the
// persistent queue, not only in memory. The collector is killed while it
// holds them (nothing sent yet); the restarted one sends every point.
func TestCoalescedPointsSurviveACrash(t *testing.T) {
	srv := startMLflow(t)
	via, logBatches := countingProxy(t, srv.URL(), "runs/log-batch")
	exp := srv.Experiment("coalesce-crash")
	dir := t.TempDir()
	ports := Ports{GRPC: freePort(t), HTTP: freePort(t), Health: freePort(t), Metrics: freePort(t)}
	c1 := startCollectorIn(t, dir, ports, relConfigExp(t, via, exp, true, coalesceExtra(90*time.Second)))
	st := newStream(t, c1, HTTP, "held", 0, 1)
	for range 5 {
		st.mustSend(t, 4)
	}
	time.Sleep(time.Second) // "nothing arrives" window: flush_timeout is 100 ms, so without coalescing it would have
	assert.Zero(t, logBatches(), "points are held, not sent")
	c1.Kill()

	c2 := startCollectorIn(t, dir, ports, relConfigExp(t, via, exp, true, coalesceExtra(time.Second)))
	run := awaitLanded(t, srv, "held", st.acked, true, 30*time.Second)
	t.Logf("%d steps were held at the kill; all landed in run %s in %d log-batch requests", len(st.acked), run.Info.RunID, logBatches())
	assert.NotContains(t, c2.Output(), "panic")
}

// countingProxy forwards to target (the test server or a real one) and
// counts the requests for rpc that were answered 200.
func countingProxy(t testing.TB, target, rpc string) (string, func() int) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	var n atomic.Int64
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/"+rpc) {
			rp.ServeHTTP(w, r)
			return
		}
		sw := &mlflowtest.StatusWriter{ResponseWriter: w}
		rp.ServeHTTP(sw, r)
		if sw.Status == http.StatusOK {
			n.Add(1)
		}
	})}
	l := listenLoopback(t)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String(), func() int { return int(n.Load()) }
}
