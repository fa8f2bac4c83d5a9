package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	otelmetric "go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// serverExporterConfig is the mlflow exporter's settings for a test
// server: quick flushes and retries.
func serverExporterConfig(url, experiment string) string {
	return fmt.Sprintf(`
tracking_uri: %s
experiment_name: %s
sending_queue:
  batch:
    flush_timeout: 100ms
retry_on_failure:
  initial_interval: 100ms
  max_interval: 1s
`, url, experiment)
}

func kv[T ~struct{ Key, Value string }](items []T) map[string]string {
	m := map[string]string{}
	for _, it := range items {
		s := struct{ Key, Value string }(it)
		m[s.Key] = s.Value
	}
	return m
}

// trainingJob records what a small training loop would: per-step losses
// (with a split attribute for validation), a histogram of step durations,
// params known at start-up in the resource, one param known later through
// the mlflow.params metric, and the run end.
type trainingJob struct {
	flushTimes [][2]int64 // [before, after] of each flush, ms
}

func (j *trainingJob) run(t *testing.T, s *Sender, steps, flushEvery int, end string) {
	ctx := context.Background()
	m := s.MP.Meter("train")
	loss, err := m.Float64Gauge("train_loss")
	require.NoError(t, err)
	vloss, err := m.Float64Gauge("loss")
	require.NoError(t, err)
	dur, err := m.Float64Histogram("step_duration", otelmetric.WithExplicitBucketBoundaries(0.1, 0.2, 0.5))
	require.NoError(t, err)
	info, err := m.Int64Gauge("mlflow.params")
	require.NoError(t, err)
	for i := 0; i < steps; i++ {
		step := attribute.Int("step", i)
		loss.Record(ctx, 1/float64(i+1), otelmetric.WithAttributes(step))
		vloss.Record(ctx, 2/float64(i+1), otelmetric.WithAttributes(step, attribute.String("split", "val")))
		dur.Record(ctx, 0.15)
		if i == 2 {
			info.Record(ctx, 1, otelmetric.WithAttributes(attribute.Int("best_epoch", 2)))
		}
		if (i+1)%flushEvery == 0 {
			j.flush(t, s)
		}
	}
	if end != "" {
		endG, err := m.Int64Gauge("mlflow.run.end")
		require.NoError(t, err)
		endG.Record(ctx, 1, otelmetric.WithAttributes(attribute.String("status", end)))
	}
	j.flush(t, s)
}

func (j *trainingJob) flush(t *testing.T, s *Sender) {
	// Flushes a few ms apart: identical points with the same (key,
	// timestamp, step) are one point to MLflow and to the exporter.
	time.Sleep(3 * time.Millisecond) // pacing: distinct timestamps, see above
	before := time.Now().UnixMilli()
	s.Flush(t)
	j.flushTimes = append(j.flushTimes, [2]int64{before, time.Now().UnixMilli()})
}

func TestOTLPFromGoSDKLandsInMLflowServer(t *testing.T) {
	srv := startMLflow(t)
	exp := srv.Experiment("sdk")
	c := StartCollector(t, baseConfig(serverExporterConfig(srv.URL(), exp)))

	cases := []struct {
		proto Protocol
		run   string
		delta bool
		end   string
	}{
		// Cumulative temporality re-exports every step at each flush: the
		// exporter must write each step once.
		{GRPC, "grpc-cumulative", false, "FINISHED"},
		{HTTP, "http-delta", true, "FAILED"},
		{GRPC, "grpc-delta", true, "KILLED"},
		{HTTP, "http-cumulative", false, "FINISHED"},
	}
	jobs := map[string]*trainingJob{}
	for _, tc := range cases {
		res := resource.NewSchemaless(
			attribute.String("service.name", "trainer"),
			attribute.String("service.instance.id", "inst-"+tc.run),
			attribute.String("host.name", "node-1"),
			attribute.String("mlflow.run.name", tc.run),
			attribute.String("mlflow.param.learning_rate", "0.001"),
			attribute.Int("mlflow.param.batch_size", 32),
			attribute.String("mlflow.tag.team", "vision"),
			attribute.String("vcs.ref.head.revision", "deadbeef"),
		)
		s := NewSender(t, c, tc.proto, res, tc.delta)
		j := &trainingJob{}
		j.run(t, s, 12, 4, tc.end)
		jobs[tc.run] = j
	}

	eventually(t, 30*time.Second, "every run ended with its status", func() bool {
		rs := srv.runsByName()
		for _, tc := range cases {
			if string(rs[tc.run].Info.Status) != tc.end {
				return false
			}
		}
		return true
	})

	expID := srv.ExperimentID(exp)
	require.NotEmpty(t, expID, "experiment %s created", exp)
	rs := srv.runsByName()
	require.Len(t, rs, len(cases), "exactly one run per case")
	require.Len(t, srv.Runs(), len(cases), "no run created twice, deleted or not")
	for _, tc := range cases {
		t.Run(tc.run, func(t *testing.T) {
			// runs/get, not the search result: the run as a client reads it.
			fromGet, err := srv.GetRun(rs[tc.run].Info.RunID)
			require.NoError(t, err)
			r := *fromGet
			assert.Equal(t, expID, r.Info.ExperimentID)
			assert.Equal(t, map[string]string{"learning_rate": "0.001", "batch_size": "32", "best_epoch": "2"}, kv(r.Data.Params))
			tags := kv(r.Data.Tags)
			assert.Equal(t, "vision", tags["team"])
			assert.Equal(t, "deadbeef", tags["mlflow.source.git.commit"])
			assert.Equal(t, "trainer", tags["service.name"])
			assert.Equal(t, "inst-"+tc.run, tags["service.instance.id"])
			assert.Equal(t, "node-1", tags["host.name"])
			assert.Equal(t, tc.run, tags["mlflow.runName"])

			flushes := jobs[tc.run].flushTimes
			inSomeFlush := func(ts int64) bool {
				for _, f := range flushes {
					if ts >= f[0] && ts <= f[1] {
						return true
					}
				}
				return false
			}
			for key, scale := range map[string]float64{"train_loss": 1, "loss/split_val": 2} {
				hist := srv.MetricHistory(r.Info.RunID, key)
				require.Len(t, hist, 12, "%s: each step exactly once", key)
				sort.Slice(hist, func(a, b int) bool { return hist[a].Step < hist[b].Step })
				for i, m := range hist {
					assert.Equal(t, int64(i), m.Step)
					assert.InDelta(t, scale/float64(i+1), m.Value, 1e-12)
					assert.True(t, inSomeFlush(m.Timestamp), "%s step %d: timestamp %d is the SDK's collection time", key, i, m.Timestamp)
				}
			}
			// Histogram parts: one point per flush (4 flushes), count grows
			// with cumulative temporality, stays at 4 per flush with delta.
			count := srv.MetricHistory(r.Info.RunID, "step_duration.count")
			want := []float64{4, 8, 12, 12}
			if tc.delta {
				want = []float64{4, 4, 4} // the last flush had no new durations
			}
			got := make([]float64, len(count))
			for i, m := range count {
				got[i] = m.Value
			}
			assert.Equal(t, want, got, "histogram count per flush")
			p50 := srv.MetricHistory(r.Info.RunID, "step_duration.p50")
			require.NotEmpty(t, p50)
			assert.InDelta(t, 0.15, p50[0].Value, 0.05+1e-9, "p50 inside the (0.1, 0.2] bucket")
		})
	}

	self := c.SelfMetrics(t)
	assert.Contains(t, self, "otelcol_exporter_mlflow_requests")
	assert.Contains(t, self, `rpc="runs/log-batch"`)
	assert.Contains(t, self, "otelcol_exporter_mlflow_duplicate_points")
	assert.False(t, strings.Contains(c.Output(), "panic"), c.Output())
}
