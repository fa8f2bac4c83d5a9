package mlflowexporter

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap/zapcore"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/gpuset"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// attrNode is gpuNode (device utilisation i/10 for GPU i) with namespaced
// processes on chosen GPUs, as the gpu receiver reports them in a container
// node: host pid, pid in the container's namespace, container id.
// kubelet, when not nil, is what a receiver reading the node's kubelet adds:
// the pods of each GPU (GPUPodsAttr) and every pod of the node (NodePodsAttr).
func attrNode(host string, at time.Duration, n int, procs map[int][]gpuProc, kubelet *nodePods) pmetric.Metrics {
	md := gpuNode(host, at, n, nil)
	ts := pcommon.NewTimestampFromTime(t0.Add(at))
	for _, rm := range md.ResourceMetrics().All() {
		idx, ok := rm.Resource().Attributes().Get("hw.gpu.index")
		if !ok {
			if kubelet != nil {
				_ = rm.Resource().Attributes().PutEmptySlice(NodePodsAttr).FromRaw(kubelet.all)
			}
			continue
		}
		if kubelet != nil {
			_ = rm.Resource().Attributes().PutEmptySlice(GPUPodsAttr).FromRaw(kubelet.gpus[int(idx.Int())])
		}
		for _, m := range rm.ScopeMetrics().At(0).Metrics().All() {
			if m.Name() != "hw.gpu.process.memory.usage" {
				continue
			}
			for _, p := range procs[int(idx.Int())] {
				dp := m.Sum().DataPoints().AppendEmpty()
				dp.SetIntValue(p.pid * 1_000_000)
				dp.SetTimestamp(ts)
				dp.Attributes().PutInt("process.pid", p.pid)
				if p.vpid != 0 {
					dp.Attributes().PutInt("process.vpid", p.vpid)
				}
				if p.container != "" {
					dp.Attributes().PutStr("container.id", p.container)
				}
				if p.podUID != "" {
					dp.Attributes().PutStr("k8s.pod.uid", p.podUID)
				}
				if p.slurmJob != "" {
					dp.Attributes().PutStr("slurm.job.id", p.slurmJob)
				}
			}
		}
	}
	return md
}

const podUID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

func withAttr(r res, k, v string) res {
	r.attrs[k] = v
	return r
}

type nodePods struct {
	all  []any
	gpus map[int][]any
}

func inPod(r res, namespace, name string) res {
	r.attrs["k8s.namespace.name"] = namespace
	r.attrs["k8s.pod.name"] = name
	return r
}

// Runs on one 8-GPU Kubernetes node, each found its GPUs a different way,
// first match wins: the kubelet's allocation to its pod, the GPUs its
// container's processes are on, the visible devices it reported, the whole
// host. Each run gets its own GPUs' metrics under the index it sees them by,
// and nothing of the others'.
func TestGPUAttributionOrder(t *testing.T) {
	kubelet := &nodePods{
		all:  []any{"ml/trainer-a", "ml/trainer-b", "ml/cpu-only", "kube-system/dns"},
		gpus: map[int][]any{2: {"ml/trainer-a"}, 3: {"ml/trainer-a"}, 0: {"ml/trainer-b"}, 1: {"ml/trainer-b"}, 4: {"ml/trainer-b"}, 5: {"ml/trainer-b"}},
	}
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	pt0 := pt{name: "loss", value: 1, step: 0}
	require.NoError(t, h.push(metrics(
		inPod(trainerOn("pod-a", "node-1", 1, pt0), "ml", "trainer-a"),
		inPod(trainerSees("pod-b", "node-1", 1, "0"), "ml", "trainer-b"),        // the pod's allocation beats its own list
		inPod(trainerOn("cpu-pod", "node-1", 1, pt0), "ml", "cpu-only"),         // a pod without GPUs sees none
		inPod(trainerSees("gone", "node-1", 11, "GPU-uuid-7"), "ml", "gone"),    // not on this node: its list
		inContainer(trainerOn("container", "node-1", 42, pt0), containerX),      // no pod: its processes
		trainerOn("bare", "node-1", 99, pt0),                                    // nothing narrower: the host
		withAttr(trainerOn("by-uid", "node-1", 12, pt0), "k8s.pod.uid", podUID), // uid only: its pod's processes
		withAttr(trainerOn("slurm", "node-1", 13, pt0), "slurm.job.id", "4242"), // its job's processes
	)))
	// GPU 6 runs the container's pid 42 (host pid 4242); GPU 7 a process of
	// pod podUID; GPUs 1 and 0 two ranks of Slurm job 4242 (host namespace).
	procs := map[int][]gpuProc{
		6: {{pid: 4242, vpid: 42, container: containerX}},
		7: {{pid: 5000, vpid: 1, container: containerY, podUID: podUID}},
		1: {{pid: 9001, slurmJob: "4242"}, {pid: 9003, slurmJob: "4242"}, {pid: 9100, slurmJob: "777"}},
		0: {{pid: 9002, slurmJob: "4242"}},
	}
	require.NoError(t, h.push(attrNode("node-1", time.Second, 8, procs, kubelet)))
	require.NoError(t, h.push(attrNode("node-1", 2*time.Second, 8, procs, kubelet)))

	for _, tc := range []struct {
		run  string
		gpus []int // physical GPU seen as gpu_0, gpu_1, ...
	}{
		{"pod-a", []int{2, 3}}, // by NVML index, as the container numbers them
		{"pod-b", []int{0, 1, 4, 5}},
		{"cpu-pod", nil},
		{"gone", []int{7}},
		{"container", []int{6}},
		{"by-uid", []int{7}},
		{"slurm", []int{0, 1}},
		{"bare", []int{0, 1, 2, 3, 4, 5, 6, 7}},
	} {
		t.Run(tc.run, func(t *testing.T) {
			r := oneRun(t, srv, tc.run)
			keys, tags := gpuKeys(srv, r)
			var want []string
			for pos, phys := range tc.gpus {
				want = append(want, fmt.Sprintf("system/gpu_%d_utilization_percentage", pos))
				u := srv.MetricHistory(r.Info.RunID, fmt.Sprintf("system/gpu_%d_utilization_percentage", pos))
				require.Len(t, u, 2, "gpu_%d: one point per scrape, nothing of another GPU mixed in", pos)
				assert.InDelta(t, float64(phys)*10, u[0].Value, 1e-9, "gpu_%d is physical GPU %d", pos, phys)
				if tc.run != "bare" {
					assert.Equal(t, fmt.Sprintf("index=%d,uuid=GPU-uuid-%d", phys, phys), tags[fmt.Sprintf("otelcol.system/gpu_%d", pos)])
				}
			}
			switch tc.run {
			case "container", "by-uid":
				want = append(want, "system/gpu_0_process_memory_usage_megabytes")
			case "slurm":
				want = append(want, "system/gpu_0_process_memory_usage_megabytes", "system/gpu_1_process_memory_usage_megabytes")
			}
			assert.ElementsMatch(t, want, keys)
			assert.Len(t, srv.MetricHistory(r.Info.RunID, "system/cpu_utilization_percentage"), 2, "host metrics as before")
		})
	}

	// Two ranks of the job on GPU 1: the run's share is their sum, one point
	// per scrape.
	mem := srv.MetricHistory(oneRun(t, srv, "slurm").Info.RunID, "system/gpu_1_process_memory_usage_megabytes")
	require.Len(t, mem, 2)
	assert.Equal(t, float64(9001+9003), mem[0].Value)

	sources := map[string]string{}
	for _, l := range h.logs.FilterMessage("GPUs attributed to run").All() {
		m := l.ContextMap()
		for _, r := range srv.Runs() {
			if r.Info.RunID == m["run_id"] {
				sources[r.Info.RunName] = m["source"].(string)
			}
		}
	}
	assert.Equal(t, map[string]string{
		"pod-a": gpusFromPodResources, "pod-b": gpusFromPodResources, "cpu-pod": gpusFromPodResources,
		"gone": gpusFromVisibleDevice, "container": gpusFromProcesses, "bare": gpusFromHost,
		"by-uid": gpusFromProcesses, "slurm": gpusFromProcesses,
	}, sources, "one line per run: where its GPUs came from")
	warns := h.logs.FilterMessageSnippet("not among the pods of its node's kubelet").All()
	require.Len(t, warns, 1, "the fallback is logged once, though two scrapes met it")
	assert.Equal(t, zapcore.WarnLevel, warns[0].Level)
}

// A node whose receiver does not read the kubelet: a run naming its pod gets
// its GPUs the next way (here its visible devices).
func TestGPUAttributionWithoutKubelet(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	require.NoError(t, h.push(metrics(inPod(trainerSees("pod-a", "node-1", 1, "1"), "ml", "trainer-a"))))
	for i := range 2 {
		require.NoError(t, h.push(attrNode("node-1", time.Duration(i+1)*time.Second, 2, nil, nil)))
	}
	r := oneRun(t, srv, "pod-a")
	u := srv.MetricHistory(r.Info.RunID, "system/gpu_0_utilization_percentage")
	require.Len(t, u, 2)
	assert.InDelta(t, 10.0, u[0].Value, 1e-9, "its visible devices: physical GPU 1 as gpu_0")
	assert.Empty(t, srv.MetricHistory(r.Info.RunID, "system/gpu_1_utilization_percentage"))
}

// BenchmarkGPUAttribution is the attribution work of one scrape of an
// 8-GPU node with 50 pods, each a run with a process on one GPU: recording
// which runs are on which GPU, then deciding each run's set for each GPU
// (pods from the receiver's kubelet attributes). MLflow writes are not part
// of it.
func BenchmarkGPUAttribution(b *testing.B) {
	kubelet := &nodePods{gpus: map[int][]any{}}
	for i := range 50 {
		pod := fmt.Sprintf("ml/pod-%d", i)
		kubelet.all = append(kubelet.all, pod)
		kubelet.gpus[i%8] = append(kubelet.gpus[i%8], pod)
	}
	srv := mlflowtest.Start(b)
	h := newHarness(b, srv)
	var rs []res
	procs := map[int][]gpuProc{}
	for i := range 50 {
		rs = append(rs, inPod(inContainer(trainerOn(fmt.Sprintf("run-%d", i), "node-1", 1, pt{name: "loss", value: 1, step: 0}), containerX), "ml", fmt.Sprintf("pod-%d", i)))
		procs[i%8] = append(procs[i%8], gpuProc{pid: int64(1000 + i), vpid: 1, container: containerX})
	}
	require.NoError(b, h.push(metrics(rs...)))
	md := attrNode("node-1", time.Second, 8, procs, kubelet)
	rms := md.ResourceMetrics()
	var system []int
	for i := range rms.Len() {
		system = append(system, i)
	}
	e := h.exp
	targets, _ := e.runs.RunsOnHost("node-1", time.Time{})
	require.Len(b, targets, 50)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		e.noteGPUs(rms, system)
		for _, i := range system {
			attrs := rms.At(i).Resource().Attributes()
			id, ok := attrs.Get("hw.id")
			if !ok {
				continue
			}
			idx, _ := attrs.Get("hw.gpu.index")
			g := gpuset.GPU{Index: idx.Int(), UUID: id.Str()}
			for _, r := range targets {
				set, _ := e.gpuSetFor(r, "node-1")
				set.Position(g)
			}
		}
	}
}

// scopeResource appends what the gpu receiver reports for one pod's or
// Slurm job's cgroup (cgroup_root): its CPU share of the node, memory and
// disk bytes so far.
func scopeResource(md pmetric.Metrics, host string, at time.Duration, attr, id string, cpu, memBytes, memShare float64, readBytes int64) {
	ts := pcommon.NewTimestampFromTime(t0.Add(at))
	rm := md.ResourceMetrics().AppendEmpty()
	_ = rm.Resource().Attributes().FromRaw(map[string]any{"host.name": host, attr: id})
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	gauge := func(name string, v float64) {
		m := ms.AppendEmpty()
		m.SetName(name)
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetDoubleValue(v)
		dp.SetTimestamp(ts)
	}
	gauge("container.cpu.utilization", cpu)
	gauge("container.memory.utilization", memShare)
	mem := ms.AppendEmpty()
	mem.SetName("container.memory.usage")
	mdp := mem.SetEmptySum().DataPoints().AppendEmpty()
	mdp.SetIntValue(int64(memBytes))
	mdp.SetTimestamp(ts)
	io := ms.AppendEmpty()
	io.SetName("container.disk.io")
	s := io.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for dir, v := range map[string]int64{"read": readBytes, "write": 0} {
		dp := s.DataPoints().AppendEmpty()
		dp.SetIntValue(v)
		dp.SetTimestamp(ts)
		dp.Attributes().PutStr("disk.io.direction", dir)
	}
}

// A run in a pod or Slurm job that reports its own cgroup's use gets that
// CPU, memory and disk I/O in place of the host's, and nothing of another
// pod's; network stays the host's; a run without one gets the host's.
func TestContainerUsageReplacesTheHosts(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	pt0 := pt{name: "loss", value: 1, step: 0}
	require.NoError(t, h.push(metrics(
		withAttr(inPod(trainerOn("pod-a", "node-1", 1, pt0), "ml", "a"), "k8s.pod.uid", "uid-a"),
		withAttr(inPod(trainerOn("pod-b", "node-1", 1, pt0), "ml", "b"), "k8s.pod.uid", "uid-b"),
		withAttr(trainerOn("slurm", "node-1", 7, pt0), "slurm.job.id", "4242"),
		trainerOn("bare", "node-1", 99, pt0),
	)))
	for i, at := range []time.Duration{time.Second, 2 * time.Second} {
		md := hostMetrics("node-1", at, int64(i+1)*10_000_000) // host CPU 60% busy
		scopeResource(md, "node-1", at, "k8s.pod.uid", "uid-a", 0.05, 2e9, 0.25, int64(i+1)*1_000_000)
		scopeResource(md, "node-1", at, "k8s.pod.uid", "uid-b", 0.20, 8e9, 0.50, 0)
		scopeResource(md, "node-1", at, "slurm.job.id", "4242", 0.10, 1e9, 0.01, 0)
		scopeResource(md, "node-1", at, "k8s.pod.uid", "uid-gone", 0.99, 1e9, 0.99, 0) // a pod without a run here
		require.NoError(t, h.push(md))
	}
	values := func(run, key string) []float64 {
		var out []float64
		for _, m := range srv.MetricHistory(oneRun(t, srv, run).Info.RunID, key) {
			out = append(out, m.Value)
		}
		return out
	}
	for _, tc := range []struct {
		run              string
		cpu, mem, memPct float64
		read             []float64
	}{
		{"pod-a", 5, 2000, 25, []float64{0, 1}},
		{"pod-b", 20, 8000, 50, []float64{0, 0}},
		{"slurm", 10, 1000, 1, []float64{0, 0}},
	} {
		t.Run(tc.run, func(t *testing.T) {
			assert.InDeltaSlice(t, []float64{tc.cpu, tc.cpu}, values(tc.run, "system/cpu_utilization_percentage"), 1e-9, "its own CPU share, not the host's 60%")
			assert.Equal(t, []float64{tc.mem, tc.mem}, values(tc.run, "system/system_memory_usage_megabytes"))
			assert.InDeltaSlice(t, []float64{tc.memPct, tc.memPct}, values(tc.run, "system/system_memory_usage_percentage"), 1e-9)
			assert.Equal(t, tc.read, values(tc.run, "system/disk_read_megabytes"), "since the run first saw its cgroup")
			assert.Equal(t, []float64{0, 10}, values(tc.run, "system/network_receive_megabytes"), "network stays the host's")
		})
	}
	assert.InDeltaSlice(t, []float64{60, 60}, values("bare", "system/cpu_utilization_percentage"), 1e-9, "no cgroup of its own: the host's")

	// The pod's cgroup is gone (its resource no longer comes): after
	// scopedUsageWindow the run gets the host's values again, not a gap.
	h.exp.now = func() time.Time { return time.Now().Add(scopedUsageWindow + time.Second) }
	require.NoError(t, h.push(hostMetrics("node-1", 3*time.Second, 30_000_000)))
	assert.InDeltaSlice(t, []float64{5, 5, 60}, values("pod-a", "system/cpu_utilization_percentage"), 1e-9)
	assert.Empty(t, values("bare", "system/system_memory_usage_megabytes"), "(the host fixture has no memory)")
}
