package mlflow

import "unicode/utf8"

// batchOverhead bounds the JSON framing of a log-batch body around its
// entities: {"run_id":"<32 hex>","metrics":[],"params":[],"tags":[]} with
// room for longer run ids (Databricks, file store) to spare.
const batchOverhead = 256

// MaxValueJSONLength bounds the encoding of a metric value: the longest
// strconv 'g' float is 24 bytes ("-2.2250738585072014e-308"), the longest
// special value is "-Infinity" with quotes (11).
const MaxValueJSONLength = 24

// JSONStringLen returns an upper bound of the length of s encoded as a JSON
// string with quotes: escapes and invalid UTF-8 are counted at their longest
// (\u00XX, 6 bytes) so packing never underestimates a body.
func JSONStringLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				n += 2
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			n += 6
		} else {
			n += size
		}
		i += size
	}
	return n
}

func intLen(v int64) int {
	n := 1
	if v < 0 {
		n++
		if v == -1<<63 {
			return 20
		}
		v = -v
	}
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// MetricJSONLen bounds the encoded size of one metric element plus its comma:
// {"key":..,"value":..,"timestamp":..,"step":..},
func MetricJSONLen(m *Metric) int {
	return len(`{"key":,"value":,"timestamp":,"step":},`) + JSONStringLen(m.Key) +
		MaxValueJSONLength + intLen(m.Timestamp) + intLen(m.Step)
}

// KVJSONLen bounds the encoded size of one param or tag element plus comma.
func KVJSONLen(key, value string) int {
	return len(`{"key":,"value":},`) + JSONStringLen(key) + JSONStringLen(value)
}

// Pack splits b into batches that each respect every per-call limit of
// runs/log-batch: 1000 metrics, 100 params, 100 tags, 1000 entities and the
// body size. Params and tags go first so the earliest request describes the
// run; every batch but the last is full in at least one dimension, which keeps
// the request count per point close to the ideal. Order within each kind is
// kept, so metric steps stay in the order they were given.
func Pack(b Batch) []Batch {
	if b.Len() == 0 {
		return nil
	}
	var (
		out  []Batch
		cur  Batch
		size = batchOverhead
	)
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur)
		}
		cur = Batch{}
		size = batchOverhead
	}
	fits := func(extra int) bool {
		return cur.Len()+1 <= MaxEntitiesPerBatch && size+extra <= MaxBatchBytes
	}
	for _, p := range b.Params {
		n := KVJSONLen(p.Key, p.Value)
		if len(cur.Params) == MaxParamsPerBatch || !fits(n) {
			flush()
		}
		cur.Params = append(cur.Params, p)
		size += n
	}
	for _, t := range b.Tags {
		n := KVJSONLen(t.Key, t.Value)
		if len(cur.Tags) == MaxTagsPerBatch || !fits(n) {
			flush()
		}
		cur.Tags = append(cur.Tags, t)
		size += n
	}
	for i := range b.Metrics {
		n := MetricJSONLen(&b.Metrics[i])
		if len(cur.Metrics) == MaxMetricsPerBatch || !fits(n) {
			flush()
		}
		cur.Metrics = append(cur.Metrics, b.Metrics[i])
		size += n
	}
	flush()
	return out
}
