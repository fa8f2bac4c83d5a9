package mlflowexporter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// hostMetrics is a gpu-receiver-like export: one host resource and one GPU.
func hostMetrics(host string, at time.Duration, netRx int64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	ts := pcommon.NewTimestampFromTime(t0.Add(at))
	hr := md.ResourceMetrics().AppendEmpty()
	hr.Resource().Attributes().PutStr("host.name", host)
	ms := hr.ScopeMetrics().AppendEmpty().Metrics()
	cpu := ms.AppendEmpty()
	cpu.SetName("system.cpu.utilization")
	cpuPoints := cpu.SetEmptyGauge().DataPoints()
	for mode, v := range map[string]float64{"user": 0.6, "idle": 0.4} {
		dp := cpuPoints.AppendEmpty()
		dp.SetDoubleValue(v)
		dp.SetTimestamp(ts)
		dp.Attributes().PutStr("cpu.mode", mode)
	}
	net := ms.AppendEmpty()
	net.SetName("system.network.io")
	s := net.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := s.DataPoints().AppendEmpty()
	dp.SetIntValue(netRx)
	dp.SetTimestamp(ts)
	dp.Attributes().PutStr("network.io.direction", "receive")

	gr := md.ResourceMetrics().AppendEmpty()
	_ = gr.Resource().Attributes().FromRaw(map[string]any{"host.name": host, "hw.gpu.index": int64(0), "hw.id": "GPU-1"})
	gms := gr.ScopeMetrics().AppendEmpty().Metrics()
	u := gms.AppendEmpty()
	u.SetName("hw.gpu.utilization")
	udp := u.SetEmptyGauge().DataPoints().AppendEmpty()
	udp.SetDoubleValue(0.9)
	udp.SetTimestamp(ts)
	udp.Attributes().PutStr("hw.gpu.task", "general")
	pu := gms.AppendEmpty()
	pu.SetName("hw.gpu.process.memory.usage")
	procPoints := pu.SetEmptySum().DataPoints()
	for _, pid := range []int64{42, 99} {
		pdp := procPoints.AppendEmpty()
		pdp.SetIntValue(pid * 1_000_000)
		pdp.SetTimestamp(ts)
		pdp.Attributes().PutInt("process.pid", pid)
	}
	return md
}

func trainerOn(run, host string, pid int64, pts ...pt) res {
	r := trainer(run, pts...)
	if host != "" {
		r.attrs["host.name"] = host
	}
	if pid != 0 {
		r.attrs["process.pid"] = pid
	}
	return r
}

func TestSystemMetricsAttachToRunsOnTheSameHost(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	require.NoError(t, h.push(metrics(
		trainerOn("on-node-1", "node-1", 42, pt{name: "loss", value: 1, step: 0}),
		trainerOn("on-node-2", "node-2", 7, pt{name: "loss", value: 1, step: 0}),
	)))
	require.NoError(t, h.push(hostMetrics("node-1", 10*time.Second, 5_000_000)))
	require.NoError(t, h.push(hostMetrics("node-1", 20*time.Second, 8_000_000)))

	r := oneRun(t, srv, "on-node-1")
	cpu := srv.MetricHistory(r.Info.RunID, "system/cpu_utilization_percentage")
	require.Len(t, cpu, 2)
	assert.InDelta(t, 60.0, cpu[0].Value, 1e-9)
	assert.Equal(t, t0.Add(10*time.Second).UnixMilli(), cpu[0].Timestamp)
	net := srv.MetricHistory(r.Info.RunID, "system/network_receive_megabytes")
	require.Len(t, net, 2)
	assert.Equal(t, 0.0, net[0].Value, "network is counted from when the run started seeing it")
	assert.InDelta(t, 3.0, net[1].Value, 1e-9)
	gpu := srv.MetricHistory(r.Info.RunID, "system/gpu_0_utilization_percentage")
	require.Len(t, gpu, 2)
	assert.InDelta(t, 90.0, gpu[0].Value, 1e-9)
	proc := srv.MetricHistory(r.Info.RunID, "system/gpu_0_process_memory_usage_megabytes")
	require.Len(t, proc, 2)
	assert.Equal(t, 42.0, proc[0].Value, "only the run's own process")

	other := oneRun(t, srv, "on-node-2")
	assert.Empty(t, srv.MetricHistory(other.Info.RunID, "system/cpu_utilization_percentage"), "another host's run gets nothing")
}

func TestSystemMetricsLocalRunWithoutHostName(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv, func(c *Config) { c.SystemMetrics.LocalHostName = "this-box" })
	require.NoError(t, h.push(metrics(trainerOn("local", "", 0, pt{name: "loss", value: 1, step: 0}))))
	require.NoError(t, h.push(hostMetrics("this-box", time.Second, 1)))
	assert.Len(t, srv.MetricHistory(oneRun(t, srv, "local").Info.RunID, "system/cpu_utilization_percentage"), 1)
}

func TestSystemMetricsMultiNodePrefix(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	require.NoError(t, h.push(metrics(
		trainerOn("ddp", "node-a", 1, pt{name: "loss", value: 1, step: 0}),
		trainerOn("ddp", "node-b", 2, pt{name: "loss", value: 1, step: 0}),
	)))
	require.NoError(t, h.push(hostMetrics("node-a", time.Second, 1)))
	require.NoError(t, h.push(hostMetrics("node-b", time.Second, 1)))
	r := oneRun(t, srv, "ddp")
	assert.Len(t, srv.MetricHistory(r.Info.RunID, "system/node-a/cpu_utilization_percentage"), 1)
	assert.Len(t, srv.MetricHistory(r.Info.RunID, "system/node-b/cpu_utilization_percentage"), 1)
	assert.Empty(t, srv.MetricHistory(r.Info.RunID, "system/cpu_utilization_percentage"))
}

func TestSystemMetricsStopWhenTheRunEnds(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv)
	require.NoError(t, h.push(metrics(trainerOn("r", "node-1", 0, pt{name: "loss", value: 1, step: 0}))))
	require.NoError(t, h.push(hostMetrics("node-1", time.Second, 1)))
	require.NoError(t, h.push(infoMetric("mlflow.run.end", nil, 2*time.Second)))
	require.NoError(t, h.push(hostMetrics("node-1", 3*time.Second, 1)))
	assert.Len(t, srv.MetricHistory(oneRun(t, srv, "r").Info.RunID, "system/cpu_utilization_percentage"), 1)
}

func TestSystemMetricsOff(t *testing.T) {
	srv := mlflowtest.Start(t)
	h := newHarness(t, srv, func(c *Config) { c.SystemMetrics.Mode = "off" })
	require.NoError(t, h.push(metrics(trainerOn("r", "node-1", 0, pt{name: "loss", value: 1, step: 0}))))
	require.NoError(t, h.push(hostMetrics("node-1", time.Second, 1)))
	assert.Empty(t, srv.MetricHistory(oneRun(t, srv, "r").Info.RunID, "system/cpu_utilization_percentage"))
}
