package mlflowexporter

import (
	"context"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"gopkg.in/yaml.v3"

	"github.com/otelcol-mlflow/otelcol-mlflow/exporter/mlflowexporter/internal/metadata"
)

// metadataYAML is the part of mdatagen's schema metadata.yaml uses.
type metadataYAML struct {
	Type   string `yaml:"type"`
	Status struct {
		Class     string              `yaml:"class"`
		Stability map[string][]string `yaml:"stability"`
	} `yaml:"status"`
	Attributes map[string]struct {
		NameOverride string   `yaml:"name_override"`
		Enum         []string `yaml:"enum"`
	} `yaml:"attributes"`
	Telemetry struct {
		Metrics map[string]telemetryMetricYAML `yaml:"metrics"`
	} `yaml:"telemetry"`
}

type telemetryMetricYAML struct {
	Description string `yaml:"description"`
	Unit        string `yaml:"unit"`
	Sum         *struct {
		ValueType string `yaml:"value_type"`
		Monotonic bool   `yaml:"monotonic"`
	} `yaml:"sum"`
	Gauge *struct {
		ValueType string `yaml:"value_type"`
	} `yaml:"gauge"`
	Histogram *struct {
		ValueType        string    `yaml:"value_type"`
		BucketBoundaries []float64 `yaml:"bucket_boundaries"`
	} `yaml:"histogram"`
	Attributes []string `yaml:"attributes"`
}

func (m telemetryMetricYAML) kind() string {
	switch {
	case m.Sum != nil && m.Sum.Monotonic:
		return "counter/" + m.Sum.ValueType
	case m.Sum != nil:
		return "updowncounter/" + m.Sum.ValueType
	case m.Gauge != nil:
		return "gauge/" + m.Gauge.ValueType
	case m.Histogram != nil:
		return "histogram/" + m.Histogram.ValueType
	}
	return "unknown"
}

func loadMetadataYAML(t *testing.T) metadataYAML {
	t.Helper()
	raw, err := os.ReadFile("metadata.yaml")
	require.NoError(t, err)
	var md metadataYAML
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	require.NoError(t, dec.Decode(&md))
	return md
}

// The hand-written internal/metadata must be what mdatagen would generate
// from metadata.yaml, and docs/reliability.md's self-metrics table must
// list the same metrics: a metric added, renamed or retyped in one place
// only fails here.
func TestMetadataMatchesCode(t *testing.T) {
	md := loadMetadataYAML(t)
	assert.Equal(t, metadata.Type.String(), md.Type)
	assert.Equal(t, "exporter", md.Status.Class)
	assert.Equal(t, []string{"metrics"}, md.Status.Stability[strings.ToLower(metadata.MetricsStability.String())])

	// Record once on every instrument of the builder, then read back what
	// the SDK saw: name, description, unit, kind, buckets.
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { require.NoError(t, mp.Shutdown(context.Background())) }()
	set := componenttest.NewNopTelemetrySettings()
	set.MeterProvider = mp
	tb, err := metadata.NewTelemetryBuilder(set)
	require.NoError(t, err)
	ctx := context.Background()
	v := reflect.ValueOf(tb).Elem()
	fields := 0
	for i := range v.NumField() {
		if !v.Type().Field(i).IsExported() {
			continue
		}
		fields++
		switch inst := v.Field(i).Interface().(type) {
		case metric.Int64Counter:
			inst.Add(ctx, 1)
		case metric.Int64Gauge:
			inst.Record(ctx, 1)
		case metric.Float64Gauge:
			inst.Record(ctx, 1)
		case metric.Float64Histogram:
			inst.Record(ctx, 1)
		default:
			t.Fatalf("field %s: instrument type %T not covered by this test", v.Type().Field(i).Name, inst)
		}
	}
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	require.Len(t, rm.ScopeMetrics, 1)
	assert.Equal(t, metadata.ScopeName, rm.ScopeMetrics[0].Scope.Name)
	got := map[string]metricdata.Metrics{}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		got[m.Name] = m
	}
	assert.Len(t, got, fields, "one metric per builder field")
	assert.Len(t, md.Telemetry.Metrics, fields, "metadata.yaml lists every builder field")

	for name, want := range md.Telemetry.Metrics {
		m, ok := got["otelcol_"+name]
		if !assert.True(t, ok, "metadata.yaml's %s is not made by the TelemetryBuilder", name) {
			continue
		}
		assert.Equal(t, want.Description, m.Description, name)
		assert.Equal(t, want.Unit, m.Unit, name)
		kind := "unknown"
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			kind = "updowncounter/int"
			if d.IsMonotonic {
				kind = "counter/int"
			}
		case metricdata.Gauge[int64]:
			kind = "gauge/int"
		case metricdata.Gauge[float64]:
			kind = "gauge/double"
		case metricdata.Histogram[float64]:
			kind = "histogram/double"
			assert.Equal(t, want.Histogram.BucketBoundaries, d.DataPoints[0].Bounds, name)
		}
		assert.Equal(t, want.kind(), kind, name)
		for _, a := range want.Attributes {
			_, ok := md.Attributes[a]
			assert.True(t, ok, "%s: attribute %s not defined in metadata.yaml", name, a)
		}
	}

	// Typed enums carry exactly metadata.yaml's values.
	enums := map[string][]string{
		"cause":          keys(metadata.MapAttributeCause),
		"state":          keys(metadata.MapAttributeState),
		"tenant_outcome": keys(metadata.MapAttributeTenantOutcome),
	}
	for attr, values := range enums {
		want := slices.Clone(md.Attributes[attr].Enum)
		sort.Strings(want)
		assert.Equal(t, want, values, "enum of attribute %s", attr)
	}
	for attr, def := range md.Attributes {
		if len(def.Enum) > 0 {
			assert.Contains(t, enums, attr, "attribute %s has an enum in metadata.yaml but no typed enum in internal/metadata", attr)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// docs/reliability.md's table of self-metrics: | `name` | type | unit | attributes | description |
var selfMetricRow = regexp.MustCompile("^\\| `(otelcol_exporter_mlflow_[a-z_]+)` \\| ([a-z]+) \\| `([^`]*)` \\| ([^|]*) \\|")

func TestSelfMetricsDocumented(t *testing.T) {
	md := loadMetadataYAML(t)
	raw, err := os.ReadFile("../../docs/reliability.md")
	require.NoError(t, err)
	documented := map[string][]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		m := selfMetricRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name := strings.TrimPrefix(m[1], "otelcol_")
		want, ok := md.Telemetry.Metrics[name]
		if !assert.True(t, ok, "docs list %s, metadata.yaml does not", m[1]) {
			continue
		}
		typ := strings.SplitN(want.kind(), "/", 2)[0]
		assert.Equal(t, typ, m[2], "%s: type", m[1])
		assert.Equal(t, want.Unit, m[3], "%s: unit", m[1])
		var attrs []string
		for _, a := range want.Attributes {
			if o := md.Attributes[a].NameOverride; o != "" {
				a = o
			}
			attrs = append(attrs, "`"+a+"`")
		}
		docAttrs := strings.TrimSpace(m[4])
		if docAttrs == "—" {
			docAttrs = ""
		}
		assert.Equal(t, strings.Join(attrs, ", "), docAttrs, "%s: attributes", m[1])
		documented[name] = attrs
	}
	for name := range md.Telemetry.Metrics {
		assert.Contains(t, documented, name, "otelcol_%s is missing from docs/reliability.md's self-metrics table", name)
	}
}
