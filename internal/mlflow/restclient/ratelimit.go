package restclient

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// Endpoint groups a RateLimiter limits separately. They follow the groups
// Databricks publishes per-workspace limits for.
const (
	GroupLogBatch    = "log_batch"   // runs/log-batch and the single-value log calls
	GroupSearch      = "search"      // runs/search
	GroupExperiments = "experiments" // experiments/* (get, get-by-name, create, restore, search, ...)
	GroupOther       = "other"       // everything else (runs/create, runs/get, runs/update, get-history, ...)
)

// Groups lists the endpoint groups in a stable order.
var Groups = []string{GroupLogBatch, GroupSearch, GroupExperiments, GroupOther}

// ThrottleBackoff is the delay a 429 answer carries in APIError.RetryAfter
// when the server sent no Retry-After (Databricks sends none), and how long
// a RateLimiter holds the throttled group back. One second lets a
// per-second server bucket refill completely.
const ThrottleBackoff = time.Second

// GroupOf returns the endpoint group of an RPC path ("runs/log-batch").
func GroupOf(rpc string) string {
	switch {
	case rpc == "runs/log-batch", rpc == "runs/log-metric", rpc == "runs/log-parameter", rpc == "runs/set-tag":
		return GroupLogBatch
	case rpc == "runs/search":
		return GroupSearch
	case strings.HasPrefix(rpc, "experiments/"):
		return GroupExperiments
	}
	return GroupOther
}

// RateLimits maps an endpoint group to its limit in requests per second.
// An absent group or 0 means unlimited.
type RateLimits map[string]float64

// Validate rejects unknown groups and negative or non-finite rates.
func (l RateLimits) Validate() error {
	var errs []error
	for _, g := range slices.Sorted(maps.Keys(l)) {
		v := l[g]
		if !slices.Contains(Groups, g) {
			errs = append(errs, fmt.Errorf("rate limit group %q: want one of %s", g, strings.Join(Groups, ", ")))
			continue
		}
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			errs = append(errs, fmt.Errorf("rate limit %s: %v requests per second is not a finite value >= 0", g, v))
		}
	}
	return errors.Join(errs...)
}

// RateLimiter spaces requests per endpoint group on the client side, so a
// workspace's published limits are never exceeded in the first place. One
// limiter may be shared by several Clients that talk to the same server;
// all their callers then draw from the same budget. A nil *RateLimiter
// limits nothing.
type RateLimiter struct {
	now    func() time.Time
	groups map[string]*spacer
}

// spacer lets requests out no closer than interval apart (a token bucket of
// depth one): the strictest reading of "n requests per second", which
// leaves the server's own bucket room for network jitter.
type spacer struct {
	interval time.Duration
	mu       sync.Mutex
	next     time.Time // earliest time the next request may leave
}

// NewRateLimiter builds a limiter for limits; groups without a positive
// limit are not limited.
func NewRateLimiter(limits RateLimits) (*RateLimiter, error) {
	if err := limits.Validate(); err != nil {
		return nil, err
	}
	l := &RateLimiter{now: time.Now, groups: map[string]*spacer{}}
	for g, qps := range limits {
		if qps > 0 {
			l.groups[g] = &spacer{interval: time.Duration(float64(time.Second) / qps)}
		}
	}
	return l, nil
}

// Wait blocks until a request to rpc may be sent, or ctx ends. A request
// that gives up returns its slot when no later request has taken the next
// one, so cancelled callers do not slow the others.
func (l *RateLimiter) Wait(ctx context.Context, rpc string) error {
	if l == nil {
		return nil
	}
	sp := l.groups[GroupOf(rpc)]
	if sp == nil {
		return nil
	}
	now := l.now()
	at := sp.reserve(now)
	d := at.Sub(now)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		sp.release(at)
		return fmt.Errorf("wait for %s rate limit: %w", GroupOf(rpc), context.Cause(ctx))
	}
}

// reserve takes the next free slot at or after now and returns its time.
func (sp *spacer) reserve(now time.Time) time.Time {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	at := sp.next
	if at.Before(now) {
		at = now
	}
	sp.next = at.Add(sp.interval)
	return at
}

// release gives the slot at back if it is still the last one taken.
func (sp *spacer) release(at time.Time) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.next.Equal(at.Add(sp.interval)) {
		sp.next = at
	}
}

// throttled completes a 429 answer: without a Retry-After it carries
// ThrottleBackoff, and the limiter holds the whole group back for the
// delay, since every caller of the group would be refused as well. It
// returns e for use in a return statement; l may be nil.
func (l *RateLimiter) throttled(rpc string, e *mlflow.APIError) *mlflow.APIError {
	if e == nil || e.HTTPStatus != http.StatusTooManyRequests {
		return e
	}
	if e.RetryAfter <= 0 {
		e.RetryAfter = ThrottleBackoff
	}
	if l == nil {
		return e
	}
	if sp := l.groups[GroupOf(rpc)]; sp != nil {
		sp.mu.Lock()
		if until := l.now().Add(e.RetryAfter); sp.next.Before(until) {
			sp.next = until
		}
		sp.mu.Unlock()
	}
	return e
}
