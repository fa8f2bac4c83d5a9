package searchfilter

import (
	"math"
	"sort"
	"strings"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// OrderKey is one parsed order_by element.
type OrderKey struct {
	Type      string
	Key       string
	Ascending bool
}

// ParseOrderBy parses order_by elements like "metrics.`loss` DESC" or
// "attributes.start_time" (ascending by default).
func ParseOrderBy(orderBy []string) ([]OrderKey, error) {
	var keys []OrderKey
	seen := map[[2]string]bool{}
	for _, ob := range orderBy {
		toks, err := tokenize(ob)
		if err != nil {
			return nil, err
		}
		if len(toks) == 0 || len(toks) > 2 || toks[0].kind != tokWord {
			return nil, invalid("Invalid order_by clause '%s'. Could not be parsed.", ob)
		}
		typ, key, err := parseIdentifier(toks[0].text)
		if err != nil {
			return nil, err
		}
		k := OrderKey{Type: typ, Key: key, Ascending: true}
		if len(toks) == 2 {
			switch strings.ToUpper(toks[1].text) {
			case "ASC":
			case "DESC":
				k.Ascending = false
			default:
				return nil, invalid("Invalid ordering key in order_by clause '%s'.", ob)
			}
		}
		id := [2]string{typ, key}
		if seen[id] {
			return nil, invalid("`order_by` contains duplicate fields: %v", orderBy)
		}
		seen[id] = true
		keys = append(keys, k)
	}
	return keys, nil
}

// SortRuns sorts runs in place as the SQL store orders runs/search results:
// by each order_by key in turn (runs lacking the key last, then NaN metrics,
// whatever the direction), then by start_time descending unless start_time
// was an order_by key, then by run_id ascending.
func SortRuns(runs []mlflow.Run, orderBy []string) error {
	keys, err := ParseOrderBy(orderBy)
	if err != nil {
		return err
	}
	hasStart := false
	for _, k := range keys {
		if k.Type == TypeAttribute && k.Key == "start_time" {
			hasStart = true
		}
	}
	if !hasStart {
		keys = append(keys, OrderKey{Type: TypeAttribute, Key: "start_time", Ascending: false})
	}
	keys = append(keys, OrderKey{Type: TypeAttribute, Key: "run_id", Ascending: true})
	sort.SliceStable(runs, func(i, j int) bool {
		for _, k := range keys {
			if c := compareRuns(&runs[i], &runs[j], k); c != 0 {
				return c < 0
			}
		}
		return false
	})
	return nil
}

// sortValue is a run's value for an order key. rank 0 is a present value,
// 1 a NaN metric, 2 a missing one: the SQL store sorts on that rank first,
// always ascending.
type sortValue struct {
	rank int
	num  float64
	str  string
	isN  bool
}

func valueFor(r *mlflow.Run, k OrderKey) sortValue {
	switch k.Type {
	case TypeMetric:
		m, ok := latestMetric(r, k.Key)
		if !ok {
			return sortValue{rank: 2}
		}
		if math.IsNaN(m.Value) {
			return sortValue{rank: 1}
		}
		return sortValue{num: m.Value, isN: true}
	case TypeParam:
		for _, p := range r.Data.Params {
			if p.Key == k.Key {
				return sortValue{str: p.Value}
			}
		}
		return sortValue{rank: 2}
	case TypeTag:
		if v, ok := r.Tag(k.Key); ok {
			return sortValue{str: v}
		}
		return sortValue{rank: 2}
	}
	if numericAttributes[k.Key] {
		v, ok := numericAttribute(r, k.Key)
		if !ok {
			return sortValue{rank: 2}
		}
		return sortValue{num: float64(v), isN: true}
	}
	return sortValue{str: stringAttribute(r, k.Key)}
}

func compareRuns(a, b *mlflow.Run, k OrderKey) int {
	va, vb := valueFor(a, k), valueFor(b, k)
	if va.rank != vb.rank {
		return va.rank - vb.rank
	}
	if va.rank != 0 {
		return 0
	}
	c := 0
	if va.isN {
		switch {
		case va.num < vb.num:
			c = -1
		case va.num > vb.num:
			c = 1
		}
	} else {
		c = strings.Compare(va.str, vb.str)
	}
	if !k.Ascending {
		c = -c
	}
	return c
}
