package mlflowexporter

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		pattern, tenant, name string
		want                  bool
	}{
		{"/Users/{tenant}/*", "alice", "/Users/alice/cv", true},
		{"/Users/{tenant}/*", "alice", "/Users/alice/a/b", true},
		{"/Users/{tenant}/*", "alice", "/Users/bob/cv", false},
		{"/Users/{tenant}/*", "alice", "/Users/alice", false},
		{"/Shared/team-a/*", "x", "/Shared/team-a/exp", true},
		{"/Shared/team-a/*", "x", "/Shared/team-ab/exp", false},
		{"exact", "x", "exact", true},
		{"exact", "x", "exactly", false},
		{"*-prod", "x", "cv-prod", true},
		{"a*b*c", "x", "abc", true},
		{"a*b*c", "x", "a-c", false},
		{"{tenant}-*", "a*", "a*-x", true},
		{"{tenant}-*", "a*", "abc-x", false}, // the tenant is literal text
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, matchPattern(tt.pattern, tt.tenant, tt.name), "%q %q %q", tt.pattern, tt.tenant, tt.name)
	}
}

func TestAccessConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     AccessConfig
		wantErr string
	}{
		{"off", AccessConfig{}, ""},
		{"ok", AccessConfig{TenantFrom: []string{"auth.subject", "resource.team"}, Tenants: map[string][]string{"*": {"/Users/{tenant}/*"}}}, ""},
		{"no source", AccessConfig{Tenants: map[string][]string{"a": {"x"}}}, "access.tenant_from: name at least one source"},
		{"bad source", AccessConfig{TenantFrom: []string{"header.x"}}, `access.tenant_from "header.x"`},
		{"bad pattern", AccessConfig{TenantFrom: []string{"auth.subject"}, Tenants: map[string][]string{"a": {"/x/[ab]"}}}, `'[' is not supported`},
		{"empty pattern", AccessConfig{TenantFrom: []string{"auth.subject"}, Tenants: map[string][]string{"a": {""}}}, "empty experiment pattern"},
		{"anonymous with tenant", AccessConfig{TenantFrom: []string{"auth.subject"}, Anonymous: []string{"/Users/{tenant}/*"}}, "anonymous data has none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

// authData plays the oidc extension's authentication result.
type authData map[string]any

func (a authData) GetAttribute(name string) any { return a[name] }
func (a authData) GetAttributeNames() []string {
	var out []string
	for k := range a {
		out = append(out, k)
	}
	return out
}

func asTenant(subject string) context.Context {
	return client.NewContext(context.Background(), client.Info{Auth: authData{"subject": subject}})
}

// A shared gateway: each sender writes only into its own experiments.
// Refused data is counted and logged once per tenant and reason, never
// written, and the rest of the batch lands.
func TestAccessControlPerTenant(t *testing.T) {
	srv := mlflowtest.Start(t)
	cfg := createDefaultConfig().(*Config)
	cfg.TrackingURI = srv.URL()
	cfg.QueueConfig.Get().Batch.Get().FlushTimeout = 10 * time.Millisecond
	cfg.Access = AccessConfig{
		TenantFrom: []string{"auth.subject"},
		Tenants:    map[string][]string{"team-a": {"/Shared/team-a/*"}, "*": {"/Users/{tenant}/*"}},
	}
	require.NoError(t, cfg.Validate())
	core, logs := observer.New(zapcore.InfoLevel)
	set := exportertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	exp, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	shutdown := sync.OnceValue(func() error { return exp.Shutdown(context.Background()) })
	t.Cleanup(func() { _ = shutdown() })

	send := func(ctx context.Context, rs ...res) { require.NoError(t, exp.ConsumeMetrics(ctx, metrics(rs...))) }
	run := func(exp, name string, extra map[string]any) res {
		attrs := map[string]any{"mlflow.experiment.name": exp, "mlflow.run.name": name}
		for k, v := range extra {
			attrs[k] = v
		}
		return res{attrs: attrs, points: []pt{{name: "loss", value: 1, step: 0}}}
	}
	// Bob's own run first.
	send(asTenant("bob"), run("/Users/bob/cv", "bob-run", nil))
	require.Eventually(t, func() bool { return len(runsNamed(srv, "bob-run")) == 1 }, 5*time.Second, 10*time.Millisecond)
	bobRun := oneRun(t, srv, "bob-run").Info.RunID

	// Alice: her own run lands; bob's experiment, bob's run by id and a
	// forged tenant attribute do not — all in one batch, twice.
	for range 2 {
		send(asTenant("alice"),
			run("/Users/alice/cv", "alice-run", nil),
			run("/Users/bob/cv", "alice-in-bob", nil),
			res{attrs: map[string]any{"mlflow.run.id": bobRun, "service.name": "x"}, points: []pt{{name: "sneaky", value: 1, step: 0}}},
			run("/Shared/team-a/cv", "forged", map[string]any{TenantAttr: "team-a"}),
		)
	}
	// Team A writes its shared experiment; anonymous data is refused.
	send(asTenant("team-a"), run("/Shared/team-a/cv", "team-a-run", nil))
	send(context.Background(), run("/Users/nobody/cv", "anonymous", nil))

	require.Eventually(t, func() bool {
		return len(runsNamed(srv, "alice-run")) == 1 && len(runsNamed(srv, "team-a-run")) == 1
	}, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, shutdown())

	assert.Len(t, srv.MetricHistory(oneRun(t, srv, "alice-run").Info.RunID, "loss"), 1)
	for _, name := range []string{"alice-in-bob", "forged", "anonymous"} {
		assert.Empty(t, runsNamed(srv, name), "run %q must not exist", name)
	}
	assert.Empty(t, srv.MetricHistory(bobRun, "sneaky"), "nothing lands in bob's run")
	for _, e := range srv.Experiments() {
		assert.NotEqual(t, "/Users/nobody/cv", e.Name, "no experiment created for refused data")
	}

	refusals := logs.FilterMessageSnippet("Refusing data of a sender outside its experiments").All()
	byTenant := map[string][]string{}
	for _, l := range refusals {
		m := l.ContextMap()
		byTenant[m["tenant"].(string)] = append(byTenant[m["tenant"].(string)], m["reason"].(string))
	}
	assert.ElementsMatch(t, []string{deniedExperiment, deniedRun}, byTenant["alice"], "once per tenant and reason, though sent twice")
	assert.Equal(t, []string{deniedExperiment}, byTenant[""], "anonymous")

	audits := logs.FilterMessage("Writing into MLflow run").All()
	seen := map[string]string{}
	for _, l := range audits {
		m := l.ContextMap()
		seen[m["run_id"].(string)] = m["tenant"].(string) + "/" + m["resolution"].(string)
	}
	assert.Equal(t, "bob/created", seen[bobRun])
	assert.Equal(t, "alice/created", seen[oneRun(t, srv, "alice-run").Info.RunID])
	assert.Len(t, audits, 3, "one audit line per run")
}
