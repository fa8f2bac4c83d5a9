package mlflowexporter

import (
	"context"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// spoolConfig is a budget (rate_limits.log_batch) high enough not to slow
// the test, so that each run's points are held for full requests.
func spoolConfig(url string, maxDelay time.Duration) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.TrackingURI = url
	cfg.RateLimits = map[string]float64{"log_batch": 500}
	cfg.Coalesce.MaxDelay = maxDelay
	cfg.SystemMetrics.AttachWindow = 3 * time.Minute
	cfg.QueueConfig.Get().Batch.Get().FlushTimeout = 20 * time.Millisecond
	return cfg
}

func landedPoints(srv *mlflowtest.Server) int {
	n := 0
	for _, r := range srv.Runs() {
		n += len(srv.MetricHistory(r.Info.RunID, "loss"))
	}
	return n
}

func startSpooled(t *testing.T, cfg *Config, host component.Host) exporter.Metrics {
	t.Helper()
	require.NoError(t, cfg.Validate())
	set := exportertest.NewNopSettings(metadata.Type)
	set.ID = component.NewID(metadata.Type) // the storage is per id: the same after a restart
	exp, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host))
	return exp
}

// Under a budget, ten runs sending 50 points per flush (each flush its own
// request at the queue's 20 ms flush_timeout) make one full request per
// 1000 points of a run; the 10 points each run has left leave after
// max_delay in one more request each.
func TestSpooledRequestsAreFull(t *testing.T) {
	const runs, flushes, perFlush = 10, 20, 50
	srv := mlflowtest.Start(t)
	exp := startSpooled(t, spoolConfig(srv.URL(), 2*time.Second), hostWith(nil))
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()
	_, ok := exp.(runPartitioner).Metrics.(*spooledSender)
	require.True(t, ok, "a budget holds points in the run spool")
	for f := range flushes {
		require.NoError(t, exp.ConsumeMetrics(context.Background(), flushOf(runs, f*perFlush, perFlush)))
		time.Sleep(5 * time.Millisecond) // pacing: flushes arrive apart, as an SDK's do
	}
	require.Eventually(t, func() bool { return landedPoints(srv) == runs*flushes*perFlush }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, runs, srv.RequestCount("runs/log-batch"), "one full request per run, none partial")

	require.NoError(t, exp.ConsumeMetrics(context.Background(), flushOf(runs, flushes*perFlush, 10)))
	time.Sleep(time.Second) // within max_delay: the partial requests wait
	assert.Equal(t, runs, srv.RequestCount("runs/log-batch"))
	require.Eventually(t, func() bool { return landedPoints(srv) == runs*(flushes*perFlush+10) }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, 2*runs, srv.RequestCount("runs/log-batch"))
}

// extHost is a host with extensions, as the collector passes it.
type extHost struct {
	exts map[component.ID]component.Component
}

func (h extHost) GetExtensions() map[component.ID]component.Component { return h.exts }

func hostWith(exts map[component.ID]component.Component) component.Host { return extHost{exts} }

func fileStorage(t *testing.T, dir string) (component.ID, extension.Extension) {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), hostWith(nil)))
	return component.NewID(f.Type()), ext
}

// Points held for a full request are on disk, not only in memory: the
// exporter stops while it holds them, and the next one (same storage)
// writes every point once.
func TestSpooledPointsSurviveARestart(t *testing.T) {
	srv := mlflowtest.Start(t)
	dir := t.TempDir()
	run := func(maxDelay time.Duration, send bool) {
		id, ext := fileStorage(t, dir)
		defer func() { require.NoError(t, ext.Shutdown(context.Background())) }()
		cfg := spoolConfig(srv.URL(), maxDelay)
		cfg.QueueConfig.Get().StorageID = &id
		exp := startSpooled(t, cfg, hostWith(map[component.ID]component.Component{id: ext}))
		s := exp.(runPartitioner).Metrics.(*spooledSender)
		if send {
			for f := range 6 {
				require.NoError(t, exp.ConsumeMetrics(context.Background(), flushOf(3, f*50, 50)))
			}
			require.Eventually(t, func() bool { return s.spool.Held() == 900 }, 5*time.Second, 10*time.Millisecond)
		} else {
			require.Eventually(t, func() bool { return landedPoints(srv) == 900 }, 10*time.Second, 10*time.Millisecond)
		}
		require.NoError(t, exp.Shutdown(context.Background()))
	}
	run(time.Minute, true)
	require.Zero(t, landedPoints(srv), "held, not sent")
	run(50*time.Millisecond, false)
	assert.Equal(t, 900, landedPoints(srv))
	assert.Equal(t, 3, srv.RequestCount("runs/log-batch"))
}

// With access control every tenant lane holds its runs' points in a spool
// of its own (stored under the lane's id), and each tenant's runs still get
// full requests.
func TestSpooledLanes(t *testing.T) {
	srv := mlflowtest.Start(t)
	cfg := spoolConfig(srv.URL(), time.Minute)
	cfg.Access = AccessConfig{
		TenantFrom: []string{"auth.subject"},
		Tenants:    map[string][]string{"a": {"/Shared/a/*"}, "b": {"/Shared/b/*"}},
	}
	exp := startSpooled(t, cfg, hostWith(nil))
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()
	lanes := exp.(runPartitioner).lanes
	require.NotNil(t, lanes)
	for _, n := range lanes.names {
		_, ok := lanes.senders[n].(*spooledSender)
		assert.True(t, ok, "lane %q holds points in a spool", n)
	}
	for _, tenant := range []string{"a", "b"} {
		for step := range 1000 {
			r := res{attrs: map[string]any{"mlflow.experiment.name": "/Shared/" + tenant + "/e", "mlflow.run.name": tenant},
				points: []pt{{name: "loss", value: 1, step: int64(step), at: time.Duration(step) * time.Millisecond}}}
			require.NoError(t, exp.ConsumeMetrics(asTenant(tenant), metrics(r)))
		}
	}
	require.Eventually(t, func() bool { return landedPoints(srv) == 2000 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, 2, srv.RequestCount("runs/log-batch"), "one full request per tenant's run")
}
