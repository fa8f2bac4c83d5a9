package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/restclient"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// EnvMLflowURI names an external, real MLflow tracking server
// (http://127.0.0.1:5000). When it is set, every test that needs no fault
// injection, no Databricks fake and no test-server internals sends to that
// server and reads back through its REST API; the others skip and say why.
// Unset (CI), the tests start the project's test server as before.
const EnvMLflowURI = "E2E_MLFLOW_URI"

// realMLflowURI is the external server's URI, "" when the tests use the
// test server.
func realMLflowURI() string { return strings.TrimRight(os.Getenv(EnvMLflowURI), "/") }

// skipOnRealServer skips t when the suite targets an external server;
// why starts with what the test needs ("needs fault injection: ...").
func skipOnRealServer(t testing.TB, why string) {
	t.Helper()
	if realMLflowURI() != "" {
		t.Skip(why)
	}
}

// runStore is what the checks read: every run (active or deleted) in the
// test's scope and one metric's history. *mlflowtest.Server (its internals)
// and *mlflowBackend (the REST API) both provide it.
type runStore interface {
	Runs() []mlflow.Run
	MetricHistory(runID, key string) []mlflow.Metric
}

// mlflowBackend is the tracking server a test writes to: the external real
// server of E2E_MLFLOW_URI or a test server started for the test. Checks
// read it back only through the REST API (experiments/get-by-name,
// runs/search, metrics/get-history), the same way in both cases, and only
// within the experiments this test named (see Experiment), so runs of
// earlier tests on a shared server never count.
type mlflowBackend struct {
	t      testing.TB
	url    string
	real   bool
	client *restclient.Client

	mu      sync.Mutex
	names   []string          // experiments of this test
	ids     map[string]string // name -> id, once found
	lastErr error
}

// startMLflow returns the external server when E2E_MLFLOW_URI is set, else
// a fresh test server.
func startMLflow(t testing.TB) *mlflowBackend {
	t.Helper()
	if u := realMLflowURI(); u != "" {
		return newBackend(t, u, true)
	}
	return newBackend(t, mlflowtest.Start(t).URL(), false)
}

// newBackend reads the server at url through its REST API.
func newBackend(t testing.TB, url string, real bool) *mlflowBackend {
	t.Helper()
	c, err := restclient.New(restclient.Config{TrackingURI: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &mlflowBackend{t: t, url: url, real: real, client: c, ids: map[string]string{}}
}

// URL is where the collector sends.
func (b *mlflowBackend) URL() string { return b.url }

// Experiment returns an experiment name unique to this test and this
// moment (a real server keeps the runs of earlier test runs), and puts it
// in the scope of Runs.
func (b *mlflowBackend) Experiment(base string) string {
	name := fmt.Sprintf("e2e-%s-%s-%s", base, strings.ReplaceAll(b.t.Name(), "/", "."), strconv.FormatInt(time.Now().UnixNano(), 36))
	b.mu.Lock()
	b.names = append(b.names, name)
	b.mu.Unlock()
	return name
}

// ExperimentID is the id of a named experiment, "" while it does not
// exist.
func (b *mlflowBackend) ExperimentID(name string) string {
	b.mu.Lock()
	id := b.ids[name]
	b.mu.Unlock()
	if id != "" {
		return id
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	exp, err := b.client.GetExperimentByName(ctx, name)
	if err != nil {
		b.setErr(err)
		return ""
	}
	b.mu.Lock()
	b.ids[name] = exp.ID
	b.mu.Unlock()
	return exp.ID
}

func (b *mlflowBackend) setErr(err error) {
	b.mu.Lock()
	same := b.lastErr != nil && b.lastErr.Error() == err.Error()
	b.lastErr = err
	b.mu.Unlock()
	if !same {
		b.t.Logf("reading MLflow back: %v", err)
	}
}

// LastError is the last REST error a read met (reads are polled, so an
// error only shows as missing data; this says why).
func (b *mlflowBackend) LastError() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lastErr
}

// Runs implements runStore: every run of this test's experiments, deleted
// ones too, through runs/search.
func (b *mlflowBackend) Runs() []mlflow.Run {
	b.mu.Lock()
	names := append([]string(nil), b.names...)
	b.mu.Unlock()
	var ids []string
	for _, n := range names {
		if id := b.ExperimentID(n); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []mlflow.Run
	token := ""
	for {
		res, err := b.client.SearchRuns(ctx, mlflow.SearchRunsRequest{ExperimentIDs: ids, ViewType: mlflow.ViewAll, PageToken: token, OrderBy: []string{"attributes.start_time ASC"}})
		if err != nil {
			b.setErr(err)
			return nil
		}
		out = append(out, res.Runs...)
		if res.NextPageToken == "" {
			return out
		}
		token = res.NextPageToken
	}
}

// MetricHistory implements runStore through metrics/get-history, in time
// order (then step): servers differ in the order they return.
func (b *mlflowBackend) MetricHistory(runID, key string) []mlflow.Metric {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := b.client.GetMetricHistory(ctx, runID, key)
	if err != nil {
		b.setErr(err)
		return nil
	}
	sort.SliceStable(h, func(i, j int) bool {
		if h[i].Timestamp != h[j].Timestamp {
			return h[i].Timestamp < h[j].Timestamp
		}
		return h[i].Step < h[j].Step
	})
	return h
}

// GetRun reads one run through runs/get.
func (b *mlflowBackend) GetRun(runID string) (*mlflow.Run, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return b.client.GetRun(ctx, runID)
}

// runsByName returns the active runs of this test by name.
func (b *mlflowBackend) runsByName() map[string]mlflow.Run {
	out := map[string]mlflow.Run{}
	for _, r := range b.Runs() {
		if r.Info.LifecycleStage == mlflow.LifecycleActive {
			out[r.Info.RunName] = r
		}
	}
	return out
}

// slowProxy forwards to target and holds every request for rpc for
// latency first: slowness, not a fault, so that a race needs no test
// server.
func slowProxy(t testing.TB, target, rpc string, latency time.Duration) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/"+rpc) {
			time.Sleep(latency) // the latency this proxy injects
		}
		rp.ServeHTTP(w, r)
	})}
	l := listenLoopback(t)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String()
}

func listenLoopback(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}
