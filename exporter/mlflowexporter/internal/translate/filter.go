package translate

import (
	"fmt"
	"strings"
)

// DeclaredMetric is a metric declared with its type, in the shape the
// tracking API's YAML uses (`metrics: [{name: loss, type: float}]`).
type DeclaredMetric struct {
	Name string `mapstructure:"name"`
	Type string `mapstructure:"type"`
}

// Declared metric types: float accepts any value, int only integral ones.
const (
	DeclaredFloat = "float"
	DeclaredInt   = "int"
)

// Filter selects metrics by name. With no include patterns and no declared
// metrics every metric passes; exclude always wins.
type Filter struct {
	include  []string
	exclude  []string
	declared map[string]string
}

// NewFilter validates the patterns ('*' matches any run of characters) and
// declared types.
func NewFilter(include, exclude []string, declared []DeclaredMetric) (*Filter, error) {
	f := &Filter{include: include, exclude: exclude}
	for _, p := range append(append([]string(nil), include...), exclude...) {
		if p == "" {
			return nil, fmt.Errorf("empty metric name pattern")
		}
	}
	if len(declared) > 0 {
		f.declared = make(map[string]string, len(declared))
		for _, d := range declared {
			if d.Name == "" {
				return nil, fmt.Errorf("declared metric without a name")
			}
			t := strings.ToLower(d.Type)
			switch t {
			case "", "float", "double", "number":
				t = DeclaredFloat
			case "int", "integer", "long":
				t = DeclaredInt
			default:
				return nil, fmt.Errorf("declared metric %q: unknown type %q (want float or int)", d.Name, d.Type)
			}
			f.declared[d.Name] = t
		}
	}
	return f, nil
}

// Allows reports whether the metric passes, and its declared type ("" when
// the metric is not declared).
func (f *Filter) Allows(name string) (bool, string) {
	if f == nil {
		return true, ""
	}
	for _, p := range f.exclude {
		if globMatch(p, name) {
			return false, ""
		}
	}
	if t, ok := f.declared[name]; ok {
		return true, t
	}
	if len(f.include) == 0 {
		return len(f.declared) == 0, ""
	}
	for _, p := range f.include {
		if globMatch(p, name) {
			return true, ""
		}
	}
	return false, ""
}

// globMatch matches '*' against any run of characters, '/' included (unlike
// path.Match, since metric names use '/' as a grouping separator).
func globMatch(pattern, s string) bool {
	for {
		star := strings.IndexByte(pattern, '*')
		if star < 0 {
			return pattern == s
		}
		if !strings.HasPrefix(s, pattern[:star]) {
			return false
		}
		s = s[star:]
		pattern = pattern[star+1:]
		if pattern == "" {
			return true
		}
		for i := 0; i <= len(s); i++ {
			if globMatch(pattern, s[i:]) {
				return true
			}
		}
		return false
	}
}
