// Package restclient implements mlflow.Store over MLflow's REST API
// ({tracking_uri}/api/2.0/mlflow/<rpc>), for open-source tracking servers and,
// through the Auth hook, Databricks. Tracking RPCs are never retried here:
// callers (the exporter's retry helper) own the policy and classify errors
// with the mlflow.Is* helpers. Artifact uploads are the exception
// (artifacts.go): a file is re-streamed from its source under their own
// RetryPolicy. A Client is safe for concurrent use.
package restclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// Environment variables read by ConfigFromEnv, as MLflow's Python client
// names them.
const (
	EnvTrackingURI      = "MLFLOW_TRACKING_URI"
	EnvTrackingToken    = "MLFLOW_TRACKING_TOKEN"
	EnvTrackingUsername = "MLFLOW_TRACKING_USERNAME"
	EnvTrackingPassword = "MLFLOW_TRACKING_PASSWORD"
	EnvInsecureTLS      = "MLFLOW_TRACKING_INSECURE_TLS"
)

// apiPath is the REST prefix shared by open-source MLflow and Databricks.
const apiPath = "/api/2.0/mlflow/"

// Response bodies are read up to these sizes. Success bodies are bounded
// generously (a search page of 1000 runs with data is large); error bodies
// only feed a message, and whatever is left is drained up to drainLimit so
// the connection can go back to the pool.
const (
	maxResponseBytes = 256 << 20
	maxErrorBytes    = 64 << 10
	drainLimit       = 1 << 20
	maxSnippetLen    = 200
)

// Config configures a Client.
type Config struct {
	// TrackingURI is http(s)://host[:port][/path-prefix]. Userinfo in it is
	// moved into basic auth and never appears in URLs or errors.
	TrackingURI string
	// HTTPClient is used for every request; nil builds a pooled client with
	// bounded dial, TLS and header timeouts (honouring InsecureTLS).
	HTTPClient *http.Client
	// Token is sent as a bearer token (MLFLOW_TRACKING_TOKEN).
	Token string
	// Username and Password are sent as basic auth when both are set; like
	// MLflow's client, basic auth wins over Token.
	Username, Password string
	// InsecureTLS skips server certificate verification
	// (MLFLOW_TRACKING_INSECURE_TLS). New applies it only to the client it
	// builds itself; a caller passing HTTPClient configures TLS there.
	InsecureTLS bool
	// UserAgent is sent when set; Go's default otherwise.
	UserAgent string
	// Auth, when set, puts credentials on every request (Databricks OAuth
	// plugs in here); Token, Username and Password are then ignored.
	Auth func(req *http.Request) error
	// RateLimiter, when set, spaces requests per endpoint group; it may be
	// shared with other Clients of the same server.
	RateLimiter *RateLimiter
}

// ConfigFromEnv builds a Config with MLflow's conventions: trackingURI when
// not empty, else MLFLOW_TRACKING_URI, plus the token, basic credentials and
// the insecure-TLS switch from getenv (os.Getenv in production).
func ConfigFromEnv(trackingURI string, getenv func(string) string) Config {
	if trackingURI == "" {
		trackingURI = getenv(EnvTrackingURI)
	}
	return Config{
		TrackingURI: trackingURI,
		Token:       getenv(EnvTrackingToken),
		Username:    getenv(EnvTrackingUsername),
		Password:    getenv(EnvTrackingPassword),
		InsecureTLS: envBool(getenv(EnvInsecureTLS)),
	}
}

// envBool follows MLflow's boolean environment parsing: "true" or "1",
// case-insensitively; anything else is false.
func envBool(v string) bool {
	v = strings.TrimSpace(strings.ToLower(v))
	return v == "true" || v == "1"
}

// Client talks to one MLflow tracking server.
type Client struct {
	base       string // scheme://host[:port][/prefix]/api/2.0/mlflow/
	httpClient *http.Client
	ownsClient bool
	authHeader string // precomputed Authorization value, "" when none
	authHook   func(*http.Request) error
	userAgent  string
	secrets    redactor // configured credentials, masked in every error
	limiter    *RateLimiter
}

var _ mlflow.Store = (*Client)(nil)

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	raw := strings.TrimSpace(cfg.TrackingURI)
	if raw == "" {
		return nil, errors.New("mlflow tracking URI is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the input, which may hold a password.
		return nil, fmt.Errorf("mlflow tracking URI %q is not a valid URL", mlflow.RedactURI(raw))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("mlflow tracking URI %q: scheme must be http or https", mlflow.RedactURI(raw))
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("mlflow tracking URI %q: host missing", mlflow.RedactURI(raw))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("mlflow tracking URI %q: query and fragment not allowed", mlflow.RedactURI(raw))
	}
	username, password := cfg.Username, cfg.Password
	// Every configured credential is masked in server messages, also those
	// not sent: a proxy may echo whatever it was given elsewhere.
	secrets := []string{cfg.Token, cfg.Password}
	if u.User != nil {
		uiPass, _ := u.User.Password()
		secrets = append(secrets, uiPass)
		if username == "" && password == "" {
			username, password = u.User.Username(), uiPass
		}
		u.User = nil
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")

	c := &Client{
		base:       u.String() + apiPath,
		httpClient: cfg.HTTPClient,
		authHook:   cfg.Auth,
		userAgent:  cfg.UserAgent,
		limiter:    cfg.RateLimiter,
	}
	if c.httpClient == nil {
		c.httpClient = newHTTPClient(cfg.InsecureTLS)
		c.ownsClient = true
	}
	if username != "" && password != "" {
		secrets = append(secrets, basicAuth(username, password))
	}
	for _, sec := range secrets {
		if sec != "" {
			c.secrets = append(c.secrets, sec)
		}
	}
	if cfg.Auth == nil {
		// MLflow's order: basic auth when both parts are set, else bearer.
		switch {
		case username != "" && password != "":
			c.authHeader = "Basic " + basicAuth(username, password)
		case cfg.Token != "":
			c.authHeader = "Bearer " + cfg.Token
		}
	}
	return c, nil
}

func basicAuth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

func newHTTPClient(insecure bool) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 2 * time.Minute
	// The exporter sends from several workers to one host; the default of 2
	// idle connections per host would make the rest redial every time.
	t.MaxIdleConns = 64
	t.MaxIdleConnsPerHost = 32
	t.IdleConnTimeout = 90 * time.Second
	if insecure {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // explicit MLFLOW_TRACKING_INSECURE_TLS opt-in
	}
	// MLflow's own client times a call out after 120 s; contexts usually
	// cut it shorter.
	return &http.Client{Transport: t, Timeout: 2 * time.Minute}
}

// Close releases idle connections of the HTTP client New built. A client
// passed in Config is left alone: others may share it.
func (c *Client) Close() error {
	if c.ownsClient {
		c.httpClient.CloseIdleConnections()
	}
	return nil
}

// get calls a GET RPC with query arguments and decodes the answer into out.
func (c *Client) get(ctx context.Context, rpc string, query url.Values, out any) error {
	u := c.base + rpc
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("mlflow %s: %w", rpc, err)
	}
	return c.do(req, rpc, out)
}

// post calls a POST RPC with in encoded by encoding/json.
func (c *Client) post(ctx context.Context, rpc string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("mlflow %s: encode request: %w", rpc, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+rpc, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("mlflow %s: %w", rpc, err)
	}
	req.Header.Set("Content-Type", "application/json")
	return c.do(req, rpc, out)
}

// do sends req and decodes a 200 answer into out (nil discards it). The body
// is always drained and closed so the connection is reused.
func (c *Client) do(req *http.Request, rpc string, out any) error {
	// Waiting comes first so that an OAuth token is fetched fresh after it.
	if err := c.limiter.Wait(req.Context(), rpc); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return fmt.Errorf("mlflow %s: %w", rpc, err)
	}
	req.Header.Set("Accept", "application/json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if c.authHook != nil {
		if err := c.authHook(req); err != nil {
			if req.Body != nil {
				_ = req.Body.Close()
			}
			return fmt.Errorf("mlflow %s: authenticate: %w", rpc, err)
		}
	} else if c.authHeader != "" {
		req.Header.Set("Authorization", c.authHeader)
	}
	red := c.secrets
	if c.authHook != nil {
		// The hook's credentials are unknown until it has run.
		if v := req.Header.Get("Authorization"); v != "" {
			red = append(slices.Clip(red), v)
			if _, cred, ok := strings.Cut(v, " "); ok && cred != "" {
				red = append(red, cred)
			}
		}
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("mlflow %s: %w", rpc, red.error(err))
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mlflow %s: %w", rpc, c.limiter.throttled(rpc, parseError(resp, red)))
	}
	if out == nil {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("mlflow %s: read response: %w", rpc, red.error(err))
	}
	if len(data) > maxResponseBytes {
		return fmt.Errorf("mlflow %s: response larger than %d bytes", rpc, maxResponseBytes)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("mlflow %s: decode response (%s): %w", rpc, snippet(data, red), err)
	}
	return nil
}

// redactor masks credentials in text that reaches errors. URLs never hold
// userinfo (New strips it), so only a server or proxy echoing a header, or
// a transport error quoting one, could carry a credential.
type redactor []string

func (r redactor) redact(s string) string {
	for _, sec := range r {
		s = strings.ReplaceAll(s, sec, "[REDACTED]")
	}
	return s
}

// error returns err itself unless its text holds a credential; then a
// masked copy, which gives up the chain for the sake of the secret.
func (r redactor) error(err error) error {
	msg := err.Error()
	if scrubbed := r.redact(msg); scrubbed != msg {
		return errors.New(scrubbed)
	}
	return err
}

// errorBody is MLflow's failure answer.
type errorBody struct {
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
}

func parseError(resp *http.Response, red redactor) *mlflow.APIError {
	apiErr := &mlflow.APIError{
		HTTPStatus: resp.StatusCode,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	var eb errorBody
	if json.Unmarshal(data, &eb) == nil && (eb.ErrorCode != "" || eb.Message != "") {
		apiErr.Code = eb.ErrorCode
		apiErr.Message = red.redact(strings.ToValidUTF8(eb.Message, "\uFFFD"))
		return apiErr
	}
	apiErr.Message = snippet(data, red)
	if apiErr.Message == "" {
		apiErr.Message = http.StatusText(resp.StatusCode)
	}
	return apiErr
}

// snippet turns an unexpected body (an HTML error page, a proxy's login
// form) into a short single-line text: tags dropped from markup, whitespace
// collapsed, valid UTF-8, credentials masked.
func snippet(data []byte, red redactor) string {
	var b strings.Builder
	markup := len(bytes.TrimSpace(data)) > 0 && bytes.TrimSpace(data)[0] == '<'
	inTag, space := false, false
	// Credentials are masked before anything is cut, so that no cut can
	// leave a prefix of one behind.
	text := red.redact(strings.ToValidUTF8(string(data[:min(len(data), maxErrorBytes)]), "\uFFFD"))
	for _, r := range text {
		if b.Len() > 2*maxSnippetLen {
			break
		}
		switch {
		case r == '<' && markup:
			inTag = true
			space = true
		case r == '>' && inTag:
			inTag = false
		case inTag:
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r < 0x20 || r == 0x7f:
			space = true
		default:
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		}
	}
	s := b.String()
	if len(s) > maxSnippetLen {
		cut := maxSnippetLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// parseRetryAfter reads a Retry-After value in delay-seconds or HTTP-date
// form; absent, malformed or past values give 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		// A day is far beyond any sane throttle; cap to avoid overflow.
		return time.Duration(min(secs, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
