package restclient

import (
	"compress/gzip"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

func TestNewTrackingURI(t *testing.T) {
	tests := []struct {
		uri      string
		wantBase string // "" means New must fail
		wantErr  string
	}{
		{"http://localhost:5000", "http://localhost:5000/api/2.0/mlflow/", ""},
		{"http://localhost:5000/", "http://localhost:5000/api/2.0/mlflow/", ""},
		{"https://mlflow.example.com", "https://mlflow.example.com/api/2.0/mlflow/", ""},
		{"https://example.com/mlflow", "https://example.com/mlflow/api/2.0/mlflow/", ""},
		{"https://example.com/mlflow//", "https://example.com/mlflow/api/2.0/mlflow/", ""},
		{"  http://[::1]:5000  ", "http://[::1]:5000/api/2.0/mlflow/", ""},
		{"http://user:pw@host:5000/p", "http://host:5000/p/api/2.0/mlflow/", ""},
		{"", "", "empty"},
		{"localhost:5000", "", "scheme"},
		{"file:///tmp/mlruns", "", "scheme"},
		{"databricks", "", "scheme"},
		{"ftp://host", "", "scheme"},
		{"http://", "", "host missing"},
		{"http://:5000", "", "host missing"},
		{"http://host/?x=1", "", "query"},
		{"http://host/#frag", "", "fragment"},
		{"http://host:port:bad", "", "not a valid URL"},
	}
	for _, tc := range tests {
		t.Run(tc.uri, func(t *testing.T) {
			c, err := New(Config{TrackingURI: tc.uri})
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("New(%q) succeeded with base %q, want error", tc.uri, c.base)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New(%q) error %q, want it to mention %q", tc.uri, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%q): %v", tc.uri, err)
			}
			defer c.Close()
			if c.base != tc.wantBase {
				t.Errorf("base = %q, want %q", c.base, tc.wantBase)
			}
		})
	}
}

func TestNewErrorsHideUserinfo(t *testing.T) {
	for _, uri := range []string{
		"ftp://alice:s3cr3t@host",
		"http://alice:s3cr3t@host:port:bad",
		"http://alice:s3cr3t@/nohost",
		"http://alice:s3cr3t@host/?q=1",
	} {
		_, err := New(Config{TrackingURI: uri})
		if err == nil {
			t.Fatalf("New(%q) succeeded, want error", uri)
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("New(%q) error leaks the password: %v", uri, err)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name string
		arg  string
		env  map[string]string
		want Config
	}{
		{
			name: "argument wins over env",
			arg:  "http://arg:5000",
			env:  map[string]string{EnvTrackingURI: "http://env:5000"},
			want: Config{TrackingURI: "http://arg:5000"},
		},
		{
			name: "env when no argument",
			env:  map[string]string{EnvTrackingURI: "http://env:5000"},
			want: Config{TrackingURI: "http://env:5000"},
		},
		{
			name: "credentials and insecure TLS",
			env: map[string]string{
				EnvTrackingURI: "https://h", EnvTrackingToken: "tok",
				EnvTrackingUsername: "u", EnvTrackingPassword: "p", EnvInsecureTLS: "true",
			},
			want: Config{TrackingURI: "https://h", Token: "tok", Username: "u", Password: "p", InsecureTLS: true},
		},
		{name: "insecure TLS 1", env: map[string]string{EnvInsecureTLS: "1"}, want: Config{InsecureTLS: true}},
		{name: "insecure TLS TRUE", env: map[string]string{EnvInsecureTLS: " TRUE "}, want: Config{InsecureTLS: true}},
		{name: "insecure TLS false", env: map[string]string{EnvInsecureTLS: "false"}, want: Config{}},
		{name: "insecure TLS yes is not MLflow's spelling", env: map[string]string{EnvInsecureTLS: "yes"}, want: Config{}},
		{name: "nothing set", want: Config{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ConfigFromEnv(tc.arg, func(k string) string { return tc.env[k] })
			if got.TrackingURI != tc.want.TrackingURI || got.Token != tc.want.Token ||
				got.Username != tc.want.Username || got.Password != tc.want.Password ||
				got.InsecureTLS != tc.want.InsecureTLS || got.HTTPClient != nil || got.Auth != nil {
				t.Errorf("ConfigFromEnv = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestAuthHeaders(t *testing.T) {
	hook := func(r *http.Request) error {
		r.Header.Set("Authorization", "Bearer from-hook")
		return nil
	}
	tests := []struct {
		name     string
		cfg      Config
		userinfo string
		want     string
	}{
		{name: "none", want: ""},
		{name: "bearer", cfg: Config{Token: "tok"}, want: "Bearer tok"},
		{name: "basic", cfg: Config{Username: "alice", Password: "pw"}, want: "Basic YWxpY2U6cHc="},
		{name: "basic wins over token like MLflow", cfg: Config{Token: "tok", Username: "alice", Password: "pw"}, want: "Basic YWxpY2U6cHc="},
		{name: "username without password falls back to token", cfg: Config{Token: "tok", Username: "alice"}, want: "Bearer tok"},
		{name: "userinfo", userinfo: "alice:pw@", want: "Basic YWxpY2U6cHc="},
		{name: "explicit credentials win over userinfo", cfg: Config{Username: "bob", Password: "x"}, userinfo: "alice:pw@", want: "Basic Ym9iOng="},
		{name: "hook ignores token and basic", cfg: Config{Token: "tok", Username: "alice", Password: "pw", Auth: hook}, want: "Bearer from-hook"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got, gotUA string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.Header.Get("Authorization")
				gotUA = r.Header.Get("User-Agent")
				_, _ = w.Write([]byte(`{}`))
			}))
			defer srv.Close()
			cfg := tc.cfg
			cfg.TrackingURI = strings.Replace(srv.URL, "http://", "http://"+tc.userinfo, 1)
			cfg.UserAgent = "otelcol-mlflow/test"
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.DeleteRun(t.Context(), "r1"); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Authorization = %q, want %q", got, tc.want)
			}
			if gotUA != "otelcol-mlflow/test" {
				t.Errorf("User-Agent = %q", gotUA)
			}
		})
	}
}

func TestInsecureTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"experiment":{"experiment_id":"0","name":"Default"}}`))
	}))
	// The refused handshake is the expected outcome, not news for the log.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	for _, insecure := range []bool{false, true} {
		c, err := New(Config{TrackingURI: srv.URL, InsecureTLS: insecure})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetExperiment(t.Context(), "0")
		_ = c.Close()
		if insecure && err != nil {
			t.Errorf("InsecureTLS: %v", err)
		}
		if !insecure && (err == nil || !strings.Contains(err.Error(), "certificate")) {
			t.Errorf("self-signed certificate accepted without InsecureTLS: %v", err)
		}
	}
}

func TestGzipResponses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error_code":"BAD_REQUEST","message":"client did not offer gzip"}`))
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		body := `{"experiment":{"experiment_id":"0","name":"Default"}}`
		if r.URL.Path == "/api/2.0/mlflow/runs/get" {
			w.WriteHeader(http.StatusNotFound)
			body = `{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"gone"}`
		}
		zw := gzip.NewWriter(w)
		_, _ = zw.Write([]byte(body))
		_ = zw.Close()
	}))
	defer srv.Close()
	c, err := New(Config{TrackingURI: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exp, err := c.GetExperiment(t.Context(), "0")
	if err != nil || exp.Name != "Default" {
		t.Fatalf("GetExperiment over gzip = %+v, %v", exp, err)
	}
	if _, err := c.GetRun(t.Context(), "r"); !mlflow.IsNotFound(err) {
		t.Errorf("gzipped error body not parsed: %v", err)
	}
}
