package tracking

import (
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// formatParam renders a parameter value the way MLflow's Python client does
// (str(value)), so runs logged from Go and from Python compare equal in the
// UI: 0.0001 not 1e-04, 100.0 for a float, True/False for booleans.
func formatParam(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "None", nil
	case string:
		return x, nil
	case bool:
		if x {
			return "True", nil
		}
		return "False", nil
	case float64:
		return pythonFloat(x), nil
	case float32:
		return pythonFloat(float64(x)), nil
	case fmt.Stringer:
		return x.String(), nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(rv.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		return pythonFloat(rv.Float()), nil
	case reflect.String:
		return rv.String(), nil
	case reflect.Bool:
		return formatParam(rv.Bool())
	}
	return "", fmt.Errorf("unsupported parameter type %T", v)
}

// pythonFloat is Python's repr of a float: shortest round-trip digits,
// positional between 1e-4 and 1e16 (with ".0" when integral), exponent form
// outside, "nan"/"inf"/"-inf".
func pythonFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	if f == 0 {
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	exp := int(math.Floor(math.Log10(math.Abs(f))))
	// Log10 can be off by one next to powers of ten; the 'e' format knows.
	e := strconv.FormatFloat(f, 'e', -1, 64)
	if i := strings.LastIndexByte(e, 'e'); i >= 0 {
		if n, err := strconv.Atoi(e[i+1:]); err == nil {
			exp = n
		}
	}
	if exp < -4 || exp >= 16 {
		return e // Go's shortest 'e' form is Python's: 1e-05, 1.5e+16
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsRune(s, '.') {
		s += ".0"
	}
	return s
}

// checkParamType reports whether v fits the declared type. An int fits a
// float declaration (32 is a fine learning-rate schedule length, and YAML
// and Python make no difference either); nothing else converts.
func checkParamType(t ValueType, v any) bool {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return false
	}
	k := rv.Kind()
	isInt := k >= reflect.Int && k <= reflect.Uintptr
	switch t {
	case TypeInt:
		return isInt
	case TypeFloat:
		return isInt || k == reflect.Float32 || k == reflect.Float64
	case TypeString:
		return k == reflect.String
	case TypeBool:
		return k == reflect.Bool
	}
	return false
}

// checkMetricType reports whether a metric value fits its declaration: an
// int metric must hold an integral, finite value.
func checkMetricType(t ValueType, v float64) bool {
	if t == TypeInt {
		return !math.IsInf(v, 0) && !math.IsNaN(v) && v == math.Trunc(v)
	}
	return true
}

// declarations holds one kind's declared names and the undeclared policy.
type declarations struct {
	kind   string // "metric" or "parameter"
	types  map[string]ValueType
	policy UndeclaredPolicy
	logger *slog.Logger
	warned sync.Map // name -> struct{}, warn once per name
}

func newDeclarations(kind string, decls []Declaration, policy UndeclaredPolicy, logger *slog.Logger) *declarations {
	d := &declarations{kind: kind, policy: policy, logger: logger}
	if len(decls) > 0 {
		d.types = make(map[string]ValueType, len(decls))
		for _, x := range decls {
			t, _ := normalizeType(x.Type)
			d.types[x.Name] = t
		}
	}
	return d
}

// lookup returns the declared type of name ("" when undeclared) or an
// error when the policy rejects the name.
func (d *declarations) lookup(name string) (ValueType, error) {
	if d.types == nil {
		return "", nil
	}
	if t, ok := d.types[name]; ok {
		return t, nil
	}
	switch d.policy {
	case UndeclaredReject:
		return "", fmt.Errorf("%s %q is not declared in logging.%ss (undeclared: reject)", d.kind, name, d.kind)
	case UndeclaredWarn:
		if _, dup := d.warned.LoadOrStore(name, struct{}{}); !dup {
			d.logger.Warn("undeclared "+d.kind+" logged; declare it or set logging.undeclared", "name", name)
		}
	}
	return "", nil
}
