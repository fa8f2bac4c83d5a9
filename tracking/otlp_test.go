package tracking

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// otlpSink is a minimal OTLP/HTTP metrics endpoint that keeps what it got.
type otlpSink struct {
	mu   sync.Mutex
	reqs []*colmetricspb.ExportMetricsServiceRequest
}

func (s *otlpSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || r.URL.Path != "/v1/metrics" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var req colmetricspb.ExportMetricsServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, &req)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(nil)
}

func TestOTLPHTTPEndToEnd(t *testing.T) {
	srv := mlflowtest.Start(t)
	sink := &otlpSink{}
	collector := httptest.NewServer(sink)
	defer collector.Close()

	tr, err := New(Config{
		TrackingURI: srv.URL(), ExperimentName: "otlp", RunName: "r1",
		// The sink only records: no collector writes the run (ConfirmTimeout off).
		OTLP: OTLP{Endpoint: collector.URL, Protocol: "http/protobuf", ExportInterval: time.Hour, ServiceName: "trainer", ConfirmTimeout: -1},
	}, WithLogger(quietLogger))
	require.NoError(t, err)
	ctx := t.Context()
	run, err := tr.StartRun(ctx)
	require.NoError(t, err)
	at := time.UnixMilli(1_800_000_000_321)
	require.NoError(t, tr.LogMetrics(map[string]float64{"train_loss": 0.5}, Step(10), Timestamp(at)))
	require.NoError(t, tr.LogMetrics(map[string]float64{"train_loss": 0.25}, Step(11), Timestamp(at.Add(time.Second))))
	rep, err := tr.EndRun(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(2), rep.Sent)
	require.NoError(t, tr.Close(ctx))

	sink.mu.Lock()
	defer sink.mu.Unlock()
	require.Len(t, sink.reqs, 1)
	rms := sink.reqs[0].GetResourceMetrics()
	require.Len(t, rms, 1)
	attrs := map[string]string{}
	for _, kv := range rms[0].GetResource().GetAttributes() {
		attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	require.Equal(t, run.ID(), attrs["mlflow.run.id"])
	require.Equal(t, run.Info().ExperimentID, attrs["mlflow.experiment.id"])
	require.Equal(t, "r1", attrs["mlflow.run.name"])
	require.Equal(t, "trainer", attrs["service.name"])
	ms := rms[0].GetScopeMetrics()[0].GetMetrics()
	require.Len(t, ms, 2, "the run's metrics, then the run's end in the same flush")
	require.Equal(t, "train_loss", ms[0].GetName())
	require.Equal(t, "mlflow.run.end", ms[1].GetName())
	end := ms[1].GetGauge().GetDataPoints()[0].GetAttributes()[0]
	require.Equal(t, "status", end.GetKey())
	require.Equal(t, "FINISHED", end.GetValue().GetStringValue())
	dps := ms[0].GetGauge().GetDataPoints()
	require.Len(t, dps, 2)
	for i, dp := range dps {
		require.Equal(t, uint64(at.Add(time.Duration(i)*time.Second).UnixNano()), dp.GetTimeUnixNano())
		require.Equal(t, "step", dp.GetAttributes()[0].GetKey())
		require.Equal(t, int64(10+i), dp.GetAttributes()[0].GetValue().GetIntValue())
	}
	require.Equal(t, 0.5, dps[0].GetAsDouble())
}

// With the collector down (nothing listens), LogMetrics returns at once,
// the buffer bound holds, and EndRun and Close report what is lost.
func TestOTLPGRPCCollectorDown(t *testing.T) {
	srv := mlflowtest.Start(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	tr, err := New(Config{
		TrackingURI: srv.URL(),
		OTLP: OTLP{Endpoint: addr, ExportInterval: 10 * time.Millisecond, BufferSize: 100,
			FlushTimeout: 100 * time.Millisecond},
	}, WithLogger(quietLogger))
	require.NoError(t, err)
	ctx := t.Context()
	_, err = tr.StartRun(ctx)
	require.NoError(t, err)
	for i := range 250 {
		require.NoError(t, tr.LogMetric("loss", float64(i), Step(int64(i))))
	}
	rep, err := tr.EndRun(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(150), rep.Dropped)
	require.Equal(t, int64(100), rep.Pending)
	require.Zero(t, rep.Sent)
	require.Error(t, rep.FlushErr)

	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	require.ErrorContains(t, tr.Close(cctx), "100 metric points could not be delivered")
}

func TestExporterEndpointSelection(t *testing.T) {
	require.True(t, isLoopback("localhost:4317"))
	require.True(t, isLoopback("127.0.0.1:4317"))
	require.True(t, isLoopback("[::1]:4317"))
	require.False(t, isLoopback("collector.internal:4317"))

	for _, cfg := range []OTLP{
		{},
		{Endpoint: "localhost:4317"},
		{Endpoint: "http://localhost:4317"},
		{Protocol: "http/protobuf"},
		{Protocol: "http/protobuf", Endpoint: "https://collector.example:4318"},
	} {
		exp, err := newExporter(t.Context(), cfg)
		require.NoError(t, err, "%+v", cfg)
		require.NoError(t, exp.Shutdown(t.Context()))
	}
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift")
	_, err := newExporter(t.Context(), OTLP{})
	require.ErrorContains(t, err, `"thrift"`)
}
