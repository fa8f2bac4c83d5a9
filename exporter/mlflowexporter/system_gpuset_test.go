package mlflowexporter

import (
	"fmt"
	"strings"
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

// gpuNode is hostMetrics with n GPUs (UUID GPU-uuid-<i>); GPU i reports
// utilization i/10 and process memory (pid*1e6 bytes) for procs[i].
func gpuNode(host string, at time.Duration, n int, procs map[int][]int64) pmetric.Metrics {
	md := hostMetrics(host, at, 1)
	// Drop hostMetrics' own GPU and add n.
	md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		_, ok := rm.Resource().Attributes().Get("hw.gpu.index")
		return ok
	})
	ts := pcommon.NewTimestampFromTime(t0.Add(at))
	for i := 0; i < n; i++ {
		gr := md.ResourceMetrics().AppendEmpty()
		_ = gr.Resource().Attributes().FromRaw(map[string]any{"host.name": host, "hw.gpu.index": int64(i), "hw.id": fmt.Sprintf("GPU-uuid-%d", i)})
		gms := gr.ScopeMetrics().AppendEmpty().Metrics()
		u := gms.AppendEmpty()
		u.SetName("hw.gpu.utilization")
		udp := u.SetEmptyGauge().DataPoints().AppendEmpty()
		udp.SetDoubleValue(float64(i) / 10)
		udp.SetTimestamp(ts)
		udp.Attributes().PutStr("hw.gpu.task", "general")
		pu := gms.AppendEmpty()
		pu.SetName("hw.gpu.process.memory.usage")
		pps := pu.SetEmptySum().DataPoints()
		for _, pid := range procs[i] {
			pdp := pps.AppendEmpty()
			pdp.SetIntValue(pid * 1_000_000)
			pdp.SetTimestamp(ts)
			pdp.Attributes().PutInt("process.pid", pid)
		}
	}
	return md
}

func trainerSees(run, host string, pid int64, devices string) res {
	r := trainerOn(run, host, pid, pt{name: "loss", value: 1, step: 0})
	r.attrs[gpuset.Attr] = devices
	return r
}

// gpuKeys lists a run's system/gpu_* keys and otelcol.system tags.
func gpuKeys(srv *mlflowtest.Server, r mlflow.Run) (keys []string, tags map[string]string) {
	tags = map[string]string{}
	for _, t := range r.Data.Tags {
		if strings.HasPrefix(t.Key, "otelcol.system/") {
			tags[t.Key] = t.Value
		}
	}
	for i := 0; i < 8; i++ {
		for _, k := range []string{"utilization_percentage", "process_memory_usage_megabytes"} {
			key := fmt.Sprintf("system/gpu_%d_%s", i, k)
			if len(srv.MetricHistory(r.Info.RunID, key)) > 0 {
				keys = append(keys, key)
			}
		}
	}
	return keys, tags
}

func TestSystemMetricsPerRunGPUSet(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	require.NoError(t, h.push(metrics(
		trainerSees("pod-a", "node-1", 10, "0,1"),
		trainerSees("pod-b", "node-1", 20, "GPU-uuid-3,2"), // UUIDs and indices, out of order
		trainerSees("cpu-only", "node-1", 30, "none"),
		trainerOn("whole-host", "node-1", 40, pt{name: "loss", value: 1, step: 0}),
	)))
	// pid 10 on GPU 1, pid 20 on GPUs 2 and 3; pid 20 also on GPU 0 (an
	// aliased pid from another PID namespace: not pod-b's GPU, not mapped).
	procs := map[int][]int64{0: {20}, 1: {10}, 2: {20}, 3: {20, 40}}
	require.NoError(t, h.push(gpuNode("node-1", time.Second, 4, procs)))
	require.NoError(t, h.push(gpuNode("node-1", 2*time.Second, 4, procs)))

	util := func(run string, i int) []mlflow.Metric {
		return srv.MetricHistory(oneRun(t, srv, run).Info.RunID, fmt.Sprintf("system/gpu_%d_utilization_percentage", i))
	}

	a := oneRun(t, srv, "pod-a")
	keys, tags := gpuKeys(srv, a)
	assert.ElementsMatch(t, []string{
		"system/gpu_0_utilization_percentage", "system/gpu_1_utilization_percentage",
		"system/gpu_1_process_memory_usage_megabytes",
	}, keys)
	assert.Equal(t, map[string]string{
		"otelcol.system/gpu_0": "index=0,uuid=GPU-uuid-0",
		"otelcol.system/gpu_1": "index=1,uuid=GPU-uuid-1",
	}, tags)
	require.Len(t, util("pod-a", 1), 2)
	assert.InDelta(t, 10.0, util("pod-a", 1)[0].Value, 1e-9)
	assert.Equal(t, 10.0, srv.MetricHistory(a.Info.RunID, "system/gpu_1_process_memory_usage_megabytes")[0].Value)

	b := oneRun(t, srv, "pod-b")
	keys, tags = gpuKeys(srv, b)
	assert.ElementsMatch(t, []string{
		"system/gpu_0_utilization_percentage", "system/gpu_0_process_memory_usage_megabytes",
		"system/gpu_1_utilization_percentage", "system/gpu_1_process_memory_usage_megabytes",
	}, keys)
	assert.Equal(t, map[string]string{
		"otelcol.system/gpu_0": "index=3,uuid=GPU-uuid-3",
		"otelcol.system/gpu_1": "index=2,uuid=GPU-uuid-2",
	}, tags)
	require.Len(t, util("pod-b", 0), 2, "one point per scrape: nothing of GPU 0 mixed in")
	assert.InDelta(t, 30.0, util("pod-b", 0)[0].Value, 1e-9, "gpu_0 is physical GPU 3")
	assert.InDelta(t, 20.0, util("pod-b", 1)[0].Value, 1e-9, "gpu_1 is physical GPU 2")
	mem0 := srv.MetricHistory(b.Info.RunID, "system/gpu_0_process_memory_usage_megabytes")
	require.Len(t, mem0, 2, "GPU 0's pid 20 is not pod-b's")
	assert.Equal(t, 20.0, mem0[0].Value)

	c := oneRun(t, srv, "cpu-only")
	keys, tags = gpuKeys(srv, c)
	assert.Empty(t, keys)
	assert.Empty(t, tags)
	assert.Len(t, srv.MetricHistory(c.Info.RunID, "system/cpu_utilization_percentage"), 2, "host metrics as today")
	for _, run := range []string{"pod-a", "pod-b"} {
		assert.Len(t, srv.MetricHistory(oneRun(t, srv, run).Info.RunID, "system/cpu_utilization_percentage"), 2)
	}

	// No attribute: every GPU under its NVML index, no tags (as before).
	w := oneRun(t, srv, "whole-host")
	keys, tags = gpuKeys(srv, w)
	assert.ElementsMatch(t, []string{
		"system/gpu_0_utilization_percentage", "system/gpu_1_utilization_percentage",
		"system/gpu_2_utilization_percentage", "system/gpu_3_utilization_percentage",
		"system/gpu_3_process_memory_usage_megabytes",
	}, keys)
	assert.Empty(t, tags)
	assert.InDelta(t, 30.0, util("whole-host", 3)[0].Value, 1e-9)
}

func TestSystemMetricsGPUSetAllAndInvalid(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	require.NoError(t, h.push(metrics(
		trainerSees("all", "node-1", 1, "all"),
		trainerSees("truncated", "node-1", 2, "1,bogus,0"),
	)))
	require.NoError(t, h.push(gpuNode("node-1", time.Second, 2, nil)))
	keys, tags := gpuKeys(srv, oneRun(t, srv, "all"))
	assert.ElementsMatch(t, []string{"system/gpu_0_utilization_percentage", "system/gpu_1_utilization_percentage"}, keys)
	assert.Empty(t, tags)
	// CUDA stops at the first entry that is no device: only GPU 1, as gpu_0.
	keys, tags = gpuKeys(srv, oneRun(t, srv, "truncated"))
	assert.Equal(t, []string{"system/gpu_0_utilization_percentage"}, keys)
	assert.Equal(t, map[string]string{"otelcol.system/gpu_0": "index=1,uuid=GPU-uuid-1"}, tags)
}

func TestSystemMetricsGPUSetMIG(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	require.NoError(t, h.push(metrics(
		trainerSees("mig", "node-1", 1, "MIG-abcd"),
		trainerSees("parent", "node-1", 2, "1"),
	)))
	md := pmetric.NewMetrics()
	gr := md.ResourceMetrics().AppendEmpty()
	_ = gr.Resource().Attributes().FromRaw(map[string]any{"host.name": "node-1", "hw.gpu.index": int64(1),
		"hw.gpu.mig.index": int64(2), "hw.id": "MIG-abcdef", "hw.parent": "GPU-uuid-1"})
	u := gr.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	u.SetName("hw.gpu.memory.usage")
	dp := u.SetEmptySum().DataPoints().AppendEmpty()
	dp.SetIntValue(5_000_000)
	dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Second)))
	require.NoError(t, h.push(md))

	m := oneRun(t, srv, "mig")
	assert.Len(t, srv.MetricHistory(m.Info.RunID, "system/gpu_0_memory_usage_megabytes"), 1, "the MIG device is the process's device 0")
	assert.Contains(t, m.Data.Tags, mlflow.Tag{Key: "otelcol.system/gpu_0", Value: "index=1,mig=2,uuid=MIG-abcdef"})
	p := oneRun(t, srv, "parent")
	assert.Len(t, srv.MetricHistory(p.Info.RunID, "system/gpu_0_mig_2_memory_usage_megabytes"), 1, "under its parent, GPU 1 seen as 0")
}
