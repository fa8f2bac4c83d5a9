package restclient

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

func TestGroupOf(t *testing.T) {
	for rpc, want := range map[string]string{
		"runs/log-batch":          GroupLogBatch,
		"runs/log-metric":         GroupLogBatch,
		"runs/set-tag":            GroupLogBatch,
		"runs/search":             GroupSearch,
		"experiments/get-by-name": GroupExperiments,
		"experiments/create":      GroupExperiments,
		"experiments/search":      GroupExperiments,
		"runs/create":             GroupOther,
		"runs/update":             GroupOther,
		"metrics/get-history":     GroupOther,
	} {
		if got := GroupOf(rpc); got != want {
			t.Errorf("GroupOf(%q) = %q, want %q", rpc, got, want)
		}
	}
}

func TestRateLimitsValidate(t *testing.T) {
	tests := []struct {
		name    string
		limits  RateLimits
		wantErr string
	}{
		{"nil", nil, ""},
		{"all groups", RateLimits{GroupLogBatch: 47, GroupSearch: 7, GroupExperiments: 7, GroupOther: 127}, ""},
		{"zero is unlimited", RateLimits{GroupOther: 0}, ""},
		{"unknown group", RateLimits{"logbatch": 1}, `group "logbatch"`},
		{"negative", RateLimits{GroupSearch: -1}, "search"},
		{"infinite", RateLimits{GroupSearch: posInf()}, "finite"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.limits.Validate()
			_, nerr := NewRateLimiter(tc.limits)
			if tc.wantErr == "" {
				if err != nil || nerr != nil {
					t.Fatalf("Validate = %v, NewRateLimiter = %v; want nil", err, nerr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || nerr == nil {
				t.Fatalf("Validate = %v, NewRateLimiter = %v; want %q", err, nerr, tc.wantErr)
			}
		})
	}
}

func posInf() float64 { return math.Inf(1) }

// grants queues n callers per flow on the log-batch group, releases them
// once all are queued, and returns the order in which flows got out.
func grants(t *testing.T, l *RateLimiter, perFlow map[string]int, weights map[string]float64) []string {
	t.Helper()
	sp := l.groups[GroupLogBatch]
	// Hold the group so that every caller queues before the first grant.
	sp.mu.Lock()
	sp.next = time.Now().Add(time.Hour)
	sp.mu.Unlock()
	var (
		mu    sync.Mutex
		order []string
		wg    sync.WaitGroup
	)
	total := 0
	for key, n := range perFlow {
		ctx := WithFlow(t.Context(), key, weights[key])
		total += n
		for range n {
			wg.Go(func() {
				if err := l.Wait(ctx, "runs/log-batch"); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				order = append(order, key)
				mu.Unlock()
			})
		}
	}
	require.Eventually(t, func() bool {
		sp.mu.Lock()
		defer sp.mu.Unlock()
		return sp.waiting == total
	}, 10*time.Second, time.Millisecond)
	sp.mu.Lock()
	sp.next = time.Now()
	sp.armed = false
	sp.arm(time.Now())
	sp.mu.Unlock()
	wg.Wait()
	return order
}

func TestFairShareBetweenFlows(t *testing.T) {
	l, err := NewRateLimiter(RateLimits{GroupLogBatch: 200}) // a slot every 5 ms
	require.NoError(t, err)
	// A noisy flow queues 20 requests, a quiet one 2: while both wait they
	// alternate, so the quiet flow's requests are among the first four out
	// instead of behind the noisy backlog (FIFO would put them anywhere).
	order := grants(t, l, map[string]int{"noisy": 20, "quiet": 2}, nil)
	require.Len(t, order, 22)
	last := -1
	for i, k := range order {
		if k == "quiet" {
			last = i
		}
	}
	assert.LessOrEqual(t, last, 3, "quiet requests must go out within the first four: %v", order)
}

func TestFairShareWeights(t *testing.T) {
	l, err := NewRateLimiter(RateLimits{GroupLogBatch: 200})
	require.NoError(t, err)
	// Weights 3:1 with both flows backlogged: of the first 12 grants, 9 go
	// to the heavy flow.
	order := grants(t, l, map[string]int{"heavy": 15, "light": 15}, map[string]float64{"heavy": 3, "light": 1})
	heavy := 0
	for _, k := range order[:12] {
		if k == "heavy" {
			heavy++
		}
	}
	assert.InDelta(t, 9, heavy, 1, "heavy flow's share of the first 12 grants: %v", order)
}

func TestCancelledWaiterLeavesTheQueue(t *testing.T) {
	l, err := NewRateLimiter(RateLimits{GroupLogBatch: 200})
	require.NoError(t, err)
	sp := l.groups[GroupLogBatch]
	sp.mu.Lock()
	sp.next = time.Now().Add(time.Hour)
	sp.mu.Unlock()
	ctx, cancel := context.WithCancel(WithFlow(t.Context(), "a", 1))
	done := make(chan error)
	go func() { done <- l.Wait(ctx, "runs/log-batch") }()
	require.Eventually(t, func() bool { sp.mu.Lock(); defer sp.mu.Unlock(); return sp.waiting == 1 }, 10*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	sp.mu.Lock()
	defer sp.mu.Unlock()
	assert.Zero(t, sp.waiting)
	assert.Empty(t, sp.flows, "an empty flow is forgotten")
}

func TestAdvanceKeepsScheduleAndBanksNoSlots(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	sp := &spacer{interval: 100 * time.Millisecond}
	sp.advance(t0)
	assert.Equal(t, t0.Add(100*time.Millisecond), sp.next, "first slot: one interval after now")
	// A grant 3 ms late (timer latency) keeps the schedule.
	sp.advance(t0.Add(103 * time.Millisecond))
	assert.Equal(t, t0.Add(200*time.Millisecond), sp.next)
	// After an idle spell the next slot is one interval after now: no burst.
	sp.advance(t0.Add(10 * time.Second))
	assert.Equal(t, t0.Add(10*time.Second+100*time.Millisecond), sp.next)
}

func TestWaitHonoursContext(t *testing.T) {
	l, err := NewRateLimiter(RateLimits{GroupSearch: 0.001}) // one request per 1000 s
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := l.Wait(ctx, "runs/search"); err != nil {
		t.Fatalf("first request must pass at once: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	go cancel()
	if err := l.Wait(cctx, "runs/search"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
	// Other groups are independent and unlimited here.
	if err := l.Wait(ctx, "runs/log-batch"); err != nil {
		t.Fatal(err)
	}
	var nilLimiter *RateLimiter
	if err := nilLimiter.Wait(ctx, "runs/search"); err != nil {
		t.Fatalf("nil limiter: %v", err)
	}
}

func TestThrottledHint(t *testing.T) {
	l, err := NewRateLimiter(RateLimits{GroupLogBatch: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_700_000_000, 0)
	l.now = func() time.Time { return t0 }

	e := l.throttled("runs/log-batch", &mlflow.APIError{HTTPStatus: http.StatusTooManyRequests, Code: mlflow.ErrorCodeRequestLimitExceeded})
	if e.RetryAfter != ThrottleBackoff {
		t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, ThrottleBackoff)
	}
	if got := l.groups[GroupLogBatch].next; !got.Equal(t0.Add(ThrottleBackoff)) {
		t.Errorf("after a 429 the group resumes at +%v, want +%v", got.Sub(t0), ThrottleBackoff)
	}
	// A server delay is kept as sent.
	e = l.throttled("runs/log-batch", &mlflow.APIError{HTTPStatus: http.StatusTooManyRequests, RetryAfter: 5 * time.Second})
	if e.RetryAfter != 5*time.Second {
		t.Errorf("RetryAfter = %v, want the server's 5s", e.RetryAfter)
	}
	// Other statuses are untouched, also by a nil limiter.
	var nilLimiter *RateLimiter
	if e := nilLimiter.throttled("runs/search", &mlflow.APIError{HTTPStatus: http.StatusServiceUnavailable}); e.RetryAfter != 0 {
		t.Errorf("503 got RetryAfter %v", e.RetryAfter)
	}
	if e := nilLimiter.throttled("runs/search", &mlflow.APIError{HTTPStatus: http.StatusTooManyRequests}); e.RetryAfter != ThrottleBackoff {
		t.Errorf("nil limiter 429: RetryAfter %v, want %v", e.RetryAfter, ThrottleBackoff)
	}
}

// BenchmarkRateLimiterWait is the limiter's overhead per request when the
// budget is not the bottleneck (a rate no benchmark reaches).
func BenchmarkRateLimiterWait(b *testing.B) {
	l, err := NewRateLimiter(RateLimits{GroupLogBatch: 1e12})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Wait(ctx, "runs/log-batch"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
