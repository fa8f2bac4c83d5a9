package mlflowexporter

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
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
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
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

// A run's end sends what the run holds at once: the run shows FINISHED
// with its last points when the job ends, not max_delay later; another
// run's points keep waiting for their request.
func TestSpooledRunEndSendsAtOnce(t *testing.T) {
	srv := mlflowtest.Start(t)
	exp := startSpooled(t, spoolConfig(srv.URL(), time.Minute), hostWith(nil))
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()
	require.NoError(t, exp.ConsumeMetrics(context.Background(), flushOf(2, 0, 30)))
	last := flushOf(1, 30, 5)
	end := last.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().AppendEmpty()
	end.SetName("mlflow.run.end")
	dp := end.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetIntValue(1)
	dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Minute)))
	require.NoError(t, exp.ConsumeMetrics(context.Background(), last))

	status := func(name string) (mlflow.RunStatus, int) {
		for _, r := range srv.Runs() {
			if r.Info.RunName == name {
				return r.Info.Status, len(srv.MetricHistory(r.Info.RunID, "loss"))
			}
		}
		return "", 0
	}
	require.Eventually(t, func() bool {
		st, n := status("run-0")
		return st == mlflow.RunStatusFinished && n == 35
	}, 10*time.Second, 10*time.Millisecond, "run-0 ended with its 35 points")
	_, n := status("run-1")
	assert.Zero(t, n, "run-1 still waits for a full request")
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

// inflightStorage wraps a storage extension and records, from every write
// of the persistent queue's metadata, how many requests the queue had in
// flight (its currently_dispatched_items, field 5).
type inflightStorage struct {
	storage.Extension
	maxSeen atomic.Int64
}

func (s *inflightStorage) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := s.Extension.GetClient(ctx, kind, id, name)
	return inflightClient{Client: c, s: s}, err
}

type inflightClient struct {
	storage.Client
	s *inflightStorage
}

// queueMetadataKey is where exporterhelper's persistent queue keeps its
// metadata.
const queueMetadataKey = "qmv0"

func (c inflightClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	for _, op := range ops {
		if op.Type == storage.Set && op.Key == queueMetadataKey {
			raise(&c.s.maxSeen, int64(dispatched(op.Value)))
		}
	}
	return c.Client.Batch(ctx, ops...)
}

func (s *inflightStorage) max() int { return int(s.maxSeen.Load()) }

// raise makes a at least n.
func raise(a *atomic.Int64, n int64) {
	for p := a.Load(); n > p && !a.CompareAndSwap(p, n); p = a.Load() {
	}
}

// dispatched counts the packed fixed64 entries of field 5.
func dispatched(b []byte) int {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return -1
		}
		b = b[n:]
		if num == 5 && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b)
			return len(v) / 8
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return -1
		}
		b = b[m:]
	}
	return 0
}

// A backlog waits in the spool, not in requests the persistent queue has
// in flight: the queue rewrites its list of requests in flight with every
// operation, and batches held there made each operation cost O(held) — a
// gateway whose queue once fell behind (a minute of CPU contention) never
// caught up. However many exports wait for their runs' requests, the queue
// has at most num_consumers in flight.
func TestSpooledQueueHoldsNoBatches(t *testing.T) {
	srv := mlflowtest.Start(t)
	id, ext := fileStorage(t, t.TempDir())
	defer func() { require.NoError(t, ext.Shutdown(context.Background())) }()
	st := &inflightStorage{Extension: ext.(storage.Extension)}
	cfg := spoolConfig(srv.URL(), time.Minute)
	cfg.QueueConfig.Get().StorageID = &id
	cfg.QueueConfig.Get().Batch.Get().FlushTimeout = 10 * time.Second // a batcher would hold everything below
	exp := startSpooled(t, cfg, hostWith(map[component.ID]component.Component{id: st}))
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()
	s := exp.(runPartitioner).Metrics.(*spooledSender)
	const runs, exports = 50, 10
	for f := range exports {
		require.NoError(t, exp.ConsumeMetrics(context.Background(), flushOf(runs, f*20, 20)))
	}
	require.Eventually(t, func() bool { return s.spool.Held() == runs*exports*20 }, 10*time.Second, 5*time.Millisecond)
	assert.LessOrEqual(t, st.max(), cfg.QueueConfig.Get().NumConsumers, "requests in flight in the persistent queue")
	assert.Positive(t, st.max(), "the queue's metadata was seen")
	assert.Zero(t, srv.RequestCount("runs/log-batch"), "held for full requests")
}

// Under Databricks' 47 log-batch requests/s more requests are in flight
// than num_consumers: at 200 ms a request, four senders would spend a
// third of the budget.
func TestSpoolSendsEnoughAtOnceForTheBudget(t *testing.T) {
	srv := mlflowtest.Start(t)
	target, err := url.Parse(srv.URL())
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var inflight, peak atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/runs/log-batch") {
			raise(&peak, inflight.Add(1))
			time.Sleep(200 * time.Millisecond)
			defer inflight.Add(-1)
		}
		proxy.ServeHTTP(w, r)
	}))
	defer slow.Close()
	cfg := spoolConfig(slow.URL, time.Minute)
	cfg.RateLimits = map[string]float64{"log_batch": 47}
	exp := startSpooled(t, cfg, hostWith(nil))
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()
	const runs = 24
	require.NoError(t, exp.ConsumeMetrics(context.Background(), flushOf(runs, 0, 1000)))
	require.Eventually(t, func() bool { return landedPoints(srv) == runs*1000 }, 20*time.Second, 10*time.Millisecond)
	assert.Greater(t, peak.Load(), int64(cfg.QueueConfig.Get().NumConsumers), "log-batch requests in flight at once")
}
