package main

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestModelLearns(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := makeData(1000, rng)
	var m Model
	before := m.loss(data, 0)
	for range 30 {
		for i := 0; i < len(data); i += 32 {
			m.step(data[i:min(i+32, len(data))], 0.1, 0)
		}
	}
	if after := m.loss(data, 0); after >= before/2 {
		t.Errorf("loss %.3f -> %.3f: not learning", before, after)
	}
	if acc := m.accuracy(data); acc < 0.85 {
		t.Errorf("accuracy %.3f, want >= 0.85 on these blobs", acc)
	}
	cm := m.confusion(data)
	if cm[0][0]+cm[0][1]+cm[1][0]+cm[1][1] != len(data) {
		t.Errorf("confusion matrix %v does not count every sample", cm)
	}
}

// pointCounter is an OTLP/HTTP metrics endpoint counting points per name.
type pointCounter struct {
	mu     sync.Mutex
	points map[string]int
}

func (p *pointCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req colmetricspb.ExportMetricsServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rm := range req.GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				p.points[m.GetName()] += len(m.GetGauge().GetDataPoints())
			}
		}
	}
}

func TestRunEndToEnd(t *testing.T) {
	srv := mlflowtest.Start(t)
	counter := &pointCounter{points: map[string]int{}}
	collector := httptest.NewServer(counter)
	defer collector.Close()

	raw, err := os.ReadFile("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(raw), "  experiment_name:", "  tracking_uri: \""+srv.URL()+"\"\n  experiment_name:", 1)
	cfg = strings.Replace(cfg, `endpoint: "localhost:4317"`, `endpoint: "`+collector.URL+`"`+"\n    protocol: http/protobuf", 1)
	cfg = strings.Replace(cfg, "epochs: 40", "epochs: 12", 1)
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	var log bytes.Buffer
	if err := run(t.Context(), path, out, &log); err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "36 metric points sent, 0 dropped") {
		t.Errorf("report: %s", log.String())
	}

	runs := srv.Runs()
	if len(runs) != 1 {
		t.Fatalf("%d runs", len(runs))
	}
	r := runs[0]
	if r.Info.Status != mlflow.RunStatusFinished || r.Info.RunName != "run_1" {
		t.Errorf("run %+v", r.Info)
	}
	if len(r.Data.Params) != 6 {
		t.Errorf("params %+v", r.Data.Params)
	}
	root := r.Info.ExperimentID + "/" + r.Info.RunID + "/artifacts/"
	for _, p := range []string{"logreg_model/model.json", "logreg_model/MLmodel", "plots/loss_curve.png", "plots/confusion_matrix.png", "plots/decision_boundary.png"} {
		b, ok := srv.Artifact(root + p)
		if !ok || len(b) == 0 {
			t.Errorf("artifact %s missing", p)
		}
		if strings.HasSuffix(p, ".png") && !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("%s is not a PNG", p)
		}
	}
	local, err := os.ReadFile(filepath.Join(out, "model", "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	if uploaded, _ := srv.Artifact(root + "logreg_model/model.json"); !bytes.Equal(local, uploaded) {
		t.Error("uploaded model differs from the local file")
	}
	counter.mu.Lock()
	defer counter.mu.Unlock()
	for _, k := range []string{"train_loss", "val_loss", "val_accuracy"} {
		if counter.points[k] != 12 {
			t.Errorf("%s: %d points at the collector, want 12", k, counter.points[k])
		}
	}
}
