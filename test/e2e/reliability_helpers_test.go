package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	otelmetric "go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// flakyMLflow serves an mlflowtest.Server on a fixed loopback address that
// can go away (connection refused) and come back with its data, as a
// restarted tracking server with a database does. It records when each
// request arrived.
type flakyMLflow struct {
	*mlflowtest.Server
	addr string

	mu       sync.Mutex
	hs       *http.Server
	served   chan struct{}
	arrivals []arrival
}

type arrival struct {
	at  time.Time
	rpc string
}

func startFlakyMLflow(t testing.TB, opts ...mlflowtest.Option) *flakyMLflow {
	t.Helper()
	f := &flakyMLflow{Server: mlflowtest.NewServer(opts...)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = l.Addr().String()
	f.serve(l)
	t.Cleanup(func() {
		f.Server.Close() // frees hung requests first
		f.Down()
	})
	return f
}

func (f *flakyMLflow) URL() string { return "http://" + f.addr }

func (f *flakyMLflow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.arrivals = append(f.arrivals, arrival{time.Now(), strings.TrimPrefix(r.URL.Path, "/api/2.0/mlflow/")})
	f.mu.Unlock()
	f.Server.ServeHTTP(w, r)
}

func (f *flakyMLflow) serve(l net.Listener) {
	hs := &http.Server{Handler: f, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	f.mu.Lock()
	f.hs, f.served = hs, served
	f.mu.Unlock()
	go func() {
		defer close(served)
		_ = hs.Serve(l)
	}()
}

// Down closes the listener and every connection: clients see connection
// refused (new) or reset (open) until Up.
func (f *flakyMLflow) Down() {
	f.mu.Lock()
	hs, served := f.hs, f.served
	f.hs = nil
	f.mu.Unlock()
	if hs == nil {
		return
	}
	_ = hs.Close()
	<-served
}

// Up listens on the same address again.
func (f *flakyMLflow) Up(t testing.TB) {
	t.Helper()
	var l net.Listener
	var err error
	for range 100 {
		if l, err = net.Listen("tcp", f.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond) // spacing of retries of Listen itself
	}
	if err != nil {
		t.Fatalf("listen on %s again: %v", f.addr, err)
	}
	f.serve(l)
}

// maxInWindow is the largest number of requests for rpc that arrived
// within any window of length w.
func (f *flakyMLflow) maxInWindow(rpc string, w time.Duration) int {
	f.mu.Lock()
	var ts []time.Time
	for _, a := range f.arrivals {
		if a.rpc == rpc {
			ts = append(ts, a.at)
		}
	}
	f.mu.Unlock()
	best, lo := 0, 0
	for hi := range ts {
		for ts[hi].Sub(ts[lo]) >= w {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// stream is one training process: it records per-step gauges for one run
// and keeps the steps the collector acknowledged. Values are functions of
// the step, so what lands can be checked point by point.
type stream struct {
	s       *Sender
	keys    map[string]otelmetric.Float64Gauge
	next    int
	stride  int
	acked   []int
	pending []int
}

var streamKeys = map[string]func(step int) float64{
	"loss":     func(s int) float64 { return 1 / float64(s+1) },
	"accuracy": func(s int) float64 { return float64(s) / 1000 },
}

// newStream sends with delta temporality, so every step is exported once
// and a failed export is not repeated by the SDK: a step counts as sent
// only when its export was acknowledged.
func newStream(t testing.TB, c *Collector, proto Protocol, runName string, first, stride int, attrs ...attribute.KeyValue) *stream {
	t.Helper()
	res := resource.NewSchemaless(append([]attribute.KeyValue{
		attribute.String("service.name", "trainer"),
		attribute.String("mlflow.run.name", runName),
	}, attrs...)...)
	s := NewSender(t, c, proto, res, true)
	st := &stream{s: s, keys: map[string]otelmetric.Float64Gauge{}, next: first, stride: stride}
	m := s.MP.Meter("train")
	for k := range streamKeys {
		g, err := m.Float64Gauge(k)
		if err != nil {
			t.Fatal(err)
		}
		st.keys[k] = g
	}
	return st
}

// send records n steps and exports them; it reports the export's error.
func (st *stream) send(n int) error {
	ctx := context.Background()
	for range n {
		step := st.next
		st.next += st.stride
		for k, g := range st.keys {
			g.Record(ctx, streamKeys[k](step), otelmetric.WithAttributes(attribute.Int("step", step)))
		}
		st.pending = append(st.pending, step)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := st.s.MP.ForceFlush(fctx)
	if err == nil {
		st.acked = append(st.acked, st.pending...)
	}
	st.pending = st.pending[:0]
	return err
}

func (st *stream) mustSend(t testing.TB, n int) {
	t.Helper()
	if err := st.send(n); err != nil {
		t.Fatalf("export refused by the collector: %v", err)
	}
}

// activeRuns returns the active runs named name.
func activeRuns(srv runStore, name string) []mlflow.Run {
	var out []mlflow.Run
	for _, r := range srv.Runs() {
		if r.Info.LifecycleStage == mlflow.LifecycleActive && r.Info.RunName == name {
			out = append(out, r)
		}
	}
	return out
}

// landed compares what the run holds with what was sent: one active run
// named name; for each stream key, every acknowledged step exactly once,
// no step that was never sent, the value that step was sent with, and
// (with ordered, for one sender) timestamps that do not go backwards as
// steps grow. It returns "" when all holds, else what does not.
func landed(srv runStore, name string, acked []int, ordered bool) string {
	rs := activeRuns(srv, name)
	if len(rs) != 1 {
		return fmt.Sprintf("%d active runs named %q, want 1", len(rs), name)
	}
	want := map[int]bool{}
	for _, s := range acked {
		want[s] = true
	}
	var problems []string
	for key, val := range streamKeys {
		hist := srv.MetricHistory(rs[0].Info.RunID, key)
		seen := map[int64]int{}
		for _, m := range hist {
			seen[m.Step]++
			if m.Value != val(int(m.Step)) {
				problems = append(problems, fmt.Sprintf("%s step %d = %v, sent %v", key, m.Step, m.Value, val(int(m.Step))))
			}
		}
		for s := range want {
			if seen[int64(s)] == 0 {
				problems = append(problems, fmt.Sprintf("%s step %d missing", key, s))
			}
		}
		for s, n := range seen {
			if n > 1 {
				problems = append(problems, fmt.Sprintf("%s step %d stored %d times", key, s, n))
			}
			if !want[int(s)] {
				problems = append(problems, fmt.Sprintf("%s step %d stored but never acknowledged", key, s))
			}
		}
		if !ordered {
			continue
		}
		sorted := append([]mlflow.Metric(nil), hist...)
		sort.Slice(sorted, func(a, b int) bool { return sorted[a].Step < sorted[b].Step })
		for i := 1; i < len(sorted); i++ {
			if sorted[i].Timestamp < sorted[i-1].Timestamp {
				problems = append(problems, fmt.Sprintf("%s: step %d has an earlier timestamp than step %d", key, sorted[i].Step, sorted[i-1].Step))
			}
		}
	}
	if len(problems) > 10 {
		problems = append(problems[:10], fmt.Sprintf("... %d more", len(problems)-10))
	}
	return strings.Join(problems, "; ")
}

// awaitLanded waits until landed holds, failing with its last complaint.
func awaitLanded(t testing.TB, srv runStore, name string, acked []int, ordered bool, timeout time.Duration) mlflow.Run {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := landed(srv, name, acked, ordered)
		if msg == "" {
			return activeRuns(srv, name)[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, run %q: %s", timeout, name, msg)
		}
		time.Sleep(50 * time.Millisecond) // poll interval of this wait
	}
}

// countLines counts log lines of out containing msg.
func countLines(out, msg string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, msg) {
			n++
		}
	}
	return n
}

// metricValue sums the samples of a Prometheus metric whose line contains
// every one of match (name and label pairs).
func metricValue(text string, match ...string) (float64, bool) {
	var sum float64
	found := false
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		ok := true
		for _, m := range match {
			if !strings.Contains(l, m) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		var v float64
		if _, err := fmt.Sscan(l[i+1:], &v); err == nil {
			sum += v
			found = true
		}
	}
	return sum, found
}

// newStreamNoRetry is newStream over OTLP/HTTP with the SDK's own retry
// off, so that a refusal by the collector shows at once as a failed
// export instead of a minute of retries.
func newStreamNoRetry(t testing.TB, c *Collector, runName string) *stream {
	t.Helper()
	ctx := context.Background()
	exp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(fmt.Sprintf("127.0.0.1:%d", c.Ports.HTTP)),
		otlpmetrichttp.WithInsecure(), otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}),
		otlpmetrichttp.WithTemporalitySelector(func(metric.InstrumentKind) metricdata.Temporality { return metricdata.DeltaTemporality }))
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "trainer"), attribute.String("mlflow.run.name", runName))
	mp := metric.NewMeterProvider(metric.WithResource(res),
		metric.WithReader(metric.NewPeriodicReader(exp, metric.WithInterval(time.Hour))))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	st := &stream{s: &Sender{MP: mp}, keys: map[string]otelmetric.Float64Gauge{}, stride: 1}
	for k := range streamKeys {
		g, err := mp.Meter("train").Float64Gauge(k)
		if err != nil {
			t.Fatal(err)
		}
		st.keys[k] = g
	}
	return st
}
