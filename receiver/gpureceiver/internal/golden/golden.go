// Package golden renders pmetric.Metrics as sorted, normalised YAML and
// compares it with a file under testdata. Run the tests with -update to
// rewrite the files after an intended change.
package golden

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite golden files instead of comparing")

// Options says what to normalise.
type Options struct {
	// KeepTimestamps writes timestamps as they are; by default they become
	// "set" or "unset" so runs at different times compare equal.
	KeepTimestamps bool
	// IgnoreValues lists metric names whose values vary between runs; their
	// values are written as "<any>" (the type and attributes still count).
	IgnoreValues []string
}

type point struct {
	Attributes map[string]any `yaml:"attributes,omitempty"`
	Start      string         `yaml:"start,omitempty"`
	Time       string         `yaml:"time"`
	Value      any            `yaml:"value"`
}

type metric struct {
	Name        string  `yaml:"name"`
	Unit        string  `yaml:"unit"`
	Type        string  `yaml:"type"`
	Monotonic   bool    `yaml:"monotonic,omitempty"`
	Temporality string  `yaml:"temporality,omitempty"`
	Points      []point `yaml:"points"`
}

type resource struct {
	Attributes map[string]any `yaml:"attributes"`
	Scope      string         `yaml:"scope"`
	Metrics    []metric       `yaml:"metrics"`
}

func ts(t pcommon.Timestamp, keep bool) string {
	switch {
	case keep:
		return t.AsTime().UTC().Format("2006-01-02T15:04:05.000000000Z")
	case t == 0:
		return "unset"
	default:
		return "set"
	}
}

func key(v any) string {
	b, _ := yaml.Marshal(v)
	return string(b)
}

// Render turns md into deterministic YAML: resources, metrics and points
// sorted, timestamps and chosen values normalised.
func Render(md pmetric.Metrics, opts Options) ([]byte, error) {
	var out []resource
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			r := resource{Attributes: rm.Resource().Attributes().AsRaw(), Scope: sm.Scope().Name()}
			for _, m := range sm.Metrics().All() {
				x := metric{Name: m.Name(), Unit: m.Unit(), Type: strings.ToLower(m.Type().String())}
				var dps pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
					x.Monotonic = m.Sum().IsMonotonic()
					x.Temporality = strings.ToLower(m.Sum().AggregationTemporality().String())
				default:
					return nil, fmt.Errorf("metric %s: type %s not supported by golden", m.Name(), m.Type())
				}
				ignore := slices.Contains(opts.IgnoreValues, m.Name())
				for _, dp := range dps.All() {
					p := point{Attributes: dp.Attributes().AsRaw(), Time: ts(dp.Timestamp(), opts.KeepTimestamps)}
					if dp.StartTimestamp() != 0 {
						p.Start = ts(dp.StartTimestamp(), opts.KeepTimestamps)
					}
					switch {
					case ignore:
						p.Value = "<any " + strings.ToLower(dp.ValueType().String()) + ">"
					case dp.ValueType() == pmetric.NumberDataPointValueTypeInt:
						p.Value = dp.IntValue()
					default:
						p.Value = roundFloat(dp.DoubleValue())
					}
					x.Points = append(x.Points, p)
				}
				slices.SortFunc(x.Points, func(a, b point) int { return strings.Compare(key(a.Attributes), key(b.Attributes)) })
				r.Metrics = append(r.Metrics, x)
			}
			slices.SortFunc(r.Metrics, func(a, b metric) int { return strings.Compare(a.Name, b.Name) })
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b resource) int { return strings.Compare(key(a.Attributes), key(b.Attributes)) })
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(map[string]any{"resources": out}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// roundFloat drops float noise below 1e-9 relative so that reordering a sum
// does not change a golden file.
func roundFloat(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Sprint(v)
	}
	if v == 0 {
		return 0.0
	}
	scale := math.Pow(10, 9-math.Ceil(math.Log10(math.Abs(v))))
	return math.Round(v*scale) / scale
}

// Compare renders md and compares it with the file at path, or rewrites the
// file when the test binary runs with -update.
func Compare(path string, md pmetric.Metrics, opts Options) error {
	got, err := Render(md, opts)
	if err != nil {
		return err
	}
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("create golden dir: %w", err)
		}
		if err := os.WriteFile(path, got, 0o600); err != nil {
			return fmt.Errorf("write golden %s: %w", path, err)
		}
		return nil
	}
	want, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read golden %s (run with -update to create it): %w", path, err)
	}
	if !bytes.Equal(want, got) {
		return fmt.Errorf("golden %s differs (run with -update to accept):\n%s", path, diff(string(want), string(got)))
	}
	return nil
}

// Assert is Compare for tests.
func Assert(t testing.TB, path string, md pmetric.Metrics, opts Options) {
	t.Helper()
	if err := Compare(path, md, opts); err != nil {
		t.Fatal(err)
	}
}

// diff is a line diff good enough to spot what changed: it lists the lines
// of each side that the other side lacks.
func diff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	count := func(lines []string) map[string]int {
		m := map[string]int{}
		for _, l := range lines {
			m[l]++
		}
		return m
	}
	wc, gc := count(wl), count(gl)
	var b strings.Builder
	for _, l := range wl {
		if gc[l] > 0 {
			gc[l]--
			continue
		}
		fmt.Fprintf(&b, "- %s\n", l)
	}
	for _, l := range gl {
		if wc[l] > 0 {
			wc[l]--
			continue
		}
		fmt.Fprintf(&b, "+ %s\n", l)
	}
	return b.String()
}
