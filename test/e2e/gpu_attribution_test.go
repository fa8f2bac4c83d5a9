package e2e

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/otel/attribute"
	otelmetric "go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// A shared 8-GPU Kubernetes node, as its gpu receiver (reading the
// kubelet's PodResources API) describes it. No GPU exists here and the
// binary's receiver uses real NVML, so the node agent of deploy/gateway is
// played by a plain OTLP/gRPC client sending what that receiver would.

const gaNode = "node-1"

// gaUUID is the UUID (hw.id) of physical GPU i of the node.
func gaUUID(i int) string { return fmt.Sprintf("GPU-8932f937-d72c-4106-c12f-20bd9faed9%02d", i) }

// gaPod is a pod of the node: its UUID, its container's id (64 hex, as the
// cgroup path and OpenTelemetry's container detector name it), the GPUs the
// kubelet allocated to it (NVML indices), and its processes on them (the
// pid inside the pod is the position in procs + 1).
type gaPod struct {
	ns, name, uid, container string
	gpus                     []int
	procs                    []gaProc
	// use, when set, is what the receiver reads from the pod's cgroup
	// (cgroup_root): its share of the node's CPUs, memory bytes and share.
	use *gaUse
}

type gaUse struct {
	cpu, memShare float64
	mem           int64
}

type gaProc struct {
	hostPID int64
	gpu     int
}

func (p gaPod) ref() string { return p.ns + "/" + p.name }

var (
	gaTrainerA = gaPod{ns: "ml", name: "trainer-a", uid: "aaaaaaaa-0000-4000-8000-00000000000a", container: strings.Repeat("a1", 32), gpus: []int{2, 3},
		procs: []gaProc{{hostPID: 41002, gpu: 2}, {hostPID: 41003, gpu: 3}}, // one rank per GPU
		use:   &gaUse{cpu: 0.05, mem: 2e9, memShare: 0.125}}
	gaTrainerB = gaPod{ns: "ml", name: "trainer-b", uid: "bbbbbbbb-0000-4000-8000-00000000000b", container: strings.Repeat("b2", 32), gpus: []int{5, 6},
		procs: []gaProc{{hostPID: 52005, gpu: 5}, {hostPID: 52006, gpu: 6}},
		use:   &gaUse{cpu: 0.2, mem: 6e9, memShare: 0.375}}
	// An unrelated pod with a process on GPU 0; its pid inside the pod (1)
	// is the trainers' pid too.
	gaNotebook = gaPod{ns: "ml", name: "notebook", uid: "cccccccc-0000-4000-8000-00000000000c", container: strings.Repeat("c3", 32), gpus: []int{0},
		procs: []gaProc{{hostPID: 60000, gpu: 0}}, use: &gaUse{cpu: 0.9, mem: 9e9, memShare: 0.9}}
	gaDNS = gaPod{ns: "kube-system", name: "coredns", uid: "dddddddd-0000-4000-8000-00000000000d"}
)

// gaScrape is one scrape of the node: the host resource (CPU 30 % busy,
// memory 4 GB of 16 GB used) with every pod of the node, and 8 GPU
// resources; GPU i is utilised i/10 and uses (i+1) GB, and carries the pods
// it is allocated to and per-process points for each process on it (memory
// host pid × 1e6 bytes, utilisation host pid / 1e5), with what the process's
// cgroup says (pid in its namespace, container, pod UID).
func gaScrape(at time.Time, pods ...gaPod) pmetric.Metrics {
	const scope = "github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver"
	ts := pcommon.NewTimestampFromTime(at)
	md := pmetric.NewMetrics()

	host := md.ResourceMetrics().AppendEmpty()
	host.Resource().Attributes().PutStr("host.name", gaNode)
	all := host.Resource().Attributes().PutEmptySlice("otelcol.kubelet.pods")
	for _, p := range pods {
		all.AppendEmpty().SetStr(p.ref())
	}
	hsm := host.ScopeMetrics().AppendEmpty()
	hsm.Scope().SetName(scope)
	gauge := func(ms pmetric.MetricSlice, name string) pmetric.NumberDataPointSlice {
		m := ms.AppendEmpty()
		m.SetName(name)
		return m.SetEmptyGauge().DataPoints()
	}
	upDown := func(ms pmetric.MetricSlice, name string) pmetric.NumberDataPointSlice {
		m := ms.AppendEmpty()
		m.SetName(name)
		s := m.SetEmptySum()
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		return s.DataPoints()
	}
	point := func(dps pmetric.NumberDataPointSlice) pmetric.NumberDataPoint {
		dp := dps.AppendEmpty()
		dp.SetTimestamp(ts)
		return dp
	}
	cpu := gauge(hsm.Metrics(), "system.cpu.utilization")
	for _, mode := range []struct {
		name string
		v    float64
	}{{"user", 0.25}, {"system", 0.05}, {"iowait", 0.1}, {"idle", 0.6}} {
		dp := point(cpu)
		dp.SetDoubleValue(mode.v)
		dp.Attributes().PutStr("cpu.mode", mode.name)
	}
	mem := upDown(hsm.Metrics(), "system.memory.usage")
	for state, v := range map[string]int64{"used": 4e9, "free": 10e9, "buffers": 0.5e9, "cached": 1.5e9} {
		dp := point(mem)
		dp.SetIntValue(v)
		dp.Attributes().PutStr("system.memory.state", state)
	}
	memU := point(gauge(hsm.Metrics(), "system.memory.utilization"))
	memU.SetDoubleValue(0.25)
	memU.Attributes().PutStr("system.memory.state", "used")
	point(upDown(hsm.Metrics(), "system.memory.limit")).SetIntValue(16e9)

	// Each pod's own cgroup use, as the receiver reports it with cgroup_root.
	for _, p := range pods {
		if p.use == nil {
			continue
		}
		pr := md.ResourceMetrics().AppendEmpty()
		pr.Resource().Attributes().PutStr("host.name", gaNode)
		pr.Resource().Attributes().PutStr("k8s.pod.uid", p.uid)
		psm := pr.ScopeMetrics().AppendEmpty()
		psm.Scope().SetName(scope)
		point(gauge(psm.Metrics(), "container.cpu.utilization")).SetDoubleValue(p.use.cpu)
		point(upDown(psm.Metrics(), "container.memory.usage")).SetIntValue(p.use.mem)
		point(gauge(psm.Metrics(), "container.memory.utilization")).SetDoubleValue(p.use.memShare)
	}

	for i := range 8 {
		gr := md.ResourceMetrics().AppendEmpty()
		ra := gr.Resource().Attributes()
		ra.PutStr("host.name", gaNode)
		ra.PutStr("hw.type", "gpu")
		ra.PutStr("hw.id", gaUUID(i))
		ra.PutStr("hw.name", fmt.Sprintf("gpu%d", i))
		ra.PutInt("hw.gpu.index", int64(i))
		ra.PutStr("hw.model", "NVIDIA H100 80GB HBM3")
		ra.PutStr("hw.vendor", "NVIDIA")
		holders := ra.PutEmptySlice("otelcol.gpu.pods") // empty: allocated to no pod
		gsm := gr.ScopeMetrics().AppendEmpty()
		gsm.Scope().SetName(scope)
		u := point(gauge(gsm.Metrics(), "hw.gpu.utilization"))
		u.SetDoubleValue(float64(i) / 10)
		u.Attributes().PutStr("hw.gpu.task", "general")
		point(upDown(gsm.Metrics(), "hw.gpu.memory.usage")).SetIntValue(int64(i+1) * 1e9)
		pmem := upDown(gsm.Metrics(), "hw.gpu.process.memory.usage")
		putil := gauge(gsm.Metrics(), "hw.gpu.process.utilization")
		for _, p := range pods {
			if slices.Contains(p.gpus, i) {
				holders.AppendEmpty().SetStr(p.ref())
			}
			for vpid, pr := range p.procs {
				if pr.gpu != i {
					continue
				}
				proc := func(dp pmetric.NumberDataPoint) {
					a := dp.Attributes()
					a.PutInt("process.pid", pr.hostPID)
					a.PutInt("process.vpid", int64(vpid+1))
					a.PutStr("container.id", p.container)
					a.PutStr("k8s.pod.uid", p.uid)
				}
				m := point(pmem)
				m.SetIntValue(pr.hostPID * 1e6)
				proc(m)
				pu := point(putil)
				pu.SetDoubleValue(float64(pr.hostPID) / 1e5)
				proc(pu)
				pu.Attributes().PutStr("hw.gpu.task", "general")
			}
		}
	}
	return md
}

// gaAgent is the node agent's OTLP/gRPC exporter, reduced to one export
// call per scrape.
func gaAgent(t *testing.T, c *Collector) func(pmetric.Metrics) {
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", c.Ports.GRPC), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	client := pmetricotlp.NewGRPCClient(conn)
	return func(md pmetric.Metrics) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := client.Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md))
		require.NoError(t, err, "the gateway refused the node agent's export")
	}
}

// TestGPUAttributionSharedNode: two training pods share an 8-GPU node, the
// kubelet gave trainer-a GPUs 2,3 and trainer-b GPUs 5,6, and an unrelated
// notebook pod runs on GPU 0. The node agent forwards the gpu receiver's
// scrapes (with the kubelet's allocation) to the collector over OTLP. Each
// run gets exactly its own GPUs' metrics, numbered as its pod sees them
// (gpu_0 = its lowest NVML index), its own processes' memory and
// utilisation, nothing of the other pod's GPUs or of the notebook, and its
// pod's own CPU and memory (the receiver's container.* metrics of the pod's
// cgroup) in place of the host's. A third run naming a pod the kubelet does not know
// falls through to its visible devices (GPU 7), and the collector says so
// once (docs/mapping.md §9).
func TestGPUAttributionSharedNode(t *testing.T) {
	srv := startMLflow(t)
	exp := srv.Experiment("gpu-attribution")
	c := StartCollector(t, baseConfig(serverExporterConfig(srv.URL(), exp)))

	// The training pods: the OTel SDK in each reports its pod (downward
	// API), the node's name as host.name, its own pid (1 in its PID
	// namespace) and container.
	trainerC := gaPod{ns: "ml", name: "trainer-c", uid: "eeeeeeee-0000-4000-8000-00000000000e", container: strings.Repeat("e5", 32)}
	type trainer struct {
		pod   gaPod
		extra []attribute.KeyValue
	}
	trainers := []trainer{
		{pod: gaTrainerA},
		{pod: gaTrainerB},
		// Not among the node's pods (scheduled elsewhere, or the kubelet's
		// list is behind): its CUDA_VISIBLE_DEVICES decides.
		{pod: trainerC, extra: []attribute.KeyValue{attribute.String("nvidia.visible_devices", gaUUID(7))}},
	}
	for _, tr := range trainers {
		attrs := append([]attribute.KeyValue{
			attribute.String("service.name", "trainer"),
			attribute.String("mlflow.experiment.name", exp),
			attribute.String("mlflow.run.name", tr.pod.name),
			attribute.String("host.name", gaNode),
			attribute.String("k8s.namespace.name", tr.pod.ns),
			attribute.String("k8s.pod.name", tr.pod.name),
			attribute.String("k8s.pod.uid", tr.pod.uid),
			attribute.String("container.id", tr.pod.container),
			attribute.Int("process.pid", 1),
		}, tr.extra...)
		s := NewSender(t, c, GRPC, resource.NewSchemaless(attrs...), true)
		loss, err := s.MP.Meter("train").Float64Gauge("loss")
		require.NoError(t, err)
		loss.Record(context.Background(), 0.5, otelmetric.WithAttributes(attribute.Int("step", 0)))
		s.Flush(t)
	}
	// Host telemetry goes to the runs the collector knows on the host: the
	// scrapes are sent once the trainers' runs exist.
	runIDs := map[string]string{}
	eventually(t, 20*time.Second, "the three runs with their loss", func() bool {
		rs := srv.runsByName()
		for _, tr := range trainers {
			r, ok := rs[tr.pod.name]
			if !ok || len(srv.MetricHistory(r.Info.RunID, "loss")) != 1 {
				return false
			}
			runIDs[tr.pod.name] = r.Info.RunID
		}
		return true
	})

	const scrapes = 3
	agent := gaAgent(t, c)
	base := time.Now().Truncate(time.Millisecond)
	var scrapeMs []int64
	for k := 1; k <= scrapes; k++ {
		// The scrapes' timestamps a second apart, as a 1s collection
		// interval would stamp them; sent at once.
		at := base.Add(time.Duration(k) * time.Second)
		scrapeMs = append(scrapeMs, at.UnixMilli())
		agent(gaScrape(at, gaTrainerA, gaTrainerB, gaNotebook, gaDNS))
	}

	// What each run must hold: per key, the value of every scrape.
	hostKeys := map[string]float64{
		"system/cpu_utilization_percentage":     30,
		"system/system_memory_usage_megabytes":  4000,
		"system/system_memory_usage_percentage": 25,
		"system/system_memory_total_megabytes":  16000,
	}
	type want struct {
		gpus  []int // physical GPU seen as gpu_0, gpu_1, ...
		procs []gaProc
		use   *gaUse // its pod's own CPU and memory, in place of the host's
	}
	wants := map[string]want{
		"trainer-a": {gpus: []int{2, 3}, procs: gaTrainerA.procs, use: gaTrainerA.use},
		"trainer-b": {gpus: []int{5, 6}, procs: gaTrainerB.procs, use: gaTrainerB.use},
		"trainer-c": {gpus: []int{7}}, // its pod reports no cgroup use here: the host's
	}
	expected := func(w want) map[string]float64 {
		keys := map[string]float64{}
		for k, v := range hostKeys {
			keys[k] = v
		}
		if w.use != nil {
			keys["system/cpu_utilization_percentage"] = 100 * w.use.cpu
			keys["system/system_memory_usage_megabytes"] = float64(w.use.mem) / 1e6
			keys["system/system_memory_usage_percentage"] = 100 * w.use.memShare
		}
		for pos, phys := range w.gpus {
			keys[fmt.Sprintf("system/gpu_%d_utilization_percentage", pos)] = float64(phys) * 10
			keys[fmt.Sprintf("system/gpu_%d_memory_usage_megabytes", pos)] = float64(phys+1) * 1000
			for _, p := range w.procs {
				if p.gpu == phys {
					keys[fmt.Sprintf("system/gpu_%d_process_memory_usage_megabytes", pos)] = float64(p.hostPID)
					keys[fmt.Sprintf("system/gpu_%d_process_utilization_percentage", pos)] = float64(p.hostPID) / 1e3
				}
			}
		}
		return keys
	}
	eventually(t, 20*time.Second, "every scrape's expected keys in every run", func() bool {
		for run, w := range wants {
			for k := range expected(w) {
				if len(srv.MetricHistory(runIDs[run], k)) < scrapes {
					return false
				}
			}
		}
		return true
	})

	for run, w := range wants {
		t.Run(run, func(t *testing.T) {
			got, err := srv.GetRun(runIDs[run])
			require.NoError(t, err)
			values := expected(w)
			var keys, wantKeys []string
			for _, m := range got.Data.Metrics {
				if strings.HasPrefix(m.Key, "system/") {
					keys = append(keys, m.Key)
				}
			}
			for k := range values {
				wantKeys = append(wantKeys, k)
			}
			sort.Strings(keys)
			sort.Strings(wantKeys)
			assert.Equal(t, wantKeys, keys, "its own GPUs as it sees them, its own processes, the host; nothing else")
			for k, v := range values {
				hist := srv.MetricHistory(runIDs[run], k)
				require.Len(t, hist, scrapes, "%s: one point per scrape, no other GPU's or process's value under it", k)
				for i, m := range hist {
					assert.InDelta(t, v, m.Value, 1e-9, "%s, scrape %d", k, i+1)
					assert.Equal(t, scrapeMs[i], m.Timestamp, "%s: the scrape's timestamp", k)
				}
			}
			tags := map[string]string{}
			for _, tag := range got.Data.Tags {
				if strings.HasPrefix(tag.Key, "otelcol.system/") {
					tags[tag.Key] = tag.Value
				}
			}
			wantTags := map[string]string{}
			for pos, phys := range w.gpus {
				wantTags[fmt.Sprintf("otelcol.system/gpu_%d", pos)] = fmt.Sprintf("index=%d,uuid=%s", phys, gaUUID(phys))
			}
			assert.Equal(t, wantTags, tags, "one tag per GPU: the physical GPU behind gpu_<i>")
		})
	}

	// Where each run's GPUs came from, logged once per run and host; the
	// fallback of the pod the kubelet does not know, once.
	out := c.Output()
	for run, source := range map[string]string{"trainer-a": "pod_resources", "trainer-b": "pod_resources", "trainer-c": "visible_devices"} {
		var gpus []string
		for _, phys := range wants[run].gpus {
			gpus = append(gpus, fmt.Sprintf("%q", gaUUID(phys)))
		}
		var lines []string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "GPUs attributed to run") && strings.Contains(l, runIDs[run]) {
				lines = append(lines, l)
			}
		}
		if assert.Len(t, lines, 1, "%s: one line for where its GPUs came from", run) {
			assert.Contains(t, lines[0], fmt.Sprintf(`"source": %q, "gpus": [%s]`, source, strings.Join(gpus, ", ")), run)
		}
	}
	warn := "The run's pod is not among the pods of its node's kubelet"
	assert.Equal(t, 1, countLines(out, warn), "logged once though %d scrapes × 8 GPUs met it:\n%s", scrapes, out)
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, warn) {
			assert.Contains(t, l, runIDs["trainer-c"])
			assert.Contains(t, l, "ml/trainer-c")
		}
	}
	assert.NotContains(t, out, "panic")
}
