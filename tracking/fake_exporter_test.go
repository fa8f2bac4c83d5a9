package tracking

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// fakeExporter records what it is asked to export and fails while down.
type fakeExporter struct {
	mu       sync.Mutex
	down     bool
	exported []exportedPoint
	ends     []runEnd
	calls    int
	shutdown bool
}

// runEnd is an mlflow.run.end point: the run and its status.
type runEnd struct {
	RunID, Status string
	TimeMs        int64
}

func (f *fakeExporter) runEnds() []runEnd {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]runEnd(nil), f.ends...)
}

type exportedPoint struct {
	RunID   string
	Key     string
	Value   float64
	Step    int64
	HasStep bool
	TimeMs  int64
}

func (f *fakeExporter) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakeExporter) points() []exportedPoint {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]exportedPoint(nil), f.exported...)
}

func (f *fakeExporter) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return deltaTemporality(k)
}

func (f *fakeExporter) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}

func (f *fakeExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.down {
		return errors.New("connection refused")
	}
	runID, _ := rm.Resource.Set().Value(attribute.Key("mlflow.run.id"))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			g := m.Data.(metricdata.Gauge[float64])
			for _, dp := range g.DataPoints {
				if m.Name == runEndMetric {
					status, _ := dp.Attributes.Value("status")
					f.ends = append(f.ends, runEnd{RunID: runID.AsString(), Status: status.AsString(), TimeMs: dp.Time.UnixMilli()})
					continue
				}
				step, ok := dp.Attributes.Value(stepAttribute)
				f.exported = append(f.exported, exportedPoint{
					RunID: runID.AsString(), Key: m.Name, Value: dp.Value,
					Step: step.AsInt64(), HasStep: ok, TimeMs: dp.Time.UnixMilli(),
				})
			}
		}
	}
	return nil
}

func (f *fakeExporter) ForceFlush(context.Context) error { return nil }

func (f *fakeExporter) Shutdown(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shutdown = true
	return nil
}
