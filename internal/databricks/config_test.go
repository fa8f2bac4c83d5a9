package databricks

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const profilesFile = `; written by databricks configure
[DEFAULT]
host  = https://default.cloud.databricks.com/
token = dapi-default

[ml]
host = adb-123.4.azuredatabricks.net
client_id: sp-ml
client_secret = ml-secret

# a profile carrying both kinds of credentials
[both]
host = https://both.cloud.databricks.com
token = dapi-both
client_id = sp-both
client_secret = both-secret
auth_type = oauth-m2m

[hostonly]
host = https://hostonly.cloud.databricks.com
`

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".databrickscfg"), []byte(profilesFile), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.cfg")
	if err := os.WriteFile(other, []byte("[DEFAULT]\nhost = other.cloud.databricks.com\ntoken = dapi-other\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyHome := filepath.Join(dir, "empty")

	tests := []struct {
		name     string
		cfg      Config
		env      map[string]string
		home     string
		want     Workspace // Sources not compared except those in wantSrc
		wantSrc  map[string]string
		wantErrs []string
	}{
		{
			name: "DEFAULT profile",
			want: Workspace{Host: "https://default.cloud.databricks.com", AuthType: AuthPAT, Token: "dapi-default", Profile: "DEFAULT"},
			wantSrc: map[string]string{
				"host": "profile DEFAULT in " + filepath.Join(home, ".databrickscfg"),
			},
		},
		{
			name:    "env beats profile",
			env:     map[string]string{EnvHost: "https://env.cloud.databricks.com", EnvToken: "dapi-env"},
			want:    Workspace{Host: "https://env.cloud.databricks.com", AuthType: AuthPAT, Token: "dapi-env", Profile: "DEFAULT"},
			wantSrc: map[string]string{"host": "env DATABRICKS_HOST", "token": "env DATABRICKS_TOKEN"},
		},
		{
			name:    "config beats env",
			cfg:     Config{Host: "cfg.cloud.databricks.com", Token: "dapi-cfg"},
			env:     map[string]string{EnvHost: "https://env.cloud.databricks.com", EnvToken: "dapi-env"},
			want:    Workspace{Host: "https://cfg.cloud.databricks.com", AuthType: AuthPAT, Token: "dapi-cfg", Profile: "DEFAULT"},
			wantSrc: map[string]string{"host": "config", "token": "config"},
		},
		{
			name: "profile from env selects M2M",
			env:  map[string]string{EnvProfile: "ml"},
			want: Workspace{Host: "https://adb-123.4.azuredatabricks.net", AuthType: AuthOAuthM2M, ClientID: "sp-ml", ClientSecret: "ml-secret", Profile: "ml"},
		},
		{
			name: "config profile beats env profile",
			cfg:  Config{Profile: "ml"},
			env:  map[string]string{EnvProfile: "DEFAULT"},
			want: Workspace{Host: "https://adb-123.4.azuredatabricks.net", AuthType: AuthOAuthM2M, ClientID: "sp-ml", ClientSecret: "ml-secret", Profile: "ml"},
		},
		{
			name: "env client credentials fill a host-only profile",
			cfg:  Config{Profile: "hostonly"},
			env:  map[string]string{EnvClientID: "sp-env", EnvClientSecret: "env-secret"},
			want: Workspace{Host: "https://hostonly.cloud.databricks.com", AuthType: AuthOAuthM2M, ClientID: "sp-env", ClientSecret: "env-secret", Profile: "hostonly"},
		},
		{
			name: "auth_type in profile settles both kinds",
			cfg:  Config{Profile: "both"},
			want: Workspace{Host: "https://both.cloud.databricks.com", AuthType: AuthOAuthM2M, ClientID: "sp-both", ClientSecret: "both-secret", Profile: "both"},
		},
		{
			name: "auth_type from env",
			cfg:  Config{Profile: "both"},
			env:  map[string]string{EnvAuthType: "pat"},
			want: Workspace{Host: "https://both.cloud.databricks.com", AuthType: AuthPAT, Token: "dapi-both", Profile: "both"},
		},
		{
			name: "config file from env",
			env:  map[string]string{EnvConfigFile: other},
			want: Workspace{Host: "https://other.cloud.databricks.com", AuthType: AuthPAT, Token: "dapi-other", Profile: "DEFAULT"},
		},
		{
			name: "explicit config file beats env",
			cfg:  Config{ConfigFile: other},
			env:  map[string]string{EnvConfigFile: filepath.Join(dir, "missing.cfg")},
			want: Workspace{Host: "https://other.cloud.databricks.com", AuthType: AuthPAT, Token: "dapi-other", Profile: "DEFAULT"},
		},
		{
			name: "no file, env only",
			home: emptyHome,
			env:  map[string]string{EnvHost: "https://env.cloud.databricks.com", EnvClientID: "id", EnvClientSecret: "sec"},
			want: Workspace{Host: "https://env.cloud.databricks.com", AuthType: AuthOAuthM2M, ClientID: "id", ClientSecret: "sec"},
		},
		{
			name:     "nothing resolves",
			home:     emptyHome,
			wantErrs: []string{"no workspace host", "databricks.host", EnvHost, "does not exist"},
		},
		{
			name:     "host but no credentials",
			cfg:      Config{Profile: "hostonly"},
			wantErrs: []string{"https://hostonly.cloud.databricks.com", "no credentials", EnvToken, EnvClientID, EnvClientSecret},
		},
		{
			name:     "named profile missing",
			cfg:      Config{Profile: "nope"},
			wantErrs: []string{`profile "nope" not found`, "DEFAULT, both, hostonly, ml"},
		},
		{
			name:     "named profile without a file",
			home:     emptyHome,
			env:      map[string]string{EnvProfile: "ml"},
			wantErrs: []string{`profile "ml"`, "does not exist"},
		},
		{
			name:     "pat and oauth together",
			env:      map[string]string{EnvClientID: "id", EnvClientSecret: "sec"},
			wantErrs: []string{"more than one authorization method configured: oauth and pat", "client_id from env DATABRICKS_CLIENT_ID", "token from profile DEFAULT", EnvAuthType},
		},
		{
			name:     "client id without secret",
			home:     emptyHome,
			env:      map[string]string{EnvHost: "h.cloud.databricks.com", EnvClientID: "id"},
			wantErrs: []string{"client_id is set (env DATABRICKS_CLIENT_ID) but client_secret is missing"},
		},
		{
			name:     "unknown auth type",
			home:     emptyHome,
			cfg:      Config{Host: "h", Token: "t", AuthType: "azure-cli"},
			wantErrs: []string{`auth_type "azure-cli"`, "not supported"},
		},
		{
			name:     "host with a path",
			home:     emptyHome,
			cfg:      Config{Host: "https://h.cloud.databricks.com/api/2.0", Token: "t"},
			wantErrs: []string{"has no path"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := home
			if tc.home != "" {
				h = tc.home
			}
			getenv := func(k string) string { return tc.env[k] }
			w, err := Resolve(tc.cfg, getenv, func() (string, error) { return h, nil })
			if len(tc.wantErrs) > 0 {
				if err == nil {
					t.Fatalf("resolved %+v, want an error", w)
				}
				for _, s := range tc.wantErrs {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
				for _, secret := range []string{"dapi-default", "ml-secret", "both-secret", "sec"} {
					if strings.Contains(err.Error(), secret+" ") || strings.HasSuffix(err.Error(), secret) {
						t.Errorf("error %q shows secret %q", err, secret)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := *w
			got.Sources = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			for k, v := range tc.wantSrc {
				if w.Sources[k] != v {
					t.Errorf("source of %s = %q, want %q", k, w.Sources[k], v)
				}
			}
			if d := w.Describe(); strings.Contains(d, "dapi-") || strings.Contains(d, "secret\"") {
				t.Errorf("Describe shows a secret: %s", d)
			}
		})
	}
}

func TestResolveHomeError(t *testing.T) {
	_, err := Resolve(Config{}, func(string) string { return "" }, func() (string, error) { return "", errors.New("no $HOME") })
	if err == nil || !strings.Contains(err.Error(), "no $HOME") {
		t.Fatalf("err = %v", err)
	}
}

func TestReadProfilesErrors(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"no section":   "host = x\n",
		"bad header":   "[DEFAULT\n",
		"no separator": "[DEFAULT]\ndapi-secret-value\n",
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
			if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := readProfiles(p)
			if err == nil {
				t.Fatal("want an error")
			}
			if strings.Contains(err.Error(), "dapi-secret-value") {
				t.Errorf("error quotes the line: %v", err)
			}
		})
	}
}

func TestProfileFromURI(t *testing.T) {
	tests := []struct {
		uri, profile string
		ok, err      bool
	}{
		{"databricks", "", true, false},
		{"databricks://", "", true, false},
		{"databricks://ml", "ml", true, false},
		{"databricks://ml/", "ml", true, false},
		{"databricks://scope:prefix", "", true, true},
		{"databricks://a/b", "", true, true},
		{"https://x", "", false, false},
		{"databricks-uc", "", false, false},
	}
	for _, tc := range tests {
		p, ok, err := ProfileFromURI(tc.uri)
		if p != tc.profile || ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("ProfileFromURI(%q) = %q, %v, %v", tc.uri, p, ok, err)
		}
		if IsURI(tc.uri) != tc.ok {
			t.Errorf("IsURI(%q) = %v", tc.uri, !tc.ok)
		}
	}
}

func TestExperimentPath(t *testing.T) {
	tests := []struct {
		name, base, want, wantErr string
	}{
		{"/Users/a@b.com/exp", "", "/Users/a@b.com/exp", ""},
		{"/Shared/team/exp", "/ignored", "/Shared/team/exp", ""},
		{"exp", "/Shared/otel", "/Shared/otel/exp", ""},
		{"exp", "/Shared/otel/", "/Shared/otel/exp", ""},
		{"team/exp", "/Shared", "/Shared/team/exp", ""},
		{"exp", "", "", "not an absolute workspace path"},
		{"Default", "", "", "databricks.experiment_base"},
		{"", "/Shared", "", "empty"},
		{"/exp", "", "", "needs a folder"},
		{"/Shared//exp", "", "", "segment"},
		{"/Shared/../exp", "", "", "segment"},
		{"/Shared/exp/", "", "", "segment"},
		{"../exp", "/Shared/x", "", "under base"},
		{"/Shared/a\x01", "", "", "control"},
		{"/Shared/" + strings.Repeat("x", 500), "", "", "limit is 500"},
	}
	for _, tc := range tests {
		got, err := ExperimentPath(tc.name, tc.base)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ExperimentPath(%q, %q) = %q, %v; want error with %q", tc.name, tc.base, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ExperimentPath(%q, %q) = %q, %v; want %q", tc.name, tc.base, got, err, tc.want)
		}
	}
}
