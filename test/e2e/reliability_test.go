package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	otelmetric "go.opentelemetry.io/otel/metric"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// The messages health.go logs once per state change.
const (
	msgUnavailable = "MLflow is unavailable"
	msgThrottled   = "MLflow is throttling requests (429)"
	msgAvailable   = "MLflow is available again"
	msgPerRetry    = "Will retry the request after interval"
)

// TestReliabilityOutageMidStream takes MLflow away in the middle of a run
// in every way a server can fail (connection refused, 503, a socket that
// accepts and never answers, connections reset mid-request) while the
// training process keeps sending; everything the collector acknowledged
// lands once, in the one run, and the log says "unavailable" once and
// "available again" once.
func TestReliabilityOutageMidStream(t *testing.T) {
	skipOnRealServer(t, "needs fault injection: takes the server down and makes it answer 503, hang and reset connections")
	srv := startFlakyMLflow(t)
	c := StartCollector(t, relConfig(t, srv.URL(), false, ""))
	st := newStream(t, c, GRPC, "outage", 0, 1)
	for range 4 {
		st.mustSend(t, 5)
	}
	awaitLanded(t, srv.Server, "outage", st.acked, true, 15*time.Second)

	srv.Down()
	for range 6 {
		st.mustSend(t, 5)
		time.Sleep(200 * time.Millisecond) // pacing: sends spread over the outage
	}
	// The server comes back sick: the faults below apply in this order,
	// to whatever RPCs the exporter makes, then it is healthy.
	srv.AddFault(mlflowtest.Fault{Status: http.StatusServiceUnavailable, ErrorCode: "TEMPORARILY_UNAVAILABLE", Message: "database is restarting", Times: 4})
	srv.AddFault(mlflowtest.Fault{Hang: true, Times: 2}) // the 1s client timeout ends these
	srv.AddFault(mlflowtest.Fault{DropConnection: true, Times: 4})
	srv.Up(t)
	for range 4 {
		st.mustSend(t, 5)
		time.Sleep(200 * time.Millisecond) // pacing: sends spread over the recovery
	}
	run := awaitLanded(t, srv.Server, "outage", st.acked, true, 30*time.Second)
	t.Logf("run %s: %d steps of %d keys landed once each", run.Info.RunID, len(st.acked), len(streamKeys))

	out := c.Output()
	assert.Equal(t, 1, countLines(out, msgUnavailable), "one line when the outage starts:\n%s", out)
	assert.Equal(t, 1, countLines(out, msgAvailable), "one line when it ends:\n%s", out)
	assert.Zero(t, countLines(out, msgPerRetry), "no line per retry at info")
	self := c.SelfMetrics(t)
	retries, _ := metricValue(self, "otelcol_exporter_mlflow_retries", `cause="unavailable"`)
	assert.GreaterOrEqual(t, retries, float64(4+2+4), "every failed attempt is counted")
	up, _ := metricValue(self, "otelcol_exporter_mlflow_backend_state", `state="available"`)
	assert.Equal(t, 1.0, up)
	_, ok := metricValue(self, "otelcol_exporter_queue_size")
	assert.True(t, ok, "queue size is exported")
	_, ok = metricValue(self, "otelcol_exporter_queue_capacity")
	assert.True(t, ok, "queue capacity is exported")
	failed, _ := metricValue(self, "otelcol_exporter_send_failed_metric_points")
	assert.Zero(t, failed, "no point given up on")
}

// TestReliabilitySlowServer answers slowly, and for two requests slower
// than the client timeout: those are retried, and nothing is written
// twice.
func TestReliabilitySlowServer(t *testing.T) {
	skipOnRealServer(t, "needs fault injection: log-batch answers slower than the client timeout")
	srv := startFlakyMLflow(t)
	srv.AddFault(mlflowtest.Fault{RPC: "runs/log-batch", Latency: 1500 * time.Millisecond, Times: 2})
	srv.AddFault(mlflowtest.Fault{Latency: 200 * time.Millisecond})
	c := StartCollector(t, relConfig(t, srv.URL(), false, ""))
	st := newStream(t, c, HTTP, "slow", 0, 1)
	for range 6 {
		st.mustSend(t, 5)
		time.Sleep(100 * time.Millisecond) // pacing: sends spread over the slow calls
	}
	awaitLanded(t, srv.Server, "slow", st.acked, true, 30*time.Second)
	out := c.Output()
	assert.Equal(t, 1, countLines(out, msgUnavailable), out)
	assert.Equal(t, 1, countLines(out, msgAvailable), out)
	self := c.SelfMetrics(t)
	timeouts, _ := metricValue(self, "otelcol_exporter_mlflow_requests", `rpc="runs/log-batch"`, `outcome="timeout"`)
	assert.Equal(t, 2.0, timeouts)
}

// TestReliability429Storm throttles log-batch for several requests, with
// and without Retry-After (Databricks sends none): every throttled request
// is followed by a pause of at least the server's delay (1s when absent)
// before the next log-batch, the episode is logged once, and the data
// lands once.
func TestReliability429Storm(t *testing.T) {
	skipOnRealServer(t, "needs fault injection: log-batch answers 429 with and without Retry-After")
	const storm = 4
	for _, tc := range []struct{ name, retryAfter string }{
		{"retry-after", "1"},
		{"no-retry-after", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startFlakyMLflow(t)
			srv.AddFault(mlflowtest.Fault{RPC: "runs/log-batch", Status: http.StatusTooManyRequests,
				ErrorCode: "REQUEST_LIMIT_EXCEEDED", Message: "rate limit exceeded", RetryAfter: tc.retryAfter, Times: storm})
			c := StartCollector(t, relConfig(t, srv.URL(), false, ""))
			st := newStream(t, c, GRPC, "storm-"+tc.name, 0, 1)
			for range 6 {
				st.mustSend(t, 5)
				time.Sleep(100 * time.Millisecond) // pacing: sends spread over the storm
			}
			awaitLanded(t, srv.Server, "storm-"+tc.name, st.acked, true, 30*time.Second)

			var batches []time.Time
			srv.mu.Lock()
			for _, a := range srv.arrivals {
				if a.rpc == "runs/log-batch" {
					batches = append(batches, a.at)
				}
			}
			srv.mu.Unlock()
			require.Greater(t, len(batches), storm)
			for i := 1; i <= storm; i++ {
				gap := batches[i].Sub(batches[i-1])
				assert.GreaterOrEqual(t, gap, 900*time.Millisecond, "log-batch %d came %v after the 429 before it", i, gap)
			}
			out := c.Output()
			assert.Equal(t, 1, countLines(out, msgThrottled), out)
			assert.Equal(t, 1, countLines(out, msgAvailable), out)
			assert.Zero(t, countLines(out, msgPerRetry))
			self := c.SelfMetrics(t)
			n, _ := metricValue(self, "otelcol_exporter_mlflow_retries", `cause="throttled"`)
			assert.Equal(t, float64(storm), n)
		})
	}
}

// TestReliabilityClientRateLimit sends eight runs at once, so that every
// export makes a burst of log-batch calls: with rate_limits the server sees
// them spaced to the limit; without (the control) the same load bursts
// past it, so the check can tell the two apart.
func TestReliabilityClientRateLimit(t *testing.T) {
	skipOnRealServer(t, "needs test-server internals: the arrival time of every log-batch at the server")
	const limit = 5
	for _, tc := range []struct {
		name    string
		extra   string
		limited bool
	}{
		// Without coalescing: the pacing of every flush is under test.
		{"limited", fmt.Sprintf("rate_limits:\n  log_batch: %d\ncoalesce:\n  max_delay: 0s\n", limit), true},
		{"unlimited", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startFlakyMLflow(t)
			c := StartCollector(t, relConfig(t, srv.URL(), false, tc.extra))
			var streams []*stream
			for i := range 8 {
				streams = append(streams, newStream(t, c, GRPC, fmt.Sprintf("rate-%d", i), 0, 1))
			}
			for range 3 {
				for _, st := range streams {
					st.mustSend(t, 2)
				}
				time.Sleep(150 * time.Millisecond) // pacing: rounds of sends, as training steps
			}
			for i, st := range streams {
				awaitLanded(t, srv.Server, fmt.Sprintf("rate-%d", i), st.acked, true, 30*time.Second)
			}
			// A window a little under a second tolerates the network
			// moving arrivals closer than the client spaced them.
			peak := srv.maxInWindow("runs/log-batch", 900*time.Millisecond)
			t.Logf("at most %d log-batch calls within 900ms", peak)
			if tc.limited {
				assert.LessOrEqual(t, peak, limit)
			} else {
				assert.Greater(t, peak, limit, "the load does not reach the limit: the limited case proves nothing")
			}
		})
	}
}

// TestReliabilityCrashRestartPersistentQueue kills the collector with
// SIGKILL while MLflow is down and the acknowledged data sits in the
// file_storage queue; the restarted collector drains it into the same run.
func TestReliabilityCrashRestartPersistentQueue(t *testing.T) {
	skipOnRealServer(t, "needs fault injection: the server goes down while the collector is killed")
	srv := startFlakyMLflow(t)
	dir := t.TempDir()
	ports := Ports{GRPC: freePort(t), HTTP: freePort(t), Health: freePort(t), Metrics: freePort(t)}
	cfg := relConfig(t, srv.URL(), true, "")
	c1 := startCollectorIn(t, dir, ports, cfg)
	st := newStream(t, c1, HTTP, "crash", 0, 1)
	st.mustSend(t, 10)
	awaitLanded(t, srv.Server, "crash", st.acked, true, 15*time.Second)

	srv.Down()
	for range 4 {
		st.mustSend(t, 5)
	}
	inQueue := len(st.acked) - 10
	c1.Kill()

	c2 := startCollectorIn(t, dir, ports, cfg)
	srv.Up(t)
	st.mustSend(t, 10)
	run := awaitLanded(t, srv.Server, "crash", st.acked, true, 30*time.Second)
	t.Logf("%d steps were in the disk queue at the kill; all landed in run %s", inQueue, run.Info.RunID)
	assert.Len(t, srv.Runs(), 1, "no second run, deleted or not")
	assert.NotContains(t, c2.Output(), "panic")
}

// TestReliabilityTwoCollectorsOneRun runs two collector processes that
// receive telemetry for the same runs at the same time (replicas behind a
// load balancer, or two ranks of one job); run creation is slowed down so
// that both find no run and both create one. Exactly one active run per
// name results, holding every point of both.
func TestReliabilityTwoCollectorsOneRun(t *testing.T) {
	// Both collectors reach the server through a latency on runs/create:
	// the test server's fault, or a proxy in front of a real server.
	var srv *mlflowBackend
	var via string
	if realMLflowURI() != "" {
		srv = startMLflow(t)
		via = slowProxy(t, srv.URL(), "runs/create", 300*time.Millisecond)
	} else {
		flaky := startFlakyMLflow(t)
		flaky.AddFault(mlflowtest.Fault{RPC: "runs/create", Latency: 300 * time.Millisecond})
		srv = newBackend(t, flaky.URL(), false)
		via = flaky.URL()
	}
	exp := srv.Experiment("race")
	a := StartCollector(t, relConfigExp(t, via, exp, false, ""))
	b := StartCollector(t, relConfigExp(t, via, exp, false, ""))
	names := []string{"race-0", "race-1", "race-2"}
	var streams [][2]*stream
	for _, n := range names {
		streams = append(streams, [2]*stream{
			newStream(t, a, GRPC, n, 0, 2, attribute.String("service.instance.id", "a")),
			newStream(t, b, HTTP, n, 1, 2, attribute.String("service.instance.id", "b")),
		})
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(names))
	for _, pair := range streams {
		for _, st := range pair {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for range 10 {
					if err := st.send(3); err != nil {
						errs <- err
						return
					}
					time.Sleep(250 * time.Millisecond) // pacing: both collectors write over a few seconds
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	raced := 0
	for i, n := range names {
		acked := append(append([]int(nil), streams[i][0].acked...), streams[i][1].acked...)
		awaitLanded(t, srv, n, acked, false, 30*time.Second)
		created := 0
		for _, r := range srv.Runs() {
			if r.Info.RunName == n {
				created++
			}
		}
		if created > 1 {
			raced++
		}
		t.Logf("%s: %d runs created, 1 active, %d steps from two collectors", n, created, len(acked))
	}
	assert.Positive(t, raced, "the two collectors never created the same run concurrently: the test proved nothing")
}

// TestReliabilitySecretsNeverEmitted configures credentials three ways
// (environment token, config token that the server refuses, password in
// the tracking URI's userinfo), makes every kind of error happen, and
// greps everything the collectors emit: logs at debug, self-metrics,
// zpages and the health check.
func TestReliabilitySecretsNeverEmitted(t *testing.T) {
	skipOnRealServer(t, "needs fault injection: servers that require a token or basic auth and fail with 503 and dropped connections")
	const (
		envToken    = "env-t0ken-8d3f0c1a"
		configToken = "cfg-t0ken-5b7e2d9f"
		password    = "p4ssw0rd-c6a1e0b3"
	)
	bearer := startFlakyMLflow(t, mlflowtest.WithBearerToken(envToken))
	bearer.AddFault(mlflowtest.Fault{Status: http.StatusServiceUnavailable, Message: "down", Times: 2})
	bearer.AddFault(mlflowtest.Fault{DropConnection: true, Times: 2})
	basic := startFlakyMLflow(t, mlflowtest.WithBasicAuth("alice", password))

	debug := func(c Config) Config { c.LogLevel = "debug"; return c }
	vEnv := debug(relConfig(t, bearer.URL(), false, ""))
	cEnv := StartCollector(t, vEnv, "MLFLOW_TRACKING_TOKEN="+envToken)
	vCfg := debug(relConfig(t, bearer.URL(), false, "token: "+configToken+"\n"))
	cCfg := StartCollector(t, vCfg)
	withUser := strings.Replace(basic.URL(), "http://", "http://alice:"+password+"@", 1)
	vURI := debug(relConfig(t, withUser, false, ""))
	cURI := StartCollector(t, vURI)

	sEnv := newStream(t, cEnv, GRPC, "secret-env", 0, 1)
	sEnv.mustSend(t, 5)
	awaitLanded(t, bearer.Server, "secret-env", sEnv.acked, true, 20*time.Second)

	sCfg := newStream(t, cCfg, GRPC, "secret-cfg", 0, 1)
	sCfg.mustSend(t, 5)
	eventually(t, 15*time.Second, "the refused token's drop is logged", func() bool {
		return strings.Contains(cCfg.Output(), "Dropping data MLflow will not accept")
	})

	sURI := newStream(t, cURI, GRPC, "secret-uri", 0, 1)
	sURI.mustSend(t, 5)
	awaitLanded(t, basic.Server, "secret-uri", sURI.acked, true, 20*time.Second)
	basic.Down() // connection errors carry the URL
	sURI.mustSend(t, 5)
	eventually(t, 15*time.Second, "the outage is logged", func() bool {
		return strings.Contains(cURI.Output(), msgUnavailable)
	})

	for i, c := range []*Collector{cEnv, cCfg, cURI} {
		zp := []Config{vEnv, vCfg, vURI}[i].ZPages
		emitted := map[string]string{"logs": c.Output(), "self-metrics": c.SelfMetrics(t)}
		for _, page := range []string{"servicez", "pipelinez", "extensionz", "featurez", "tracez"} {
			emitted["zpages "+page] = httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/debug/%s", zp, page))
		}
		emitted["health"] = httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", c.Ports.Health))
		for what, text := range emitted {
			require.NotEmpty(t, text, what)
			for _, secret := range []string{envToken, configToken, password} {
				assert.NotContains(t, text, secret, "%s of the collector in %s", what, c.Dir)
			}
		}
	}
}

func httpGet(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// TestReliabilityTLSVerifiedByDefault: a server with a certificate the
// system does not trust gets no data until the exporter is given its CA.
func TestReliabilityTLSVerifiedByDefault(t *testing.T) {
	skipOnRealServer(t, "needs test-server internals: a TLS server with a certificate the system does not trust")
	mlf := mlflowtest.NewServer()
	ts := httptest.NewUnstartedServer(mlf)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are the point
	ts.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	ts.StartTLS()
	t.Cleanup(func() { mlf.Close(); ts.Close() })

	c := StartCollector(t, relConfig(t, ts.URL, false, ""))
	st := newStream(t, c, GRPC, "tls", 0, 1)
	st.mustSend(t, 5)
	eventually(t, 15*time.Second, "the certificate error is logged", func() bool {
		return strings.Contains(c.Output(), "certificate")
	})
	assert.Empty(t, mlf.Runs(), "no run was created over an unverified connection")

	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600))
	c2 := StartCollector(t, relConfig(t, ts.URL, false, "tls:\n  ca_file: "+ca+"\n"))
	st2 := newStream(t, c2, GRPC, "tls", 0, 1)
	st2.mustSend(t, 5)
	awaitLanded(t, mlf, "tls", st2.acked, true, 15*time.Second)
}

// TestReliabilityPathTraversalFileStore sends run, experiment, metric,
// param and tag names made of "..", "/" and absolute paths to the local
// file store: every file the collector writes stays under the store root.
func TestReliabilityPathTraversalFileStore(t *testing.T) {
	top := t.TempDir()
	dir := filepath.Join(top, "a", "b", "c")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	root := filepath.Join(dir, "mlruns")
	ports := Ports{GRPC: freePort(t), HTTP: freePort(t), Health: freePort(t), Metrics: freePort(t)}
	c := startCollectorIn(t, dir, ports, relConfig(t, root, false, ""))
	var streams []*stream
	hostile := []string{"../../../escape", "/tmp/abs-escape", "..", "../", "a/../../b", `..\..\win`}
	for i, name := range hostile {
		res := []attribute.KeyValue{
			attribute.String("mlflow.experiment.name", name),
			attribute.String("mlflow.param."+name, "v"),
			attribute.String("mlflow.tag."+name, "v"),
		}
		st := newStream(t, c, GRPC, fmt.Sprintf("%s-%d", name, i), 0, 1, res...)
		// The SDK allows '.', '/' and '-' in instrument names; attribute
		// keys and values are free.
		g, err := st.s.MP.Meter("evil").Float64Gauge("m/../../../../escape")
		require.NoError(t, err)
		g.Record(t.Context(), 1, otelmetric.WithAttributes(attribute.String(name, name)))
		st.mustSend(t, 2)
		streams = append(streams, st)
	}
	eventually(t, 20*time.Second, "every hostile run written", func() bool {
		v, _ := metricValue(c.SelfMetrics(t), "otelcol_exporter_mlflow_metric_points_written")
		return v >= float64(len(hostile)*(2*len(streamKeys)+1))
	})
	// Senders go first: their final export would otherwise retry
	// against a stopped collector.
	for _, st := range streams {
		require.NoError(t, st.s.MP.Shutdown(t.Context()))
	}
	c.Stop()
	var outside []string
	require.NoError(t, filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !strings.HasPrefix(p, root+string(filepath.Separator)) && !strings.HasPrefix(p, filepath.Join(dir, "queue")) && p != filepath.Join(dir, "config.yaml") {
			outside = append(outside, p)
		}
		return nil
	}))
	assert.Empty(t, outside, "files written outside the store root")
	_, err := os.Stat("/tmp/abs-escape")
	assert.True(t, os.IsNotExist(err), "nothing at an absolute path from telemetry")
	assert.NotContains(t, c.Output(), "panic")
}

// TestReliabilityReceiverBodyLimit: an OTLP/HTTP request over the
// receiver's body limit (confighttp's 20 MiB default) is refused without
// taking the collector down.
func TestReliabilityReceiverBodyLimit(t *testing.T) {
	srv := startMLflow(t)
	c := StartCollector(t, relConfigExp(t, srv.URL(), srv.Experiment("body-limit"), false, ""))
	body := bytes.Repeat([]byte{0x0a}, 21<<20)
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/v1/metrics", c.Ports.HTTP), "application/x-protobuf", bytes.NewReader(body))
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		assert.GreaterOrEqual(t, resp.StatusCode, 400, "oversized body accepted")
	}
	st := newStream(t, c, HTTP, "after-big-body", 0, 1)
	st.mustSend(t, 3)
	awaitLanded(t, srv, "after-big-body", st.acked, true, 15*time.Second)
}

// TestReliabilityFullQueueRefusesNotDrops: with MLflow down and a queue of
// a few points that does not block, the receiver refuses what does not fit,
// so the sender is told (an SDK with retry on would send it again);
// everything it accepted lands after the outage, and nothing it refused
// appears.
func TestReliabilityFullQueueRefusesNotDrops(t *testing.T) {
	skipOnRealServer(t, "needs fault injection: the server goes down until the queue is full")
	srv := startFlakyMLflow(t)
	cfg := relConfig(t, srv.URL(), false, "")
	// The queue is sized in points (sizer: items): 12 points, the first
	// export (5 steps of 2 metrics) and a few one-step exports.
	cfg.Exporter = strings.Replace(cfg.Exporter, "\nsending_queue:\n", "\nsending_queue:\n  queue_size: 12\n  block_on_overflow: false\n", 1)
	cfg.Exporter = strings.Replace(cfg.Exporter, "    flush_timeout: 100ms\n", "    flush_timeout: 100ms\n    min_size: 1\n    max_size: 12\n", 1)
	c := StartCollector(t, cfg)
	st := newStreamNoRetry(t, c, "full-queue")
	st.mustSend(t, 5)
	awaitLanded(t, srv.Server, "full-queue", st.acked, true, 15*time.Second)

	srv.Down()
	refused := 0
	for range 15 {
		if err := st.send(1); err != nil {
			refused++
		}
		time.Sleep(50 * time.Millisecond) // pacing: the queue fills over the outage
	}
	t.Logf("during the outage: %d exports accepted, %d refused", 15-refused, refused)
	require.Positive(t, refused, "the queue never filled: the test proves nothing")
	require.Greater(t, len(st.acked), 5, "nothing was queued")
	srv.Up(t)
	awaitLanded(t, srv.Server, "full-queue", st.acked, true, 30*time.Second)
	failed, ok := metricValue(c.SelfMetrics(t), "otelcol_exporter_enqueue_failed_metric_points")
	assert.True(t, ok && failed > 0, "refusals are counted")
}
