package translate

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

const t0 = uint64(1_732_000_000_000_000_000) // 2024-11-19, in ns

// trainingJob is a realistic export: a training process (gauges with step,
// a latency histogram, a summary, run information as metrics) and an
// evaluation process nested under it.
func trainingJob() pmetric.Metrics {
	md := pmetric.NewMetrics()
	_, ms := newResource(md, map[string]any{
		"service.name": "trainer", "service.version": "0.3.1", "host.name": "gpu-node-7", "process.pid": int64(31337),
		"mlflow.experiment.name": "resnet", "mlflow.run.name": "resnet50-lr0.1",
		"mlflow.param.model": "resnet50", "mlflow.param.lr": 0.1, "mlflow.tag.team": "vision",
		"vcs.ref.head.revision": "4f2a9c1", "vcs.ref.head.name": "main", "user.name": "alice",
	})
	loss, acc := addGauge(ms, "train/loss"), addGauge(ms, "train/accuracy")
	for step := int64(0); step < 3; step++ {
		ts := t0 + uint64(step)*1_500_000_000
		addPoint(loss, 2.5/float64(step+1), ts, map[string]any{"step": step})
		addPoint(acc, 0.3+0.2*float64(step), ts, map[string]any{"step": step})
	}
	util := addGauge(ms, "gpu.utilization")
	for gpu := int64(0); gpu < 2; gpu++ {
		addPoint(util, 0.9-0.1*float64(gpu), t0, map[string]any{"gpu": gpu, "gpu.uuid": "GPU-abc/" + string(rune('0'+gpu))})
	}
	tokens := ms.AppendEmpty()
	tokens.SetName("train/tokens")
	tokens.SetEmptySum().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	tdp := tokens.Sum().DataPoints().AppendEmpty()
	tdp.SetIntValue(1_048_576)
	tdp.SetTimestamp(pcommon.Timestamp(t0 + 3_000_000_000))

	h := ms.AppendEmpty()
	h.SetName("train/batch_seconds")
	hdp := h.SetEmptyHistogram().DataPoints().AppendEmpty()
	hdp.SetTimestamp(pcommon.Timestamp(t0 + 3_000_000_000))
	hdp.SetCount(20)
	hdp.SetSum(9)
	hdp.SetMin(0.2)
	hdp.SetMax(1.6)
	hdp.ExplicitBounds().FromRaw([]float64{0.25, 0.5, 1})
	hdp.BucketCounts().FromRaw([]uint64{2, 10, 6, 2})
	hdp.Attributes().PutInt("step", 2)

	s := ms.AppendEmpty()
	s.SetName("dataloader.wait_ms")
	sdp := s.SetEmptySummary().DataPoints().AppendEmpty()
	sdp.SetTimestamp(pcommon.Timestamp(t0 + 3_000_000_000))
	sdp.SetCount(60)
	sdp.SetSum(120)
	for _, qv := range [][2]float64{{0.5, 1.5}, {0.99, 7}} {
		v := sdp.QuantileValues().AppendEmpty()
		v.SetQuantile(qv[0])
		v.SetValue(qv[1])
	}
	addPoint(addGauge(ms, MetricParams), 1, t0, map[string]any{"batch_size": int64(256), "optimizer": "sgd"})
	addPoint(addGauge(ms, MetricTags), 1, t0, map[string]any{"phase": "done"})
	addPoint(addGauge(ms, MetricRunEnd), 1, t0+4_000_000_000, map[string]any{"status": "FINISHED"})

	_, ms = newResource(md, map[string]any{
		"service.name": "evaluator", "mlflow.experiment.name": "resnet", "mlflow.parent_run.name": "resnet50-lr0.1",
	})
	ev := addGauge(ms, "eval/accuracy")
	addPoint(ev, 0.71, t0+5_000_000_000, map[string]any{"split": "val"})
	addPoint(ev, 0.69, t0+5_000_000_000, map[string]any{"split": "test"})
	return md
}

func TestGoldenTrainingJob(t *testing.T) {
	md := trainingJob()
	tr := New(defaultOptions())
	var out []*ResourceData
	var st Stats
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rd := tr.Resource(md.ResourceMetrics().At(i), testNow, &st)
		for _, p := range rd.Points {
			mlflowAccepts(t, p.Key)
		}
		out = append(out, rd)
	}
	require.Equal(t, Stats{}, st)
	got, err := json.MarshalIndent(struct {
		Resources []*ResourceData
		Stats     Stats
	}{out, st}, "", "  ")
	require.NoError(t, err)
	got = append(got, '\n')

	path := filepath.Join("testdata", "golden", "training_job.json")
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -run TestGoldenTrainingJob -update to create it")
	if !bytes.Equal(want, got) {
		t.Errorf("translation differs from %s (rerun with -update after checking the change):\n%s", path, got)
	}
}
