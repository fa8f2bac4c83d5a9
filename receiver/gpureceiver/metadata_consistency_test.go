package gpureceiver

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"gopkg.in/yaml.v3"

	"github.com/otelcol-mlflow/otelcol-mlflow/receiver/gpureceiver/internal/metadata"
)

// The part of mdatagen's metadata.yaml schema this receiver uses. Decoding
// with KnownFields rejects anything else, so a misspelt key fails too.
type mdFile struct {
	Type   string `yaml:"type"`
	Status struct {
		Class     string              `yaml:"class"`
		Stability map[string][]string `yaml:"stability"`
	} `yaml:"status"`
	ResourceAttributes map[string]mdAttribute `yaml:"resource_attributes"`
	Attributes         map[string]mdAttribute `yaml:"attributes"`
	Metrics            map[string]mdMetric    `yaml:"metrics"`
}

type mdAttribute struct {
	Description string   `yaml:"description"`
	Type        string   `yaml:"type"`
	Enum        []string `yaml:"enum"`
	Enabled     *bool    `yaml:"enabled"`
}

type mdMetric struct {
	Enabled     bool   `yaml:"enabled"`
	Stability   string `yaml:"stability"`
	Description string `yaml:"description"`
	Unit        string `yaml:"unit"`
	Gauge       *struct {
		ValueType string `yaml:"value_type"`
	} `yaml:"gauge"`
	Sum *struct {
		ValueType              string `yaml:"value_type"`
		Monotonic              bool   `yaml:"monotonic"`
		AggregationTemporality string `yaml:"aggregation_temporality"`
	} `yaml:"sum"`
	Attributes []string `yaml:"attributes"`
}

// metricShape is what metadata.yaml, internal/metadata and the docs table
// each say about one metric, in one comparable form.
type metricShape struct {
	Unit        string
	Type        string // gauge | sum
	ValueType   string // int | double
	Monotonic   bool
	Enabled     bool
	Description string
	Attributes  []string
}

func loadMetadataYAML(t *testing.T) mdFile {
	t.Helper()
	raw, err := os.ReadFile("metadata.yaml")
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var md mdFile
	require.NoError(t, dec.Decode(&md))
	return md
}

func loadDocs(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "gpureceiver.md"))
	require.NoError(t, err)
	return string(doc)
}

// docsSection returns the text under a "## title" heading up to the next one.
func docsSection(t *testing.T, doc, title string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "\n## "+title+"\n")
	require.True(t, ok, "docs/gpureceiver.md has no %q section", title)
	sec, _, _ := strings.Cut(rest, "\n## ")
	return sec
}

func codeMetrics() (map[string]metricShape, []string) {
	shapes := map[string]metricShape{}
	var order []string
	for id := range metadata.MetricCount {
		d := metadata.Descriptors[id]
		s := metricShape{Unit: d.Unit, Type: "gauge", ValueType: "int", Monotonic: d.Monotonic, Enabled: d.DefaultEnabled, Description: d.Description, Attributes: slices.Clone(d.Attributes)}
		if d.Kind == metadata.Sum {
			s.Type = "sum"
		}
		if d.ValueType == metadata.Double {
			s.ValueType = "double"
		}
		if s.Attributes == nil {
			s.Attributes = []string{}
		}
		shapes[d.Name] = s
		order = append(order, d.Name)
	}
	return shapes, order
}

func yamlMetrics(t *testing.T, md mdFile) map[string]metricShape {
	shapes := map[string]metricShape{}
	for name, m := range md.Metrics {
		s := metricShape{Unit: m.Unit, Enabled: m.Enabled, Description: m.Description, Attributes: m.Attributes}
		switch {
		case m.Gauge != nil && m.Sum == nil:
			s.Type, s.ValueType = "gauge", m.Gauge.ValueType
		case m.Sum != nil && m.Gauge == nil:
			s.Type, s.ValueType, s.Monotonic = "sum", m.Sum.ValueType, m.Sum.Monotonic
			assert.Equal(t, "cumulative", m.Sum.AggregationTemporality, "%s: the receiver emits cumulative sums only", name)
		default:
			t.Errorf("metadata.yaml: %s needs exactly one of gauge and sum", name)
		}
		assert.Equal(t, "development", m.Stability, name)
		if s.Attributes == nil {
			s.Attributes = []string{}
		}
		shapes[name] = s
	}
	return shapes
}

// docsMetrics parses the table under "## Metrics":
// | name | unit | type | data point attributes | default | description |
func docsMetrics(t *testing.T, doc string) (map[string]metricShape, []string) {
	shapes := map[string]metricShape{}
	var order []string
	inTable := false
	for line := range strings.Lines(docsSection(t, doc, "Metrics")) {
		if strings.HasPrefix(line, "| name | unit | type |") {
			inTable = true
		}
		if inTable && !strings.HasPrefix(line, "|") {
			break // the table ends; the MLflow mapping table below is not about metrics
		}
		if !inTable || !strings.HasPrefix(line, "| `") {
			continue
		}
		cols := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), " | ")
		if !assert.Len(t, cols, 6, "docs row %q", line) {
			continue
		}
		for i := range cols {
			cols[i] = strings.TrimSpace(cols[i])
		}
		name := strings.Trim(cols[0], "`")
		s := metricShape{Unit: strings.Trim(cols[1], "`"), Enabled: cols[4] == "yes", Description: cols[5], Attributes: []string{}}
		assert.Contains(t, []string{"yes", "no"}, cols[4], "%s: default column", name)
		kind, vt, _ := strings.Cut(cols[2], ", ")
		s.ValueType = vt
		switch kind {
		case "gauge":
			s.Type = "gauge"
		case "counter (cumulative sum)":
			s.Type, s.Monotonic = "sum", true
		case "updowncounter (cumulative sum)":
			s.Type = "sum"
		default:
			t.Errorf("docs: %s has unknown type %q", name, cols[2])
		}
		if cols[3] != "-" {
			for a := range strings.SplitSeq(cols[3], ", ") {
				s.Attributes = append(s.Attributes, strings.Trim(a, "`"))
			}
		}
		shapes[name] = s
		order = append(order, name)
	}
	return shapes, order
}

type enumValue interface {
	comparable
	String() string
	Attr() metadata.Attribute
}

// addEnum records the values of one attribute enum of the code under the key
// its Attr method writes, checking that the map and String agree.
func addEnum[T enumValue](t *testing.T, dst map[string][]string, m map[string]T) {
	var zero T
	assert.Empty(t, zero.String(), "the zero value of an attribute enum has no string")
	for s, v := range m {
		assert.Equal(t, s, v.String())
		key := v.Attr().Key
		dst[key] = append(dst[key], s)
	}
}

func codeEnums(t *testing.T) map[string][]string {
	e := map[string][]string{}
	addEnum(t, e, metadata.MapAttributeHwGpuTask)
	addEnum(t, e, metadata.MapAttributeHwGpuClockDomain)
	addEnum(t, e, metadata.MapAttributeHwGpuClockThrottleReason)
	addEnum(t, e, metadata.MapAttributeNetworkIoDirection)
	addEnum(t, e, metadata.MapAttributeHwType)
	addEnum(t, e, metadata.MapAttributeErrorType)
	addEnum(t, e, metadata.MapAttributeCPUMode)
	addEnum(t, e, metadata.MapAttributeSystemMemoryState)
	addEnum(t, e, metadata.MapAttributeSystemFilesystemState)
	addEnum(t, e, metadata.MapAttributeDiskIoDirection)
	for k := range e {
		slices.Sort(e[k])
	}
	return e
}

func yamlEnums(md mdFile) map[string][]string {
	e := map[string][]string{}
	for k, a := range md.Attributes {
		if len(a.Enum) > 0 {
			e[k] = slices.Sorted(slices.Values(a.Enum))
		}
	}
	return e
}

// docsEnums parses the "Attribute values:" paragraph: `key` v1|v2|... with
// parenthesised remarks dropped.
func docsEnums(t *testing.T, doc string) map[string][]string {
	_, para, ok := strings.Cut(docsSection(t, doc, "Metrics"), "Attribute values:")
	require.True(t, ok, "docs: no 'Attribute values:' paragraph")
	para, _, _ = strings.Cut(para, "\n\n")
	para = regexp.MustCompile(`\s*\([^)]*\)`).ReplaceAllString(para, "")
	para = strings.Join(strings.Fields(para), " ")
	e := map[string][]string{}
	for _, m := range regexp.MustCompile("`([a-z._]+)` ([a-z_]+(?:\\|[a-z_]+)*)").FindAllStringSubmatch(para, -1) {
		e[m[1]] = slices.Sorted(slices.Values(strings.Split(m[2], "|")))
	}
	return e
}

// codeResourceAttributes calls every setter of the ResourceBuilder and
// reports the key and value type of what it wrote.
func codeResourceAttributes(t *testing.T) map[string]string {
	rb := metadata.NewResourceBuilder()
	v := reflect.ValueOf(rb)
	for i := range v.NumMethod() {
		m, name := v.Method(i), v.Type().Method(i).Name
		if !strings.HasPrefix(name, "Set") {
			continue
		}
		var args []reflect.Value
		for j := range m.Type().NumIn() {
			switch k := m.Type().In(j).Kind(); k {
			case reflect.String:
				args = append(args, reflect.ValueOf("x"))
			case reflect.Int:
				args = append(args, reflect.ValueOf(1))
			case reflect.Slice:
				args = append(args, reflect.ValueOf([]string{"x"}))
			default:
				t.Fatalf("ResourceBuilder.%s takes a %v", name, k)
			}
		}
		m.Call(args)
	}
	got := map[string]string{}
	for k, val := range rb.Emit().Attributes().All() {
		got[k] = pdataType(val)
	}
	return got
}

func pdataType(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return "string"
	case pcommon.ValueTypeInt:
		return "int"
	case pcommon.ValueTypeDouble:
		return "double"
	case pcommon.ValueTypeBool:
		return "bool"
	case pcommon.ValueTypeSlice:
		return "slice"
	}
	return v.Type().String()
}

// TestMetadataConsistency fails when metadata.yaml, the metric definitions in
// internal/metadata, docs/gpureceiver.md and the receiver's golden output
// stop describing the same metrics, units, types, defaults, attributes and
// attribute values.
func TestMetadataConsistency(t *testing.T) {
	md := loadMetadataYAML(t)
	doc := loadDocs(t)
	code, codeOrder := codeMetrics()

	t.Run("status", func(t *testing.T) {
		assert.Equal(t, metadata.Type.String(), md.Type)
		assert.Equal(t, "receiver", md.Status.Class)
		assert.Equal(t, map[string][]string{strings.ToLower(metadata.MetricsStability.String()): {"metrics"}}, md.Status.Stability)
	})

	t.Run("metrics: metadata.yaml vs code", func(t *testing.T) {
		assert.Equal(t, code, yamlMetrics(t, md))
	})

	t.Run("metrics: docs vs code", func(t *testing.T) {
		docs, docsOrder := docsMetrics(t, doc)
		assert.Equal(t, code, docs)
		assert.Equal(t, codeOrder, docsOrder, "the docs table lists the metrics in MetricID order")
	})

	t.Run("attributes", func(t *testing.T) {
		used := map[string]bool{}
		for name, m := range md.Metrics {
			for _, a := range m.Attributes {
				used[a] = true
				assert.Contains(t, md.Attributes, a, "metadata.yaml: %s uses undeclared attribute %s", name, a)
			}
		}
		for a, def := range md.Attributes {
			assert.True(t, used[a], "metadata.yaml: attribute %s is used by no metric", a)
			assert.NotEmpty(t, def.Description, a)
			assert.Contains(t, []string{"string", "int"}, def.Type, a)
			assert.Nil(t, def.Enabled, "%s: only resource attributes have an enabled switch", a)
		}
		assert.Equal(t, yamlEnums(md), codeEnums(t), "enum values: metadata.yaml vs MapAttributeXxx")
		assert.Equal(t, yamlEnums(md), docsEnums(t, doc), "enum values: metadata.yaml vs the docs' 'Attribute values' paragraph")
	})

	t.Run("resource attributes", func(t *testing.T) {
		want := map[string]string{}
		resources := docsSection(t, doc, "Resources")
		for k, a := range md.ResourceAttributes {
			want[k] = a.Type
			assert.NotEmpty(t, a.Description, k)
			assert.True(t, a.Enabled != nil && *a.Enabled, "%s: enabled must be set (the builder has no switch to turn it off)", k)
			assert.Contains(t, resources, "`"+k+"`", "docs: resource attribute %s is not in the Resources table", k)
		}
		assert.Equal(t, want, codeResourceAttributes(t), "resource attributes: metadata.yaml vs ResourceBuilder setters")
	})

	t.Run("golden output", func(t *testing.T) {
		files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.yaml"))
		require.NoError(t, err)
		require.NotEmpty(t, files)
		seen := map[string]bool{}
		for _, f := range files {
			checkGoldenAgainstMetadata(t, f, md, seen)
		}
		for name := range md.Metrics {
			assert.True(t, seen[name], "%s appears in no golden file", name)
		}
	})
}

// checkGoldenAgainstMetadata holds what the receiver really emitted (the
// golden files the scrape tests compare with) against metadata.yaml: every
// metric, resource attribute and data point attribute declared, with the
// declared unit, type and value, enum values included.
func checkGoldenAgainstMetadata(t *testing.T, path string, md mdFile, seen map[string]bool) {
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var g struct {
		Resources []struct {
			Attributes map[string]any `yaml:"attributes"`
			Metrics    []struct {
				Name        string `yaml:"name"`
				Unit        string `yaml:"unit"`
				Type        string `yaml:"type"`
				Monotonic   bool   `yaml:"monotonic"`
				Temporality string `yaml:"temporality"`
				Points      []struct {
					Attributes map[string]any `yaml:"attributes"`
				} `yaml:"points"`
			} `yaml:"metrics"`
		} `yaml:"resources"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &g))
	file := filepath.Base(path)
	for _, r := range g.Resources {
		for k, v := range r.Attributes {
			a, ok := md.ResourceAttributes[k]
			if assert.True(t, ok, "%s: undeclared resource attribute %s", file, k) {
				checkValue(t, file+": resource attribute "+k, a, v)
			}
		}
		for _, m := range r.Metrics {
			seen[m.Name] = true
			def, ok := md.Metrics[m.Name]
			if !assert.True(t, ok, "%s: undeclared metric %s", file, m.Name) {
				continue
			}
			assert.Equal(t, def.Unit, m.Unit, "%s: unit of %s", file, m.Name)
			if def.Sum != nil {
				assert.Equal(t, "sum", m.Type, "%s: %s", file, m.Name)
				assert.Equal(t, def.Sum.Monotonic, m.Monotonic, "%s: monotonic %s", file, m.Name)
				assert.Equal(t, def.Sum.AggregationTemporality, m.Temporality, "%s: %s", file, m.Name)
			} else {
				assert.Equal(t, "gauge", m.Type, "%s: %s", file, m.Name)
			}
			for _, p := range m.Points {
				for k, v := range p.Attributes {
					if !assert.Contains(t, def.Attributes, k, "%s: %s carries undeclared attribute %s", file, m.Name, k) {
						continue
					}
					checkValue(t, file+": "+m.Name+" "+k, md.Attributes[k], v)
				}
			}
		}
	}
}

func checkValue(t *testing.T, what string, a mdAttribute, v any) {
	switch a.Type {
	case "int":
		assert.IsType(t, 0, v, "%s: want an int", what)
	case "string":
		s, ok := v.(string)
		if assert.True(t, ok, "%s: want a string, got %T", what, v) && len(a.Enum) > 0 {
			assert.Contains(t, a.Enum, s, "%s: value outside the enum", what)
		}
	}
}
