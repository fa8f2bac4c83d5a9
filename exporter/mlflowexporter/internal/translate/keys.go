package translate

import (
	"encoding/hex"
	"hash/fnv"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/enum"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// KeyStyle says how data point attributes are folded into the metric key.
type KeyStyle string

const (
	// KeyStyleKeyValue appends "/<attr>_<value>" per attribute: loss{split=val} -> loss/split_val.
	KeyStyleKeyValue KeyStyle = "key_value"
	// KeyStyleValue appends "/<value>" per attribute: loss{split=val} -> loss/val.
	KeyStyleValue KeyStyle = "value"
	// KeyStyleIgnore drops attributes: every attribute set of a metric shares one key.
	KeyStyleIgnore KeyStyle = "ignore"
)

var keyStyles = []KeyStyle{KeyStyleKeyValue, KeyStyleValue, KeyStyleIgnore}

// Valid reports whether s is a known style.
func (s KeyStyle) Valid() bool { return slices.Contains(keyStyles, s) }

// UnmarshalText refuses an unknown style when the config is read.
func (s *KeyStyle) UnmarshalText(text []byte) (err error) {
	*s, err = enum.Parse(text, keyStyles...)
	return err
}

const hashSuffixLen = 9 // "-" + 8 hex digits

// keyBuilder assembles an MLflow metric key from an OTel metric name and its
// point attributes. Every part is made valid on its own, so the result is
// valid by construction; whenever that changed anything, or the key had to be
// cut to MaxKeyLength, a hash of the original text is appended so two
// different series never collapse into one key. Keys that were valid as given
// stay exactly as they were.
type keyBuilder struct {
	sb    strings.Builder
	orig  strings.Builder
	lossy bool
}

func (b *keyBuilder) reset() {
	b.sb.Reset()
	b.orig.Reset()
	b.lossy = false
}

// addName appends a metric name, which may contain '/' separators as MLflow
// keys do ("train/loss"); empty, "." and ".." segments are replaced.
func (b *keyBuilder) addName(name string) {
	b.orig.WriteString(name)
	first := true
	for _, seg := range strings.Split(name, "/") {
		if seg == "" {
			b.lossy = true
			continue
		}
		if !first {
			b.sb.WriteByte('/')
		} else if len(seg) > 2 && strings.HasPrefix(seg, "..") {
			// MLflow's path_not_unique rejects every key that starts with
			// "..", not only a ".." segment ("..a", "...").
			b.sb.WriteString("__")
			b.lossy = true
			b.addSegmentPart(seg[2:])
			first = false
			continue
		}
		first = false
		b.addSegment(seg)
	}
	if first { // name had no usable segment at all
		b.sb.WriteString("_")
		b.lossy = true
	}
}

// addAttr appends one folded attribute as its own path segment. '/' inside
// keys or values is replaced: telemetry must not create path segments.
func (b *keyBuilder) addAttr(style KeyStyle, k, v string) {
	b.orig.WriteByte(0)
	b.orig.WriteString(k)
	b.orig.WriteByte(0)
	b.orig.WriteString(v)
	b.sb.WriteByte('/')
	switch style {
	case KeyStyleValue:
		b.addSegment(v)
	default:
		b.addSegment(k)
		b.sb.WriteByte('_')
		b.addSegmentPart(v)
	}
}

func (b *keyBuilder) addSegment(seg string) {
	switch seg {
	case "":
		b.sb.WriteByte('_')
		b.lossy = true
		return
	case ".", "..":
		b.sb.WriteString(strings.Repeat("_", len(seg)))
		b.lossy = true
		return
	}
	b.addSegmentPart(seg)
}

// addSegmentPart writes s with every character MLflow rejects (and '/')
// replaced by '_'.
func (b *keyBuilder) addSegmentPart(s string) {
	if s == "" {
		b.sb.WriteByte('_')
		b.lossy = true
		return
	}
	for _, r := range s {
		if r == '/' || r == utf8.RuneError || !mlflow.ValidKeyRune(r) {
			b.sb.WriteByte('_')
			b.lossy = true
			continue
		}
		b.sb.WriteRune(r)
	}
}

func (b *keyBuilder) String() string {
	key := b.sb.String()
	n := utf8.RuneCountInString(key)
	if !b.lossy && n <= mlflow.MaxKeyLength {
		return key
	}
	// The hash suffix must fit within MaxKeyLength too, also when the key
	// is cut only because it is lossy.
	if n > mlflow.MaxKeyLength-hashSuffixLen {
		key = mlflow.TruncateRunes(key, mlflow.MaxKeyLength-hashSuffixLen)
		// A cut may end in '/' or a '.' segment; keep the key normalised.
		key = strings.TrimRight(key, "/")
		if i := strings.LastIndexByte(key, '/'); i >= 0 && (key[i+1:] == "." || key[i+1:] == "..") {
			key = key[:i]
		}
	}
	h := fnv.New32a()
	h.Write([]byte(b.orig.String()))
	var sum [4]byte
	return key + "-" + hex.EncodeToString(h.Sum(sum[:0]))
}

// SanitizeKey turns any string into a valid MLflow key by the same rules as
// metric names (used for param and tag keys taken from attributes).
func SanitizeKey(name string) string {
	var b keyBuilder
	b.addName(name)
	return b.String()
}
