package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	otelmetric "go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/podresources/podresourcestest"
)

// A Kubernetes node as the real binary's own gpu receiver sees it: no GPU
// and no NVIDIA driver here (NVML absent: logged, host metrics continue), a
// fake kubelet (podresourcestest, the real v1 PodResources proto on a unix
// socket) as pod_resources_socket, and a copy of internal/cgroups' fixture
// cgroup v2 tree as cgroup_root, whose pods' counters the test moves on
// between scrapes. Unlike TestGPUAttributionSharedNode, nothing here plays
// the receiver: what reaches MLflow is what it read.

const (
	nrNode = "node-1"
	// The kubelet's refresh period (podresources.DefaultTTL): a failed call
	// is retried one TTL later.
	nrKubeletTTL  = 5 * time.Second
	nrKubeletWarn = "The kubelet's PodResources API does not answer"
	nrSteps       = 4 // times each pod's counters move on
)

// nrPod is a training pod of the node and its cgroup in the fixture tree;
// the counters of step k are linear in k, each pod with its own rates.
type nrPod struct {
	ns, name, uid string
	cgroup        string // under cgroup_root
	cpu0, cpuStep uint64 // cpu.stat usage_usec
	mem0, memStep uint64 // memory.current, bytes
	memMax        uint64 // memory.max; 0: "max" (the node's memory is the limit)
	rdStep        uint64 // io.stat rbytes per step, device 259:0
	wrStep        uint64 // io.stat wbytes per step, device 259:0
}

var (
	// Fixture pod P1: burstable, systemd cgroup driver, memory.max 8 GiB.
	nrPodA = nrPod{ns: "ml", name: "trainer-a", uid: "6b2d1a4c-5e3f-4a7b-9c8d-0e1f2a3b4c5d",
		cgroup: "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6b2d1a4c_5e3f_4a7b_9c8d_0e1f2a3b4c5d.slice",
		cpu0:   3_500_000, cpuStep: 1_200_000, // 1.2 CPU-seconds a step
		mem0: 3_000_000_000, memStep: 50_000_000, memMax: 8 << 30,
		rdStep: 40_000_000, wrStep: 10_000_000}
	// Fixture pod P2: besteffort, cgroupfs driver, memory.max "max".
	nrPodB = nrPod{ns: "ml", name: "trainer-b", uid: "d4c3b2a1-0f9e-4d8c-b7a6-958473625140",
		cgroup: "kubepods/besteffort/podd4c3b2a1-0f9e-4d8c-b7a6-958473625140",
		cpu0:   700, cpuStep: 300_000, // 0.3 CPU-seconds a step
		mem0: 700_000_000, memStep: 7_000_000,
		rdStep: 5_000_000, wrStep: 60_000_000}
)

func (p nrPod) usage(k int) uint64  { return p.cpu0 + uint64(k)*p.cpuStep }
func (p nrPod) mem(k int) uint64    { return p.mem0 + uint64(k)*p.memStep }
func (p nrPod) memMB(k int) float64 { return float64(p.mem(k)) / 1e6 }

// write puts step k's counters into the pod's cgroup, each file replaced
// whole (written next to the tree, then renamed), so that a scrape reads
// the old file or the new one, never a half-written one.
func (p nrPod) write(t testing.TB, root, stage string, k int) {
	t.Helper()
	max := "max"
	if p.memMax != 0 {
		max = fmt.Sprint(p.memMax)
	}
	for _, f := range []struct{ name, data string }{
		{"cpu.stat", fmt.Sprintf("usage_usec %d\nuser_usec %d\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n", p.usage(k), p.usage(k))},
		{"memory.current", fmt.Sprintf("%d\n", p.mem(k))},
		{"memory.max", max + "\n"},
		// Two devices, summed by the receiver; the second one never moves.
		{"io.stat", fmt.Sprintf("259:0 rbytes=%d wbytes=%d rios=%d wios=%d dbytes=0 dios=0\n8:0 rbytes=300 wbytes=400 rios=3 wios=4 dbytes=0 dios=0\n",
			1000+uint64(k)*p.rdStep, 2000+uint64(k)*p.wrStep, 10+k, 20+k)},
	} {
		tmp := filepath.Join(stage, f.name)
		require.NoError(t, os.WriteFile(tmp, []byte(f.data), 0o644))
		require.NoError(t, os.Rename(tmp, filepath.Join(root, filepath.FromSlash(p.cgroup), f.name)))
	}
}

// nrStartCollector starts cfg with a debug exporter (normal verbosity: one
// line per resource and per point) next to mlflow, so that the receiver's
// own resources can be read from the collector's output.
func nrStartCollector(t *testing.T, cfg Config) *Collector {
	t.Helper()
	dir := t.TempDir()
	ports := newPorts(t)
	_, path := renderWithDebug(t, cfg, ports, dir)
	return StartCollectorArgs(t, dir, ports, nil, "--config", path)
}

// renderWithDebug writes cfg into dir with a debug exporter next to mlflow
// in its one pipeline; it returns the YAML and the file's path.
func renderWithDebug(t *testing.T, cfg Config, ports Ports, dir string) (yaml, path string) {
	t.Helper()
	y, err := cfg.Render(ports, dir)
	require.NoError(t, err)
	y = strings.Replace(y, "\nexporters:\n", "\nexporters:\n  debug:\n    verbosity: normal\n", 1)
	require.Equal(t, 1, strings.Count(y, "exporters: [mlflow]"), "one pipeline:\n%s", y)
	y = strings.Replace(y, "exporters: [mlflow]", "exporters: [mlflow, debug]", 1)
	path = filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(y), 0o600))
	return y, path
}

// nrLogLines are the collector's log lines at level (console encoding:
// "<time>\t<level>\t...") that mention any of about ("" for all).
func nrLogLines(out, level string, about ...string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, "\t"+level+"\t") {
			continue
		}
		ll := strings.ToLower(l)
		for _, a := range about {
			if strings.Contains(ll, strings.ToLower(a)) {
				lines = append(lines, l)
				break
			}
		}
	}
	return lines
}

// nrKubeletPods are the distinct otelcol.kubelet.pods values of the host
// resources the debug exporter printed ("ResourceMetrics #0 host.name=node-1
// otelcol.kubelet.pods=[...]").
func nrKubeletPods(out string) []string {
	var vals []string
	seen := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		i := strings.Index(l, "ResourceMetrics #0 host.name="+nrNode+" otelcol.kubelet.pods=")
		if i < 0 {
			continue
		}
		v := l[i+len("ResourceMetrics #0 host.name="+nrNode+" "):]
		if !seen[v] {
			seen[v] = true
			vals = append(vals, v)
		}
	}
	return vals
}

func nrLast(h []mlflow.Metric) (mlflow.Metric, bool) {
	if len(h) == 0 {
		return mlflow.Metric{}, false
	}
	return h[len(h)-1], true
}

// nrAfter are the points of h later than ms.
func nrAfter(h []mlflow.Metric, ms int64) []mlflow.Metric {
	var out []mlflow.Metric
	for _, m := range h {
		if m.Timestamp > ms {
			out = append(out, m)
		}
	}
	return out
}

// TestNodeReceiverPodUsageAndKubelet: the real gpu receiver (collection
// interval 1 s, host_name node-1) reads a fake kubelet listing two training
// pods and a fixture cgroup v2 tree holding those pods' cgroups; the test
// moves each pod's cpu.stat, memory.current and io.stat on between scrapes.
// Each pod's run (the OTel SDK's resource names host.name, the pod and its
// UID) gets its own pod's CPU share, memory and disk I/O in place of the
// host's, never the other pod's, and the host's other keys; a run on the
// same host without a pod gets the host's. Then the kubelet hangs and stops
// and one pod's cgroup vanishes: the receiver keeps scraping at its
// interval, says so once, and the vanished pod's run gets neither its
// pod's figures nor the host's in their place (docs/mapping.md §9).
func TestNodeReceiverPodUsageAndKubelet(t *testing.T) {
	srv := startMLflow(t)
	exp := srv.Experiment("node-receiver")

	// The node's logical CPUs and memory, read as the receiver reads them
	// (gopsutil: /proc/cpuinfo, /proc/meminfo).
	ncpu, err := cpu.Counts(true)
	require.NoError(t, err)
	require.Positive(t, ncpu)
	vm, err := mem.VirtualMemory()
	require.NoError(t, err)

	// cgroup_root: a writable copy of the fixture tree (pods P1..P4, Slurm
	// jobs); the two training pods start at step 0.
	root := t.TempDir()
	require.NoError(t, os.CopyFS(root, os.DirFS(filepath.Join(repoRoot(), "internal", "cgroups", "testdata", "cgroup"))))
	stage := t.TempDir()
	pods := []nrPod{nrPodA, nrPodB}
	for _, p := range pods {
		p.write(t, root, stage, 0)
	}

	kubelet := podresourcestest.Start(t)
	kubelet.SetPods(
		podresourcestest.Pod(nrPodA.ns, nrPodA.name, podresourcestest.Container("trainer")),
		podresourcestest.Pod(nrPodB.ns, nrPodB.name, podresourcestest.Container("trainer")),
	)

	cfg := baseConfig(serverExporterConfig(srv.URL(), exp))
	cfg.GRPCOnly = true
	cfg.Receivers = []Component{{ID: "gpu", Body: fmt.Sprintf(`
collection_interval: 1s
initial_delay: 0s
host_name: %s
pod_resources_socket: %s
cgroup_root: %s`, nrNode, kubelet.Socket(), root)}}
	c := nrStartCollector(t, cfg)

	// The runs: one per training pod (the downward API's namespace, name
	// and UID in the SDK's resource) and one on the host outside any pod.
	const hostRun = "on-the-host"
	runIDs := map[string]string{}
	for _, name := range []string{nrPodA.name, nrPodB.name, hostRun} {
		attrs := []attribute.KeyValue{
			attribute.String("service.name", "trainer"),
			attribute.String("mlflow.experiment.name", exp),
			attribute.String("mlflow.run.name", name),
			attribute.String("host.name", nrNode),
		}
		for _, p := range pods {
			if p.name == name {
				attrs = append(attrs, attribute.String("k8s.namespace.name", p.ns),
					attribute.String("k8s.pod.name", p.name), attribute.String("k8s.pod.uid", p.uid))
			}
		}
		s := NewSender(t, c, GRPC, resource.NewSchemaless(attrs...), true)
		loss, err := s.MP.Meter("train").Float64Gauge("loss")
		require.NoError(t, err)
		loss.Record(context.Background(), 0.5, otelmetric.WithAttributes(attribute.Int("step", 0)))
		s.Flush(t)
	}
	eventually(t, 20*time.Second, "the three runs", func() bool {
		rs := srv.runsByName()
		for _, name := range []string{nrPodA.name, nrPodB.name, hostRun} {
			r, ok := rs[name]
			if !ok {
				return false
			}
			runIDs[name] = r.Info.RunID
		}
		return true
	})

	const (
		cpuKey   = "system/cpu_utilization_percentage"
		memKey   = "system/system_memory_usage_megabytes"
		memPct   = "system/system_memory_usage_percentage"
		readKey  = "system/disk_read_megabytes"
		writeKey = "system/disk_write_megabytes"
		// Host keys a pod's run keeps (its pod's figures replace only the
		// CPU, memory and disk I/O keys).
		fsKey  = "system/disk_usage_megabytes"
		netKey = "system/network_receive_megabytes"
	)
	latestMem := func(run string) (float64, bool) {
		m, ok := nrLast(srv.MetricHistory(runIDs[run], memKey))
		return m.Value, ok
	}
	// Each step: once a scrape that read the previous step has landed in
	// both pods' runs (the next scrape is then most of an interval away),
	// the counters move on.
	for k := 1; k <= nrSteps+1; k++ {
		eventually(t, 10*time.Second, fmt.Sprintf("a scrape of step %d in both pods' runs", k-1), func() bool {
			for _, p := range pods {
				if v, ok := latestMem(p.name); !ok || v != p.memMB(k-1) {
					return false
				}
			}
			return true
		})
		if k <= nrSteps {
			for _, p := range pods {
				p.write(t, root, stage, k)
			}
		}
	}
	assert.Positive(t, kubelet.Calls(), "the receiver asked the kubelet")

	// Each pod's run: every scrape's memory names the step it read; CPU is
	// the usage_usec growth since the previous scrape over the wall time
	// between them and the node's CPUs. The wall time the receiver used is
	// between the scrapes' millisecond timestamps' difference ± 1 ms, so
	// each point is checked against that interval: exact up to the
	// timestamps' rounding, not a tolerance guessed for a slow machine.
	for _, p := range pods {
		other := nrPodA
		if p.name == nrPodA.name {
			other = nrPodB
		}
		t.Run(p.name, func(t *testing.T) {
			id := runIDs[p.name]
			memH := srv.MetricHistory(id, memKey)
			stepAt := map[int64]int{} // scrape timestamp -> step it read
			var order []int64
			for _, m := range memH {
				k := -1
				for s := 0; s <= nrSteps; s++ {
					if m.Value == p.memMB(s) {
						k = s
					}
				}
				for s := 0; s <= nrSteps; s++ {
					assert.NotEqual(t, other.memMB(s), m.Value, "the other pod's memory")
				}
				if !assert.GreaterOrEqual(t, k, 0, "memory %v MB at %d is no step of its pod's memory.current", m.Value, m.Timestamp) {
					continue
				}
				if len(order) > 0 {
					assert.GreaterOrEqual(t, k, stepAt[order[len(order)-1]], "steps in order")
				}
				stepAt[m.Timestamp] = k
				order = append(order, m.Timestamp)
			}
			require.Equal(t, 0, stepAt[order[0]], "its first scrape read step 0")
			require.Equal(t, nrSteps, stepAt[order[len(order)-1]])

			for _, m := range srv.MetricHistory(id, memPct) {
				k, ok := stepAt[m.Timestamp]
				if !assert.True(t, ok, "%s at %d: a scrape without memory", memPct, m.Timestamp) {
					continue
				}
				limit := float64(p.memMax)
				if p.memMax == 0 {
					limit = float64(vm.Total) // memory.max "max": the node's memory
				}
				assert.InDelta(t, 100*float64(p.mem(k))/limit, m.Value, 1e-9, "%s at step %d", memPct, k)
			}
			for key, perStep := range map[string]uint64{readKey: p.rdStep, writeKey: p.wrStep} {
				h := srv.MetricHistory(id, key)
				assert.Len(t, h, len(order), "%s: one point per scrape", key)
				for _, m := range h {
					k, ok := stepAt[m.Timestamp]
					if assert.True(t, ok, "%s at %d: a scrape without memory", key, m.Timestamp) {
						// Since the run first saw the pod (step 0).
						assert.InDelta(t, float64(uint64(k)*perStep)/1e6, m.Value, 1e-9, "%s at step %d", key, k)
					}
				}
			}

			cpuH := srv.MetricHistory(id, cpuKey)
			assert.GreaterOrEqual(t, len(cpuH), len(order)-1, "a CPU share from every scrape but maybe the receiver's first")
			moving := 0
			for _, m := range cpuH {
				i := -1
				for j, ts := range order {
					if ts == m.Timestamp {
						i = j
					}
				}
				if !assert.GreaterOrEqual(t, i, 0, "CPU at %d: a scrape without memory", m.Timestamp) {
					continue
				}
				if i == 0 {
					// The scrape before it (not in the run yet) read step 0 too.
					assert.Zero(t, m.Value, "CPU of the first scrape the run saw: nothing moved")
					continue
				}
				k0, k1 := stepAt[order[i-1]], stepAt[order[i]]
				busy := float64(p.usage(k1)-p.usage(k0)) / 1e6
				dt := float64(order[i]-order[i-1]) / 1e3
				lo, hi := 100*busy/(dt+0.001)/float64(ncpu), 100*busy/(dt-0.001)/float64(ncpu)
				assert.True(t, m.Value >= lo-1e-9 && m.Value <= hi+1e-9,
					"CPU at %d: %v%%, want %.4f..%.4f (%.1f CPU-s over %.3f s on %d CPUs)", m.Timestamp, m.Value, lo, hi, busy, dt, ncpu)
				if k1 > k0 {
					moving++
				}
			}
			assert.GreaterOrEqual(t, moving, nrSteps-1, "CPU shares of steps that moved")
			t.Logf("%s: %d scrapes, memory %v..%v MB, %d CPU shares (last %.2f%%)", p.name, len(order),
				memH[0].Value, memH[len(memH)-1].Value, len(cpuH), cpuH[len(cpuH)-1].Value)

			// The host's other keys, from the same scrapes as the host run's.
			for _, key := range []string{fsKey, netKey} {
				assert.GreaterOrEqual(t, len(srv.MetricHistory(id, key)), len(order)-1, "%s: the host's", key)
			}
		})
	}

	t.Run(hostRun, func(t *testing.T) {
		id := runIDs[hostRun]
		memH := srv.MetricHistory(id, memKey)
		require.GreaterOrEqual(t, len(memH), nrSteps+1)
		for _, m := range memH {
			assert.Greater(t, m.Value, 0.0)
			assert.Less(t, m.Value, float64(vm.Total)/1e6, "the host's used memory")
			for _, p := range pods {
				for s := 0; s <= nrSteps; s++ {
					assert.NotEqual(t, p.memMB(s), m.Value, "a pod's memory in the host's run")
				}
			}
		}
		for _, m := range srv.MetricHistory(id, cpuKey) {
			assert.True(t, m.Value >= 0 && m.Value <= 100, "host CPU %v", m.Value)
		}
		// Disk I/O: the host's block devices since the run first saw them,
		// not a pod's io.stat.
		for _, key := range []string{readKey, writeKey} {
			for _, m := range srv.MetricHistory(id, key) {
				for _, p := range pods {
					for s := 1; s <= nrSteps; s++ {
						assert.NotEqual(t, float64(uint64(s)*p.rdStep)/1e6, m.Value, key)
						assert.NotEqual(t, float64(uint64(s)*p.wrStep)/1e6, m.Value, key)
					}
				}
			}
		}
		// Same host resource, same scrape: a pod's run has the same
		// filesystem figure at the same timestamp.
		hostFS := map[int64]float64{}
		for _, m := range srv.MetricHistory(id, fsKey) {
			hostFS[m.Timestamp] = m.Value
		}
		same := 0
		for _, m := range srv.MetricHistory(runIDs[nrPodA.name], fsKey) {
			if v, ok := hostFS[m.Timestamp]; ok {
				assert.Equal(t, v, m.Value, "%s at %d", fsKey, m.Timestamp)
				same++
			}
		}
		assert.GreaterOrEqual(t, same, nrSteps)
	})

	// The receiver's own output: the host resource lists the kubelet's pods,
	// each fixture pod is a resource of its own with its UID, and the NVML
	// absence is one info line.
	out := c.Output()
	assert.Contains(t, out, "No NVIDIA driver on this host")
	kubeletPods := nrKubeletPods(out)
	assert.Equal(t, []string{`otelcol.kubelet.pods=["ml/trainer-a","ml/trainer-b"]`}, kubeletPods, "the host resource: the kubelet's pods, in every scrape")
	for _, p := range pods {
		assert.Contains(t, out, "host.name="+nrNode+" k8s.pod.uid="+p.uid)
	}
	assert.Empty(t, nrLogLines(out, "error", ""), "no error-level line")
	assert.Empty(t, nrLogLines(out, "warn", "kubelet", "cgroup", "podresources"), "no warning about the kubelet or cgroups")

	t.Run("kubelet stops and a pod's cgroup vanishes", func(t *testing.T) {
		mark := len(c.Output())
		// The kubelet hangs (each call fails after the client's 1 s
		// timeout) and trainer-b's pod ends: its cgroup is removed.
		kubelet.Hang(true)
		require.NoError(t, os.RemoveAll(filepath.Join(root, filepath.FromSlash(nrPodB.cgroup))))
		vanished := time.Now().UnixMilli()
		var warnAt int64
		eventually(t, nrKubeletTTL+5*time.Second, "the receiver's warning about the kubelet", func() bool {
			if strings.Contains(c.Output()[mark:], nrKubeletWarn) {
				warnAt = time.Now().UnixMilli()
				return true
			}
			return false
		})
		// Then it stops: its socket is gone. Pacing: the receiver asks
		// again one TTL after the failed call; seven scrapes of the host run
		// after the warning put that second failure behind.
		kubelet.Stop()
		eventually(t, 20*time.Second, "seven scrapes after the warning", func() bool {
			return len(nrAfter(srv.MetricHistory(runIDs[hostRun], memKey), warnAt)) >= 7
		})
		out := c.Output()

		assert.Equal(t, 1, countLines(out, nrKubeletWarn), "one warning for a hung and then a stopped kubelet")
		assert.Empty(t, nrLogLines(out, "error", ""), "no error-level line")
		assert.Empty(t, nrLogLines(out, "warn", "cgroup"), "a vanished pod's cgroup is skipped silently (docs/gpureceiver.md)")

		// Scrapes keep their interval: no tick lost while the kubelet hung
		// or was gone.
		hostMem := nrAfter(srv.MetricHistory(runIDs[hostRun], memKey), vanished-1000)
		require.GreaterOrEqual(t, len(hostMem), 8)
		for i := 1; i < len(hostMem); i++ {
			gap := hostMem[i].Timestamp - hostMem[i-1].Timestamp
			assert.True(t, gap >= 500 && gap < 1900, "scrape gap %d ms at %d", gap, hostMem[i].Timestamp)
		}
		span := float64(hostMem[len(hostMem)-1].Timestamp-hostMem[0].Timestamp) / 1e3
		t.Logf("%d scrapes over %.1f s since the kubelet hung; warning %d ms after", len(hostMem), span, warnAt-vanished)

		// trainer-b's pod is gone: no more figures of its own, and the
		// host's are not put in their place (for 30 s after its last report, scopedUsageWindow);
		// the host's other keys still land.
		b := runIDs[nrPodB.name]
		for _, key := range []string{cpuKey, memKey, memPct, readKey, writeKey} {
			assert.Empty(t, nrAfter(srv.MetricHistory(b, key), vanished), "%s after its pod's cgroup vanished", key)
		}
		for _, key := range []string{fsKey, netKey} {
			assert.GreaterOrEqual(t, len(nrAfter(srv.MetricHistory(b, key), warnAt)), 6, "%s: the host's, still", key)
		}
		// trainer-a keeps its own (step nrSteps: nothing moves, CPU 0).
		a := runIDs[nrPodA.name]
		aMem := nrAfter(srv.MetricHistory(a, memKey), warnAt)
		assert.GreaterOrEqual(t, len(aMem), 6)
		for _, m := range aMem {
			assert.Equal(t, nrPodA.memMB(nrSteps), m.Value)
		}
		for _, m := range nrAfter(srv.MetricHistory(a, cpuKey), warnAt) {
			assert.Zero(t, m.Value)
		}

		// What the receiver emitted since the warning: trainer-a's pod,
		// not trainer-b's, and the host still lists the kubelet's last
		// answer.
		since := out[mark+strings.Index(out[mark:], nrKubeletWarn):]
		assert.Contains(t, since, "host.name="+nrNode+" k8s.pod.uid="+nrPodA.uid)
		assert.NotContains(t, since, "k8s.pod.uid="+nrPodB.uid)
		assert.Equal(t, kubeletPods, nrKubeletPods(since), "the kubelet's last answer")
		assert.NotContains(t, out, "panic")
	})
}
