package mlflowexporter

import (
	"slices"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/runs"
	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/sysmetrics"
	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/translate"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/gpuset"
)

// Where a run's GPU set on a host came from, first match wins
// (docs/mapping.md §9).
const (
	gpusFromPodResources  = "pod_resources"   // the kubelet's allocation to the run's pod (the gpu receiver's GPUPodsAttr)
	gpusFromProcesses     = "processes"       // the GPUs the run's processes are on
	gpusFromVisibleDevice = "visible_devices" // CUDA_VISIBLE_DEVICES / NVIDIA_VISIBLE_DEVICES
	gpusFromHost          = "host"            // nothing narrower is known: every GPU
)

// GPUPodsAttr is the gpu receiver's resource attribute naming the pods
// ("namespace/name") the kubelet allocated a GPU or MIG instance to. It is
// set, possibly empty, on every GPU of a node whose receiver reads the
// kubelet's PodResources API; absent otherwise.
const GPUPodsAttr = "otelcol.gpu.pods"

// NodePodsAttr is the gpu receiver's host resource attribute naming every
// pod ("namespace/name") the node's kubelet runs: a run naming a pod not in
// it is not on this node, and its GPUs are found another way.
const NodePodsAttr = "otelcol.kubelet.pods"

// gpuAttribution holds what deciding GPU sets needs across exports, per
// host: its GPUs (hw.id → NVML index, to number a set the way the run sees
// it), the pods each is allocated to, and what was logged.
type gpuAttribution struct {
	mu        sync.Mutex
	inventory map[string]map[string]int64
	holders   map[string]map[string][]string // host → hw.id → pods
	nodePods  map[string]map[string]bool     // host → pods its kubelet runs
	source    map[string]string              // run id \x00 host → source last logged
	warned    map[string]bool                // run id \x00 reason: logged once
}

// procPoint is one per-process GPU point's process, as the gpu receiver
// describes it: the host pid, the pid in its own namespace, its container
// and pod (from its cgroup).
type procPoint struct {
	pid, vpid int64
	container string
	podUID    string
	slurmJob  string
}

// gpuProcesses lists the processes of a GPU resource's per-process points.
func gpuProcesses(rm pmetric.ResourceMetrics) map[int64]procPoint {
	var out map[int64]procPoint
	for _, sm := range rm.ScopeMetrics().All() {
		for _, m := range sm.Metrics().All() {
			dps, ok := translate.NumberPoints(m)
			if !ok {
				continue
			}
			for _, dp := range dps.All() {
				attrs := dp.Attributes()
				pid, ok := attrs.Get("process.pid")
				if !ok || pid.Type() != pcommon.ValueTypeInt {
					continue
				}
				if _, seen := out[pid.Int()]; seen {
					continue
				}
				p := procPoint{pid: pid.Int()}
				if v, ok := attrs.Get("process.vpid"); ok && v.Type() == pcommon.ValueTypeInt {
					p.vpid = v.Int()
				}
				if v, ok := attrs.Get("container.id"); ok {
					p.container = v.AsString()
				}
				if v, ok := attrs.Get(translate.AttrPodUID); ok {
					p.podUID = v.AsString()
				}
				if v, ok := attrs.Get(translate.AttrSlurmJobID); ok {
					p.slurmJob = v.AsString()
				}
				if out == nil {
					out = map[int64]procPoint{}
				}
				out[p.pid] = p
			}
		}
	}
	return out
}

// ownsProcess says whether p is one of r's processes on host: by host pid,
// by pid in its namespace (with its container), by its pod or Slurm job.
func (e *mlflowExporter) ownsProcess(r *runs.Run, host string, p procPoint) bool {
	return e.runs.HasPID(r, p.pid, p.vpid, p.container) || e.runs.InPod(r, host, p.podUID) || e.runs.InSlurmJob(r, host, p.slurmJob)
}

// ownsContainerProcess says whether p is one of r's processes by what a
// container, pod or Slurm job shows: its pod or job (from its cgroup), or
// its pid inside the run's container. A Slurm job's cgroup holds every
// rank of the job on the node, children included. Only those narrow a run to the GPUs its processes are on: a
// container sees only the GPUs given to it, while a process on the host
// sees them all (and a bare pid may be another namespace's).
func (e *mlflowExporter) ownsContainerProcess(r *runs.Run, host string, p procPoint) bool {
	if e.runs.InPod(r, host, p.podUID) || e.runs.InSlurmJob(r, host, p.slurmJob) {
		return true
	}
	return e.runs.InContainer(r, p.vpid, p.container)
}

// noteGPUs records, before an export's host resources are written, every
// GPU of those resources and which runs have processes on it, so that the
// first GPU written already knows about the processes on the last.
//
// It returns each GPU resource's processes (by index in rms), which the
// export of the resource uses again.
func (e *mlflowExporter) noteGPUs(rms pmetric.ResourceMetricsSlice, system []int) map[int]map[int64]procPoint {
	now := e.now()
	var procsOf map[int]map[int64]procPoint
	// The runs on each host, looked up once per export.
	onHost := map[string][]*runs.Run{}
	targetsOn := func(host string) []*runs.Run {
		t, ok := onHost[host]
		if !ok {
			t, _ = e.runs.RunsOnHost(host, now.Add(-e.attachWindow()))
			onHost[host] = t
		}
		return t
	}
	for _, i := range system {
		attrs := rms.At(i).Resource().Attributes()
		host := ""
		if v, ok := attrs.Get(translate.AttrHostName); ok {
			host = v.AsString()
		}
		if v, ok := attrs.Get(NodePodsAttr); ok && v.Type() == pcommon.ValueTypeSlice {
			pods := make(map[string]bool, v.Slice().Len())
			for _, p := range v.Slice().All() {
				pods[p.AsString()] = true
			}
			e.gpus.noteNodePods(host, pods)
		}
		id, ok := attrs.Get("hw.id")
		if !ok || id.AsString() == "" {
			if sc := scopeOf(attrs); !sc.IsZero() {
				for _, r := range targetsOn(host) {
					if e.inScope(r, host, sc) {
						e.runs.NoteScopedUsage(r, host, now)
					}
				}
			}
			continue
		}
		if idx, ok := attrs.Get("hw.gpu.index"); ok {
			if _, mig := attrs.Get("hw.gpu.mig.index"); !mig {
				e.gpus.note(host, id.AsString(), idx.Int())
			}
		}
		if v, ok := attrs.Get(GPUPodsAttr); ok && v.Type() == pcommon.ValueTypeSlice {
			pods := make([]string, 0, v.Slice().Len())
			for _, p := range v.Slice().All() {
				pods = append(pods, p.AsString())
			}
			e.gpus.noteHolders(host, id.AsString(), pods)
		}
		procs := gpuProcesses(rms.At(i))
		if len(procs) == 0 {
			continue
		}
		if procsOf == nil {
			procsOf = map[int]map[int64]procPoint{}
		}
		procsOf[i] = procs
		for _, r := range targetsOn(host) {
			for _, p := range procs {
				if e.ownsContainerProcess(r, host, p) {
					e.runs.NoteGPUProcess(r, host, id.AsString(), now)
					break
				}
			}
		}
	}
	return procsOf
}

// scopeOf is the pod or Slurm job a resource of the gpu receiver's
// container.* metrics measures; zero for any other resource.
func scopeOf(attrs pcommon.Map) sysmetrics.Scope {
	var sc sysmetrics.Scope
	if v, ok := attrs.Get(translate.AttrPodUID); ok {
		sc.PodUID = v.AsString()
	}
	if v, ok := attrs.Get(translate.AttrSlurmJobID); ok {
		sc.SlurmJob = v.AsString()
	}
	return sc
}

// inScope says whether run r is in the pod or Slurm job sc, by what its
// resources said on host.
func (e *mlflowExporter) inScope(r *runs.Run, host string, sc sysmetrics.Scope) bool {
	return e.runs.InPod(r, host, sc.PodUID) || e.runs.InSlurmJob(r, host, sc.SlurmJob)
}

func (a *gpuAttribution) noteHolders(host, id string, pods []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.holders == nil {
		a.holders = map[string]map[string][]string{}
	}
	if a.holders[host] == nil {
		a.holders[host] = map[string][]string{}
	}
	a.holders[host][id] = pods
}

func (a *gpuAttribution) noteNodePods(host string, pods map[string]bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.nodePods == nil {
		a.nodePods = map[string]map[string]bool{}
	}
	a.nodePods[host] = pods
}

// podGPUs lists the GPUs of host allocated to pod. known is false when the
// kubelet's word is not there: the host's receiver does not read the
// kubelet, or the pod is not among the node's pods (then why is logged
// once per run).
func (a *gpuAttribution) podGPUs(logger *zap.Logger, runID, host string, pod translate.PodRef) (ids []string, known bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	h, read := a.holders[host]
	if !read {
		return nil, false
	}
	name := pod.Namespace + "/" + pod.Name
	if nodePods, ok := a.nodePods[host]; ok && !nodePods[name] {
		if a.warned == nil {
			a.warned = map[string]bool{}
		}
		if k := runID + "\x00pod"; !a.warned[k] {
			a.warned[k] = true
			logger.Warn("The run's pod is not among the pods of its node's kubelet; finding the run's GPUs another way",
				zap.String("run_id", runID), zap.String("host", host), zap.String("pod", name))
		}
		return nil, false
	}
	for id, pods := range h {
		if slices.Contains(pods, name) {
			ids = append(ids, id)
		}
	}
	return ids, true
}

func (a *gpuAttribution) note(host, id string, index int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inventory == nil {
		a.inventory = map[string]map[string]int64{}
	}
	if a.inventory[host] == nil {
		a.inventory[host] = map[string]int64{}
	}
	a.inventory[host][id] = index
}

// ordered is a set of the given GPUs (hw.id) in the order a process that
// sees only them numbers them: by NVML index, which is PCI bus order, as
// CUDA and NVML inside a container order them. GPUs not in the inventory
// yet go last, by id.
func (a *gpuAttribution) ordered(host string, ids []string) gpuset.Set {
	a.mu.Lock()
	inv := a.inventory[host]
	index := func(id string) (int64, bool) {
		i, ok := inv[id]
		return i, ok
	}
	slices.SortFunc(ids, func(x, y string) int {
		ix, okx := index(x)
		iy, oky := index(y)
		switch {
		case okx && oky && ix != iy:
			return int(ix - iy)
		case okx != oky:
			if okx {
				return -1
			}
			return 1
		}
		return strings.Compare(x, y)
	})
	a.mu.Unlock()
	s := gpuset.Set{Devices: make([]gpuset.Entry, len(ids))}
	for i, id := range ids {
		s.Devices[i] = gpuset.Entry{Index: -1, UUID: strings.ToLower(id)}
	}
	return s
}

// gpuSetFor decides which of host's GPUs run r sees, and says where that
// came from: the kubelet's allocation to the run's pod (k8s.namespace.name
// and k8s.pod.name on its resource, GPUPodsAttr on the GPUs), the GPUs its
// containers' processes are on, the visible devices it reported, else the
// whole host.
func (e *mlflowExporter) gpuSetFor(r *runs.Run, host string) (gpuset.Set, string) {
	if pod := e.runs.Pod(r, host); pod.Name != "" && pod.Namespace != "" {
		if ids, known := e.gpus.podGPUs(e.logger, r.ID, host, pod); known {
			// A pod the kubelet gave no GPU sees none.
			return e.gpus.ordered(host, ids), gpusFromPodResources
		}
	}
	if ids := e.runs.GPUsWithProcesses(r, host, e.now().Add(-e.attachWindow())); len(ids) > 0 {
		return e.gpus.ordered(host, ids), gpusFromProcesses
	}
	if set, ok := e.runs.Devices(r, host); ok {
		return set, gpusFromVisibleDevice
	}
	return gpuset.Set{All: true}, gpusFromHost
}

// logSource logs a run's GPU set when where it comes from changes.
func (a *gpuAttribution) logSource(logger *zap.Logger, runID, host, source string, set gpuset.Set) {
	a.mu.Lock()
	if a.source == nil {
		a.source = map[string]string{}
	}
	k := runID + "\x00" + host
	changed := a.source[k] != source
	a.source[k] = source
	a.mu.Unlock()
	if !changed {
		return
	}
	gpus := make([]string, len(set.Devices))
	for i, d := range set.Devices {
		gpus[i] = d.String()
		// Sets hold UUIDs lower-cased for matching; NVML spells the prefix
		// upper-case, as hw.id and the otelcol.system tags do.
		for _, pre := range []string{"gpu-", "mig-"} {
			if strings.HasPrefix(gpus[i], pre) {
				gpus[i] = strings.ToUpper(pre) + gpus[i][len(pre):]
			}
		}
	}
	logger.Info("GPUs attributed to run", zap.String("run_id", runID), zap.String("host", host),
		zap.String("source", source), zap.Strings("gpus", gpus))
}
