package mlflowexporter

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/translate"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// TenantAttr is the resource attribute the exporter stamps with the
// tenant of each resource when it enters the sending queue. Whatever a
// sender put there is replaced: only the configured sources decide it.
const TenantAttr = "otelcol.mlflow.tenant"

// tenantPlaceholder stands for the tenant in an experiment pattern.
const tenantPlaceholder = "{tenant}"

// AccessConfig restricts what each sender may write into a shared backend
// (a gateway serving several teams). Empty: everything is allowed.
type AccessConfig struct {
	// TenantFrom lists where a request's tenant comes from, first found
	// wins: "auth.<attribute>" reads the receiver authenticator's data
	// (the oidc extension's auth.subject or auth.membership), and
	// "resource.<attribute>" a resource attribute — trustworthy only when
	// the collector sets it itself, e.g. a resource processor upserting it
	// in the pipeline of a receiver that authenticates one team.
	TenantFrom []string `mapstructure:"tenant_from"`
	// Tenants maps a tenant to the experiment name patterns it may write.
	// "*" in a pattern matches any characters, {tenant} the tenant itself;
	// the tenant "*" applies to every tenant not listed.
	Tenants map[string][]string `mapstructure:"tenants"`
	// Anonymous are the patterns for data whose tenant no source gives;
	// empty refuses such data.
	Anonymous []string `mapstructure:"anonymous"`
	// Weights set each tenant's share of the backend's request budget while
	// it binds (default 1; "*" for every tenant not listed, "" for
	// anonymous data). Each tenant named in Tenants also gets a sending
	// queue of its own, sized by the same shares, so its backlog waits in
	// its own queue instead of ahead of the others' data (docs/access.md).
	Weights map[string]float64 `mapstructure:"weights"`
}

// weightOf is a tenant's share of the request budget.
func (a *AccessConfig) weightOf(tenant string) float64 {
	if w, ok := a.Weights[tenant]; ok {
		return w
	}
	if _, named := a.Tenants[tenant]; !named && tenant != "" {
		if w, ok := a.Weights["*"]; ok {
			return w
		}
	}
	return 1
}

func (a *AccessConfig) enabled() bool {
	return len(a.TenantFrom) > 0 || len(a.Tenants) > 0 || len(a.Anonymous) > 0 || len(a.Weights) > 0
}

func (a *AccessConfig) validate() error {
	if !a.enabled() {
		return nil
	}
	var errs []error
	if len(a.TenantFrom) == 0 {
		errs = append(errs, errors.New("access.tenant_from: name at least one source (auth.<attribute> or resource.<attribute>)"))
	}
	for _, src := range a.TenantFrom {
		kind, attr, _ := strings.Cut(src, ".")
		if (kind != "auth" && kind != "resource") || attr == "" {
			errs = append(errs, fmt.Errorf("access.tenant_from %q: want auth.<attribute> or resource.<attribute>", src))
		}
	}
	for tenant, patterns := range a.Tenants {
		for _, p := range patterns {
			if err := validPattern(p); err != nil {
				errs = append(errs, fmt.Errorf("access.tenants[%q]: %w", tenant, err))
			}
		}
	}
	for _, tenant := range slices.Sorted(maps.Keys(a.Weights)) {
		if w := a.Weights[tenant]; !(w > 0) || math.IsInf(w, 0) {
			errs = append(errs, fmt.Errorf("access.weights[%q]: %v is not a positive number", tenant, w))
		}
	}
	for _, p := range a.Anonymous {
		if err := validPattern(p); err != nil {
			errs = append(errs, fmt.Errorf("access.anonymous: %w", err))
		} else if strings.Contains(p, tenantPlaceholder) {
			errs = append(errs, fmt.Errorf("access.anonymous: pattern %q names {tenant}, which anonymous data has none of", p))
		}
	}
	return errors.Join(errs...)
}

func validPattern(p string) error {
	if p == "" {
		return errors.New("empty experiment pattern")
	}
	rest := strings.ReplaceAll(p, tenantPlaceholder, "")
	if i := strings.IndexAny(rest, "{}?[]"); i >= 0 {
		return fmt.Errorf("experiment pattern %q: %q is not supported (only * and {tenant})", p, rest[i])
	}
	return nil
}

// matchPattern reports whether name matches pattern with the tenant
// substituted as literal text (a tenant holding '*' matches only '*').
func matchPattern(pattern, tenant, name string) bool {
	var lits []string // literal pieces between stars
	for _, piece := range strings.Split(pattern, "*") {
		lits = append(lits, strings.ReplaceAll(piece, tenantPlaceholder, tenant))
	}
	if len(lits) == 1 {
		return name == lits[0]
	}
	if !strings.HasPrefix(name, lits[0]) {
		return false
	}
	name = name[len(lits[0]):]
	last := lits[len(lits)-1]
	for _, lit := range lits[1 : len(lits)-1] {
		i := strings.Index(name, lit)
		if i < 0 {
			return false
		}
		name = name[i+len(lit):]
	}
	return len(name) >= len(last) && strings.HasSuffix(name, last)
}

// tenantOf finds the tenant of one resource from the configured sources.
func (a *AccessConfig) tenantOf(info client.Info, attrs pcommon.Map) string {
	for _, src := range a.TenantFrom {
		kind, attr, _ := strings.Cut(src, ".")
		switch kind {
		case "auth":
			if info.Auth == nil {
				continue
			}
			if v := info.Auth.GetAttribute(attr); v != nil {
				if s := fmt.Sprint(v); s != "" && s != "[]" {
					return s
				}
			}
		case "resource":
			if v, ok := attrs.Get(attr); ok && v.AsString() != "" {
				return v.AsString()
			}
		}
	}
	return ""
}

// patternsFor are the experiment patterns a tenant may write.
func (a *AccessConfig) patternsFor(tenant string) []string {
	if tenant == "" {
		return a.Anonymous
	}
	if p, ok := a.Tenants[tenant]; ok {
		return p
	}
	return a.Tenants["*"]
}

// Reasons data is refused (the drop reason is "access_denied"; these go
// into the log line).
const (
	deniedExperiment = "experiment outside the sender's patterns"
	deniedRun        = "run in an experiment outside the sender's patterns"
	deniedParent     = "parent run in an experiment outside the sender's patterns"
	deniedUnknownRun = "run id unknown to the backend"
)

// accessChecker decides, per resource, whether its tenant may write the run
// it names. Experiment names of ids and the experiments of run ids are
// looked up once and cached: a run never moves between experiments.
type accessChecker struct {
	cfg *AccessConfig

	mu       sync.Mutex
	expNames map[string]string // experiment id -> name
	runExps  map[string]string // run id -> experiment id
	logged   map[string]bool   // tenant \x00 reason: logged once
}

// newAccessChecker returns nil when access control is off: every sender
// may write everything.
func newAccessChecker(cfg *AccessConfig) *accessChecker {
	if !cfg.enabled() {
		return nil
	}
	return &accessChecker{cfg: cfg,
		expNames: map[string]string{}, runExps: map[string]string{}, logged: map[string]bool{}}
}

// check returns "" when tenant may write id's run, else why not. An error
// is a failed lookup (retry).
func (c *accessChecker) check(ctx context.Context, store mlflow.Store, tenant string, id translate.Identity) (string, error) {
	patterns := c.cfg.patternsFor(tenant)
	allowed := func(name string) bool {
		return slices.ContainsFunc(patterns, func(p string) bool { return matchPattern(p, tenant, name) })
	}
	if id.RunID != "" {
		name, found, err := c.runExperiment(ctx, store, id.RunID)
		if err != nil || !found {
			return deniedUnknownRun, err
		}
		if !allowed(name) {
			return deniedRun, nil
		}
		return "", nil
	}
	name := id.ExperimentName
	if id.ExperimentID != "" {
		n, err := c.experimentName(ctx, store, id.ExperimentID)
		if err != nil {
			if mlflow.IsNotFound(err) {
				return deniedExperiment, nil
			}
			return "", err
		}
		name = n
	}
	if !allowed(name) {
		return deniedExperiment, nil
	}
	if id.ParentRunID != "" {
		pname, found, err := c.runExperiment(ctx, store, id.ParentRunID)
		if err != nil || !found {
			return deniedUnknownRun, err
		}
		if !allowed(pname) {
			return deniedParent, nil
		}
	}
	return "", nil
}

func (c *accessChecker) runExperiment(ctx context.Context, store mlflow.Store, runID string) (name string, found bool, err error) {
	c.mu.Lock()
	expID, ok := c.runExps[runID]
	c.mu.Unlock()
	if !ok {
		r, err := store.GetRun(ctx, runID)
		if err != nil {
			if mlflow.IsNotFound(err) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("check run %q: %w", runID, err)
		}
		expID = r.Info.ExperimentID
		c.mu.Lock()
		c.runExps[runID] = expID
		c.mu.Unlock()
	}
	name, err = c.experimentName(ctx, store, expID)
	if err != nil {
		return "", false, err
	}
	return name, true, nil
}

func (c *accessChecker) experimentName(ctx context.Context, store mlflow.Store, expID string) (string, error) {
	c.mu.Lock()
	name, ok := c.expNames[expID]
	c.mu.Unlock()
	if ok {
		return name, nil
	}
	exp, err := store.GetExperiment(ctx, expID)
	if err != nil {
		return "", fmt.Errorf("check experiment %q: %w", expID, err)
	}
	c.mu.Lock()
	c.expNames[expID] = exp.Name
	c.mu.Unlock()
	return exp.Name, nil
}

// firstRefusal reports whether this tenant's refusal for reason is new,
// so that it is logged once, not per export.
func (c *accessChecker) firstRefusal(tenant, reason string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := tenant + "\x00" + reason
	if c.logged[k] {
		return false
	}
	c.logged[k] = true
	return true
}
