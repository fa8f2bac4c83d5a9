// Package databricks connects the MLflow REST client to a Databricks
// workspace: it resolves the workspace and credentials the way the
// Databricks CLI and SDKs do (explicit settings, then DATABRICKS_*
// environment variables, then a profile of ~/.databrickscfg), authenticates
// with a personal access token or OAuth machine-to-machine credentials,
// applies Databricks' experiment-name rules and carries the workspace's
// published rate limits and per-run quotas.
package databricks

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Environment variables, as the Databricks CLI and SDKs name them.
const (
	EnvHost         = "DATABRICKS_HOST"
	EnvToken        = "DATABRICKS_TOKEN"
	EnvClientID     = "DATABRICKS_CLIENT_ID"
	EnvClientSecret = "DATABRICKS_CLIENT_SECRET"
	EnvProfile      = "DATABRICKS_CONFIG_PROFILE"
	EnvConfigFile   = "DATABRICKS_CONFIG_FILE"
	EnvAuthType     = "DATABRICKS_AUTH_TYPE"
)

// DefaultProfile is the profile used when none is named.
const DefaultProfile = "DEFAULT"

// Auth types, named as the SDKs name them (auth_type, DATABRICKS_AUTH_TYPE).
const (
	AuthPAT      = "pat"
	AuthOAuthM2M = "oauth-m2m"
)

// Config holds the settings given explicitly (exporter configuration or
// tracking URI). Empty fields are looked up in the environment, then in the
// profile.
type Config struct {
	Host         string
	Token        string
	ClientID     string
	ClientSecret string
	// Profile names a section of the config file; DATABRICKS_CONFIG_PROFILE,
	// then DEFAULT, when empty.
	Profile string
	// ConfigFile is the profiles file; DATABRICKS_CONFIG_FILE, then
	// ~/.databrickscfg, when empty.
	ConfigFile string
	// AuthType picks pat or oauth-m2m when credentials of both kinds
	// resolve; empty means "the only one configured".
	AuthType string
}

// Workspace is a resolved workspace with the credentials to use. Sources
// says where each attribute came from ("config", "env DATABRICKS_HOST",
// "profile ml in /home/u/.databrickscfg"), for logs and errors; it never
// holds a secret.
type Workspace struct {
	Host         string // scheme://host, no trailing slash
	AuthType     string // AuthPAT or AuthOAuthM2M
	Token        string
	ClientID     string
	ClientSecret string
	Profile      string // the profile read, "" when none was
	Sources      map[string]string
}

// Describe summarises the workspace and where its settings came from,
// without secrets.
func (w *Workspace) Describe() string {
	var parts []string
	for _, attr := range []string{"host", "token", "client_id", "client_secret", "auth_type"} {
		if src, ok := w.Sources[attr]; ok {
			parts = append(parts, attr+" from "+src)
		}
	}
	return fmt.Sprintf("%s, auth %s (%s)", w.Host, w.AuthType, strings.Join(parts, ", "))
}

// attribute is one resolvable setting.
type attribute struct {
	name string // as in the profile file
	env  string
	get  func(*Config) *string
	auth string // the auth method this credential belongs to; "" for none
}

var attributes = []attribute{
	{"host", EnvHost, func(c *Config) *string { return &c.Host }, ""},
	{"token", EnvToken, func(c *Config) *string { return &c.Token }, AuthPAT},
	{"client_id", EnvClientID, func(c *Config) *string { return &c.ClientID }, AuthOAuthM2M},
	{"client_secret", EnvClientSecret, func(c *Config) *string { return &c.ClientSecret }, AuthOAuthM2M},
	{"auth_type", EnvAuthType, func(c *Config) *string { return &c.AuthType }, ""},
}

// Resolve fills cfg the way the Databricks SDKs do: explicit settings win,
// then the environment, then the profile; a later source only fills what an
// earlier one left empty. A missing profiles file, or a missing DEFAULT
// profile, is not an error unless a profile was named. getenv is os.Getenv
// in production; home returns the home directory for ~/.databrickscfg.
func Resolve(cfg Config, getenv func(string) string, home func() (string, error)) (*Workspace, error) {
	sources := map[string]string{}
	for _, a := range attributes {
		if p := a.get(&cfg); *p != "" {
			sources[a.name] = "config"
		}
	}
	for _, a := range attributes {
		if p := a.get(&cfg); *p == "" {
			if v := strings.TrimSpace(getenv(a.env)); v != "" {
				*p = v
				sources[a.name] = "env " + a.env
			}
		}
	}

	profile, named := cfg.Profile, cfg.Profile != ""
	if !named {
		if v := strings.TrimSpace(getenv(EnvProfile)); v != "" {
			profile, named = v, true
		}
	}
	if !named {
		profile = DefaultProfile
	}
	file, err := configFilePath(cfg.ConfigFile, getenv, home)
	if err != nil {
		return nil, err
	}

	var profileNote string // why the profile gave nothing, for errors
	read := ""
	sections, err := readProfiles(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if named {
			return nil, fmt.Errorf("databricks profile %q: config file %s does not exist", profile, file)
		}
		profileNote = fmt.Sprintf("%s does not exist", file)
	case err != nil:
		return nil, fmt.Errorf("databricks config file: %w", err)
	default:
		sec, ok := sections[profile]
		if !ok {
			if named {
				return nil, fmt.Errorf("databricks profile %q not found in %s (profiles: %s)", profile, file, strings.Join(sortedKeys(sections), ", "))
			}
			profileNote = fmt.Sprintf("%s has no [%s] profile", file, profile)
			break
		}
		read = profile
		for _, a := range attributes {
			if p := a.get(&cfg); *p == "" && sec[a.name] != "" {
				*p = sec[a.name]
				sources[a.name] = fmt.Sprintf("profile %s in %s", profile, file)
			}
		}
	}

	w := &Workspace{Profile: read, Sources: sources}
	if cfg.Host == "" {
		return nil, fmt.Errorf("databricks: no workspace host: set databricks.host in the exporter configuration, %s, or host in profile [%s] of %s%s",
			EnvHost, profile, file, note(profileNote))
	}
	if w.Host, err = normalizeHost(cfg.Host); err != nil {
		return nil, fmt.Errorf("databricks host (%s): %w", sources["host"], err)
	}
	if err := pickAuth(&cfg, sources); err != nil {
		return nil, fmt.Errorf("databricks workspace %s: %w%s", w.Host, err, note(profileNote))
	}
	w.AuthType = cfg.AuthType
	switch w.AuthType {
	case AuthPAT:
		w.Token = cfg.Token
	case AuthOAuthM2M:
		w.ClientID, w.ClientSecret = cfg.ClientID, cfg.ClientSecret
	}
	return w, nil
}

func note(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// pickAuth settles cfg.AuthType. Like the SDKs, it refuses credentials of
// two kinds unless auth_type says which to use, so that a stray
// DATABRICKS_TOKEN cannot silently override a service principal.
func pickAuth(cfg *Config, sources map[string]string) error {
	hasPAT := cfg.Token != ""
	hasID, hasSecret := cfg.ClientID != "", cfg.ClientSecret != ""
	switch cfg.AuthType {
	case AuthPAT:
		if !hasPAT {
			return fmt.Errorf("auth_type %s (%s) needs a token: set databricks.token or %s", AuthPAT, sources["auth_type"], EnvToken)
		}
		return nil
	case AuthOAuthM2M:
		return checkM2M(hasID, hasSecret, sources)
	case "":
	default:
		return fmt.Errorf("auth_type %q (%s) is not supported: want %s or %s", cfg.AuthType, sources["auth_type"], AuthPAT, AuthOAuthM2M)
	}
	switch {
	case hasPAT && (hasID || hasSecret):
		var from []string
		for _, a := range []string{"token", "client_id", "client_secret"} {
			if s, ok := sources[a]; ok {
				from = append(from, a+" from "+s)
			}
		}
		return fmt.Errorf("more than one authorization method configured: oauth and pat (%s): set databricks.auth_type or %s to %s or %s",
			strings.Join(from, ", "), EnvAuthType, AuthPAT, AuthOAuthM2M)
	case hasPAT:
		cfg.AuthType = AuthPAT
		return nil
	case hasID || hasSecret:
		cfg.AuthType = AuthOAuthM2M
		return checkM2M(hasID, hasSecret, sources)
	}
	return fmt.Errorf("no credentials: set a personal access token (databricks.token, %s or token in the profile) or OAuth M2M service principal credentials (databricks.client_id and databricks.client_secret, %s and %s, or client_id and client_secret in the profile)",
		EnvToken, EnvClientID, EnvClientSecret)
}

func checkM2M(hasID, hasSecret bool, sources map[string]string) error {
	switch {
	case hasID && !hasSecret:
		return fmt.Errorf("client_id is set (%s) but client_secret is missing: set databricks.client_secret or %s", sources["client_id"], EnvClientSecret)
	case !hasID && hasSecret:
		return fmt.Errorf("client_secret is set (%s) but client_id is missing: set databricks.client_id or %s", sources["client_secret"], EnvClientID)
	case !hasID:
		return fmt.Errorf("auth_type %s needs client_id and client_secret (%s, %s)", AuthOAuthM2M, EnvClientID, EnvClientSecret)
	}
	return nil
}

// normalizeHost turns "adb-1.2.azuredatabricks.net" or
// "https://x.cloud.databricks.com/" into scheme://host, as the SDKs do.
// Plain http is accepted for local test workspaces.
func normalizeHost(h string) (string, error) {
	h = strings.TrimSpace(h)
	if !strings.Contains(h, "://") {
		h = "https://" + h
	}
	u, err := url.Parse(h)
	if err != nil {
		return "", fmt.Errorf("%q is not a valid URL", h)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("%q: scheme must be https", h)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("%q has no host name", h)
	}
	if u.User != nil {
		return "", errors.New("host must not carry credentials")
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		return "", fmt.Errorf("%q: a workspace host has no path (got /%s)", u.Redacted(), p)
	}
	return u.Scheme + "://" + u.Host, nil
}

func configFilePath(explicit string, getenv func(string) string, home func() (string, error)) (string, error) {
	p := explicit
	if p == "" {
		p = strings.TrimSpace(getenv(EnvConfigFile))
	}
	if p == "" {
		p = "~/.databrickscfg"
	}
	if p == "~" || strings.HasPrefix(p, "~/") {
		h, err := home()
		if err != nil {
			return "", fmt.Errorf("databricks config file %s: home directory: %w", p, err)
		}
		p = filepath.Join(h, p[1:])
	}
	return p, nil
}

// readProfiles parses an INI profiles file as the Go SDK reads it: [name]
// sections of "key = value" (or "key: value") lines, '#' and ';' comments.
// Values do not inherit from DEFAULT.
func readProfiles(path string) (map[string]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]map[string]string{}
	var cur map[string]string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		switch {
		case line == "", line[0] == '#', line[0] == ';':
			continue
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("%s:%d: unterminated section header", path, n)
			}
			name := strings.TrimSpace(line[1 : len(line)-1])
			if out[name] == nil {
				out[name] = map[string]string{}
			}
			cur = out[name]
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i <= 0 {
			// The line may hold a secret: name only its number.
			return nil, fmt.Errorf("%s:%d: want key = value", path, n)
		}
		if cur == nil {
			return nil, fmt.Errorf("%s:%d: setting outside a [profile] section", path, n)
		}
		cur[strings.ToLower(strings.TrimSpace(line[:i]))] = strings.TrimSpace(line[i+1:])
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}

func sortedKeys(m map[string]map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ProfileFromURI returns the profile of a databricks tracking URI:
// "databricks" gives "", "databricks://ml" gives "ml". ok is false for a URI
// that does not name Databricks. MLflow's secret-scope form
// databricks://<scope>:<prefix> only works inside Databricks notebooks and
// is refused.
func ProfileFromURI(uri string) (profile string, ok bool, err error) {
	if uri == "databricks" {
		return "", true, nil
	}
	rest, found := strings.CutPrefix(uri, "databricks://")
	if !found {
		return "", false, nil
	}
	rest = strings.TrimSuffix(rest, "/")
	switch {
	case rest == "":
		return "", true, nil
	case strings.Contains(rest, ":"):
		return "", true, fmt.Errorf("tracking_uri %q: the databricks://<scope>:<prefix> secret form is not supported; use databricks://<profile> or databricks settings", uri)
	case strings.ContainsAny(rest, "/?#@ "):
		return "", true, fmt.Errorf("tracking_uri %q: want databricks or databricks://<profile>", uri)
	}
	return rest, true, nil
}

// IsURI reports whether a tracking URI names a Databricks workspace.
func IsURI(uri string) bool {
	return uri == "databricks" || strings.HasPrefix(uri, "databricks://")
}
