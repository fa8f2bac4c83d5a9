package gpureceiver

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/cgroups"
	"github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver/internal/metadata"
)

// cgroupMetrics are the metrics read from the pods' and Slurm jobs'
// cgroups; with none of them enabled cgroup_root is not read.
var cgroupMetrics = [...]metadata.MetricID{
	metadata.ContainerCPUUtilization,
	metadata.ContainerMemoryUsage,
	metadata.ContainerMemoryUtilization,
	metadata.ContainerDiskIo,
}

// cgroupScraper reports every Kubernetes pod and Slurm job under
// cgroup_root as a resource of its own (host.name and k8s.pod.uid or
// slurm.job.id) with its cgroup's CPU, memory and disk I/O. Nothing it
// meets is a scrape error: a cgroup that goes away between the listing and
// the read is skipped, a file that cannot be read is logged (rate-limited)
// and costs that cgroup's figures only, and a root without cgroup v2 is
// logged once and reports nothing.
type cgroupScraper struct {
	root   string
	logger *zap.Logger
	warn   *warnLimiter

	// scopes is cgroups.Scopes; tests wrap it.
	scopes func(root string) ([]cgroups.Scope, error)
	// usage holds the listed cgroups' files open from one scrape to the
	// next. It is made by the first scrape, which knows the enabled
	// metrics and so the files worth reading.
	usage *cgroups.UsageReader
	// numCPU is the node's number of logical CPUs; memTotal its physical
	// memory, 0 when unknown.
	numCPU   func() int
	memTotal func(ctx context.Context) uint64

	// prev is each cgroup's last cpu.stat reading, by path; an entry not
	// seen by the latest scrape (gen) is the cgroup of a pod or job that
	// ended, and is forgotten.
	prev      map[string]cgroupCPUSample
	gen       uint64
	notV2Said bool
}

type cgroupCPUSample struct {
	usageUsec uint64
	at        time.Time
	gen       uint64
}

func newCgroupScraper(root string, logger *zap.Logger, warn *warnLimiter, host *hostScraper) *cgroupScraper {
	return &cgroupScraper{
		root:     root,
		logger:   logger,
		warn:     warn,
		scopes:   cgroups.Scopes,
		numCPU:   func() int { return host.numCPU },
		memTotal: host.totalMemory,
		prev:     make(map[string]cgroupCPUSample),
	}
}

// anyCgroupMetric reports whether one of the cgroup metrics is enabled.
func anyCgroupMetric(mb *metadata.MetricsBuilder) bool {
	for _, id := range cgroupMetrics {
		if mb.Enabled(id) {
			return true
		}
	}
	return false
}

// usageFiles is what the enabled metrics need read besides cpu.stat.
func usageFiles(mb *metadata.MetricsBuilder) cgroups.UsageFiles {
	var f cgroups.UsageFiles
	if mb.Enabled(metadata.ContainerMemoryUsage) || mb.Enabled(metadata.ContainerMemoryUtilization) {
		f |= cgroups.MemoryCurrentFile
	}
	if mb.Enabled(metadata.ContainerMemoryUtilization) {
		f |= cgroups.MemoryMaxFile
	}
	if mb.Enabled(metadata.ContainerDiskIo) {
		f |= cgroups.IOStatFile
	}
	return f
}

func (c *cgroupScraper) scrape(ctx context.Context, mb *metadata.MetricsBuilder, hostName string, ts pcommon.Timestamp, now time.Time) {
	if !anyCgroupMetric(mb) {
		return
	}
	c.gen++
	if c.usage == nil {
		c.usage = cgroups.NewUsageReader(c.root, usageFiles(mb))
	}
	scopes, err := c.scopes(c.root)
	switch {
	case errors.Is(err, cgroups.ErrNotV2):
		if !c.notV2Said {
			c.notV2Said = true
			c.logger.Info("No cgroup v2 hierarchy at cgroup_root: no per-pod or per-job metrics (container.*); host metrics continue",
				zap.String("cgroup_root", c.root), zap.Error(err))
		}
	case err != nil:
		c.warn.Warn("cgroup/list", "Cannot list some pods' or Slurm jobs' cgroups under cgroup_root; they are left out",
			zap.String("cgroup_root", c.root), zap.Error(err))
	}
	rb := metadata.NewResourceBuilder() // each Emit starts it over
	for _, sc := range scopes {
		u, err := c.usage.Read(sc.Path)
		if err != nil {
			if errors.Is(err, cgroups.ErrNotFound) || errors.Is(err, cgroups.ErrNotV2) {
				continue // the pod or job ended since the listing
			}
			c.warn.Warn("cgroup/read/"+errorKind(err), "Cannot read a pod's or Slurm job's cgroup: its container.* metrics are partial",
				zap.String("cgroup", sc.Path), zap.Error(err))
		}
		rb.SetHostName(hostName)
		rb.SetK8sPodUID(sc.PodUID)
		rb.SetSlurmJobID(sc.SlurmJobID)
		c.record(ctx, mb.NewResource(rb.Emit(), ts), mb, sc.Path, u, now)
	}
	c.usage.Sweep()
	for path, p := range c.prev {
		if p.gen != c.gen {
			delete(c.prev, path)
		}
	}
}

// shutdown closes the cgroup files held between scrapes.
func (c *cgroupScraper) shutdown() {
	if c.usage != nil {
		c.usage.Close()
		c.usage = nil
	}
}

// errorKind names the sentinel an error of package cgroups wraps, so that
// one warning covers every cgroup failing the same way.
func errorKind(err error) string {
	for _, k := range []struct {
		err  error
		kind string
	}{
		{cgroups.ErrPermission, "permission"},
		{cgroups.ErrMalformed, "malformed"},
		{cgroups.ErrOutsideNamespace, "outside"},
	} {
		if errors.Is(err, k.err) {
			return k.kind
		}
	}
	return "unreadable"
}

// record writes what was read of one cgroup (each group of Usage only when
// its Has flag says it was).
func (c *cgroupScraper) record(ctx context.Context, rr *metadata.ResourceRecorder, mb *metadata.MetricsBuilder, path string, u cgroups.Usage, now time.Time) {
	if u.HasCPU {
		c.recordCPU(rr, path, u.CPUUsageUsec, now)
	} else if p, ok := c.prev[path]; ok {
		p.gen = c.gen // unread this time: keep the baseline
		c.prev[path] = p
	}
	if u.HasMemory {
		rr.RecordInt(metadata.ContainerMemoryUsage, clampInt64(u.MemoryCurrent))
		if mb.Enabled(metadata.ContainerMemoryUtilization) {
			limit := u.MemoryMax
			if !u.HasMemoryMax || limit == cgroups.Unlimited {
				limit = c.memTotal(ctx)
			}
			if limit > 0 {
				rr.RecordDouble(metadata.ContainerMemoryUtilization, float64(u.MemoryCurrent)/float64(limit))
			}
		}
	}
	if u.HasIO {
		rr.RecordInt(metadata.ContainerDiskIo, clampInt64(u.IO.ReadBytes), metadata.AttributeDiskIoDirectionRead.Attr())
		rr.RecordInt(metadata.ContainerDiskIo, clampInt64(u.IO.WriteBytes), metadata.AttributeDiskIoDirectionWrite.Attr())
	}
}

// recordCPU reports the cgroup's CPU time since its previous reading over
// the wall time between them and the node's logical CPUs: the share of the
// node the pod or job kept busy, as system.cpu.utilization's busy modes for
// the whole host. The first reading of a cgroup is its baseline only; a
// counter that went back (a new cgroup of the same path) starts a new one.
func (c *cgroupScraper) recordCPU(rr *metadata.ResourceRecorder, path string, usageUsec uint64, now time.Time) {
	cur := cgroupCPUSample{usageUsec: usageUsec, at: now, gen: c.gen}
	if prev, ok := c.prev[path]; ok {
		wall := now.Sub(prev.at).Seconds()
		if wall <= 0 {
			prev.gen = c.gen
			c.prev[path] = prev
			return
		}
		if n := c.numCPU(); usageUsec >= prev.usageUsec && n > 0 {
			rr.RecordDouble(metadata.ContainerCPUUtilization, float64(usageUsec-prev.usageUsec)/1e6/wall/float64(n))
		}
	}
	c.prev[path] = cur
}
