package restclient

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

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

func TestSpacerReserve(t *testing.T) {
	sp := &spacer{interval: 100 * time.Millisecond}
	t0 := time.Unix(1_700_000_000, 0)
	// Five callers at the same instant leave 100 ms apart.
	for i := range 5 {
		if got, want := sp.reserve(t0), t0.Add(time.Duration(i)*100*time.Millisecond); !got.Equal(want) {
			t.Fatalf("reserve #%d = %v, want %v", i, got.Sub(t0), want.Sub(t0))
		}
	}
	// An idle group does not bank slots: after a pause the next caller
	// goes at once and the one after waits a full interval.
	t1 := t0.Add(10 * time.Second)
	if got := sp.reserve(t1); !got.Equal(t1) {
		t.Fatalf("after idle: %v, want now", got.Sub(t1))
	}
	at := sp.reserve(t1)
	if want := t1.Add(100 * time.Millisecond); !at.Equal(want) {
		t.Fatalf("second after idle: %v, want +100ms", at.Sub(t1))
	}
	// A cancelled caller hands its slot back while it is the last one.
	sp.release(at)
	if got := sp.reserve(t1); !got.Equal(at) {
		t.Fatalf("after release: %v, want the released slot %v", got.Sub(t1), at.Sub(t1))
	}
	// Not when someone queued behind it.
	later := sp.reserve(t1)
	sp.release(at)
	if got := sp.reserve(t1); !got.Equal(later.Add(100 * time.Millisecond)) {
		t.Fatalf("release of a non-last slot moved the queue: %v", got.Sub(t1))
	}
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
	if got := l.groups[GroupLogBatch].reserve(t0); !got.Equal(t0.Add(ThrottleBackoff)) {
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
