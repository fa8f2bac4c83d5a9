package mlflow

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestPackRespectsEveryLimit(t *testing.T) {
	longVal := strings.Repeat("x", MaxParamValueLength)
	mkMetrics := func(n int) []Metric {
		ms := make([]Metric, n)
		for i := range ms {
			ms[i] = Metric{Key: fmt.Sprintf("m%d", i%7), Value: float64(i), Timestamp: 1700000000000 + int64(i), Step: int64(i)}
		}
		return ms
	}
	mkKV := func(n int, val string) []Param {
		ps := make([]Param, n)
		for i := range ps {
			ps[i] = Param{Key: fmt.Sprintf("k%d", i), Value: val}
		}
		return ps
	}
	toTags := func(ps []Param) []Tag {
		ts := make([]Tag, len(ps))
		for i, p := range ps {
			ts[i] = Tag(p)
		}
		return ts
	}
	tests := []struct {
		name        string
		batch       Batch
		wantBatches int
	}{
		{"empty", Batch{}, 0},
		{"exactly 1000 metrics", Batch{Metrics: mkMetrics(1000)}, 1},
		{"1001 metrics", Batch{Metrics: mkMetrics(1001)}, 2},
		{"100 params", Batch{Params: mkKV(100, "v")}, 1},
		{"101 params", Batch{Params: mkKV(101, "v")}, 2},
		{"101 tags", Batch{Tags: toTags(mkKV(101, "v"))}, 2},
		{"entities: 100 params + 100 tags + 800 metrics", Batch{Params: mkKV(100, "v"), Tags: toTags(mkKV(100, "v")), Metrics: mkMetrics(800)}, 1},
		{"entities: 100 params + 100 tags + 801 metrics", Batch{Params: mkKV(100, "v"), Tags: toTags(mkKV(100, "v")), Metrics: mkMetrics(801)}, 2},
		// 100 params and 100 tags of 6000 bytes are 1.2 MB: the byte limit splits them.
		{"bytes: huge params and tags", Batch{Params: mkKV(100, longVal), Tags: toTags(mkKV(100, longVal))}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Pack(tc.batch)
			if len(got) != tc.wantBatches {
				t.Fatalf("got %d batches, want %d", len(got), tc.wantBatches)
			}
			var m, p, tg int
			for i, b := range got {
				if len(b.Metrics) > MaxMetricsPerBatch || len(b.Params) > MaxParamsPerBatch ||
					len(b.Tags) > MaxTagsPerBatch || b.Len() > MaxEntitiesPerBatch {
					t.Errorf("batch %d over a count limit: %d metrics %d params %d tags", i, len(b.Metrics), len(b.Params), len(b.Tags))
				}
				if n := encodedSize(t, b); n > MaxBatchBytes {
					t.Errorf("batch %d encodes to %d bytes, limit %d", i, n, MaxBatchBytes)
				}
				m += len(b.Metrics)
				p += len(b.Params)
				tg += len(b.Tags)
			}
			if m != len(tc.batch.Metrics) || p != len(tc.batch.Params) || tg != len(tc.batch.Tags) {
				t.Errorf("entities lost or duplicated: %d/%d/%d", m, p, tg)
			}
		})
	}
}

func TestPackKeepsOrder(t *testing.T) {
	var b Batch
	for i := 0; i < 2500; i++ {
		b.Metrics = append(b.Metrics, Metric{Key: "loss", Step: int64(i)})
	}
	var step int64
	for _, pb := range Pack(b) {
		for _, m := range pb.Metrics {
			if m.Step != step {
				t.Fatalf("step %d out of order, want %d", m.Step, step)
			}
			step++
		}
	}
}

// encodedSize encodes b the way the wire does (json.Marshal escapes HTML and
// is therefore the longest plausible encoding) and returns its length.
func encodedSize(t *testing.T, b Batch) int {
	t.Helper()
	type kv struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	type metric struct {
		Key       string  `json:"key"`
		Value     float64 `json:"value"`
		Timestamp int64   `json:"timestamp"`
		Step      int64   `json:"step"`
	}
	body := struct {
		RunID   string   `json:"run_id"`
		Metrics []metric `json:"metrics"`
		Params  []kv     `json:"params"`
		Tags    []kv     `json:"tags"`
	}{RunID: strings.Repeat("a", 32)}
	for _, m := range b.Metrics {
		body.Metrics = append(body.Metrics, metric{m.Key, m.Value, m.Timestamp, m.Step})
	}
	for _, p := range b.Params {
		body.Params = append(body.Params, kv(p))
	}
	for _, tg := range b.Tags {
		body.Tags = append(body.Tags, kv(tg))
	}
	out, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return len(out)
}

func TestJSONStringLenIsUpperBound(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\`, "ctrl\x01\n", "<html>&", "ünïcødé 日本", "\xff\xfe bad utf8", "\u2028"} {
		enc, _ := json.Marshal(s)
		if got := JSONStringLen(s); got < len(enc) {
			t.Errorf("JSONStringLen(%q) = %d, encoding is %d bytes", s, got, len(enc))
		}
	}
}

func TestMetricJSONLenIsUpperBound(t *testing.T) {
	for _, v := range []float64{0, -2.2250738585072014e-308, math.MaxFloat64, 1.0 / 3} {
		m := Metric{Key: "k", Value: v, Timestamp: math.MaxInt64, Step: math.MinInt64}
		enc, _ := json.Marshal(map[string]any{"key": m.Key, "value": m.Value, "timestamp": m.Timestamp, "step": m.Step})
		if got := MetricJSONLen(&m); got < len(enc)+1 {
			t.Errorf("MetricJSONLen(%v) = %d, encoding is %d bytes", v, got, len(enc)+1)
		}
	}
}

func TestValidateKey(t *testing.T) {
	tests := []struct {
		key   string
		valid bool
	}{
		{"loss", true},
		{"train/loss", true},
		{"system/gpu_0_utilization_percentage", true},
		{"a b-c.d_e", true},
		{"日本語", true},
		{"", false},
		{"/abs", false},
		{"trail/", false},
		{"a//b", false},
		{"a/./b", false},
		{"../x", false},
		{"a/..", false},
		{"..", false},
		{".", false},
		{"..x", false},
		{"x..y", true},
		{"x/..y", true},
		{"m²", true},
		{"e\u0301", false},
		{"loss{split=val}", false},
		{"a:b", false},
		{"a@b", false},
		{strings.Repeat("k", 250), true},
		{strings.Repeat("k", 251), false},
	}
	for _, tc := range tests {
		err := ValidateKey(tc.key)
		if (err == nil) != tc.valid {
			t.Errorf("ValidateKey(%q) = %v, want valid=%v", tc.key, err, tc.valid)
		}
	}
}
