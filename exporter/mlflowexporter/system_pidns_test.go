package mlflowexporter

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/gpuset"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

const (
	containerX = "3f1c2b9e8d7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6"
	containerY = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29180f7e6d5c4b3a2918f7e6d5c4b3"
)

// gpuProc is a process on a GPU as the gpu receiver reports it: its host
// pid and, when it runs in another PID namespace, its pid there and its
// container.
type gpuProc struct {
	pid, vpid int64
	container string
	// podUID and slurmJob: what the process's cgroup names.
	podUID, slurmJob string
}

// nsGPUNode is hostMetrics with n GPUs (UUID GPU-uuid-<i>); each process
// on GPU i reports memory pid*1e6 bytes and utilisation (general) pid/1e6.
func nsGPUNode(host string, at time.Duration, n int, procs map[int][]gpuProc) pmetric.Metrics {
	md := hostMetrics(host, at, 1)
	md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		_, ok := rm.Resource().Attributes().Get("hw.gpu.index")
		return ok
	})
	ts := pcommon.NewTimestampFromTime(t0.Add(at))
	for i := range n {
		gr := md.ResourceMetrics().AppendEmpty()
		_ = gr.Resource().Attributes().FromRaw(map[string]any{"host.name": host, "hw.gpu.index": int64(i), "hw.id": fmt.Sprintf("GPU-uuid-%d", i)})
		gms := gr.ScopeMetrics().AppendEmpty().Metrics()
		mem := gms.AppendEmpty()
		mem.SetName("hw.gpu.process.memory.usage")
		mps := mem.SetEmptySum().DataPoints()
		util := gms.AppendEmpty()
		util.SetName("hw.gpu.process.utilization")
		ups := util.SetEmptyGauge().DataPoints()
		for _, p := range procs[i] {
			attrs := func(a pcommon.Map) {
				a.PutInt("process.pid", p.pid)
				if p.vpid != 0 {
					a.PutInt("process.vpid", p.vpid)
				}
				if p.container != "" {
					a.PutStr("container.id", p.container)
				}
			}
			dp := mps.AppendEmpty()
			dp.SetIntValue(p.pid * 1_000_000)
			dp.SetTimestamp(ts)
			attrs(dp.Attributes())
			up := ups.AppendEmpty()
			up.SetDoubleValue(float64(p.pid) / 1e6)
			up.SetTimestamp(ts)
			attrs(up.Attributes())
			up.Attributes().PutStr("hw.gpu.task", "general")
		}
	}
	return md
}

func inContainer(r res, container string) res {
	r.attrs["container.id"] = container
	return r
}

func processMemory(t *testing.T, srv *mlflowtest.Server, run string, gpu int) []float64 {
	t.Helper()
	var out []float64
	for _, m := range srv.MetricHistory(oneRun(t, srv, run).Info.RunID, fmt.Sprintf("system/gpu_%d_process_memory_usage_megabytes", gpu)) {
		out = append(out, m.Value)
	}
	return out
}

// A pod's SDK reports the pid it has in its own PID namespace; NVML the host
// pid. The receiver's process.vpid and container.id join the two.
func TestSystemMetricsPerProcessAcrossPIDNamespaces(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	pt0 := pt{name: "loss", value: 1, step: 0}
	require.NoError(t, h.push(metrics(
		inContainer(trainerOn("pod-x", "node-1", 42, pt0), containerX),
		inContainer(trainerOn("pod-y", "node-1", 42, pt0), containerY),
		inContainer(trainerOn("pod-z", "node-1", 7, pt0), containerX), // pid 7 is on no GPU
		trainerOn("host-pid", "node-1", 555, pt0),                     // a process in the host's namespace
	)))
	procs := map[int][]gpuProc{
		0: {{pid: 12345, vpid: 42, container: containerX}, {pid: 777, vpid: 42, container: containerY}},
		1: {{pid: 555}, {pid: 12345, vpid: 42, container: containerX}},
	}
	require.NoError(t, h.push(nsGPUNode("node-1", time.Second, 2, procs)))
	require.NoError(t, h.push(nsGPUNode("node-1", 2*time.Second, 2, procs)))

	assert.Equal(t, []float64{12345, 12345}, processMemory(t, srv, "pod-x", 0),
		"host pid 12345 (NSpid 12345 42, container X) is pod-x's; host pid 777 (NSpid 777 42, container Y) is not")
	assert.Equal(t, []float64{12345, 12345}, processMemory(t, srv, "pod-x", 1))
	x := oneRun(t, srv, "pod-x").Info.RunID
	u := srv.MetricHistory(x, "system/gpu_0_process_utilization_percentage")
	require.Len(t, u, 2)
	assert.InDelta(t, 1.2345, u[0].Value, 1e-9, "utilisation follows the same rule")

	assert.Equal(t, []float64{777, 777}, processMemory(t, srv, "pod-y", 0), "pod-y's pid 42 is host pid 777")
	assert.Empty(t, processMemory(t, srv, "pod-y", 1))

	assert.Empty(t, processMemory(t, srv, "pod-z", 0))
	assert.Empty(t, processMemory(t, srv, "pod-z", 1))
	assert.Len(t, srv.MetricHistory(oneRun(t, srv, "pod-z").Info.RunID, "system/gpu_0_utilization_percentage"), 0,
		"(no device utilisation in this node; host metrics still come)")
	assert.Len(t, srv.MetricHistory(oneRun(t, srv, "pod-z").Info.RunID, "system/cpu_utilization_percentage"), 2)

	assert.Empty(t, processMemory(t, srv, "host-pid", 0))
	assert.Equal(t, []float64{555, 555}, processMemory(t, srv, "host-pid", 1), "host pids match as before")
}

// Without a container.id on the run's resource the namespaced pid alone
// decides; a run reporting the host pid (hostPID, or the collector in the
// same namespace) still matches by it.
func TestSystemMetricsPerProcessNamespacedPIDWithoutContainerID(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	pt0 := pt{name: "loss", value: 1, step: 0}
	require.NoError(t, h.push(metrics(
		trainerOn("no-container", "node-1", 42, pt0),
		trainerOn("by-host-pid", "node-1", 12345, pt0),
		inContainer(trainerOn("other-container", "node-1", 42, pt0), containerY),
	)))
	procs := map[int][]gpuProc{0: {{pid: 12345, vpid: 42, container: containerX}}}
	require.NoError(t, h.push(nsGPUNode("node-1", time.Second, 1, procs)))
	assert.Equal(t, []float64{12345}, processMemory(t, srv, "no-container", 0))
	assert.Equal(t, []float64{12345}, processMemory(t, srv, "by-host-pid", 0))
	assert.Empty(t, processMemory(t, srv, "other-container", 0))

	// A point without a container.id (cgroup path not understood) is
	// matched by a run whose resource names no container only.
	require.NoError(t, h.push(nsGPUNode("node-1", 2*time.Second, 1, map[int][]gpuProc{0: {{pid: 12345, vpid: 42}}})))
	assert.Equal(t, []float64{12345, 12345}, processMemory(t, srv, "no-container", 0))
	assert.Empty(t, processMemory(t, srv, "other-container", 0))
}

// The per-run GPU set still renumbers: a pod seeing only GPU 2 gets its
// process's memory there as gpu_0.
func TestSystemMetricsPerProcessNamespacedWithGPUSet(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	r := inContainer(trainerOn("pod-x", "node-1", 1, pt{name: "loss", value: 1, step: 0}), containerX)
	r.attrs[gpuset.Attr] = "GPU-uuid-2"
	require.NoError(t, h.push(metrics(r)))
	procs := map[int][]gpuProc{
		1: {{pid: 900, vpid: 1, container: containerY}},
		2: {{pid: 901, vpid: 1, container: containerX}},
	}
	require.NoError(t, h.push(nsGPUNode("node-1", time.Second, 3, procs)))
	keys, tags := gpuKeys(srv, oneRun(t, srv, "pod-x"))
	assert.ElementsMatch(t, []string{"system/gpu_0_process_memory_usage_megabytes"}, keys)
	assert.Equal(t, map[string]string{"otelcol.system/gpu_0": "index=2,uuid=GPU-uuid-2"}, tags)
	assert.Equal(t, []float64{901}, processMemory(t, srv, "pod-x", 0))
	assert.Contains(t, oneRun(t, srv, "pod-x").Data.Tags, mlflow.Tag{Key: "otelcol.system/gpu_0", Value: "index=2,uuid=GPU-uuid-2"})
}
