package mlflowexporter

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// flushOf builds one SDK flush of every run: points of steps [from, from+n)
// for each of runs runs, their resources interleaved as a gateway receives
// them.
func flushOf(runs, from, n int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for r := range runs {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("mlflow.experiment.name", "gw")
		rm.Resource().Attributes().PutStr("mlflow.run.name", fmt.Sprintf("run-%d", r))
		g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		g.SetName("loss")
		dps := g.SetEmptyGauge().DataPoints()
		for s := from; s < from+n; s++ {
			dp := dps.AppendEmpty()
			dp.SetDoubleValue(float64(s))
			dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(s) * time.Millisecond)))
			dp.Attributes().PutInt("step", int64(s))
		}
	}
	return md
}

// Requests scale with data, not with runs: with the queue partitioned by
// run, ten runs sending 100 points per flush each fill 1000-point
// log-batch requests; one shared batch cuts every flush into one small
// request per run.
func TestBatchesArePartitionedByRun(t *testing.T) {
	const runs, flushes, perFlush = 10, 10, 100
	tests := []struct {
		name        string
		partitioned bool
		maxRequests int
	}{
		{"partitioned by run (default)", true, runs + 2},
		{"one shared batch", false, runs * flushes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mlflowtest.Start(t)
			cfg := createDefaultConfig().(*Config)
			cfg.TrackingURI = srv.URL()
			q := cfg.QueueConfig.Get()
			q.Batch.Get().FlushTimeout = 30 * time.Second // only size flushes within the test
			if !tt.partitioned {
				q.Batch.Get().Partition.MetadataKeys = nil
			}
			require.NoError(t, cfg.Validate())
			exp, err := NewFactory().CreateMetrics(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
			require.NoError(t, err)
			_, isPartitioner := exp.(runPartitioner)
			require.Equal(t, tt.partitioned, isPartitioner)
			require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
			for f := range flushes {
				require.NoError(t, exp.ConsumeMetrics(context.Background(), flushOf(runs, f*perFlush, perFlush)))
			}
			require.NoError(t, exp.Shutdown(context.Background())) // flushes what waits

			landed := 0
			for _, r := range srv.Runs() {
				landed += len(srv.MetricHistory(r.Info.RunID, "loss"))
			}
			require.Equal(t, runs*flushes*perFlush, landed, "every point lands")
			reqs := srv.RequestCount("runs/log-batch")
			t.Logf("%d log-batch requests for %d points (%.2f per 1000)", reqs, landed, float64(reqs)*1000/float64(landed))
			assert.LessOrEqual(t, reqs, tt.maxRequests)
			if !tt.partitioned {
				assert.Greater(t, reqs, 5*runs, "the unpartitioned baseline really is worse")
			}
		})
	}
}

// The partition travels in the client metadata, next to whatever the
// receiver put there (auth, headers), which stays.
func TestPartitionMetadataKeepsClientInfo(t *testing.T) {
	ctx := client.NewContext(context.Background(), client.Info{Metadata: client.NewMetadata(map[string][]string{"x-tenant": {"a"}})})
	a := partitionOf(flushOf(1, 0, 1).ResourceMetrics().At(0).Resource().Attributes())
	got := client.FromContext(withPartition(ctx, a)).Metadata
	assert.Equal(t, []string{"a"}, got.Get("x-tenant"))
	assert.Equal(t, []string{a}, got.Get(runPartitionKey))
	b := partitionOf(flushOf(2, 0, 1).ResourceMetrics().At(1).Resource().Attributes())
	assert.NotEqual(t, a, b, "runs get their own partitions")
}
