package translate

import (
	"maps"
	"path"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/goleak"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testNow stands in for the exporter's clock in every test.
var testNow = time.Unix(1_700_000_000, 0)

// defaultResourceTags is the default of the resource_tags setting (docs/mapping.md §1);
// the config supplies it, so tests pass it explicitly.
var defaultResourceTags = []string{"service.name", "service.version", "service.instance.id", "host.name", "process.pid"}

func defaultOptions() Options {
	return Options{
		StepAttribute:      "step",
		HistogramQuantiles: []float64{0.5, 0.9, 0.99},
		ResourceTags:       defaultResourceTags,
	}
}

// mlflowAccepts mirrors the tracking server's key check
// (mlflow/utils/validation.py: the \w regex, 250 characters and
// path_not_unique, which also rejects keys starting with ".."), on top of
// mlflow.ValidateKey, so sanitised keys are held to what the server does.
func mlflowAccepts(t testing.TB, key string) {
	t.Helper()
	if err := mlflow.ValidateKey(key); err != nil {
		t.Fatalf("key %q fails mlflow.ValidateKey: %v", key, err)
	}
	if path.Clean(key) != key || key == "." || strings.HasPrefix(key, "..") || strings.HasPrefix(key, "/") {
		t.Fatalf("key %q is not unique under posixpath.normpath", key)
	}
	if n := utf8.RuneCountInString(key); n > mlflow.MaxKeyLength {
		t.Fatalf("key %q has %d characters", key, n)
	}
}

// newResource appends a ResourceMetrics with string resource attributes and
// returns its only scope's metric slice.
func newResource(md pmetric.Metrics, attrs map[string]any) (pmetric.ResourceMetrics, pmetric.MetricSlice) {
	rm := md.ResourceMetrics().AppendEmpty()
	putSorted(rm.Resource().Attributes(), attrs)
	return rm, rm.ScopeMetrics().AppendEmpty().Metrics()
}

func addGauge(ms pmetric.MetricSlice, name string) pmetric.NumberDataPointSlice {
	m := ms.AppendEmpty()
	m.SetName(name)
	return m.SetEmptyGauge().DataPoints()
}

// addPoint appends a double point with the given raw attributes.
func addPoint(dps pmetric.NumberDataPointSlice, v float64, tsNs uint64, attrs map[string]any) pmetric.NumberDataPoint {
	dp := dps.AppendEmpty()
	dp.SetDoubleValue(v)
	dp.SetTimestamp(pcommon.Timestamp(tsNs))
	putSorted(dp.Attributes(), attrs)
	return dp
}

// putSorted inserts raw attributes in name order: pcommon.Map.FromRaw
// follows Go's random map order, and attribute order shows in the order of
// params and tags, which golden files must not depend on.
func putSorted(m pcommon.Map, raw map[string]any) {
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		if err := m.PutEmpty(k).FromRaw(raw[k]); err != nil {
			panic(err)
		}
	}
}

// translateOne runs a single-resource pmetric.Metrics through a Translator.
func translateOne(t testing.TB, opts Options, md pmetric.Metrics) (*ResourceData, Stats) {
	t.Helper()
	if md.ResourceMetrics().Len() != 1 {
		t.Fatalf("want one resource, have %d", md.ResourceMetrics().Len())
	}
	var st Stats
	rd := New(opts).Resource(md.ResourceMetrics().At(0), testNow, &st)
	if rd == nil {
		t.Fatal("Resource returned nil")
	}
	for _, p := range rd.Points {
		mlflowAccepts(t, p.Key)
	}
	return rd, st
}

// keysOf lists point keys in order.
func keysOf(rd *ResourceData) []string {
	keys := make([]string, len(rd.Points))
	for i, p := range rd.Points {
		keys[i] = p.Key
	}
	return keys
}

// pointMap indexes points by key; it fails on a duplicate key.
func pointMap(t testing.TB, rd *ResourceData) map[string]Point {
	t.Helper()
	m := make(map[string]Point, len(rd.Points))
	for _, p := range rd.Points {
		if _, dup := m[p.Key]; dup {
			t.Fatalf("duplicate key %q", p.Key)
		}
		m[p.Key] = p
	}
	return m
}

// singleGauge translates one gauge point with the given attributes.
func singleGauge(t testing.TB, opts Options, name string, attrs map[string]any) (*ResourceData, Stats) {
	t.Helper()
	md := pmetric.NewMetrics()
	_, ms := newResource(md, map[string]any{"service.name": "svc"})
	addPoint(addGauge(ms, name), 1, 1_700_000_000_000_000_000, attrs)
	return translateOne(t, opts, md)
}
