package restclient

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

var update = flag.Bool("update", false, "rewrite golden files")

// packBatchOverhead mirrors the unexported mlflow.batchOverhead: the bytes
// Pack reserves for the body's framing around its entities.
const packBatchOverhead = 256

const runID32 = "0123456789abcdef0123456789abcdef"

func TestAppendLogBatchGolden(t *testing.T) {
	b := mlflow.Batch{
		Metrics: []mlflow.Metric{
			{Key: "loss", Value: 0.25, Timestamp: 1700000000000, Step: 0},
			{Key: "system/gpu_0_utilization_percentage", Value: 97.5, Timestamp: 1700000000001, Step: 1},
			{Key: "nan", Value: math.NaN(), Timestamp: 1, Step: 2},
			{Key: "inf", Value: math.Inf(1), Timestamp: 2, Step: 3},
			{Key: "neg inf", Value: math.Inf(-1), Timestamp: 3, Step: 4},
			{Key: "neg zero", Value: math.Copysign(0, -1), Timestamp: 4, Step: -1},
			{Key: "tiny", Value: 5e-324, Timestamp: 5, Step: math.MaxInt64},
			{Key: "huge", Value: -math.MaxFloat64, Timestamp: math.MinInt64, Step: math.MinInt64},
			{Key: "third", Value: 1.0 / 3, Timestamp: 6, Step: 5},
			{Key: "int", Value: 1e21, Timestamp: 7, Step: 6},
		},
		Params: []mlflow.Param{
			{Key: "lr", Value: "0.001"},
			{Key: "quote\"back\\slash", Value: "line1\nline2\ttab\rcr\x00nul\x1f"},
			{Key: "html", Value: "<b>&</b> \u2028\u2029"},
		},
		Tags: []mlflow.Tag{
			{Key: "mlflow.runName", Value: "日本語 ✓ 🚀"},
			{Key: "bad utf8", Value: "a\xffb\xc3(c\xed\xa0\x80d"},
			{Key: "empty", Value: ""},
		},
	}
	got := AppendLogBatch(nil, runID32, b)
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, got)
	}
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", "log_batch.golden.json")
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("AppendLogBatch output differs from %s:\n%s", path, pretty.Bytes())
	}
}

func TestAppendLogBatchSpecialValues(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{math.NaN(), `"NaN"`},
		{math.Float64frombits(0x7ff8000000000001), `"NaN"`},
		{math.Float64frombits(0xfff8000000000000), `"NaN"`},
		{math.Inf(1), `"Infinity"`},
		{math.Inf(-1), `"-Infinity"`},
		{0, `0`},
		{math.Copysign(0, -1), `-0`},
		{1e-7, `1e-07`},
		{1e21, `1e+21`},
		{123456789, `1.23456789e+08`},
		{-2.2250738585072014e-308, `-2.2250738585072014e-308`},
	}
	for _, tc := range tests {
		got := string(appendJSONFloat(nil, tc.v))
		if got != tc.want {
			t.Errorf("appendJSONFloat(%v) = %s, want %s", tc.v, got, tc.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("appendJSONFloat(%v) = %s is not a JSON value", tc.v, got)
		}
	}
}

// hostileStrings are the inputs whose escaping is longest or trickiest.
var hostileStrings = []string{
	"",
	"plain",
	strings.Repeat(`"`, 250),
	strings.Repeat(`\`, 250),
	strings.Repeat("\x01", 250),
	strings.Repeat("\n\r\t", 80),
	strings.Repeat("<>&", 80),
	strings.Repeat("\xff", 250),
	strings.Repeat("\xc3", 250),            // truncated 2-byte sequences
	strings.Repeat("\xed\xa0\x80", 80),     // UTF-16 surrogate encoded as UTF-8
	strings.Repeat("\xf4\x90\x80\x80", 60), // beyond U+10FFFF
	strings.Repeat("\u2028\u2029", 100),
	strings.Repeat("🚀", 60),
	strings.Repeat("日", 6000),
	strings.Repeat("\x00", mlflow.MaxParamValueLength),
}

var hostileFloats = []float64{
	0, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1),
	-2.2250738585072014e-308, math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64,
	-1.0 / 3, 1e21, -1e-7,
}

var hostileInts = []int64{0, -1, 1, math.MaxInt64, math.MinInt64, 1700000000000}

// TestAppendLogBatchWithinPackEstimate checks that the encoder never writes
// more than mlflow.Pack assumes, element by element and in total, so a
// packed batch can never be refused for its size.
func TestAppendLogBatchWithinPackEstimate(t *testing.T) {
	for _, runID := range []string{"", runID32, strings.Repeat("f", 64), "run\"\\\x01\xff"} {
		base := len(AppendLogBatch(nil, runID, mlflow.Batch{}))
		if base > packBatchOverhead {
			t.Fatalf("empty body for run id %q is %d bytes, over the %d reserved", runID, base, packBatchOverhead)
		}
		var all mlflow.Batch
		estimate := packBatchOverhead
		// check encodes one element alone: in a longer array it also costs
		// a comma, which the per-element estimate includes.
		check := func(what string, one mlflow.Batch, est int) {
			t.Helper()
			estimate += est
			if n := len(AppendLogBatch(nil, runID, one)) - base + 1; n > est {
				t.Fatalf("%s %+v: encodes to %d bytes with its comma, Pack estimate %d", what, one, n, est)
			}
		}
		i := 0
		for _, key := range hostileStrings {
			if len(key) > 1000 {
				continue
			}
			for _, v := range hostileFloats {
				ts, step := hostileInts[i%len(hostileInts)], hostileInts[(i/len(hostileInts))%len(hostileInts)]
				i++
				m := mlflow.Metric{Key: key, Value: v, Timestamp: ts, Step: step}
				all.Metrics = append(all.Metrics, m)
				check("metric", mlflow.Batch{Metrics: []mlflow.Metric{m}}, mlflow.MetricJSONLen(&m))
			}
		}
		for j, key := range hostileStrings {
			val := hostileStrings[(j+3)%len(hostileStrings)]
			p := mlflow.Param{Key: key, Value: val}
			all.Params = append(all.Params, p)
			check("param", mlflow.Batch{Params: []mlflow.Param{p}}, mlflow.KVJSONLen(key, val))
			tg := mlflow.Tag{Key: val, Value: key}
			all.Tags = append(all.Tags, tg)
			check("tag", mlflow.Batch{Tags: []mlflow.Tag{tg}}, mlflow.KVJSONLen(val, key))
		}
		got := AppendLogBatch(nil, runID, all)
		if len(got) > estimate {
			t.Errorf("run id %q: whole body is %d bytes, Pack estimate %d", runID, len(got), estimate)
		}
		if !utf8.Valid(got) || !json.Valid(got) {
			t.Errorf("run id %q: body is not valid UTF-8 JSON", runID)
		}
	}
}

// TestPackedHostileBatchesFitTheServerLimit runs the real Pack on a batch
// of worst-case strings and checks every packed body against 1 MB.
func TestPackedHostileBatchesFitTheServerLimit(t *testing.T) {
	var b mlflow.Batch
	worst := strings.Repeat("\x01", mlflow.MaxParamValueLength)
	for i := 0; i < 120; i++ {
		b.Params = append(b.Params, mlflow.Param{Key: strings.Repeat(`"`, 250), Value: worst})
		b.Tags = append(b.Tags, mlflow.Tag{Key: strings.Repeat("\xff", 250), Value: worst[:mlflow.MaxTagValueLength]})
	}
	for i := 0; i < 2000; i++ {
		b.Metrics = append(b.Metrics, mlflow.Metric{Key: strings.Repeat("\x1f", 250), Value: -2.2250738585072014e-308,
			Timestamp: math.MinInt64, Step: math.MinInt64})
	}
	packed := mlflow.Pack(b)
	if len(packed) < 2 {
		t.Fatalf("Pack returned %d batches for a multi-megabyte input", len(packed))
	}
	for i, pb := range packed {
		if n := len(AppendLogBatch(nil, strings.Repeat("f", 64), pb)); n > mlflow.MaxBatchBytes {
			t.Errorf("packed batch %d encodes to %d bytes, server limit %d", i, n, mlflow.MaxBatchBytes)
		}
	}
}

func TestAppendLogBatchDoesNotAllocate(t *testing.T) {
	b := benchBatch(1000)
	dst := make([]byte, 0, 1<<20)
	allocs := testing.AllocsPerRun(20, func() {
		dst = AppendLogBatch(dst[:0], runID32, b)
	})
	if allocs != 0 {
		t.Errorf("AppendLogBatch into a large enough buffer allocated %v times per call, want 0", allocs)
	}
}

// decodedBatch is the log-batch body as a server decodes it.
type decodedBatch struct {
	RunID   string       `json:"run_id"`
	Metrics []wireMetric `json:"metrics"`
	Params  []wireKV     `json:"params"`
	Tags    []wireKV     `json:"tags"`
}

// canonical is what encoding/json makes of s after a round trip: invalid
// UTF-8 bytes become U+FFFD. The encoder must agree with it.
func canonical(t *testing.T, s string) string {
	t.Helper()
	enc, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := json.Unmarshal(enc, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameFloat(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Float64bits(a) == math.Float64bits(b)
}

func FuzzAppendLogBatch(f *testing.F) {
	f.Add(runID32, "loss", 0.5, int64(1700000000000), int64(0), "lr", "0.1", "mlflow.runName", "run")
	f.Add("", "", math.NaN(), int64(math.MinInt64), int64(math.MaxInt64), "\x00", "\xff", "\u2028", "🚀")
	f.Add("r\"", "k\\\n", math.Inf(-1), int64(-1), int64(-1), "<a>", "&", "\xed\xa0\x80", "\xc3")
	f.Fuzz(func(t *testing.T, runID, key string, value float64, ts, step int64, pkey, pval, tkey, tval string) {
		in := mlflow.Batch{
			Metrics: []mlflow.Metric{{Key: key, Value: value, Timestamp: ts, Step: step}, {Key: tkey, Value: -value, Timestamp: step, Step: ts}},
			Params:  []mlflow.Param{{Key: pkey, Value: pval}},
			Tags:    []mlflow.Tag{{Key: tkey, Value: tval}, {Key: key, Value: pval}},
		}
		out := AppendLogBatch([]byte("prefix"), runID, in)
		if !bytes.HasPrefix(out, []byte("prefix")) {
			t.Fatal("AppendLogBatch overwrote dst")
		}
		out = out[len("prefix"):]
		if !utf8.Valid(out) {
			t.Fatalf("output is not valid UTF-8: %q", out)
		}
		bound := packBatchOverhead - len(runID32) + mlflow.JSONStringLen(runID)
		for i := range in.Metrics {
			bound += mlflow.MetricJSONLen(&in.Metrics[i])
		}
		for _, p := range in.Params {
			bound += mlflow.KVJSONLen(p.Key, p.Value)
		}
		for _, tg := range in.Tags {
			bound += mlflow.KVJSONLen(tg.Key, tg.Value)
		}
		if len(out) > bound {
			t.Fatalf("output is %d bytes, Pack estimate %d", len(out), bound)
		}
		var got decodedBatch
		dec := json.NewDecoder(bytes.NewReader(out))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("encoding/json cannot decode the output: %v\n%q", err, out)
		}
		if dec.More() {
			t.Fatalf("trailing data after the body: %q", out)
		}
		if got.RunID != canonical(t, runID) {
			t.Errorf("run_id %q, want %q", got.RunID, canonical(t, runID))
		}
		if len(got.Metrics) != len(in.Metrics) || len(got.Params) != len(in.Params) || len(got.Tags) != len(in.Tags) {
			t.Fatalf("entity counts %d/%d/%d, want %d/%d/%d", len(got.Metrics), len(got.Params), len(got.Tags),
				len(in.Metrics), len(in.Params), len(in.Tags))
		}
		for i, m := range in.Metrics {
			g := got.Metrics[i]
			if g.Key != canonical(t, m.Key) || !sameFloat(float64(g.Value), m.Value) ||
				int64(g.Timestamp) != m.Timestamp || int64(g.Step) != m.Step {
				t.Errorf("metric %d = %+v, want %+v", i, g, m)
			}
		}
		for i, p := range in.Params {
			if got.Params[i].Key != canonical(t, p.Key) || got.Params[i].Value != canonical(t, p.Value) {
				t.Errorf("param %d = %+v, want %+v", i, got.Params[i], p)
			}
		}
		for i, tg := range in.Tags {
			if got.Tags[i].Key != canonical(t, tg.Key) || got.Tags[i].Value != canonical(t, tg.Value) {
				t.Errorf("tag %d = %+v, want %+v", i, got.Tags[i], tg)
			}
		}
	})
}
