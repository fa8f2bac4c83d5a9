package main

// Gateway mode (-runs N): one collector serving N concurrent runs, as a
// gateway does. Each run is an OTel SDK MeterProvider of its own (a
// distinct resource and mlflow.run.name) in a goroutine of this process,
// recording M gauge series with a step attribute at -rate steps per second;
// the runs share a few OTLP gRPC connections. The collector runs with a
// persistent sending queue (file_storage in a temp dir) and the memory
// limiter as in config/default.yaml, and the exporter's sending-queue
// defaults otherwise. With -databricks the test server is a fake
// Databricks workspace with its published rate limits (log-batch 47/s,
// search 7/s, experiments 7/s) and the collector is configured with
// tracking_uri: databricks, as test/e2e/databricks_test.go does.
//
//	go run ./tools/loaddriver -runs 100 -series 10 -databricks -duration 75s

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	otelmetric "go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

type gatewayOpts struct {
	// cpuProfile, when set, is where a 30 s CPU profile of the collector
	// (pprof extension) taken from profileAt after the start is written.
	cpuProfile  string
	profileAt   time.Duration
	bin         string
	duration    time.Duration
	interval    time.Duration
	runs        int
	series      int
	rate        float64 // steps per second per run
	databricks  bool
	conns       int
	cumulative  bool
	drain       time.Duration
	memLimitMiB int
	discard     bool // landing.discard
}

// dbxPAT is the token the collector presents to the fake workspace.
const dbxPAT = "dapi-loaddriver"

// landing watches the requests that reach the test server: every log-batch
// answered 200 adds its points, and the time of the last one is when the
// last point landed.
type landing struct {
	next http.Handler
	// discard keeps the test server from storing metric values (an hour of
	// 50,000 points/s would not fit in memory): each log-batch is still
	// answered by the server, for its run, params and tags, with its
	// metrics counted here and removed from the body.
	discard bool

	points atomic.Int64
	last   atomic.Int64 // unix ns of the last accepted log-batch

	mu    sync.Mutex
	first map[string]time.Time // run id -> first accepted log-batch
}

func (l *landing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/runs/log-batch") {
		l.next.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req struct {
		RunID   string            `json:"run_id"`
		Metrics []json.RawMessage `json:"metrics"`
	}
	parsed := json.Unmarshal(body, &req) == nil
	forward := body
	if l.discard && parsed {
		var fields map[string]json.RawMessage
		if json.Unmarshal(body, &fields) == nil {
			delete(fields, "metrics")
			forward, _ = json.Marshal(fields)
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(forward))
	r.ContentLength = int64(len(forward))
	sw := &mlflowtest.StatusWriter{ResponseWriter: w}
	l.next.ServeHTTP(sw, r)
	if sw.Status != http.StatusOK || !parsed || len(req.Metrics) == 0 {
		return
	}
	now := time.Now()
	l.points.Add(int64(len(req.Metrics)))
	l.last.Store(now.UnixNano())
	l.mu.Lock()
	if _, ok := l.first[req.RunID]; !ok {
		l.first[req.RunID] = now
	}
	l.mu.Unlock()
}

// timedExporter counts a sender's exports, their errors and how long they
// took, and remembers when the last one ended.
type timedExporter struct {
	metric.Exporter
	st *senderStats
}

type senderStats struct {
	exports, errors atomic.Int64
	lost            atomic.Int64 // points of failed exports: the SDK drops them
	lastEnd         atomic.Int64 // unix ns
	mu              sync.Mutex
	durations       []time.Duration
	firstErr        error
}

func (e timedExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	start := time.Now()
	err := e.Exporter.Export(ctx, rm)
	end := time.Now()
	e.st.exports.Add(1)
	for {
		old := e.st.lastEnd.Load()
		if end.UnixNano() <= old || e.st.lastEnd.CompareAndSwap(old, end.UnixNano()) {
			break
		}
	}
	e.st.mu.Lock()
	e.st.durations = append(e.st.durations, end.Sub(start))
	if err != nil && e.st.firstErr == nil {
		e.st.firstErr = err
	}
	e.st.mu.Unlock()
	if err != nil {
		e.st.errors.Add(1)
		var n int64
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if g, ok := m.Data.(metricdata.Gauge[float64]); ok {
					n += int64(len(g.DataPoints))
				}
			}
		}
		e.st.lost.Add(n)
	}
	return err
}

// procStats reads a process's memory (kB) and CPU time from /proc.
func procStats(pid int) (rssKB, hwmKB int64, cpu time.Duration, err error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rssKB, _ = strconv.ParseInt(f[1], 10, 64)
		case "VmHWM:":
			hwmKB, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	// Fields after the command name (which may hold spaces): state is
	// field 3, utime and stime are fields 14 and 15, in clock ticks
	// (USER_HZ, 100 on Linux).
	rest := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(rest) < 13 {
		return 0, 0, 0, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseInt(rest[11], 10, 64)
	st, _ := strconv.ParseInt(rest[12], 10, 64)
	return rssKB, hwmKB, time.Duration(ut+st) * (time.Second / 100), nil
}

// scrape sums the collector's self-metrics by name (any labels; a _total
// or unit suffix is accepted).
func scrape(port int) (map[string]float64, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest := line, ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		if i := strings.LastIndexByte(line, ' '); i >= 0 {
			rest = line[i+1:]
		}
		v, err := strconv.ParseFloat(rest, 64)
		if err != nil {
			continue
		}
		for _, suffix := range []string{"_total", "_seconds"} {
			name = strings.TrimSuffix(name, suffix)
		}
		out[name] += v
	}
	return out, sc.Err()
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(math.Ceil(p*float64(len(d))))-1)]
}

func runGateway(o gatewayOpts) int {
	if o.series <= 0 {
		log.Fatal("-series must be positive")
	}
	if o.rate <= 0 {
		// 1200 points per minute per run: above the 1000 the gateway
		// case is about.
		o.rate = 20 / float64(o.series)
	}
	var opts []mlflowtest.Option
	if o.databricks {
		// nil RateLimits: the published workspace limits.
		opts = append(opts, mlflowtest.WithDatabricks(mlflowtest.Databricks{PATs: []string{dbxPAT}}))
	}
	srv := mlflowtest.NewServer(opts...)
	land := &landing{next: srv, first: map[string]time.Time{}, discard: o.discard}
	addr, stopServer := serve(land)
	defer stopServer()
	dir, cleanup := tempDir("loaddriver-gateway")
	defer cleanup()
	grpcPort, healthPort, metricsPort, pprofPort := freePort(), freePort(), freePort(), freePort()
	trackingURI, experiment := "http://"+addr, "load-gateway"
	env := os.Environ()
	if o.databricks {
		trackingURI, experiment = "databricks", "/Shared/otel/load-gateway"
		env = append(env, "DATABRICKS_HOST=http://"+addr, "DATABRICKS_TOKEN="+dbxPAT,
			// Keep a developer's own ~/.databrickscfg out of it.
			"DATABRICKS_CONFIG_FILE="+filepath.Join(dir, "absent.cfg"))
	}
	processors, pipelineProcessors := "", ""
	if o.memLimitMiB > 0 {
		processors = fmt.Sprintf("processors:\n  memory_limiter: {check_interval: 1s, limit_mib: %d, spike_limit_mib: %d}\n", o.memLimitMiB, o.memLimitMiB/4)
		pipelineProcessors = "processors: [memory_limiter], "
	}
	// The persistent queue of config/default.yaml; batching, consumers and
	// retries are the exporter's defaults.
	cfg := fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:%d", max_recv_msg_size_mib: 16}
%sexporters:
  mlflow:
    tracking_uri: %s
    experiment_name: %s
    sending_queue:
      storage: file_storage
      sizer: items
      queue_size: 2000000
      block_on_overflow: true
extensions:
  file_storage: {directory: %q, create_directory: true}
  health_check: {endpoint: "127.0.0.1:%d"}
  pprof: {endpoint: "127.0.0.1:%d"}
service:
  extensions: [file_storage, health_check, pprof]
  telemetry:
    metrics:
      level: normal
      readers:
        - pull: {exporter: {prometheus: {host: 127.0.0.1, port: %d}}}
  pipelines:
    metrics: {receivers: [otlp], %sexporters: [mlflow]}
`, grpcPort, processors, trackingURI, experiment, filepath.Join(dir, "queue"), healthPort, pprofPort, metricsPort, pipelineProcessors)
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		log.Fatal(err)
	}
	logPath := filepath.Join(dir, "collector.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command(o.bin, "--config", cfgPath)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		}
	}
	defer stop()
	for start := time.Now(); ; {
		if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", healthPort)); err == nil {
			resp.Body.Close()
			break
		}
		if time.Since(start) > 30*time.Second {
			out, _ := os.ReadFile(logPath)
			log.Fatalf("collector not healthy:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	pid := cmd.Process.Pid
	_, _, cpu0, err := procStats(pid)
	if err != nil {
		log.Fatal(err)
	}

	// Export errors the SDK does not return to the reader's caller (a
	// failed periodic export) go to the global handler.
	var handlerErrors atomic.Int64
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) { handlerErrors.Add(1) }))

	conns := make([]*grpc.ClientConn, max(1, o.conns))
	for i := range conns {
		conns[i], err = grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", grpcPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			log.Fatal(err)
		}
		defer conns[i].Close()
	}
	temporality := metricdata.DeltaTemporality
	if o.cumulative {
		temporality = metricdata.CumulativeTemporality
	}

	ctx := context.Background()
	var (
		sent      atomic.Int64
		behindMax atomic.Int64 // ns: how late a step was recorded, worst
		stats     senderStats
		wg        sync.WaitGroup
	)
	_, _, driverCPU0, _ := procStats(os.Getpid())
	begin := time.Now()
	if o.cpuProfile != "" {
		go func() {
			time.Sleep(o.profileAt)
			if err := fetchProfile(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=30", pprofPort), o.cpuProfile); err != nil {
				log.Printf("cpu profile: %v", err)
				return
			}
			log.Printf("cpu profile of the collector (30 s from t=%s) in %s", o.profileAt, o.cpuProfile)
		}()
	}

	// Collector-side observations while the load runs, every 2 s; a line
	// every 10 s shows how the backlog and memory go.
	var peakQueue, peakLag float64
	var queueNow atomic.Int64
	sampleDone := make(chan struct{})
	sampleStop := make(chan struct{})
	go func() {
		defer close(sampleDone)
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for i := 1; ; i++ {
			select {
			case <-sampleStop:
				return
			case <-t.C:
			}
			m, err := scrape(metricsPort)
			if err != nil {
				continue
			}
			peakQueue = max(peakQueue, m["otelcol_exporter_queue_size"])
			peakLag = max(peakLag, m["otelcol_exporter_mlflow_lag"])
			queueNow.Store(int64(m["otelcol_exporter_queue_size"]))
			if i%5 == 0 {
				rss, _, cpu, _ := procStats(pid)
				log.Printf("t=%3.0fs sent %d landed %d queue %.0f lag %.1fs refused %.0f; log-batch %d, 429s %d; collector RSS %d MB, CPU %.0fs",
					time.Since(begin).Seconds(), sent.Load(), land.points.Load(), m["otelcol_exporter_queue_size"],
					m["otelcol_exporter_mlflow_lag"], m["otelcol_receiver_refused_metric_points"],
					srv.RequestCount("runs/log-batch"), srv.DatabricksThrottled(""), rss/1024, (cpu - cpu0).Seconds())
			}
		}
	}()

	stepPeriod := time.Duration(float64(time.Second) / o.rate)
	tickPeriod := max(stepPeriod, 10*time.Millisecond)
	for r := 0; r < o.runs; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			// Spread the runs' starts (and so their export ticks) over one
			// interval, as independent jobs would be.
			start := begin.Add(time.Duration(r) * o.interval / time.Duration(o.runs))
			time.Sleep(time.Until(start))
			exp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithGRPCConn(conns[r%len(conns)]),
				otlpmetricgrpc.WithTemporalitySelector(func(metric.InstrumentKind) metricdata.Temporality { return temporality }))
			if err != nil {
				log.Fatal(err)
			}
			mp := metric.NewMeterProvider(
				metric.WithResource(resource.NewSchemaless(
					attribute.String("service.name", "load-gateway"),
					attribute.String("service.instance.id", fmt.Sprintf("gw-%d", r)),
					attribute.String("mlflow.run.name", fmt.Sprintf("gw-%d", r)))),
				metric.WithReader(metric.NewPeriodicReader(timedExporter{exp, &stats}, metric.WithInterval(o.interval))))
			defer func() {
				// Flush before shutdown: a periodic export in flight when
				// Shutdown starts is cancelled, and its points never leave.
				fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				_ = mp.ForceFlush(fctx)
				_ = mp.Shutdown(fctx)
			}()
			gauges := make([]otelmetric.Float64Gauge, o.series)
			for i := range gauges {
				gauges[i], _ = mp.Meter("load").Float64Gauge(fmt.Sprintf("metric_%d", i))
			}
			tick := time.NewTicker(tickPeriod)
			defer tick.Stop()
			end := start.Add(o.duration)
			step := 0
			for {
				now := time.Now()
				due := int(now.Sub(start).Seconds() * o.rate)
				last := now.After(end)
				if last {
					due = int(o.duration.Seconds() * o.rate)
				}
				if step < due {
					// How late is the oldest step recorded now.
					late := now.Sub(start.Add(time.Duration(float64(step+1) * float64(stepPeriod))))
					for {
						old := behindMax.Load()
						if int64(late) <= old || behindMax.CompareAndSwap(old, int64(late)) {
							break
						}
					}
				}
				for ; step < due; step++ {
					opt := otelmetric.WithAttributes(attribute.Int("step", step))
					for i, g := range gauges {
						g.Record(ctx, float64(step*len(gauges)+i), opt)
					}
					sent.Add(int64(len(gauges)))
				}
				if last {
					return
				}
				<-tick.C
			}
		}(r)
	}
	wg.Wait()
	sendEnd := time.Now()
	lastExport := time.Unix(0, stats.lastEnd.Load())
	want := sent.Load()
	log.Printf("senders done: %d points in %.1fs; waiting for them to land (up to %s)", want, sendEnd.Sub(begin).Seconds(), o.drain)

	// Wait for the points to land: first by the requests seen, then by what
	// the server stored.
	stored := func() int64 {
		var n int64
		for _, r := range srv.Runs() {
			for i := 0; i < o.series; i++ {
				n += int64(len(srv.MetricHistory(r.Info.RunID, fmt.Sprintf("metric_%d", i))))
			}
		}
		return n
	}
	// Points of failed exports never arrive (the SDK gave up on them); stop
	// waiting when the rest has landed, or when nothing lands any more and
	// the collector's queue is empty.
	deadline := sendEnd.Add(o.drain)
	for quiet := time.Now(); land.points.Load() < want-stats.lost.Load() && time.Now().Before(deadline); {
		before := land.points.Load()
		time.Sleep(200 * time.Millisecond)
		if land.points.Load() != before || queueNow.Load() > 0 {
			quiet = time.Now()
		} else if time.Since(quiet) > 30*time.Second {
			break
		}
	}
	got := stored()
	for got < want-stats.lost.Load() && time.Now().Before(deadline) {
		time.Sleep(2 * time.Second)
		got = stored()
	}
	lastLanded := time.Unix(0, land.last.Load())
	close(sampleStop)
	<-sampleDone

	m, err := scrape(metricsPort)
	if err != nil {
		log.Printf("scrape collector metrics: %v", err)
	}
	rssKB, hwmKB, cpu1, err := procStats(pid)
	if err != nil {
		log.Fatal(err)
	}
	stop()
	logOut, _ := os.ReadFile(logPath)
	_, _, driverCPU1, _ := procStats(os.Getpid())

	reqs := srv.RequestCount("runs/log-batch")
	searches := srv.RequestCount("runs/search")
	expReqs := 0
	for _, r := range srv.Requests() {
		if strings.HasPrefix(r.RPC, "experiments/") {
			expReqs++
		}
	}
	throttled := srv.DatabricksThrottled("")
	runs := srv.Runs()
	land.mu.Lock()
	var firstData time.Time
	for _, t := range land.first {
		if t.After(firstData) {
			firstData = t
		}
	}
	runsWithData := len(land.first)
	land.mu.Unlock()
	cpu := cpu1 - cpu0
	senderErrs := stats.errors.Load()
	stats.mu.Lock()
	p50, p99, pmax := percentile(stats.durations, 0.5), percentile(stats.durations, 0.99), percentile(stats.durations, 1)
	firstErr := stats.firstErr
	stats.mu.Unlock()
	sendSecs := o.duration.Seconds()
	lagAfter := lastLanded.Sub(lastExport)
	span := lastLanded.Sub(begin)
	k := float64(max(got, 1)) / 1000

	fmt.Printf("gateway: %d runs x %d series, %.3g steps/s per run (%.0f points/min per run), export every %s, %s temporality, databricks limits: %v\n",
		o.runs, o.series, o.rate, o.rate*float64(o.series)*60, o.interval, temporality, o.databricks)
	fmt.Printf("sent %d points in %.1fs (%.0f points/s offered); senders: %d exports, %d errors (+%d to the error handler), export time p50 %s p99 %s max %s\n",
		want, sendEnd.Sub(begin).Seconds(), float64(want)/sendSecs, stats.exports.Load(), senderErrs, handlerErrors.Load(),
		p50.Round(time.Millisecond), p99.Round(time.Millisecond), pmax.Round(time.Millisecond))
	if firstErr != nil {
		fmt.Printf("first sender error: %v\n", firstErr)
	}
	if lost := stats.lost.Load(); lost > 0 {
		fmt.Printf("senders dropped %d points of failed exports (after the SDK's retries)\n", lost)
	}
	fmt.Printf("senders behind schedule: worst step recorded %s late (a run's steps are due every %s)\n",
		time.Duration(behindMax.Load()).Round(time.Millisecond), stepPeriod.Round(time.Millisecond))
	fmt.Printf("landed %d points (%.2f%%) in %d runs (%d created) by %.1fs: %.0f points/s\n",
		got, 100*float64(got)/float64(max(want, 1)), runsWithData, len(runs), span.Seconds(), float64(got)/span.Seconds())
	if runsWithData > 0 {
		fmt.Printf("every run had data %.1fs after the start\n", firstData.Sub(begin).Seconds())
	}
	fmt.Printf("lag after the last send: %.1fs (last export %.1fs after start, last point landed %.1fs); collector's peak otelcol_exporter_mlflow_lag %.1fs, peak queue %.0f points\n",
		lagAfter.Seconds(), lastExport.Sub(begin).Seconds(), span.Seconds(), max(peakLag, m["otelcol_exporter_mlflow_lag"]), peakQueue)
	fmt.Printf("requests: log-batch %d (%.2f per 1000 points), runs/search %d, experiments/* %d, all %d; 429s from the workspace %d\n",
		reqs, float64(reqs)/k, searches, expReqs, srv.RequestCount(""), throttled)
	fmt.Printf("collector refusals: enqueue_failed %.0f points, receiver refused %.0f points, send_failed %.0f points\n",
		m["otelcol_exporter_enqueue_failed_metric_points"], m["otelcol_receiver_refused_metric_points"], m["otelcol_exporter_send_failed_metric_points"])
	fmt.Printf("collector: RSS peak %.0f MB, final %.0f MB; CPU %.1fs (%.3fs per 1000 points); this driver (senders and test server): CPU %.1fs\n",
		float64(hwmKB)/1024, float64(rssKB)/1024, cpu.Seconds(), cpu.Seconds()/k, (driverCPU1 - driverCPU0).Seconds())
	for _, line := range strings.Split(string(logOut), "\n") {
		if strings.Contains(line, "\twarn\t") || strings.Contains(line, "\terror\t") || strings.Contains(line, "behind") || strings.Contains(line, "caught up") {
			fmt.Println("collector log:", line)
		}
	}
	fmt.Println("| runs x series | databricks | offered pts/s | sent | landed | landed pts/s | log-batch req/1000 pts | runs/search | sender errors | enqueue_failed | 429s | lag after last send | RSS peak / final | CPU s/1000 pts | senders late (worst) |")
	fmt.Printf("| %d x %d | %v | %.0f | %d | %d | %.0f | %.2f | %d | %d | %.0f | %d | %.1f s | %.0f / %.0f MB | %.3f | %s |\n",
		o.runs, o.series, o.databricks, float64(want)/sendSecs, want, got, float64(got)/span.Seconds(), float64(reqs)/k, searches,
		senderErrs, m["otelcol_exporter_enqueue_failed_metric_points"], throttled, lagAfter.Seconds(),
		float64(hwmKB)/1024, float64(rssKB)/1024, cpu.Seconds()/k, time.Duration(behindMax.Load()).Round(time.Millisecond))
	if got != want {
		log.Printf("incomplete: %d of %d points landed", got, want)
		return 1
	}
	return 0
}

// fetchProfile saves what the collector's pprof extension serves at url.
func fetchProfile(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
