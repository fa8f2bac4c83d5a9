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
// all their callers then draw from the same budget. While the budget binds,
// waiting requests leave in weighted fair order between flows (WithFlow:
// tenants of a shared gateway, or runs), first come first served within a
// flow, so one busy sender cannot starve the others. A nil *RateLimiter
// limits nothing.
type RateLimiter struct {
	now    func() time.Time
	groups map[string]*spacer
}

type flowCtxKey struct{}

type flow struct {
	key    string
	weight float64
}

// WithFlow marks the requests made with ctx as belonging to flow key with
// the given weight (<= 0 means 1). When a group's budget binds, each flow
// with waiting requests gets a share of the group's requests proportional
// to its weight. Requests without a flow share the flow "".
func WithFlow(ctx context.Context, key string, weight float64) context.Context {
	if weight <= 0 || math.IsNaN(weight) || math.IsInf(weight, 0) {
		weight = 1
	}
	return context.WithValue(ctx, flowCtxKey{}, flow{key: key, weight: weight})
}

func flowFrom(ctx context.Context) flow {
	if f, ok := ctx.Value(flowCtxKey{}).(flow); ok {
		return f
	}
	return flow{weight: 1}
}

// spacer lets requests out no closer than interval apart (a token bucket of
// depth one): the strictest reading of "n requests per second", which
// leaves the server's own bucket room for network jitter. Requests that
// must wait queue per flow and are let out by start-time fair queueing: a
// flow's next request is tagged max(virtual time, the flow's last finish
// tag), the smallest tag goes first, and each grant advances the flow's
// finish tag by 1/weight. A flow that was idle starts at the current
// virtual time, so it banks no credit.
type spacer struct {
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	next    time.Time // earliest time the next request may leave
	vtime   float64   // start tag of the last grant
	flows   map[string]*flowQueue
	waiting int
	timer   *time.Timer
	armed   bool
}

type flowQueue struct {
	weight  float64
	finish  float64
	waiters []chan struct{}
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
			l.groups[g] = &spacer{
				interval: time.Duration(float64(time.Second) / qps),
				now:      func() time.Time { return l.now() },
				flows:    map[string]*flowQueue{},
			}
		}
	}
	return l, nil
}

// Wait blocks until a request to rpc may be sent, or ctx ends. A request
// that gives up leaves the queue without using a slot, so cancelled callers
// do not slow the others.
func (l *RateLimiter) Wait(ctx context.Context, rpc string) error {
	if l == nil {
		return nil
	}
	sp := l.groups[GroupOf(rpc)]
	if sp == nil {
		return nil
	}
	if err := sp.wait(ctx, flowFrom(ctx)); err != nil {
		return fmt.Errorf("wait for %s rate limit: %w", GroupOf(rpc), err)
	}
	return nil
}

func (sp *spacer) wait(ctx context.Context, f flow) error {
	sp.mu.Lock()
	now := sp.now()
	if sp.waiting == 0 && !now.Before(sp.next) {
		// Nobody waits and the slot is free: go now. Without contention
		// there is nothing to be fair about, so no flow is charged.
		sp.advance(now)
		sp.mu.Unlock()
		return nil
	}
	q := sp.flows[f.key]
	if q == nil {
		q = &flowQueue{weight: f.weight, finish: sp.vtime}
		sp.flows[f.key] = q
	}
	q.weight = f.weight
	ch := make(chan struct{})
	q.waiters = append(q.waiters, ch)
	sp.waiting++
	sp.arm(now)
	sp.mu.Unlock()

	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		sp.mu.Lock()
		defer sp.mu.Unlock()
		select {
		case <-ch:
			// Granted while giving up: the slot is spent either way.
			return nil
		default:
		}
		if i := slices.Index(q.waiters, ch); i >= 0 {
			q.waiters = slices.Delete(q.waiters, i, i+1)
			sp.waiting--
			if len(q.waiters) == 0 {
				delete(sp.flows, f.key)
			}
		}
		return context.Cause(ctx)
	}
}

// advance takes the slot at now. On schedule the next slot is one interval
// after this one's due time, so timer latency does not erode the rate;
// after an idle spell it is one interval after now (no banked slots).
func (sp *spacer) advance(now time.Time) {
	at := sp.next
	if now.Sub(at) > sp.interval || at.IsZero() {
		at = now
	}
	sp.next = at.Add(sp.interval)
}

// charge records a grant to q.
func (sp *spacer) charge(q *flowQueue) {
	start := max(sp.vtime, q.finish)
	q.finish = start + 1/q.weight
	sp.vtime = start
}

// arm makes sure a grant is attempted when the next slot is due.
func (sp *spacer) arm(now time.Time) {
	if sp.armed {
		return
	}
	sp.armed = true
	d := max(sp.next.Sub(now), 0)
	if sp.timer == nil {
		sp.timer = time.AfterFunc(d, sp.fire)
		return
	}
	sp.timer.Reset(d)
}

// fire lets the fairest waiting request out when its slot is due.
func (sp *spacer) fire() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.armed = false
	if sp.waiting == 0 {
		return
	}
	now := sp.now()
	if now.Before(sp.next) {
		// A 429 pushed the slot back, or the clock is not where the timer
		// thought.
		sp.arm(now)
		return
	}
	var (
		bestKey   string
		best      *flowQueue
		bestStart float64
	)
	for k, q := range sp.flows {
		if len(q.waiters) == 0 {
			continue
		}
		start := max(sp.vtime, q.finish)
		if best == nil || start < bestStart || start == bestStart && k < bestKey {
			bestKey, best, bestStart = k, q, start
		}
	}
	sp.advance(now)
	sp.charge(best)
	close(best.waiters[0])
	best.waiters = best.waiters[1:]
	sp.waiting--
	if len(best.waiters) == 0 {
		delete(sp.flows, bestKey)
	}
	if sp.waiting > 0 {
		sp.arm(now)
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
