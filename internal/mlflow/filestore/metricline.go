package filestore

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// appendPyFloat appends Python's repr of v: the shortest round-tripping
// digits, fixed notation for decimal exponents in [-4, 16) and always with a
// fractional part, scientific otherwise with a sign and at least two exponent
// digits, and nan/inf/-inf for the specials.
func appendPyFloat(dst []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(dst, "nan"...)
	case math.IsInf(v, 1):
		return append(dst, "inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-inf"...)
	case v == math.Trunc(v) && math.Abs(v) < 1<<53:
		// Integral values, the common case for counters and percentages.
		if v == 0 && math.Signbit(v) {
			return append(dst, "-0.0"...)
		}
		if math.Abs(v) < 1e16 {
			dst = strconv.AppendInt(dst, int64(v), 10)
			return append(dst, ".0"...)
		}
	}
	if v < 0 {
		dst = append(dst, '-')
		v = -v
	}
	// 'e' with precision -1 yields the shortest digits as d.ddde±XX.
	var scratch [32]byte
	e := strconv.AppendFloat(scratch[:0], v, 'e', -1, 64)
	ei := bytes.IndexByte(e, 'e')
	exp := 0
	for _, c := range e[ei+2:] {
		exp = exp*10 + int(c-'0')
	}
	if e[ei+1] == '-' {
		exp = -exp
	}
	var digitBuf [24]byte
	digits := append(digitBuf[:0], e[0])
	if ei > 1 {
		digits = append(digits, e[2:ei]...)
	}
	if exp >= -4 && exp < 16 {
		point := exp + 1 // digits before the decimal point
		switch {
		case point <= 0:
			dst = append(dst, "0."...)
			for i := 0; i < -point; i++ {
				dst = append(dst, '0')
			}
			return append(dst, digits...)
		case point >= len(digits):
			dst = append(dst, digits...)
			for i := len(digits); i < point; i++ {
				dst = append(dst, '0')
			}
			return append(dst, ".0"...)
		default:
			dst = append(dst, digits[:point]...)
			dst = append(dst, '.')
			return append(dst, digits[point:]...)
		}
	}
	dst = append(dst, digits[0])
	if len(digits) > 1 {
		dst = append(dst, '.')
		dst = append(dst, digits[1:]...)
	}
	dst = append(dst, 'e')
	if exp < 0 {
		dst = append(dst, '-')
		exp = -exp
	} else {
		dst = append(dst, '+')
	}
	if exp < 10 {
		dst = append(dst, '0')
	}
	return strconv.AppendInt(dst, int64(exp), 10)
}

// appendMetricLine appends MLflow's metric line f"{ts} {value} {step}\n".
func appendMetricLine(buf []byte, m mlflow.Metric) []byte {
	buf = strconv.AppendInt(buf, m.Timestamp, 10)
	buf = append(buf, ' ')
	buf = appendPyFloat(buf, m.Value)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, m.Step, 10)
	return append(buf, '\n')
}

var errMalformedMetricLine = errors.New("malformed metric line")

// parseMetricLine reads one line the way MLflow's _get_metric_from_line does:
// strip, split on single spaces, 2 or 3 fields (a missing step is 0), the
// value parsed like Python's float() (nan, inf, Infinity in any case).
func parseMetricLine(key string, line []byte) (mlflow.Metric, error) {
	fields := bytes.Split(bytes.TrimSpace(line), []byte{' '})
	if len(fields) != 2 && len(fields) != 3 {
		return mlflow.Metric{}, fmt.Errorf("%w: %d fields, expected 2 or 3", errMalformedMetricLine, len(fields))
	}
	ts, err := strconv.ParseInt(string(fields[0]), 10, 64)
	if err != nil {
		return mlflow.Metric{}, fmt.Errorf("%w: timestamp: %v", errMalformedMetricLine, err)
	}
	val, err := parsePyFloat(string(fields[1]))
	if err != nil {
		return mlflow.Metric{}, fmt.Errorf("%w: value: %v", errMalformedMetricLine, err)
	}
	var step int64
	if len(fields) == 3 {
		if step, err = strconv.ParseInt(string(fields[2]), 10, 64); err != nil {
			return mlflow.Metric{}, fmt.Errorf("%w: step: %v", errMalformedMetricLine, err)
		}
	}
	return mlflow.Metric{Key: key, Value: val, Timestamp: ts, Step: step}, nil
}

func parsePyFloat(s string) (float64, error) {
	// Go accepts hex floats and underscores only in ways Python does not;
	// reject them so both readers agree on what a valid file is.
	if strings.ContainsAny(s, "xXpP_") {
		return 0, fmt.Errorf("invalid float %q", s)
	}
	return strconv.ParseFloat(s, 64)
}

// splitMetricLines calls fn for each complete line of data. A final segment
// without a newline is a write torn by a crash and is skipped.
func splitMetricLines(data []byte, fn func(line []byte) error) error {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return nil
		}
		if err := fn(data[:i]); err != nil {
			return err
		}
		data = data[i+1:]
	}
	return nil
}
