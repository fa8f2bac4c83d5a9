// Command loaddriver measures the real collector binary end to end: OTel Go
// SDK senders -> otelcol-mlflow (OTLP gRPC) -> the MLflow test server over
// HTTP. It prints the sustained rate of points that landed in MLflow and
// the log-batch requests per 1000 points (1.0 is ideal).
//
//	go run ./tools/loaddriver -bin bin/otelcol-mlflow -duration 20s -senders 4
//
// With -runs N it measures the gateway case instead (gateway.go): N
// concurrent runs x -series M through one collector with a persistent
// queue, optionally into a fake Databricks workspace (-databricks).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	otelmetric "go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func main() {
	bin := flag.String("bin", "bin/otelcol-mlflow", "collector binary")
	duration := flag.Duration("duration", 20*time.Second, "how long to send")
	senders := flag.Int("senders", 4, "concurrent training processes (one run each)")
	metricsPerStep := flag.Int("metrics", 10, "metrics recorded per step")
	stepsPerSec := flag.Int("steps", 2000, "steps per second per sender")
	// The Go SDK keeps at most 2000 attribute sets per instrument and
	// collection; steps per interval must stay under that.
	interval := flag.Duration("interval", 200*time.Millisecond, "SDK export interval (gateway mode: 1s unless set)")
	gw := gatewayOpts{}
	flag.IntVar(&gw.runs, "runs", 0, "gateway mode: concurrent runs (goroutines in this process, one MeterProvider and resource each)")
	flag.IntVar(&gw.series, "series", 10, "gateway mode: gauge series per run, each with a step attribute")
	flag.Float64Var(&gw.rate, "rate", 0, "gateway mode: steps per second per run (0: 1200 points per minute per run)")
	flag.BoolVar(&gw.databricks, "databricks", false, "gateway mode: the test server as a fake Databricks workspace with its published rate limits")
	flag.IntVar(&gw.conns, "conns", 4, "gateway mode: OTLP gRPC connections the runs share")
	flag.BoolVar(&gw.cumulative, "cumulative", false, "gateway mode: cumulative temporality (the SDK re-exports every step at every export)")
	flag.DurationVar(&gw.drain, "drain", 5*time.Minute, "gateway mode: how long to wait for the points to land after the last send")
	flag.BoolVar(&gw.discard, "discard", false, "gateway mode: the test server counts metric values but does not keep them (hour-long runs)")
	flag.StringVar(&gw.cpuProfile, "cpuprofile", "", "gateway mode: write a 30 s CPU profile of the collector here (go tool pprof -top FILE)")
	flag.DurationVar(&gw.profileAt, "profile-at", 60*time.Second, "gateway mode: when the -cpuprofile profile starts, after the first send")
	flag.IntVar(&gw.memLimitMiB, "memory-limit-mib", 512, "gateway mode: memory_limiter limit_mib as in config/default.yaml (0: no memory_limiter)")
	flag.Parse()
	if gw.runs > 0 {
		gw.bin, gw.duration, gw.interval = *bin, *duration, *interval
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["interval"] {
			gw.interval = time.Second
		}
		os.Exit(runGateway(gw))
	}

	srv := mlflowtest.NewServer()
	addr, stop := serve(srv)
	defer stop()
	dir, cleanup := tempDir("loaddriver")
	defer cleanup()
	grpcPort, healthPort, metricsPort := freePort(), freePort(), freePort()
	cfg := fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:%d"}
exporters:
  mlflow:
    tracking_uri: http://%s
    experiment_name: load
extensions:
  health_check: {endpoint: "127.0.0.1:%d"}
service:
  extensions: [health_check]
  telemetry:
    metrics:
      readers:
        - pull: {exporter: {prometheus: {host: 127.0.0.1, port: %d}}}
  pipelines:
    metrics: {receivers: [otlp], exporters: [mlflow]}
`, grpcPort, addr, healthPort, metricsPort)
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command(*bin, "--config", cfgPath)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	for start := time.Now(); ; {
		if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", healthPort)); err == nil {
			resp.Body.Close()
			break
		}
		if time.Since(start) > 30*time.Second {
			log.Fatal("collector not healthy")
		}
		time.Sleep(50 * time.Millisecond)
	}

	ctx := context.Background()
	var sent atomic.Int64
	var wg sync.WaitGroup
	begin := time.Now()
	for s := 0; s < *senders; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			exp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(fmt.Sprintf("127.0.0.1:%d", grpcPort)), otlpmetricgrpc.WithInsecure(),
				otlpmetricgrpc.WithTemporalitySelector(func(metric.InstrumentKind) metricdata.Temporality { return metricdata.DeltaTemporality }))
			if err != nil {
				log.Fatal(err)
			}
			mp := metric.NewMeterProvider(
				metric.WithResource(resource.NewSchemaless(attribute.String("service.name", "load"), attribute.String("mlflow.run.name", fmt.Sprintf("load-%d", s)))),
				metric.WithReader(metric.NewPeriodicReader(exp, metric.WithInterval(*interval))))
			defer func() {
				// Flush before shutdown: a periodic export in flight when
				// Shutdown starts is cancelled, and its points never leave.
				fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				if err := mp.ForceFlush(fctx); err != nil {
					log.Printf("sender %d: flush: %v", s, err)
				}
				_ = mp.Shutdown(fctx)
			}()
			gauges := make([]otelmetric.Float64Gauge, *metricsPerStep)
			for i := range gauges {
				gauges[i], _ = mp.Meter("load").Float64Gauge(fmt.Sprintf("metric_%d", i))
			}
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			step := 0
			for time.Since(begin) < *duration {
				<-tick.C
				due := int(time.Since(begin).Seconds() * float64(*stepsPerSec))
				for ; step < due; step++ {
					opt := otelmetric.WithAttributes(attribute.Int("step", step))
					for _, g := range gauges {
						g.Record(ctx, float64(step), opt)
					}
					sent.Add(int64(len(gauges)))
				}
			}
		}(s)
	}
	wg.Wait()
	sendTime := time.Since(begin)
	want := sent.Load()
	landed := func() int64 {
		var n int64
		for _, r := range srv.Runs() {
			for i := 0; i < *metricsPerStep; i++ {
				n += int64(len(srv.MetricHistory(r.Info.RunID, fmt.Sprintf("metric_%d", i))))
			}
		}
		return n
	}
	deadline := time.Now().Add(60 * time.Second)
	got := landed()
	for got < want && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		got = landed()
	}
	total := time.Since(begin)
	reqs := srv.RequestCount("runs/log-batch")
	fmt.Printf("sent %d points in %.1fs (%.0f points/s offered)\n", want, sendTime.Seconds(), float64(want)/sendTime.Seconds())
	fmt.Printf("landed %d points (%.2f%%) in %.1fs: %.0f points/s sustained\n", got, 100*float64(got)/float64(want), total.Seconds(), float64(got)/total.Seconds())
	fmt.Printf("log-batch requests: %d (%.2f per 1000 points)\n", reqs, 1000*float64(reqs)/float64(got))
	if got != want {
		log.Printf("incomplete: %d of %d points landed", got, want)
		defer os.Exit(1)
	}
}

// serve serves h on a free loopback port; stop closes it.
func serve(h http.Handler) (addr string, stop func()) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	go func() { _ = hs.Serve(l) }()
	return l.Addr().String(), func() { _ = hs.Close() }
}

// tempDir makes a temporary directory; cleanup removes it.
func tempDir(prefix string) (dir string, cleanup func()) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		log.Fatal(err)
	}
	return dir, func() { _ = os.RemoveAll(dir) }
}
