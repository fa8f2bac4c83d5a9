package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	otelmetric "go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/podresources/podresourcestest"
	"github.com/otelcol-mlflow/otelcol-mlflow/test/fakenvml/fakenvmltest"
)

// A shared 8-GPU Kubernetes node as the real binary's own gpu receiver
// reads it, GPUs included: test/fakenvml's fake libnvidia-ml.so.1 (through
// LD_LIBRARY_PATH) is the driver, so the receiver's whole NVML path runs -
// go-nvml's dlopen and cgo calls, discovery, the symbol guards, every
// reading, the per-process queries - on GPUs, readings and compute
// processes the test chooses. Around it, as in node_receiver_test.go: a
// fake kubelet (allocating GPUs to pods) and the fixture cgroup v2 tree
// (each pod's own CPU and memory). Unlike TestGPUAttributionSharedNode,
// which plays the receiver's output over OTLP, what reaches MLflow here is
// what the receiver read.
//
// Covered: the kubelet's allocation giving each run its GPUs, renumbered
// as inside its pod; each GPU's readings under the run's number for it;
// per-process GPU memory and utilisation charged to the run of the pod
// whose cgroup the process is in (k8s.pod.uid, read by the receiver from
// /proc/<pid>/cgroup, as the exporter's ownsProcess charges a pod's run
// with all of its pod's processes), never to a run by a pid that only
// aliases its own (pid 1 in another pod's namespace, on its GPU: told
// apart by process.vpid + container.id from NSpid and the cgroup path);
// the pods' cgroup CPU and memory; a run on the host outside any pod
// getting every GPU and its own real process's memory by its host pid;
// values following the driver's between scrapes.
//
// Not covered: the pods' processes are fake /proc entries in the HOST_PROC
// tree (a process in another PID namespace and a kubepods cgroup needs
// root to make), so the kernel's own files for such a process are stood in
// for by files in its format (internal/cgroups' unit tests parse real
// variants); the host run's process is a real child with its real /proc.
// MIG, GPM, PCIe/NVLink counters and ECC are absent or NOT_SUPPORTED in the
// fake driver (receiver unit tests cover them with go-nvml's mocks).

const (
	fnNode   = "node-1"
	fnGPUs   = 8
	fnMemTot = 85_520_809_984 // bytes: an H100 80GB's 81559 MiB
	fnPhases = 2              // the driver's values change once
)

// fnUUID is physical GPU i's UUID, as NVML and the kubelet name it.
func fnUUID(i int) string { return fmt.Sprintf("GPU-f4e3d2c1-7a6b-4c5d-9e8f-0a1b2c3d4e%02d", i) }

// fnGPUValues are GPU i's readings in phase k, every one different on
// every GPU and in every phase, so that a value names its GPU.
func fnGPUValues(i, k int) map[string]uint64 {
	return map[string]uint64{
		"util":                 uint64(10*i + 3 + k),
		"mem_util":             uint64(5 + i),
		"mem_total":            fnMemTot,
		"mem_used":             uint64(i+1)*1e9 + uint64(k)*5e8,
		"temp":                 uint64(30 + 2*i + k),
		"power_mw":             uint64(100+10*i+5*k) * 1000,
		"power_limit_mw":       700_000,
		"energy_mj":            1e9 + uint64(i)*1e6 + uint64(k)*1e5,
		"sm_clock_mhz":         uint64(1500 + 10*i + k),
		"mem_clock_mhz":        2619,
		"clocks_event_reasons": 0,
	}
}

// fnGPUKeys are the MLflow keys (after system/gpu_<p>_) each GPU's
// readings land under, and their values in phase k.
func fnGPUKeys(i, k int) map[string]float64 {
	v := fnGPUValues(i, k)
	return map[string]float64{
		"utilization_percentage":                   float64(v["util"]),
		"memory_controller_utilization_percentage": float64(v["mem_util"]),
		"memory_usage_megabytes":                   float64(v["mem_used"]) / 1e6,
		"memory_total_megabytes":                   float64(v["mem_total"]) / 1e6,
		"memory_usage_percentage":                  100 * float64(v["mem_used"]) / float64(v["mem_total"]),
		"temperature_celsius":                      float64(v["temp"]),
		"power_usage_watts":                        float64(v["power_mw"]) / 1000,
		"power_limit_watts":                        float64(v["power_limit_mw"]) / 1000,
		"power_usage_percentage":                   100 * float64(v["power_mw"]) / float64(v["power_limit_mw"]),
		"sm_clock_mhz":                             float64(v["sm_clock_mhz"]),
		"memory_clock_mhz":                         float64(v["mem_clock_mhz"]),
	}
}

// fnProc is a compute process of the node: its host pid (NVML's), its pid
// in its own PID namespace (0: it runs in the host's), its cgroup, and its
// use of each GPU it is on.
type fnProc struct {
	hostPID, vpid int
	cgroup        string
	use           map[int]fnUse
}

// fnUse is a process's GPU memory and SM share in phase k; running false:
// not on the GPU in that phase.
type fnUse func(k int) (mem uint64, sm uint32, running bool)

// fnLinear: memory mem0 growing by memStep a phase, SM share sm0 growing by
// one; on the GPU in the given phases only, or in all when none is given.
func fnLinear(mem0, memStep uint64, sm0 uint32, phases ...int) fnUse {
	return func(k int) (uint64, uint32, bool) {
		if len(phases) > 0 && !slices.Contains(phases, k) {
			return 0, 0, false
		}
		return mem0 + uint64(k)*memStep, sm0 + uint32(k), true
	}
}

// Containers of the fixture's pods (internal/cgroups/testdata/README.md):
// trainer-a (P1) has containers A and B, trainer-b (P2) container C; the
// notebook is the fixture's pod P3, with a container D.
var (
	fnCtrA           = strings.Repeat("a1", 32)
	fnCtrB           = strings.Repeat("b2", 32)
	fnCtrC           = strings.Repeat("c3", 32)
	fnCtrD           = strings.Repeat("d4", 32)
	fnNotebookUID    = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
	fnNotebookCgroup = "kubepods.slice/kubepods-pod9a8b7c6d_5e4f_4a3b_8c2d_1e0f9a8b7c6d.slice"
)

// fnMachine is the fake driver's node in phase k.
func fnMachine(procs []fnProc, k int) fakenvmltest.Machine {
	m := fakenvmltest.Machine{Driver: "550.54.15"}
	for i := range fnGPUs {
		g := fakenvmltest.GPU{UUID: fnUUID(i), Name: "NVIDIA H100 80GB HBM3", Values: fnGPUValues(i, k)}
		for _, p := range procs {
			if use, ok := p.use[i]; ok {
				if mem, sm, running := use(k); running {
					g.Procs = append(g.Procs, fakenvmltest.Proc{PID: uint32(p.hostPID), Mem: mem, SM: sm})
				}
			}
		}
		m.GPUs = append(m.GPUs, g)
	}
	return m
}

var fnGPUKeyRE = regexp.MustCompile(`^system/gpu_(\d+)_(.+)$`)

// TestFakeNVMLSharedNode: on an 8-GPU node, the kubelet gives trainer-a's
// pod GPUs 2 and 3 and trainer-b's pod GPU 5. trainer-a's trainer (pid 1
// in its container A) runs on both its GPUs, a sidecar in the same pod's
// container B on GPU 3; trainer-b's trainer (pid 1 in container C) and its
// data loader (pid 2) on GPU 5; a notebook pod's process (pid 1 in its
// namespace) on GPUs 3 and 5, a host daemon on GPU 2, and a real process
// on the host, outside any pod, on GPU 0. Each pod's run gets exactly its
// GPUs' readings as gpu_0, gpu_1 in NVML order, the GPU memory and
// utilisation of its own pod's processes on them (summed per GPU), nothing
// of the notebook's, the daemon's or the other pod's, and its pod's CPU
// and memory; the host's run gets all eight GPUs under their NVML indices
// and its own process's GPU memory. Midway the driver's values change (the
// sidecar exits, the trainers grow) and the runs follow (docs/mapping.md
// §9).
func TestFakeNVMLSharedNode(t *testing.T) {
	libDir := fakenvmltest.Build(t)
	srv := startMLflow(t)
	exp := srv.Experiment("fake-nvml")

	// A real process on the host (its own PID namespace, no pod).
	sleeper := exec.Command("sleep", "600")
	require.NoError(t, sleeper.Start())
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	hostPID := sleeper.Process.Pid

	procs := []fnProc{
		{hostPID: hostPID, use: map[int]fnUse{0: fnLinear(3e9, 1e8, 5)}},
		{hostPID: 41002, vpid: 1, cgroup: nrPodA.cgroup + "/cri-containerd-" + fnCtrA + ".scope",
			use: map[int]fnUse{2: fnLinear(12e9, 1e9, 61), 3: fnLinear(11e9, 5e8, 57)}},
		// A sidecar of the same pod (its container B, pid 1 there too),
		// gone in phase 1: the pod's, so its run's.
		{hostPID: 41010, vpid: 1, cgroup: nrPodA.cgroup + "/cri-containerd-" + fnCtrB + ".scope",
			use: map[int]fnUse{3: fnLinear(999e6, 0, 9, 0)}},
		{hostPID: 52005, vpid: 1, cgroup: nrPodB.cgroup + "/" + fnCtrC,
			use: map[int]fnUse{5: fnLinear(20e9, 2e9, 88)}},
		// trainer-b's data loader (pid 2): its run reports pid 1 only, but
		// it is in the pod.
		{hostPID: 52006, vpid: 2, cgroup: nrPodB.cgroup + "/" + fnCtrC,
			use: map[int]fnUse{5: fnLinear(3e8, 0, 3)}},
		// A notebook pod the kubelet gave no GPU that sees them all
		// (NVIDIA_VISIBLE_DEVICES=all), pid 1 in its namespace like both
		// trainers, on trainer-a's GPU 3 and trainer-b's GPU 5: nobody's.
		{hostPID: 60001, vpid: 1, cgroup: fnNotebookCgroup + "/cri-containerd-" + fnCtrD + ".scope",
			use: map[int]fnUse{3: fnLinear(7e9, 0, 40), 5: fnLinear(6e9, 0, 30)}},
		// A daemon on the host on trainer-a's GPU 2: nobody's either.
		{hostPID: 777, cgroup: "system.slice/gpu-daemon.service",
			use: map[int]fnUse{2: fnLinear(5e8, 0, 1)}},
	}
	proc := newFnProcRoot(t)
	proc.link(t, hostPID)
	for _, p := range procs {
		if p.hostPID != hostPID {
			proc.fake(t, p.hostPID, p.vpid, p.cgroup)
		}
	}
	fixture := filepath.Join(t.TempDir(), "node.txt")
	fnMachine(procs, 0).Write(t, fixture)

	// cgroup_root, as in TestNodeReceiverPodUsageAndKubelet: the two
	// training pods' counters move on at each step.
	root := t.TempDir()
	require.NoError(t, os.CopyFS(root, os.DirFS(filepath.Join(repoRoot(), "internal", "cgroups", "testdata", "cgroup"))))
	stage := t.TempDir()
	pods := []nrPod{nrPodA, nrPodB}
	step := 0
	for _, p := range pods {
		p.write(t, root, stage, step)
	}

	kubelet := podresourcestest.Start(t)
	kubelet.SetPods(
		podresourcestest.Pod(nrPodA.ns, nrPodA.name, podresourcestest.Container("trainer",
			podresourcestest.Devices("nvidia.com/gpu", fnUUID(3), fnUUID(2)))), // the kubelet's order is not NVML's
		podresourcestest.Pod(nrPodB.ns, nrPodB.name, podresourcestest.Container("trainer",
			podresourcestest.Devices("nvidia.com/gpu", fnUUID(5)))),
		podresourcestest.Pod("ml", "notebook", podresourcestest.Container("jupyter")),
	)

	cfg := baseConfig(serverExporterConfig(srv.URL(), exp))
	cfg.GRPCOnly = true
	cfg.Receivers = []Component{{ID: "gpu", Body: fmt.Sprintf(`
collection_interval: 1s
initial_delay: 0s
host_name: %s
pod_resources_socket: %s
cgroup_root: %s`, fnNode, kubelet.Socket(), root)}}
	c := fnStartCollector(t, cfg, proc.dir, []string{
		"LD_LIBRARY_PATH=" + libDir,
		fakenvmltest.FixtureEnv + "=" + fixture,
	})
	eventually(t, 10*time.Second, "the receiver's NVML start", func() bool {
		out := c.Output()
		return strings.Contains(out, "NVML ready") || strings.Contains(out, "GPU metrics disabled") || strings.Contains(out, "not compiled in")
	})
	out := c.Output()
	require.NotContains(t, out, "not compiled in", "the collector binary was built without cgo: build it with `make build`")
	require.Contains(t, out, "NVML ready", "the receiver did not load the fake libnvidia-ml.so.1:\n%s", out)
	require.Regexp(t, `NVML ready\t.*"driver_version": "550.54.15", "gpus": 8, "mig_instances": 0, "gpm_capable": 0`, out)

	// The runs: the OTel SDK of each trainer reports its pod (downward
	// API), its container and its own pid, 1 in both pods; the host's run
	// its real pid and no pod.
	type run struct {
		name  string
		attrs []attribute.KeyValue
	}
	const hostRun = "on-the-host"
	runs := []run{
		{nrPodA.name, []attribute.KeyValue{attribute.String("k8s.namespace.name", nrPodA.ns), attribute.String("k8s.pod.name", nrPodA.name),
			attribute.String("k8s.pod.uid", nrPodA.uid), attribute.String("container.id", fnCtrA), attribute.Int("process.pid", 1)}},
		{nrPodB.name, []attribute.KeyValue{attribute.String("k8s.namespace.name", nrPodB.ns), attribute.String("k8s.pod.name", nrPodB.name),
			attribute.String("k8s.pod.uid", nrPodB.uid), attribute.String("container.id", fnCtrC), attribute.Int("process.pid", 1)}},
		{hostRun, []attribute.KeyValue{attribute.Int("process.pid", hostPID)}},
	}
	runIDs := map[string]string{}
	for _, r := range runs {
		attrs := append([]attribute.KeyValue{
			attribute.String("service.name", "trainer"),
			attribute.String("mlflow.experiment.name", exp),
			attribute.String("mlflow.run.name", r.name),
			attribute.String("host.name", fnNode),
		}, r.attrs...)
		s := NewSender(t, c, GRPC, resource.NewSchemaless(attrs...), true)
		loss, err := s.MP.Meter("train").Float64Gauge("loss")
		require.NoError(t, err)
		loss.Record(context.Background(), 0.5, otelmetric.WithAttributes(attribute.Int("step", 0)))
		s.Flush(t)
	}
	eventually(t, 20*time.Second, "the three runs", func() bool {
		rs := srv.runsByName()
		for _, r := range runs {
			got, ok := rs[r.name]
			if !ok {
				return false
			}
			runIDs[r.name] = got.Info.RunID
		}
		return true
	})

	// What each run must get: the physical GPU behind each gpu_<p>, and
	// per position the processes charged to it (host pid, GPU).
	type charge struct{ hostPID, gpu int }
	type want struct {
		gpus    []int
		charged []charge
		pod     *nrPod
	}
	wants := map[string]want{
		nrPodA.name: {gpus: []int{2, 3}, charged: []charge{{41002, 2}, {41002, 3}, {41010, 3}}, pod: &nrPodA},
		nrPodB.name: {gpus: []int{5}, charged: []charge{{52005, 5}, {52006, 5}}, pod: &nrPodB},
		hostRun:     {gpus: []int{0, 1, 2, 3, 4, 5, 6, 7}, charged: []charge{{hostPID, 0}}},
	}
	// procKeys are a run's per-process keys and their values in phase k.
	procKeys := func(w want, k int) map[string]float64 {
		keys := map[string]float64{}
		for pos, phys := range w.gpus {
			for _, ch := range w.charged {
				if ch.gpu != phys {
					continue
				}
				for _, p := range procs {
					if p.hostPID != ch.hostPID {
						continue
					}
					if mem, sm, running := p.use[phys](k); running {
						keys[fmt.Sprintf("system/gpu_%d_process_memory_usage_megabytes", pos)] += float64(mem) / 1e6
						keys[fmt.Sprintf("system/gpu_%d_process_utilization_percentage", pos)] += float64(sm)
					}
				}
			}
		}
		return keys
	}
	last := func(run, key string) (float64, bool) {
		h := srv.MetricHistory(runIDs[run], key)
		if len(h) == 0 {
			return 0, false
		}
		return h[len(h)-1].Value, true
	}
	// inPhase says what is missing before two scrapes of phase k are in
	// every run's per-process keys (the last scrape of a phase may be half
	// old: the fixture is reread per call) and every pod's memory is at
	// the current step; "" once they are.
	inPhase := func(k int) func() string {
		return func() string {
			for run, w := range wants {
				for key, v := range procKeys(w, k) {
					h := srv.MetricHistory(runIDs[run], key)
					n := 0
					for _, m := range h {
						if fnNear(m.Value, v) {
							n++
						}
					}
					if n < 2 || !fnNear(h[len(h)-1].Value, v) {
						return fmt.Sprintf("%s %s: %d points of %v in %v", run, key, n, v, h)
					}
				}
				if w.pod != nil {
					if v, ok := last(run, "system/system_memory_usage_megabytes"); !ok || v != w.pod.memMB(step) {
						return fmt.Sprintf("%s: memory %v MB, want step %d's %v", run, v, step, w.pod.memMB(step))
					}
				}
			}
			return ""
		}
	}
	fnEventually(t, 20*time.Second, "phase 0 in every run", inPhase(0))
	step = 1
	for _, p := range pods {
		p.write(t, root, stage, step)
	}
	fnEventually(t, 10*time.Second, "the pods' step 1", inPhase(0))
	fnMachine(procs, 1).Write(t, fixture)
	step = 2
	for _, p := range pods {
		p.write(t, root, stage, step)
	}
	fnEventually(t, 20*time.Second, "phase 1 in every run", inPhase(1))
	out = c.Output()

	for _, r := range runs {
		w := wants[r.name]
		t.Run(r.name, func(t *testing.T) {
			id := runIDs[r.name]
			got, err := srv.GetRun(id)
			require.NoError(t, err)

			// Which GPUs: no key of a position it does not have, and every
			// reading key of those it has.
			seen := map[int]map[string]bool{}
			var gpuKeys []string
			for _, m := range got.Data.Metrics {
				if sm := fnGPUKeyRE.FindStringSubmatch(m.Key); sm != nil {
					pos, _ := strconv.Atoi(sm[1])
					if seen[pos] == nil {
						seen[pos] = map[string]bool{}
					}
					seen[pos][sm[2]] = true
					gpuKeys = append(gpuKeys, m.Key)
				}
			}
			var positions []int
			for pos := range seen {
				positions = append(positions, pos)
			}
			sort.Ints(positions)
			wantPos := make([]int, len(w.gpus))
			for i := range w.gpus {
				wantPos[i] = i
			}
			require.Equal(t, wantPos, positions, "gpu_<p> positions: its %d GPUs, no other", len(w.gpus))

			// Each position's readings are its physical GPU's, phase 0
			// first, phase 1 last, nothing else in between.
			for pos, phys := range w.gpus {
				for suffix := range fnGPUKeys(phys, 0) {
					key := fmt.Sprintf("system/gpu_%d_%s", pos, suffix)
					h := srv.MetricHistory(id, key)
					if !assert.NotEmpty(t, h, "%s (physical GPU %d)", key, phys) {
						continue
					}
					assertPhases(t, key, h, func(k int) float64 { return fnGPUKeys(phys, k)[suffix] })
				}
			}

			// Per-process keys: exactly its own processes' on its GPUs.
			var procGot []string
			for _, k := range gpuKeys {
				if strings.Contains(k, "_process_") {
					procGot = append(procGot, k)
				}
			}
			var procWant []string
			for k := range procKeys(w, 0) {
				procWant = append(procWant, k)
			}
			sort.Strings(procGot)
			sort.Strings(procWant)
			require.Equal(t, procWant, procGot, "per-process keys: its own processes, on its GPUs")
			for key := range procKeys(w, 0) {
				assertPhases(t, key, srv.MetricHistory(id, key), func(k int) float64 { return procKeys(w, k)[key] })
			}

			// One tag per GPU: the physical GPU behind gpu_<p>; none for the
			// whole host, where gpu_<i> is NVML index i.
			tags := map[string]string{}
			for _, tag := range got.Data.Tags {
				if strings.HasPrefix(tag.Key, "otelcol.system/") {
					tags[tag.Key] = tag.Value
				}
			}
			wantTags := map[string]string{}
			for pos, phys := range w.gpus {
				if w.pod == nil {
					break
				}
				wantTags[fmt.Sprintf("otelcol.system/gpu_%d", pos)] = fmt.Sprintf("index=%d,uuid=%s", phys, fnUUID(phys))
			}
			assert.Equal(t, wantTags, tags)

			// CPU and memory: its pod's, never the other pod's; the host's
			// run gets neither pod's.
			memH := srv.MetricHistory(id, "system/system_memory_usage_megabytes")
			require.NotEmpty(t, memH)
			for _, m := range memH {
				for _, p := range pods {
					for s := 0; s <= step; s++ {
						if w.pod == nil || p.name != w.pod.name {
							assert.NotEqual(t, p.memMB(s), m.Value, "%s's memory at step %d", p.name, s)
						}
					}
				}
			}
			cpuH := srv.MetricHistory(id, "system/cpu_utilization_percentage")
			require.NotEmpty(t, cpuH)
			if w.pod != nil {
				var own []float64
				for s := 0; s <= step; s++ {
					own = append(own, w.pod.memMB(s))
				}
				for _, m := range memH {
					assert.Contains(t, own, m.Value, "memory %v MB: a step of its pod's memory.current", m.Value)
				}
				assert.Equal(t, w.pod.memMB(step), memH[len(memH)-1].Value)
				moved := 0
				for _, m := range cpuH {
					assert.True(t, m.Value >= 0 && m.Value <= 100, "CPU %v%%", m.Value)
					if m.Value > 0 {
						moved++
					}
				}
				assert.GreaterOrEqual(t, moved, 1, "its pod's CPU moved twice")
			}
			t.Logf("%s: %d GPUs %v, %d system/gpu_* keys, per-process %v (last), %d memory points (last %v MB)",
				r.name, len(w.gpus), w.gpus, len(gpuKeys), procKeys(w, fnPhases-1), len(memH), memH[len(memH)-1].Value)
		})
	}

	// Where each run's GPUs came from, once per run.
	for run, src := range map[string]string{nrPodA.name: "pod_resources", nrPodB.name: "pod_resources", hostRun: "host"} {
		var lines []string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "GPUs attributed to run") && strings.Contains(l, runIDs[run]) {
				lines = append(lines, l)
			}
		}
		if assert.Len(t, lines, 1, "%s: one line for where its GPUs came from", run) {
			assert.Contains(t, lines[0], fmt.Sprintf(`"source": %q`, src), run)
		}
	}
	// The receiver's own view: the pods' processes carry their pid in the
	// pod and container (debug exporter, one line per point).
	for _, p := range []struct {
		pid        int
		ctr, podID string
	}{{41002, fnCtrA, nrPodA.uid}, {41010, fnCtrB, nrPodA.uid}, {52005, fnCtrC, nrPodB.uid}, {60001, fnCtrD, fnNotebookUID}} {
		assert.Contains(t, out, fmt.Sprintf("hw.gpu.process.memory.usage{process.pid=%d,process.vpid=1,container.id=%s,k8s.pod.uid=%s}", p.pid, p.ctr, p.podID))
	}
	for _, pid := range []int{hostPID, 777} {
		assert.Contains(t, out, fmt.Sprintf("hw.gpu.process.memory.usage{process.pid=%d} ", pid), "a process on the host: its pid alone")
	}
	assert.NotContains(t, out, "Cannot read /proc for a GPU process")
	assert.NotContains(t, out, "fakenvml:", "the fake driver complained")
	assert.NotContains(t, out, "symbol lookup error")
	assert.Empty(t, nrLogLines(out, "error", ""), "no error-level line")
	assert.Empty(t, nrLogLines(out, "warn", "nvml", "gpu", "kubelet", "cgroup"), "no warning about the GPUs, the kubelet or cgroups")
	assert.NotContains(t, out, "panic")
	if t.Failed() {
		t.Logf("collector output:\n%s", out)
	}
}

// assertPhases checks a key's history: every point is the value of some
// phase, phases never go back, the first point is phase 0's and the last
// the last phase's.
func assertPhases(t *testing.T, key string, h []mlflow.Metric, want func(k int) float64) {
	t.Helper()
	if !assert.NotEmpty(t, h, key) {
		return
	}
	prev := 0
	for _, m := range h {
		k := -1
		for p := range fnPhases {
			if fnNear(m.Value, want(p)) {
				k = max(k, p)
			}
		}
		if !assert.GreaterOrEqual(t, k, 0, "%s = %v at %d: no phase's value (%v, %v)", key, m.Value, m.Timestamp, want(0), want(1)) {
			continue
		}
		if want(k) != want(prev) {
			assert.GreaterOrEqual(t, k, prev, "%s: back to an older phase at %d", key, m.Timestamp)
		}
		prev = max(prev, k)
	}
	assert.InDelta(t, want(0), h[0].Value, 1e-9, "%s: first point", key)
	assert.InDelta(t, want(fnPhases-1), h[len(h)-1].Value, 1e-9, "%s: last point", key)
}

// fnNear: equal up to the float rounding of the receiver's and exporter's
// unit conversions (61 % is 100 × 61/100).
func fnNear(a, b float64) bool { return a-b > -1e-9 && a-b < 1e-9 }

// fnEventually polls missing until it says nothing is, failing with what
// it said last.
func fnEventually(t *testing.T, timeout time.Duration, what string, missing func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := missing()
		if m == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, m)
		}
		time.Sleep(50 * time.Millisecond) // poll interval of this wait
	}
}
