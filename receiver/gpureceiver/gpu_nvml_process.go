//go:build cgo

// Per-process GPU metrics: device memory and utilisation of every compute
// process, with the process's namespaced pid and container (procns.go).

package gpureceiver

import (
	"math"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver/internal/metadata"
)

func (c *nvmlCollector) scrapeProcesses(d *gpuDevice, rr *metadata.ResourceRecorder, mb *metadata.MetricsBuilder) {
	if !mb.Enabled(metadata.HwGpuProcessMemoryUsage) || !c.want(d, capProcesses) {
		return
	}
	procs, ret := d.h.GetComputeRunningProcesses()
	if !c.ok(d, capProcesses, ret) {
		return
	}
	for _, p := range procs {
		if p.UsedGpuMemory == math.MaxUint64 {
			continue // NVML_VALUE_NOT_AVAILABLE, e.g. without permission on Windows
		}
		rr.RecordInt(metadata.HwGpuProcessMemoryUsage, clampInt64(p.UsedGpuMemory), c.procAttrs(p.Pid)...)
	}
}

// procAttrs are a GPU process's point attributes: its host pid and, when it
// runs in another PID namespace, its pid there and its container, and the
// pod or Slurm job its cgroup names (procns.go).
func (c *nvmlCollector) procAttrs(pid uint32) []metadata.Attribute {
	attrs := make([]metadata.Attribute, 1, 4)
	attrs[0] = metadata.IntAttr(metadata.AttrProcessPID, int64(pid))
	if vpid, cid, ok := c.ns.lookup(pid); ok {
		attrs = append(attrs, metadata.IntAttr(metadata.AttrProcessVPID, vpid))
		if cid != "" {
			attrs = append(attrs, metadata.Str(metadata.AttrContainerID, cid))
		}
	}
	if pod, job := c.ns.placement(pid); pod != "" || job != "" {
		if pod != "" {
			attrs = append(attrs, metadata.Str(metadata.AttrK8sPodUID, pod))
		}
		if job != "" {
			attrs = append(attrs, metadata.Str(metadata.AttrSlurmJobID, job))
		}
	}
	return attrs
}

type procUtil struct {
	n            int
	sm, enc, dec float64
}

func (c *nvmlCollector) scrapeProcessUtilization(d *gpuDevice, rr *metadata.ResourceRecorder, mb *metadata.MetricsBuilder, now time.Time) {
	if !mb.Enabled(metadata.HwGpuProcessUtilization) || !c.want(d, capProcessUtil) {
		return
	}
	since := c.sampleSince(d.lastProcTs, now)
	samples, ret := d.h.GetProcessUtilization(since)
	if ret == nvml.ERROR_NOT_FOUND {
		return // no process ran since the last scrape
	}
	if !c.ok(d, capProcessUtil, ret) {
		return
	}
	per := make(map[uint32]*procUtil, len(samples))
	order := make([]uint32, 0, len(samples))
	newest := since
	for _, s := range samples {
		if s.TimeStamp <= since {
			continue
		}
		u := per[s.Pid]
		if u == nil {
			u = &procUtil{}
			per[s.Pid] = u
			order = append(order, s.Pid)
		}
		u.n++
		u.sm += float64(s.SmUtil)
		u.enc += float64(s.EncUtil)
		u.dec += float64(s.DecUtil)
		newest = max(newest, s.TimeStamp)
	}
	d.lastProcTs = newest
	for _, pid := range order {
		u := per[pid]
		n := float64(u.n) * 100
		p := c.procAttrs(pid)
		k := len(p)
		p = append(p, metadata.AttributeHwGpuTaskGeneral.Attr())
		rr.RecordDouble(metadata.HwGpuProcessUtilization, u.sm/n, p...)
		p[k] = metadata.AttributeHwGpuTaskEncoder.Attr()
		rr.RecordDouble(metadata.HwGpuProcessUtilization, u.enc/n, p...)
		p[k] = metadata.AttributeHwGpuTaskDecoder.Attr()
		rr.RecordDouble(metadata.HwGpuProcessUtilization, u.dec/n, p...)
	}
}
