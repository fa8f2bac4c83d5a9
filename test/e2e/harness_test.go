// Package e2e runs the real otelcol-mlflow binary: OTLP from the OTel Go
// SDK goes in, and what lands in MLflow (the project's test server or a
// local file store) is checked. The binary is OTELCOL_BIN when set (make
// test builds bin/otelcol-mlflow first), else it is built once here.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// collectorBinary returns the path of the distribution binary.
func collectorBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		if p := os.Getenv("OTELCOL_BIN"); p != "" {
			binPath, binErr = filepath.Abs(p)
			return
		}
		dir, err := os.MkdirTemp("", "otelcol-mlflow-e2e")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "otelcol-mlflow")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/otelcol-mlflow")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("build collector: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Ports of one collector process.
type Ports struct {
	GRPC, HTTP, Health, Metrics int
}

// Collector is a running otelcol-mlflow process.
type Collector struct {
	t      testing.TB
	cmd    *exec.Cmd
	Ports  Ports
	Dir    string
	output *syncBuffer
	done   chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// StartCollector renders cfg (see Config) and starts the binary with it,
// waiting until its health check answers.
//
// A port that freePort found free may be taken by another process (the
// other test binaries of `go test ./...`) before the collector binds it:
// the start is then tried again on new ports, twice at most.
func StartCollector(t testing.TB, cfg Config, env ...string) *Collector {
	t.Helper()
	for attempt := 1; ; attempt++ {
		ports := Ports{GRPC: freePort(t), HTTP: freePort(t), Health: freePort(t), Metrics: freePort(t)}
		c, busy := startCollector(t, t.TempDir(), ports, cfg, attempt < 3, env...)
		if !busy {
			return c
		}
		t.Logf("a port was taken before the collector bound it; starting again on new ports (attempt %d)", attempt+1)
	}
}

func startCollectorIn(t testing.TB, dir string, ports Ports, cfg Config, env ...string) *Collector {
	t.Helper()
	c, _ := startCollector(t, dir, ports, cfg, false, env...)
	return c
}

// startCollector starts the collector; with retryBusy, a start that fails
// only because a port was taken returns busy instead of failing the test.
func startCollector(t testing.TB, dir string, ports Ports, cfg Config, retryBusy bool, env ...string) (*Collector, bool) {
	t.Helper()
	bin := collectorBinary(t)
	cfgPath := writeConfig(t, dir, ports, cfg)
	rendered, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	return launchRetryable(t, dir, ports, string(rendered), env, retryBusy, bin, "--config", cfgPath)
}

// StartCollectorArgs starts the binary in dir with the given arguments (for
// example the shipped config with --set overrides); ports says where its
// health check and self-metrics answer.
func StartCollectorArgs(t testing.TB, dir string, ports Ports, env []string, args ...string) *Collector {
	t.Helper()
	return launch(t, dir, ports, strings.Join(args, " "), env, collectorBinary(t), args...)
}

func launch(t testing.TB, dir string, ports Ports, cfgDesc string, env []string, bin string, args ...string) *Collector {
	t.Helper()
	c, _ := launchRetryable(t, dir, ports, cfgDesc, env, false, bin, args...)
	return c
}

func launchRetryable(t testing.TB, dir string, ports Ports, cfgDesc string, env []string, retryBusy bool, bin string, args ...string) (*Collector, bool) {
	t.Helper()
	c := &Collector{t: t, Ports: ports, Dir: dir, output: &syncBuffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Dir = dir
	c.cmd.Env = append(cleanEnv(), env...)
	c.cmd.Stdout = c.output
	c.cmd.Stderr = c.output
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(c.Stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", ports.Health))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c, false
			}
		}
		select {
		case <-c.done:
			if retryBusy && strings.Contains(c.output.String(), "bind: address already in use") {
				return nil, true
			}
			t.Fatalf("collector exited during start:\n%s\nconfig:\n%s", c.output.String(), cfgDesc)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector not healthy after 30s:\n%s", c.output.String())
		}
		time.Sleep(50 * time.Millisecond) // poll interval of this wait
	}
}

// cleanEnv keeps the test environment from leaking MLflow settings into the
// collector.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MLFLOW_") || strings.HasPrefix(kv, "DATABRICKS_") || strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// Output is everything the collector printed so far.
func (c *Collector) Output() string { return c.output.String() }

// Stop sends SIGTERM and waits for a clean exit.
func (c *Collector) Stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		c.t.Errorf("collector did not stop on SIGTERM within 20s:\n%s", c.Output())
	}
}

// Kill sends SIGKILL, as a crash would.
func (c *Collector) Kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
}

// SelfMetrics returns the collector's Prometheus self-metrics text.
func (c *Collector) SelfMetrics(t testing.TB) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", c.Ports.Metrics))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Sender is an OTel Go SDK meter provider exporting to a collector.
type Sender struct {
	MP *metric.MeterProvider
}

// Protocol of a Sender.
type Protocol string

const (
	GRPC Protocol = "grpc"
	HTTP Protocol = "http"
)

// NewSender builds a meter provider with an OTLP exporter over proto. It
// exports only on Flush, so tests control the exports.
func NewSender(t testing.TB, c *Collector, proto Protocol, res *resource.Resource, delta bool) *Sender {
	t.Helper()
	ctx := context.Background()
	var exp metric.Exporter
	var err error
	sel := func(metric.InstrumentKind) metricdata.Temporality { return metricdata.CumulativeTemporality }
	if delta {
		sel = func(metric.InstrumentKind) metricdata.Temporality { return metricdata.DeltaTemporality }
	}
	switch proto {
	case GRPC:
		exp, err = otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(fmt.Sprintf("127.0.0.1:%d", c.Ports.GRPC)),
			otlpmetricgrpc.WithInsecure(), otlpmetricgrpc.WithTemporalitySelector(sel))
	case HTTP:
		exp, err = otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(fmt.Sprintf("127.0.0.1:%d", c.Ports.HTTP)),
			otlpmetrichttp.WithInsecure(), otlpmetrichttp.WithTemporalitySelector(sel))
	}
	if err != nil {
		t.Fatal(err)
	}
	mp := metric.NewMeterProvider(metric.WithResource(res),
		metric.WithReader(metric.NewPeriodicReader(exp, metric.WithInterval(time.Hour))))
	s := &Sender{MP: mp}
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return s
}

// Flush exports everything recorded so far.
func (s *Sender) Flush(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.MP.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond) // poll interval of this wait
	}
}

// indent prefixes every line of s with n spaces, for config templates.
func indent(n int, s string) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pad + l
	}
	return strings.Join(lines, "\n")
}
