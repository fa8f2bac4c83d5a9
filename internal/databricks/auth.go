package databricks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// OIDCMetadataPath is where a workspace publishes its OAuth endpoints.
const OIDCMetadataPath = "/oidc/.well-known/oauth-authorization-server"

// Scope is the OAuth scope that grants the workspace REST APIs.
const Scope = "all-apis"

// Refresh timing. A token is refreshed ahead of expiry by up to
// maxRefreshAhead (a quarter of its lifetime for short-lived ones) so that
// requests never carry one about to lapse; a token is not used in its last
// expiryMargin, which absorbs clock skew and request latency. Failed
// fetches back off from minBackoff to maxBackoff, so an unreachable token
// endpoint is not hammered by every request.
const (
	maxRefreshAhead = 5 * time.Minute
	expiryMargin    = 10 * time.Second
	minBackoff      = time.Second
	maxBackoff      = time.Minute
)

// Authenticator puts workspace credentials on requests. It is safe for
// concurrent use.
type Authenticator interface {
	// Authorize sets the Authorization header of req.
	Authorize(req *http.Request) error
}

// NewAuthenticator returns the authenticator for w's auth type. hc is used
// for OAuth discovery and token requests.
func NewAuthenticator(w *Workspace, hc *http.Client) (Authenticator, error) {
	switch w.AuthType {
	case AuthPAT:
		return patAuth{header: "Bearer " + w.Token}, nil
	case AuthOAuthM2M:
		return NewM2M(w.Host, w.ClientID, w.ClientSecret, hc), nil
	}
	return nil, fmt.Errorf("databricks auth type %q is not supported", w.AuthType)
}

type patAuth struct{ header string }

func (p patAuth) Authorize(req *http.Request) error {
	req.Header.Set("Authorization", p.header)
	return nil
}

// M2M is an OAuth machine-to-machine token source: the client-credentials
// grant with scope all-apis against the token endpoint the workspace's
// OIDC metadata names, client id and secret sent as HTTP Basic. Tokens are
// cached and refreshed before they expire; while a refresh fails the
// current token keeps being used as long as it is valid.
type M2M struct {
	host, clientID, clientSecret string
	hc                           *http.Client
	now                          func() time.Time

	fetchMu sync.Mutex // one token request at a time

	mu         sync.Mutex
	tokenURL   string
	token      string
	expiry     time.Time // server's expiry
	refreshAt  time.Time // start refreshing from here
	usable     time.Time // stop using the token from here
	lastErr    error     // last fetch failure, nil after a success
	retryAt    time.Time // no new fetch before this after a failure
	failures   int
	fetchCount int
}

// NewM2M returns a token source for a service principal of host.
func NewM2M(host, clientID, clientSecret string, hc *http.Client) *M2M {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &M2M{host: strings.TrimRight(host, "/"), clientID: clientID, clientSecret: clientSecret, hc: hc, now: time.Now}
}

// Authorize implements Authenticator.
func (m *M2M) Authorize(req *http.Request) error {
	tok, err := m.Token(req.Context())
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return nil
}

// Fetches reports how many token requests were made (for tests and
// diagnostics).
func (m *M2M) Fetches() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fetchCount
}

// Token returns a valid access token, fetching or refreshing it as needed.
func (m *M2M) Token(ctx context.Context) (string, error) {
	m.mu.Lock()
	now := m.now()
	tok, usable := m.token, m.token != "" && now.Before(m.usable)
	if usable && now.Before(m.refreshAt) {
		m.mu.Unlock()
		return tok, nil
	}
	waitErr := m.lastErr != nil && now.Before(m.retryAt)
	lastErr, retryAt := m.lastErr, m.retryAt
	m.mu.Unlock()

	if usable {
		// Due for refresh but still valid: one caller refreshes, the others
		// go on with the current token; a failure is retried later.
		if waitErr || !m.fetchMu.TryLock() {
			return tok, nil
		}
		defer m.fetchMu.Unlock()
		if fresh, err := m.fetch(ctx); err == nil {
			return fresh, nil
		}
		return tok, nil
	}
	if waitErr {
		return "", fmt.Errorf("databricks OAuth token unavailable, next attempt in %v: %w", retryAt.Sub(now).Round(time.Millisecond), lastErr)
	}
	m.fetchMu.Lock()
	defer m.fetchMu.Unlock()
	// Another caller may have fetched, or failed to, while this one waited.
	m.mu.Lock()
	now = m.now()
	if m.token != "" && now.Before(m.usable) {
		tok := m.token
		m.mu.Unlock()
		return tok, nil
	}
	if m.lastErr != nil && now.Before(m.retryAt) {
		err, at := m.lastErr, m.retryAt
		m.mu.Unlock()
		return "", fmt.Errorf("databricks OAuth token unavailable, next attempt in %v: %w", at.Sub(now).Round(time.Millisecond), err)
	}
	m.mu.Unlock()
	return m.fetch(ctx)
}

// Invalidate drops tok from the cache when it is the current token, so the
// next request fetches a new one (the workspace refused it before its
// announced expiry, e.g. after the secret was rotated).
func (m *M2M) Invalidate(tok string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if tok != "" && tok == m.token {
		m.token = ""
	}
}

// fetch requests a new token; the caller holds fetchMu.
func (m *M2M) fetch(ctx context.Context) (string, error) {
	m.mu.Lock()
	m.fetchCount++
	tokenURL := m.tokenURL
	m.mu.Unlock()

	var err error
	if tokenURL == "" {
		if tokenURL, err = m.discover(ctx); err == nil {
			m.mu.Lock()
			m.tokenURL = tokenURL
			m.mu.Unlock()
		}
	}
	var tr *tokenResponse
	if err == nil {
		tr, err = m.requestToken(ctx, tokenURL)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if err != nil {
		m.failures++
		backoff := min(minBackoff<<min(m.failures-1, 16), maxBackoff)
		m.lastErr, m.retryAt = err, now.Add(backoff)
		return "", err
	}
	life := time.Duration(tr.ExpiresIn) * time.Second
	m.token, m.expiry = tr.AccessToken, now.Add(life)
	m.refreshAt = m.expiry.Add(-min(maxRefreshAhead, life/4))
	m.usable = m.expiry.Add(-min(expiryMargin, life/10))
	m.lastErr, m.failures, m.retryAt = nil, 0, time.Time{}
	return m.token, nil
}

// discover reads the token endpoint from the workspace's OIDC metadata.
func (m *M2M) discover(ctx context.Context) (string, error) {
	u := m.host + OIDCMetadataPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("databricks OIDC discovery: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := m.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("databricks OIDC discovery %s: %w", u, err)
	}
	defer drain(resp)
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("databricks OIDC discovery %s: HTTP %d: %s", u, resp.StatusCode, short(body))
	}
	var meta struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.Unmarshal(body, &meta); err != nil || meta.TokenEndpoint == "" {
		return "", fmt.Errorf("databricks OIDC discovery %s: no token_endpoint in %s", u, short(body))
	}
	tu, err := url.Parse(meta.TokenEndpoint)
	if err != nil || (tu.Scheme != "https" && tu.Scheme != "http") || tu.Host == "" {
		return "", fmt.Errorf("databricks OIDC discovery %s: token_endpoint %q is not an http(s) URL", u, meta.TokenEndpoint)
	}
	return meta.TokenEndpoint, nil
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// requestToken runs the client-credentials grant. Client id and secret go
// form-encoded into Basic auth, as RFC 6749 section 2.3.1 asks.
func (m *M2M) requestToken(ctx context.Context, tokenURL string) (*tokenResponse, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {Scope}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("databricks OAuth token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(m.clientID), url.QueryEscape(m.clientSecret))
	resp, err := m.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("databricks OAuth token request to %s: %w", tokenURL, err)
	}
	defer drain(resp)
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var oe struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &oe) == nil && oe.Error != "" {
			return nil, fmt.Errorf("databricks OAuth token request for client %q: HTTP %d: %s: %s", m.clientID, resp.StatusCode, oe.Error, m.redact(oe.Description))
		}
		return nil, fmt.Errorf("databricks OAuth token request for client %q: HTTP %d: %s", m.clientID, resp.StatusCode, m.redact(short(body)))
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, fmt.Errorf("databricks OAuth token response: %w", err)
	}
	if tr.AccessToken == "" {
		return nil, errors.New("databricks OAuth token response has no access_token")
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
		return nil, fmt.Errorf("databricks OAuth token response: token_type %q, want Bearer", tr.TokenType)
	}
	if tr.ExpiresIn <= 0 {
		// RFC 6749 makes expires_in optional; Databricks sends it. Assume
		// the documented hour rather than caching forever.
		tr.ExpiresIn = 3600
	}
	return &tr, nil
}

func (m *M2M) redact(s string) string {
	if m.clientSecret == "" {
		return s
	}
	return strings.ReplaceAll(s, m.clientSecret, "[REDACTED]")
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
}

func short(b []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "\uFFFD")), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}

// InvalidatingTransport wraps base so that a 401 or 403 answer to a request
// made with the current token drops that token from m's cache: the next
// request fetches a fresh one instead of repeating a refused token until
// its announced expiry.
func (m *M2M) InvalidatingTransport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return invalidating{base: base, m: m}
}

type invalidating struct {
	base http.RoundTripper
	m    *M2M
}

func (t invalidating) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err == nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		if tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok {
			t.m.Invalidate(tok)
		}
	}
	return resp, err
}
