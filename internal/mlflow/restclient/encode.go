package restclient

import (
	"errors"
	"io"
	"math"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// AppendLogBatch appends the runs/log-batch request body for b to dst and
// returns the extended slice. It is the exporter's hot path, so it writes
// JSON by hand without reflection or allocation (beyond growing dst).
//
// Metric values NaN, +Inf and -Inf become the JSON strings "NaN",
// "Infinity" and "-Infinity": MLflow stores a bare NaN token as a zero
// point. Strings are escaped so that the output is valid JSON and valid
// UTF-8 for any input (invalid bytes become U+FFFD, as encoding/json does).
// The output never exceeds the estimate mlflow.Pack packs by
// (MetricJSONLen, KVJSONLen and the batch framing).
func AppendLogBatch(dst []byte, runID string, b mlflow.Batch) []byte {
	dst = append(dst, `{"run_id":`...)
	dst = appendJSONString(dst, runID)
	dst = append(dst, `,"metrics":[`...)
	for i := range b.Metrics {
		m := &b.Metrics[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"key":`...)
		dst = appendJSONString(dst, m.Key)
		dst = append(dst, `,"value":`...)
		dst = appendJSONFloat(dst, m.Value)
		dst = append(dst, `,"timestamp":`...)
		dst = strconv.AppendInt(dst, m.Timestamp, 10)
		dst = append(dst, `,"step":`...)
		dst = strconv.AppendInt(dst, m.Step, 10)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"params":[`...)
	for i := range b.Params {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendKV(dst, b.Params[i].Key, b.Params[i].Value)
	}
	dst = append(dst, `],"tags":[`...)
	for i := range b.Tags {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendKV(dst, b.Tags[i].Key, b.Tags[i].Value)
	}
	return append(dst, "]}"...)
}

func appendKV(dst []byte, key, value string) []byte {
	dst = append(dst, `{"key":`...)
	dst = appendJSONString(dst, key)
	dst = append(dst, `,"value":`...)
	dst = appendJSONString(dst, value)
	return append(dst, '}')
}

// appendJSONFloat writes v the way MLflow's protobuf JSON parser reads a
// double: shortest round-trip decimal, and the special values as strings.
func appendJSONFloat(dst []byte, v float64) []byte {
	switch {
	case v != v:
		return append(dst, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(v, -1):
		return append(dst, `"-Infinity"`...)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

// jsonSafe marks the ASCII bytes that go into a JSON string unescaped.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a quoted JSON string. What JSON requires is
// escaped ('"', '\\', control characters), plus invalid UTF-8 and U+2028/9;
// every escape is no longer than mlflow.JSONStringLen assumes.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but end lines in JavaScript;
		// escaping them keeps bodies safe to log or embed, as encoding/json.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Log-batch bodies are encoded into pooled buffers. A full batch is about
// 70 KB; buffers grown far beyond the largest legal body (a hostile batch
// that the server will refuse anyway) are left to the garbage collector.
const (
	initialBodyCap = 96 << 10
	maxPooledCap   = 2 * mlflow.MaxBatchBytes
)

var bodyPool = sync.Pool{New: func() any {
	b := make([]byte, 0, initialBodyCap)
	return &b
}}

// batchBody is a request body over a pooled buffer. The transport may close
// it from another goroutine after Do returns, so the buffer is handed back
// on the first Close only, and reads after Close fail instead of touching a
// buffer someone else may own by then.
type batchBody struct {
	mu  sync.Mutex
	buf *[]byte
	off int
}

var errBodyClosed = errors.New("log-batch body read after close")

func newBatchBody(runID string, b mlflow.Batch) *batchBody {
	buf := bodyPool.Get().(*[]byte)
	*buf = AppendLogBatch((*buf)[:0], runID, b)
	return &batchBody{buf: buf}
}

func (b *batchBody) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf == nil {
		return 0
	}
	return len(*b.buf)
}

func (b *batchBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf == nil {
		return 0, errBodyClosed
	}
	if b.off >= len(*b.buf) {
		return 0, io.EOF
	}
	n := copy(p, (*b.buf)[b.off:])
	b.off += n
	return n, nil
}

func (b *batchBody) Close() error {
	b.mu.Lock()
	buf := b.buf
	b.buf = nil
	b.mu.Unlock()
	if buf != nil && cap(*buf) <= maxPooledCap {
		bodyPool.Put(buf)
	}
	return nil
}
