package mlflowexporter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/runs"
	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/sysmetrics"
	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/translate"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/gpuset"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// localHostName is the host of runs whose telemetry carries no host.name.
func (e *mlflowExporter) localHostName() string {
	if h := e.cfg.SystemMetrics.LocalHostName; h != "" {
		return h
	}
	h, _ := os.Hostname()
	return h
}

// runHost is the host a run's resource came from (docs/mapping.md §9).
func (e *mlflowExporter) runHost(rd *translate.ResourceData) string {
	if rd.HostName != "" {
		return rd.HostName
	}
	return e.localHost
}

// observeDevices records the GPUs a run's process sees on its host, from
// its resource's gpuset.Attr (docs/mapping.md §9), and logs once per run
// and host a list that names something other than a device.
func (e *mlflowExporter) observeDevices(r *runs.Run, rd *translate.ResourceData) {
	if !rd.HasVisibleDevices {
		return
	}
	set, changed := e.runs.ObserveDevices(r, e.runHost(rd), gpuset.Parse(rd.VisibleDevices))
	if changed && set.Invalid != "" {
		e.logger.Warn("A run's visible devices name something that is no GPU; it and the entries after it are ignored, as CUDA ignores them",
			zap.String("run_id", r.ID), zap.String("host", e.runHost(rd)),
			zap.String(gpuset.Attr, rd.VisibleDevices), zap.String("entry", set.Invalid))
	}
}

// isSystemResource tells host telemetry (no run named, host.name set).
func (e *mlflowExporter) isSystemResource(rd *translate.ResourceData) bool {
	return rd.Identity.IsZero() && rd.HostName != "" && e.cfg.SystemMetrics.Mode != sysmetrics.ModeOff
}

func (e *mlflowExporter) systemKey(name string, attrs pcommon.Map) string {
	return e.tr.Key(name, attrs)
}

// attachWindow is how recently a run's own telemetry must have come from a
// host for the host's system metrics to be attached to it.
func (e *mlflowExporter) attachWindow() time.Duration {
	return e.cfg.SystemMetrics.AttachWindow
}

// exportSystem writes one host resource's values into every active run on
// that host. procs are its processes when noteGPUs already read them. It
// returns a retryable error when a run could not be written.
func (e *mlflowExporter) exportSystem(ctx context.Context, rm pmetric.ResourceMetrics, host string, procs map[int64]procPoint) error {
	snap := sysmetrics.Convert(rm, host, e.cfg.SystemMetrics.Mode, e.systemKey)
	if snap.Empty() {
		return nil
	}
	if snap.TsMs == 0 {
		snap.TsMs = e.now().UnixMilli()
	}
	tenant := ""
	if v, ok := rm.Resource().Attributes().Get(TenantAttr); ok {
		tenant = v.Str()
	}
	ctx = e.flowContext(ctx, tenant, "system\x00"+host)
	if procs == nil && len(snap.Process) > 0 {
		procs = gpuProcesses(rm)
	}
	targets, hostCounts := e.runs.RunsOnHost(host, e.now().Add(-e.attachWindow()))
	var errs []error
	for i, r := range targets {
		if ended, err := e.runs.EndedElsewhere(ctx, r, e.cfg.SystemMetrics.EndCheckInterval); err != nil {
			// The write below meets the same outage and is retried.
			e.logger.Debug("Could not check whether a run ended", zap.Error(err))
		} else if ended {
			continue
		}
		if !snap.Scope.IsZero() && !e.inScope(r, host, snap.Scope) {
			continue // a pod's or job's own use goes only into its runs
		}
		if err := e.writeSystem(ctx, r, snap, procs, hostCounts[i], tenant); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("system metrics of host %q: %w", host, errs[0])
	}
	return nil
}

// scopedUsageWindow is how long a pod's or Slurm job's own use stands in for
// the host's after it was last reported: three scrapes at the receiver's
// default 10 s. A pod whose cgroup is gone (or a receiver that stopped
// reading cgroups) gets the host's values back after it, not a gap until
// attach_window.
const scopedUsageWindow = 30 * time.Second

func (e *mlflowExporter) writeSystem(ctx context.Context, r *runs.Run, snap *sysmetrics.Snapshot, procs map[int64]procPoint, hosts int, tenant string) error {
	prefix := "system/"
	switch e.cfg.SystemMetrics.NodePrefix {
	case NodePrefixAlways:
		prefix += snap.Host + "/"
	case NodePrefixAuto:
		if hosts > 1 {
			prefix += snap.Host + "/"
		}
	}
	r.Lock()
	defer r.Unlock()
	if e.access != nil && r.Tenant != tenant {
		// A host's telemetry goes only into its own tenant's runs.
		return nil
	}
	// A GPU goes only to the runs that see it, under the index they see
	// it by; the physical index and UUID go into a tag.
	rename := func(name string) string { return name }
	var tags []mlflow.Tag
	if snap.GPU != nil {
		set, source := e.gpuSetFor(r, snap.Host)
		e.gpus.logSource(e.logger, r.ID, snap.Host, source, set)
		if !set.All {
			pos, viaParent, seen := set.Position(*snap.GPU)
			if !seen {
				return nil
			}
			rename = func(name string) string { return snap.Rename(name, pos, viaParent) }
			tags = append(tags, gpuTag(prefix, snap, pos, viaParent))
		}
	}
	// Where the run's pod or Slurm job reports its own CPU, memory and disk
	// use, the host's give way to them.
	replaced := snap.GPU == nil && snap.Scope.IsZero() &&
		e.runs.HasScopedUsage(r, snap.Host, e.now().Add(-min(e.attachWindow(), scopedUsageWindow)))
	keep := func(name string) bool { return !replaced || !slices.Contains(sysmetrics.ScopedKeys, name) }
	points := make([]translate.Point, 0, len(snap.Gauges)+len(snap.Counters)+len(snap.Process))
	add := func(name string, v float64) {
		points = append(points, translate.Point{Metric: mlflow.Metric{Key: translate.SanitizeKey(prefix + rename(name)), Value: v, Timestamp: snap.TsMs}})
	}
	for _, g := range snap.Gauges {
		if keep(g.Name) {
			add(g.Name, g.Value)
		}
	}
	for _, c := range snap.Counters {
		if !keep(c.Name) {
			continue
		}
		// The baseline stays keyed by the physical name (and the pod's or
		// job's cgroup: its disk counters are not the host's).
		add(c.Name, r.SinceFirst(snap.Host+"\x00"+snap.Scope.PodUID+"\x00"+snap.Scope.SlurmJob+"\x00"+c.Name, c.Value))
	}
	// The run's share of a GPU is the sum over its processes on it (ranks,
	// data loader workers): one point per key and scrape, not one per
	// process with the same step.
	var shares map[string]float64
	var order []string
	for _, p := range snap.Process {
		// The host pid, or the pid in the process's own namespace (and
		// container): docs/mapping.md §9.
		if pp, ok := procs[p.PID]; ok && e.ownsProcess(r, snap.Host, pp) || !ok && e.runs.HasPID(r, p.PID, 0, "") {
			if shares == nil {
				shares = map[string]float64{}
			}
			if _, seen := shares[p.Name]; !seen {
				order = append(order, p.Name)
			}
			shares[p.Name] += p.Value.Value
		}
	}
	for _, name := range order {
		add(name, shares[name])
	}
	batch, pst := r.Prepare(points, nil, tags)
	if pst.Duplicates > 0 {
		e.tel.ExporterMlflowDuplicatePoints.Add(ctx, int64(pst.Duplicates))
	}
	if err := e.write(ctx, r, batch); err != nil {
		if errors.Is(err, mlflow.ErrRunGone) {
			e.runs.Forget(r)
		}
		return err
	}
	e.runs.NoteSystemPoint(r, snap.TsMs)
	return nil
}

// gpuTag names the physical GPU behind a run's gpu_<pos>_ keys: tag
// "otelcol.<keys prefix>gpu_<pos>" (e.g. otelcol.system/gpu_0, or
// otelcol.system/node-1/gpu_0 for a multi-node run; a MIG instance seen
// through its parent: otelcol.system/gpu_0_mig_1), value
// "index=<NVML index>,uuid=<hw.id>".
func gpuTag(prefix string, snap *sysmetrics.Snapshot, pos int64, viaParent bool) mlflow.Tag {
	key := strings.TrimSuffix(snap.Rename(snap.GPUPrefix, pos, viaParent), "_")
	v := fmt.Sprintf("index=%d", snap.GPU.Index)
	if snap.GPU.MIG {
		v += fmt.Sprintf(",mig=%d", snap.MIGIndex)
	}
	if snap.GPU.UUID != "" {
		v += ",uuid=" + snap.GPU.UUID
	}
	return mlflow.Tag{Key: translate.SanitizeKey("otelcol." + prefix + key), Value: v}
}
