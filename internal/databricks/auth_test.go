package databricks

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/restclient"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// fakeClock is shared by the fake workspace (token expiry) and the token
// source, so hours of token lifetime pass in microseconds.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const (
	spID     = "sp-1"
	spSecret = "sp-secret-value"
)

func startWorkspace(t *testing.T, clock *fakeClock, lifetime time.Duration) *mlflowtest.Server {
	t.Helper()
	return mlflowtest.Start(t, mlflowtest.WithClock(clock.Now), mlflowtest.WithDatabricks(mlflowtest.Databricks{
		ClientID: spID, ClientSecret: spSecret, TokenLifetime: lifetime, PATs: []string{"dapi-pat"},
		RateLimits: map[string]float64{},
	}))
}

func newM2M(t *testing.T, s *mlflowtest.Server, clock *fakeClock, secret string) *M2M {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	m := NewM2M(s.URL(), spID, secret, hc)
	m.now = clock.Now
	return m
}

func TestM2MTokenRefreshAcrossExpiry(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	s := startWorkspace(t, clock, time.Hour)
	m := newM2M(t, s, clock, spSecret)
	hc := &http.Client{Transport: m.InvalidatingTransport(nil)}
	t.Cleanup(hc.CloseIdleConnections)
	c, err := restclient.New(restclient.Config{TrackingURI: s.URL(), Auth: m.Authorize, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	exp, err := mlflow.GetOrCreateExperiment(ctx, c, "/Shared/long", nil)
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.CreateRun(ctx, mlflow.CreateRunRequest{ExperimentID: exp, StartTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	// A five-hour run logging every 30 s: every call must carry a valid
	// token, and tokens are fetched about once an hour, not per call.
	const steps = 5 * 120
	for i := range steps {
		b := mlflow.Batch{Metrics: []mlflow.Metric{{Key: "loss", Value: float64(i), Timestamp: clock.Now().UnixMilli(), Step: int64(i)}}}
		if err := c.LogBatch(ctx, run.Info.RunID, b); err != nil {
			t.Fatalf("step %d at +%v: %v", i, clock.Now().Sub(time.Unix(1_800_000_000, 0)), err)
		}
		clock.Advance(30 * time.Second)
	}
	if got := len(s.MetricHistory(run.Info.RunID, "loss")); got != steps {
		t.Errorf("history has %d points, want %d", got, steps)
	}
	if n := s.DatabricksTokensIssued(); n < 5 || n > 7 {
		t.Errorf("%d tokens issued over five hours of one-hour tokens, want 5 to 7", n)
	}
	if n := s.DatabricksRefused(); n != 0 {
		t.Errorf("%d requests refused", n)
	}
	if n := s.RequestCount(mlflowtest.DatabricksOIDCMetadataPath); n != 1 {
		t.Errorf("OIDC metadata read %d times, want once", n)
	}
}

func TestM2MRefreshFailureKeepsValidToken(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	s := startWorkspace(t, clock, time.Hour)
	m := newM2M(t, s, clock, spSecret)
	ctx := t.Context()
	first, err := m.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Into the refresh window (last 5 minutes), with the token endpoint
	// failing: the still-valid token is used, and the failure backs off.
	clock.Advance(56 * time.Minute)
	s.AddFault(mlflowtest.Fault{RPC: mlflowtest.DatabricksTokenPath, Status: http.StatusServiceUnavailable, Body: "upstream down"})
	for range 3 {
		tok, err := m.Token(ctx)
		if err != nil || tok != first {
			t.Fatalf("during a failed refresh: %q, %v; want the current token", tok, err)
		}
	}
	if n := s.RequestCount(mlflowtest.DatabricksTokenPath); n != 2 {
		t.Errorf("token endpoint called %d times, want 2 (grant, one failed refresh inside the backoff)", n)
	}
	// The endpoint recovers; after the backoff the next call refreshes.
	s.ClearFaults()
	clock.Advance(2 * time.Second)
	tok, err := m.Token(ctx)
	if err != nil || tok == first {
		t.Fatalf("after recovery: %q, %v; want a new token", tok, err)
	}
}

func TestM2MExpiredAndEndpointDown(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	s := startWorkspace(t, clock, time.Hour)
	m := newM2M(t, s, clock, spSecret)
	ctx := t.Context()
	s.AddFault(mlflowtest.Fault{RPC: mlflowtest.DatabricksTokenPath, Status: http.StatusBadGateway, Body: "<html>bad gateway</html>"})
	_, err := m.Token(ctx)
	if err == nil || !strings.Contains(err.Error(), "HTTP 502") {
		t.Fatalf("err = %v, want HTTP 502", err)
	}
	// Within the backoff the error is repeated without a request.
	_, err = m.Token(ctx)
	if err == nil || !strings.Contains(err.Error(), "next attempt in") {
		t.Fatalf("err = %v, want the remembered failure", err)
	}
	if n := s.RequestCount(mlflowtest.DatabricksTokenPath); n != 1 {
		t.Errorf("token endpoint called %d times inside the backoff", n)
	}
	// Backoff doubles: 1 s, then 2 s.
	clock.Advance(1100 * time.Millisecond)
	if _, err := m.Token(ctx); err == nil {
		t.Fatal("endpoint still down: want an error")
	}
	clock.Advance(1100 * time.Millisecond)
	if _, err := m.Token(ctx); err == nil || !strings.Contains(err.Error(), "next attempt") {
		t.Fatalf("second backoff is 2s: err = %v", err)
	}
	s.ClearFaults()
	clock.Advance(time.Second)
	if _, err := m.Token(ctx); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestM2MBadSecret(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	s := startWorkspace(t, clock, time.Hour)
	m := newM2M(t, s, clock, "wrong-secret-value")
	_, err := m.Token(t.Context())
	if err == nil || !strings.Contains(err.Error(), "invalid_client") || !strings.Contains(err.Error(), spID) {
		t.Fatalf("err = %v, want invalid_client naming the client id", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-value") {
		t.Fatalf("error shows the secret: %v", err)
	}
}

func TestM2MConcurrentFirstUse(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	s := startWorkspace(t, clock, time.Hour)
	m := newM2M(t, s, clock, spSecret)
	var wg sync.WaitGroup
	toks := make([]string, 16)
	errs := make([]error, 16)
	for i := range toks {
		wg.Go(func() { toks[i], errs[i] = m.Token(context.Background()) })
	}
	wg.Wait()
	for i := range toks {
		if errs[i] != nil || toks[i] != toks[0] {
			t.Fatalf("caller %d: %q, %v", i, toks[i], errs[i])
		}
	}
	if n := m.Fetches(); n != 1 {
		t.Errorf("%d fetches for 16 concurrent first callers, want 1", n)
	}
}

func TestM2MConcurrentCallersShareOneFailure(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	s := startWorkspace(t, clock, time.Hour)
	m := newM2M(t, s, clock, spSecret)
	s.AddFault(mlflowtest.Fault{RPC: mlflowtest.DatabricksTokenPath, Status: http.StatusServiceUnavailable, Body: "down"})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := m.Token(context.Background()); err == nil {
				t.Error("want an error while the endpoint is down")
			}
		})
	}
	wg.Wait()
	if n := m.Fetches(); n != 1 {
		t.Errorf("%d fetches for 8 callers during one outage, want 1", n)
	}
}

func TestInvalidatingTransport(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	s := startWorkspace(t, clock, time.Hour)
	m := newM2M(t, s, clock, spSecret)
	hc := &http.Client{Transport: m.InvalidatingTransport(nil)}
	t.Cleanup(hc.CloseIdleConnections)
	c, err := restclient.New(restclient.Config{TrackingURI: s.URL(), Auth: m.Authorize, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := c.GetExperiment(ctx, "0"); err != nil {
		t.Fatal(err)
	}
	// The workspace refuses the token early (revoked): one 403, then a new
	// token is fetched instead of repeating the refused one.
	s.AddFault(mlflowtest.Fault{RPC: "experiments/get", Times: 1, Status: 403, ErrorCode: "PERMISSION_DENIED", Message: "Invalid access token."})
	if _, err := c.GetExperiment(ctx, "0"); err == nil {
		t.Fatal("want the 403")
	}
	if _, err := c.GetExperiment(ctx, "0"); err != nil {
		t.Fatal(err)
	}
	if n := m.Fetches(); n != 2 {
		t.Errorf("fetches = %d, want 2", n)
	}
}

func TestPATAuthenticator(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	s := startWorkspace(t, clock, time.Hour)
	a, err := NewAuthenticator(&Workspace{Host: s.URL(), AuthType: AuthPAT, Token: "dapi-pat"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := restclient.New(restclient.Config{TrackingURI: s.URL(), Auth: a.Authorize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.GetExperiment(t.Context(), "0"); err != nil {
		t.Fatal(err)
	}
	if _, err := NewAuthenticator(&Workspace{AuthType: "basic"}, nil); err == nil {
		t.Error("unknown auth type accepted")
	}
}

func TestPathStore(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	s := startWorkspace(t, clock, time.Hour)
	c, err := restclient.New(restclient.Config{TrackingURI: s.URL(), Token: "dapi-pat"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx := t.Context()
	ps := &PathStore{Store: c, Base: "/Shared/otel"}
	id, err := mlflow.GetOrCreateExperiment(ctx, ps, "train", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The workspace answers ALREADY_EXISTS (409); the race-safe pattern
	// still finds the experiment.
	if _, err := ps.CreateExperiment(ctx, "train", nil); !mlflow.IsAlreadyExists(err) {
		t.Errorf("duplicate create: %v, want already exists", err)
	}
	again, err := mlflow.GetOrCreateExperiment(ctx, ps, "/Shared/otel/train", nil)
	if err != nil || again != id {
		t.Fatalf("absolute name: %q, %v; want %q", again, err, id)
	}
	before := s.RequestCount("")
	_, err = mlflow.GetOrCreateExperiment(ctx, &PathStore{Store: c}, "relative", nil)
	if !mlflow.IsInvalidParameter(err) || !strings.Contains(err.Error(), "absolute workspace path") {
		t.Fatalf("relative name without base: %v", err)
	}
	if s.RequestCount("") != before {
		t.Error("a refused name still reached the workspace")
	}
}

func TestSharedRateLimiter(t *testing.T) {
	a, err := SharedRateLimiter("https://w1", DefaultRateLimits())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := SharedRateLimiter("https://w1", DefaultRateLimits())
	c, _ := SharedRateLimiter("https://w2", DefaultRateLimits())
	if a != b || a == c {
		t.Errorf("same workspace must share one limiter, different ones must not")
	}
	if _, err := SharedRateLimiter("https://w3", restclient.RateLimits{"bogus": 1}); err == nil {
		t.Error("invalid limits accepted")
	}
}
