package mlflowexporter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/runs"
	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/translate"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/restclient"
)

type mlflowExporter struct {
	cfg    *Config
	set    exporter.Settings
	logger *zap.Logger
	tr     *translate.Translator
	getenv func(string) string
	now    func() time.Time
	// localHost is the host of runs whose telemetry has no host.name.
	localHost string
	// backendID names the backend written to as the tracking API names
	// its own (mlflow.BackendAttr); "" when not comparable.
	backendID string

	tel    *metadata.TelemetryBuilder
	drops  *dropLog
	health *health
	lag    *lagTracker
	// access is nil when every sender may write everything.
	access *accessChecker

	// Set in start.
	store backend
	runs  *runs.Manager
	gpus  gpuAttribution

	stopSweep chan struct{}
	sweepDone sync.WaitGroup
	// stopCheck cancels the startup check of the backend.
	stopCheck context.CancelFunc
}

func newExporter(cfg *Config, set exporter.Settings) (*mlflowExporter, error) {
	filter, err := translate.NewFilter(cfg.Metrics.Include, cfg.Metrics.Exclude, cfg.Metrics.Declared)
	if err != nil {
		return nil, err
	}
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("create self-metrics: %w", err)
	}
	tr := translate.New(translate.Options{
		StepAttribute:      cfg.Metrics.StepAttribute,
		KeyStyle:           cfg.Metrics.AttributeKeyStyle,
		IgnoreAttributes:   cfg.Metrics.IgnoreAttributes,
		HistogramQuantiles: cfg.Metrics.HistogramQuantiles,
		DefaultExperiment:  cfg.ExperimentName,
		DefaultRunName:     cfg.RunName,
		ResourceTags:       cfg.ResourceTags,
		Filter:             filter,
	})
	return &mlflowExporter{
		cfg: cfg, set: set, logger: set.Logger, tr: tr, getenv: os.Getenv, now: time.Now,
		tel: tel, drops: newDropLog(set.Logger, tel), health: newHealth(set.Logger, tel, time.Now), lag: newLagTracker(set.Logger, tel, time.Now),
		access: newAccessChecker(&cfg.Access),
	}, nil
}

func (e *mlflowExporter) start(ctx context.Context, host component.Host) error {
	b, kind, err := openBackend(ctx, e.cfg, host, e.set.TelemetrySettings, e.tel, e.getenv)
	if err != nil {
		return err
	}
	e.store = &instrumentedStore{backend: b, tel: e.tel}
	e.backendID = backendID(b, resolveTrackingURI(e.cfg.TrackingURI, e.getenv))
	e.localHost = e.localHostName()
	e.runs = runs.NewManager(e.store, runs.Settings{
		DedupWindow:   e.cfg.DedupWindow,
		IdleTimeout:   e.cfg.RunIdleTimeout,
		IdleEndStatus: e.cfg.RunIdleEndStatus.Status(),
		Logger:        e.logger,
		Now:           e.now,
	})
	e.logger.Info("MLflow exporter started", zap.String("backend", kind))
	checkCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	e.stopCheck = cancel
	e.sweepDone.Add(1)
	go func(store backend) {
		defer e.sweepDone.Done()
		e.checkBackend(checkCtx, store, kind)
	}(e.store)
	if e.cfg.RunIdleTimeout > 0 {
		e.stopSweep = make(chan struct{})
		e.sweepDone.Add(1)
		go e.sweepIdle(e.stopSweep, min(e.cfg.RunIdleTimeout/4, time.Minute))
	}
	return nil
}

func (e *mlflowExporter) sweepIdle(stop <-chan struct{}, every time.Duration) {
	defer e.sweepDone.Done()
	t := time.NewTicker(max(every, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if _, err := e.runs.EndIdle(ctx); err != nil {
				e.logger.Warn("Ending idle runs failed", zap.Error(err))
			}
			cancel()
		}
	}
}

// checkBackend asks the backend once for something every MLflow has, so
// that a wrong address or refused credentials show in the log at startup
// rather than at the first export. It never fails the start: data is
// queued and retried until the backend answers.
func (e *mlflowExporter) checkBackend(ctx context.Context, store backend, kind string) {
	// Any answer of MLflow's own (not found; Databricks refusing a relative
	// experiment name) proves the address and the credentials; only 401/403
	// and what a retry could change (5xx, 429, no answer) say otherwise.
	_, err := store.GetExperimentByName(ctx, "Default")
	var ae *mlflow.APIError
	isAPI := errors.As(err, &ae)
	switch {
	case err == nil || isAPI && ae.Code != "" && !mlflow.IsAuthRefused(err) && !mlflow.IsRetryable(err):
		e.logger.Info("MLflow backend reachable", zap.String("backend", kind))
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		// Shut down before the answer: nothing to say.
	case mlflow.IsAuthRefused(err):
		e.logger.Warn("MLflow backend refused the credentials; check token, username/password or the Databricks profile. Data is queued and retried meanwhile",
			zap.String("backend", kind), zap.Error(err))
	default:
		e.logger.Warn("MLflow backend not reachable at startup; data is queued and retried until it answers",
			zap.String("backend", kind), zap.Error(err))
	}
}

func (e *mlflowExporter) shutdown(ctx context.Context) error {
	// Shutdown may follow a failed or absent start, and may be called twice.
	if e.stopCheck != nil {
		e.stopCheck()
		e.stopCheck = nil
	}
	if e.stopSweep != nil {
		close(e.stopSweep)
		e.stopSweep = nil
	}
	e.sweepDone.Wait()
	if e.store == nil {
		return nil
	}
	var err error
	if e.cfg.EndRunsOnShutdown {
		err = e.runs.EndAll(ctx, mlflow.RunStatusFinished)
	}
	err = errors.Join(err, e.store.Close())
	e.store = nil
	return err
}

// runGroup is every resource of one export that belongs to one run
// (exporter batching concatenates resources, so a run may appear many times).
type runGroup struct {
	id      translate.Identity
	runKey  string // id.Key()
	tenant  string // TenantAttr of its resources, with access control
	data    []*translate.ResourceData
	indices []int
}

func (e *mlflowExporter) pushMetrics(ctx context.Context, md pmetric.Metrics) error {
	var stats translate.Stats
	now := e.now()
	rms := md.ResourceMetrics()
	groups := map[string]*runGroup{}
	var order []string
	var system []int // host telemetry, attached to runs after theirs is written
	for i := 0; i < rms.Len(); i++ {
		rd := e.tr.Resource(rms.At(i), now, &stats)
		if e.isSystemResource(rd) {
			system = append(system, i)
			continue
		}
		if rd.Identity.IsZero() {
			if n := len(rd.Points) + len(rd.Params); n > 0 {
				e.drops.drop(ctx, translate.DropNoRunIdentity.String(), n,
					"Dropping telemetry that names no MLflow run: set mlflow.run.name or service.name on the resource, or run_name in the exporter")
			}
			continue
		}
		runKey := rd.Identity.Key()
		k := runKey
		tenant := ""
		if e.access != nil {
			// One run written by two tenants is two groups: each is checked.
			if v, ok := rms.At(i).Resource().Attributes().Get(TenantAttr); ok {
				tenant = v.Str()
			}
			k += "\x00" + tenant
		}
		g := groups[k]
		if g == nil {
			g = &runGroup{id: rd.Identity, runKey: runKey, tenant: tenant}
			groups[k] = g
			order = append(order, k)
		}
		g.data = append(g.data, rd)
		g.indices = append(g.indices, i)
	}
	e.recordTranslateStats(ctx, stats)

	var (
		failed   []int
		errs     []error
		throttle time.Duration
	)
	for _, k := range order {
		g := groups[k]
		if refused, err := e.refused(ctx, g); err != nil {
			failed = append(failed, g.indices...)
			errs = append(errs, fmt.Errorf("%s: %w", g.id, err))
			continue
		} else if refused {
			continue
		}
		err := e.exportRun(ctx, g)
		e.health.observe(ctx, err)
		if err == nil {
			continue
		}
		if !retryable(err) {
			if other := e.otherBackend(g); other != "" && errors.Is(err, runs.ErrRunNotFound) {
				e.drops.drop(ctx, "backend_mismatch", countItems(g),
					"Dropping data of a run that lives in another MLflow backend: the sender's MLflow client and this collector must use the same tracking URI (MLFLOW_TRACKING_URI)",
					zap.String("run", g.id.String()), zap.String("run_backend", other), zap.String("collector_backend", e.backendID))
				continue
			}
			e.drops.drop(ctx, "rejected", countItems(g), "Dropping data MLflow will not accept",
				zap.String("run", g.id.String()), zap.Error(err))
			continue
		}
		failed = append(failed, g.indices...)
		errs = append(errs, fmt.Errorf("%s: %w", g.id, err))
		throttle = max(throttle, mlflow.RetryAfter(err))
	}
	procsOf := e.noteGPUs(rms, system)
	for _, i := range system {
		host, _ := rms.At(i).Resource().Attributes().Get("host.name")
		if err := e.exportSystem(ctx, rms.At(i), host.Str(), procsOf[i]); err != nil {
			failed = append(failed, i)
			errs = append(errs, err)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	// Only the failed runs' resources go back to the retry: what landed
	// stays landed (and would be skipped as duplicate anyway).
	slices.Sort(failed)
	retry := pmetric.NewMetrics()
	for _, i := range failed {
		rms.At(i).CopyTo(retry.ResourceMetrics().AppendEmpty())
	}
	err := consumererror.NewMetrics(errors.Join(errs...), retry)
	if throttle > 0 {
		err = exporterhelper.NewThrottleRetry(err, throttle)
	}
	return err
}

// refused applies access control to a group: a tenant writing outside its
// experiments loses that group (counted as access_denied, logged once per
// tenant and reason), never the rest of the batch. An error is a lookup
// that failed (the group is retried).
func (e *mlflowExporter) refused(ctx context.Context, g *runGroup) (bool, error) {
	if e.access == nil {
		return false, nil
	}
	reason, err := e.access.check(ctx, e.store, g.tenant, g.id)
	if err != nil {
		return false, err
	}
	if reason == "" {
		return false, nil
	}
	n := countItems(g)
	e.tel.ExporterMlflowDropped.Add(ctx, int64(n), metric.WithAttributes(attribute.String(metadata.AttributeKeyReason, "access_denied")))
	e.tel.ExporterMlflowTenantPoints.Add(ctx, int64(groupPoints(g)), metadata.WithTenantOutcome(g.tenant, metadata.AttributeTenantOutcomeRefused))
	if e.access.firstRefusal(g.tenant, reason) {
		e.logger.Warn("Refusing data of a sender outside its experiments (access control); later refusals for the same tenant and reason are only counted (otelcol_exporter_mlflow_dropped{reason=access_denied})",
			zap.String("tenant", g.tenant), zap.String("reason", reason), zap.String("run", g.id.String()), zap.Int("count", n))
	}
	return true, nil
}

// otherBackend returns the backend the group's sender names when it is not
// the one this exporter writes to.
func (e *mlflowExporter) otherBackend(g *runGroup) string {
	for _, rd := range g.data {
		if rd.Backend != "" && e.backendID != "" && rd.Backend != e.backendID {
			return rd.Backend
		}
	}
	return ""
}

func groupPoints(g *runGroup) int {
	n := 0
	for _, rd := range g.data {
		n += len(rd.Points)
	}
	return n
}

func countItems(g *runGroup) int {
	n := 0
	for _, rd := range g.data {
		n += len(rd.Points) + len(rd.Params) + len(rd.Tags)
	}
	return n
}

// retryable says whether err may pass if the same data is sent again:
// MLflow's retryable answers, transport failures and timeouts, and a run
// that vanished (it is re-resolved on the retry).
func retryable(err error) bool {
	if errors.Is(err, runs.ErrRunNotFound) {
		return false
	}
	if errors.Is(err, mlflow.ErrRunGone) {
		return true
	}
	// Transport errors, timeouts and cancellations are transient too.
	return mlflow.IsTransient(err)
}

func (e *mlflowExporter) recordTranslateStats(ctx context.Context, st translate.Stats) {
	for r := translate.DropReason(0); int(r) < len(st.Dropped); r++ {
		if n := st.Dropped[r]; n > 0 {
			e.drops.drop(ctx, r.String(), n, "Dropped OTLP data points (see docs/mapping.md for the rule)")
		}
	}
	if st.Truncated > 0 {
		e.drops.drop(ctx, "value_truncated", st.Truncated, "Cut param/tag values to MLflow's length limit")
	}
}

// flowContext names whose requests ctx carries, so that the backend's
// request budget is shared fairly while it binds: between tenants with
// access control (by their weights), else between runs.
func (e *mlflowExporter) flowContext(ctx context.Context, tenant, run string) context.Context {
	if e.access != nil {
		return restclient.WithFlow(ctx, "tenant\x00"+tenant, e.cfg.Access.weightOf(tenant))
	}
	return restclient.WithFlow(ctx, "run\x00"+run, 1)
}

func (e *mlflowExporter) exportRun(ctx context.Context, g *runGroup) error {
	ctx = e.flowContext(ctx, g.tenant, g.runKey)
	start := int64(0)
	var points []translate.Point
	var params []mlflow.Param
	var tags []mlflow.Tag
	var end *translate.RunEnd
	lastPoint := int64(0)
	for _, rd := range g.data {
		if rd.EarliestMs != 0 && (start == 0 || rd.EarliestMs < start) {
			start = rd.EarliestMs
		}
		points = append(points, rd.Points...)
		params = append(params, rd.Params...)
		tags = append(tags, rd.Tags...)
		if rd.End != nil && (end == nil || rd.End.TimeMs >= end.TimeMs) {
			end = rd.End
		}
	}
	if len(points) == 0 && len(params) == 0 && len(tags) == 0 && end == nil {
		return nil
	}
	for i := range points {
		lastPoint = max(lastPoint, points[i].Timestamp)
	}
	if start == 0 {
		start = e.now().UnixMilli()
	}
	r, err := e.runs.Get(ctx, g.id, start, runs.UserFromTags(tags))
	if err != nil {
		return err
	}
	e.audit(r, g.tenant)
	for _, rd := range g.data {
		e.runs.Observe(r, e.runHost(rd), rd.PID, rd.ContainerID)
		e.runs.ObservePlacement(r, e.runHost(rd), rd.Pod, rd.SlurmJobID)
		e.observeDevices(r, rd)
	}
	r.Lock()
	defer r.Unlock()
	if err := e.runs.Converge(ctx, r); err != nil {
		return err
	}

	batch, pst := r.Prepare(points, params, tags)
	if pst.Duplicates > 0 {
		e.tel.ExporterMlflowDuplicatePoints.Add(ctx, int64(pst.Duplicates))
	}
	for _, p := range pst.ParamChanged {
		e.drops.drop(ctx, "param_changed", 1,
			"MLflow params are write-once: dropping a changed value (log values that change as tags or metrics)",
			zap.String("run_id", r.ID), zap.String("param", p.Key))
	}
	if err := e.write(ctx, r, batch); err != nil {
		if errors.Is(err, mlflow.ErrRunGone) {
			e.runs.Forget(r)
		}
		return err
	}
	e.runs.Touch(r, lastPoint)
	if e.access != nil {
		e.tel.ExporterMlflowTenantPoints.Add(ctx, int64(len(batch.Metrics)), metadata.WithTenantOutcome(g.tenant, metadata.AttributeTenantOutcomeWritten))
		e.lag.landed(ctx, lastPoint, attribute.String(metadata.AttributeKeyTenant, g.tenant))
	} else {
		e.lag.landed(ctx, lastPoint)
	}
	if end != nil {
		if err := e.runs.End(ctx, r, end.Status, end.TimeMs); err != nil {
			return err
		}
	}
	return nil
}

// audit logs, once per run and collector, which run data went into and how
// this collector came to it: the trail a shared gateway needs.
func (e *mlflowExporter) audit(r *runs.Run, tenant string) {
	r.Lock()
	defer r.Unlock()
	if r.Audited {
		return
	}
	r.Audited, r.Tenant = true, tenant
	e.logger.Info("Writing into MLflow run", zap.String("resolution", r.Resolution), zap.String("tenant", tenant),
		zap.String("experiment_id", r.ExperimentID), zap.String("run_id", r.ID), zap.String("run", r.Identity.String()))
}

// write sends the batch in log-batch calls within MLflow's limits,
// committing each part that lands.
func (e *mlflowExporter) write(ctx context.Context, r *runs.Run, b mlflow.Batch) error {
	for _, part := range mlflow.Pack(b) {
		if err := e.writeNarrowing(ctx, r, part); err != nil {
			return err
		}
	}
	return nil
}

// writeNarrowing sends b; when MLflow rejects it as invalid, it bisects the
// batch to find the offending entities, drops only those and writes the
// rest. Since MLflow validates a batch before writing it, the halves that
// pass are written once.
func (e *mlflowExporter) writeNarrowing(ctx context.Context, r *runs.Run, b mlflow.Batch) error {
	err := e.store.LogBatch(ctx, r.ID, b)
	if err == nil {
		r.Commit(b)
		return nil
	}
	if mlflow.IsRunGone(err) {
		return fmt.Errorf("log to run %q: %w: %w", r.ID, mlflow.ErrRunGone, err)
	}
	if !mlflow.IsInvalidParameter(err) {
		return fmt.Errorf("log batch to run %q: %w", r.ID, err)
	}
	if b.Len() == 1 {
		reason := "rejected"
		if len(b.Params) == 1 && mlflow.IsParamChanged(err) {
			reason = "param_changed"
		}
		e.drops.drop(ctx, reason, 1, "MLflow rejected an entity; dropping it alone",
			zap.String("run_id", r.ID), zap.String("key", entityKey(b)), zap.Error(err))
		return nil
	}
	left, right := split(b)
	if err := e.writeNarrowing(ctx, r, left); err != nil {
		return err
	}
	return e.writeNarrowing(ctx, r, right)
}

func entityKey(b mlflow.Batch) string {
	switch {
	case len(b.Metrics) == 1:
		return b.Metrics[0].Key
	case len(b.Params) == 1:
		return b.Params[0].Key
	case len(b.Tags) == 1:
		return b.Tags[0].Key
	}
	return ""
}

// split halves a batch by entity count, in params, tags, metrics order.
func split(b mlflow.Batch) (mlflow.Batch, mlflow.Batch) {
	half := b.Len() / 2
	var l, r mlflow.Batch
	take := func(n int) int { return min(n, half-l.Len()) }
	n := take(len(b.Params))
	l.Params, r.Params = b.Params[:n], b.Params[n:]
	n = take(len(b.Tags))
	l.Tags, r.Tags = b.Tags[:n], b.Tags[n:]
	n = take(len(b.Metrics))
	l.Metrics, r.Metrics = b.Metrics[:n], b.Metrics[n:]
	return l, r
}
