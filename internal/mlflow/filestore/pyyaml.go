package filestore

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MLflow writes meta.yaml with PyYAML's safe_dump(default_flow_style=False,
// allow_unicode=True, sort_keys=True). The emitter below reproduces that
// output byte for byte for the flat mappings MLflow stores (strings, ints,
// null and the empty tags list), so a store written here is indistinguishable
// from one MLflow wrote: diffs against MLflow-written stores stay empty and
// MLflow's own readers see the exact values. The port follows PyYAML 6's
// emitter.py (analyze_scalar, choose_scalar_style and the scalar writers);
// testdata/pyyaml_cases.json holds PyYAML's own output for the tricky cases.

// yamlNull is the value written as YAML null (Python None).
type yamlNull struct{}

// yamlEmptyList is the value written as [] (the legacy run "tags" field).
type yamlEmptyList struct{}

// yamlMapping is a flat mapping; values are string, int64, int, yamlNull or
// yamlEmptyList.
type yamlMapping map[string]any

const (
	yamlBestWidth = 80
	// Values of a top-level block mapping are indented by PyYAML's best_indent.
	yamlValueIndent = 2
)

// marshalPyYAML renders m as PyYAML's safe_dump would.
func marshalPyYAML(m yamlMapping) ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Python sorts str keys by code point, which is UTF-8 byte order.
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		if !plainKey(k) {
			return nil, fmt.Errorf("yaml key %q is not a plain identifier", k)
		}
		e := &pyEmitter{b: &b, column: utf8.RuneCountInString(k) + 1, indent: yamlValueIndent}
		b.WriteString(k)
		b.WriteByte(':')
		switch v := m[k].(type) {
		case string:
			e.writeString(v)
		case int64:
			e.writeRaw(" " + strconv.FormatInt(v, 10))
		case int:
			e.writeRaw(" " + strconv.Itoa(v))
		case yamlNull:
			e.writeRaw(" null")
		case yamlEmptyList:
			e.writeRaw(" []")
		default:
			return nil, fmt.Errorf("yaml key %q: unsupported value type %T", k, v)
		}
		b.WriteByte('\n')
	}
	return []byte(b.String()), nil
}

func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// pyEmitter carries the part of PyYAML's Emitter state the scalar writers use.
type pyEmitter struct {
	b          *strings.Builder
	column     int
	indent     int
	whitespace bool
	indention  bool
}

func (e *pyEmitter) writeRaw(s string) {
	e.b.WriteString(s)
	e.column += utf8.RuneCountInString(s)
}

func (e *pyEmitter) writeRunes(rs []rune) {
	e.b.WriteString(string(rs))
	e.column += len(rs)
}

func (e *pyEmitter) writeIndicator(ind string, needWhitespace bool) {
	if !e.whitespace && needWhitespace {
		ind = " " + ind
	}
	e.whitespace = false
	e.indention = false
	e.writeRaw(ind)
}

func (e *pyEmitter) writeLineBreak(br rune) {
	e.whitespace = true
	e.indention = true
	e.column = 0
	e.b.WriteRune(br)
}

func (e *pyEmitter) writeIndent() {
	if !e.indention || e.column > e.indent || (e.column == e.indent && !e.whitespace) {
		e.writeLineBreak('\n')
	}
	if e.column < e.indent {
		e.whitespace = true
		e.b.WriteString(strings.Repeat(" ", e.indent-e.column))
		e.column = e.indent
	}
}

func isPyBreak(r rune) bool {
	return r == '\n' || r == '\u0085' || r == '\u2028' || r == '\u2029'
}

func isPyWhitespace(r rune) bool {
	return r == 0 || r == ' ' || r == '\t' || r == '\r' || isPyBreak(r)
}

// scalarAnalysis is the subset of PyYAML's ScalarAnalysis that decides the
// style of a mapping value.
type scalarAnalysis struct {
	allowBlockPlain   bool
	allowSingleQuoted bool
}

func analyzeScalar(s []rune) scalarAnalysis {
	if len(s) == 0 {
		return scalarAnalysis{allowBlockPlain: true, allowSingleQuoted: true}
	}
	var blockIndicators, lineBreaks, special bool
	var leadingSpace, leadingBreak, trailingSpace, trailingBreak, breakSpace, spaceBreak bool
	str := string(s)
	if strings.HasPrefix(str, "---") || strings.HasPrefix(str, "...") {
		blockIndicators = true
	}
	precededByWS := true
	followedByWS := len(s) == 1 || isPyWhitespace(s[1])
	prevSpace, prevBreak := false, false
	for i, ch := range s {
		if i == 0 {
			if strings.ContainsRune("#,[]{}&*!|>'\"%@`", ch) {
				blockIndicators = true
			}
			if (ch == '?' || ch == ':') && followedByWS {
				blockIndicators = true
			}
			if ch == '-' && followedByWS {
				blockIndicators = true
			}
		} else {
			if ch == ':' && followedByWS {
				blockIndicators = true
			}
			if ch == '#' && precededByWS {
				blockIndicators = true
			}
		}
		if isPyBreak(ch) {
			lineBreaks = true
		}
		if !(ch == '\n' || ch >= 0x20 && ch <= 0x7E) {
			printable := ch == 0x85 || ch >= 0xA0 && ch <= 0xD7FF || ch >= 0xE000 && ch <= 0xFFFD ||
				ch >= 0x10000 && ch < 0x10FFFF
			if !printable || ch == 0xFEFF {
				special = true
			}
		}
		switch {
		case ch == ' ':
			if i == 0 {
				leadingSpace = true
			}
			if i == len(s)-1 {
				trailingSpace = true
			}
			if prevBreak {
				breakSpace = true
			}
			prevSpace, prevBreak = true, false
		case isPyBreak(ch):
			if i == 0 {
				leadingBreak = true
			}
			if i == len(s)-1 {
				trailingBreak = true
			}
			if prevSpace {
				spaceBreak = true
			}
			prevSpace, prevBreak = false, true
		default:
			prevSpace, prevBreak = false, false
		}
		precededByWS = isPyWhitespace(ch)
		followedByWS = i+2 >= len(s) || isPyWhitespace(s[i+2])
	}
	a := scalarAnalysis{allowBlockPlain: true, allowSingleQuoted: true}
	if leadingSpace || leadingBreak || trailingSpace || trailingBreak {
		a.allowBlockPlain = false
	}
	if breakSpace {
		a.allowBlockPlain, a.allowSingleQuoted = false, false
	}
	if spaceBreak || special {
		a.allowBlockPlain, a.allowSingleQuoted = false, false
	}
	if lineBreaks || blockIndicators {
		a.allowBlockPlain = false
	}
	return a
}

// PyYAML's implicit resolvers (resolver.py). A plain scalar matching one of
// them would load back as another type, so such strings are quoted.
var pyImplicitResolvers = []*regexp.Regexp{
	regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`),
	regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`),
	regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`),
	regexp.MustCompile(`^(?:<<)$`),
	regexp.MustCompile(`^(?:~|null|Null|NULL|)$`),
	regexp.MustCompile(`^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$`),
	regexp.MustCompile(`^(?:=)$`),
}

func resolvesAsStr(s string) bool {
	// Python's "$" also matches before a final newline, but a string with a
	// break is never written plain, so the difference cannot show.
	for _, re := range pyImplicitResolvers {
		if re.MatchString(s) {
			return false
		}
	}
	return true
}

func (e *pyEmitter) writeString(v string) {
	s := []rune(v)
	a := analyzeScalar(s)
	switch {
	case resolvesAsStr(v) && a.allowBlockPlain:
		e.writePlain(s)
	case a.allowSingleQuoted:
		e.writeSingleQuoted(s)
	default:
		e.writeDoubleQuoted(s)
	}
}

func (e *pyEmitter) writePlain(text []rune) {
	if len(text) == 0 {
		return
	}
	if !e.whitespace {
		e.writeRaw(" ")
	}
	e.whitespace = false
	e.indention = false
	spaces := false
	start := 0
	for end := 0; end <= len(text); end++ {
		var ch rune = -1
		if end < len(text) {
			ch = text[end]
		}
		if spaces {
			if ch != ' ' {
				if start+1 == end && e.column > yamlBestWidth {
					e.writeIndent()
					e.whitespace = false
					e.indention = false
				} else {
					e.writeRunes(text[start:end])
				}
				start = end
			}
		} else if ch == -1 || ch == ' ' {
			// Plain values never contain breaks (analyzeScalar forbids them).
			e.writeRunes(text[start:end])
			start = end
		}
		if ch != -1 {
			spaces = ch == ' '
		}
	}
}

func (e *pyEmitter) writeSingleQuoted(text []rune) {
	e.writeIndicator("'", true)
	spaces, breaks := false, false
	start := 0
	for end := 0; end <= len(text); end++ {
		var ch rune = -1
		if end < len(text) {
			ch = text[end]
		}
		switch {
		case spaces:
			if ch != ' ' {
				if start+1 == end && e.column > yamlBestWidth && start != 0 && end != len(text) {
					e.writeIndent()
				} else {
					e.writeRunes(text[start:end])
				}
				start = end
			}
		case breaks:
			if ch == -1 || !isPyBreak(ch) {
				if text[start] == '\n' {
					e.writeLineBreak('\n')
				}
				for _, br := range text[start:end] {
					e.writeLineBreak(br)
				}
				e.writeIndent()
				start = end
			}
		default:
			if ch == -1 || ch == ' ' || isPyBreak(ch) || ch == '\'' {
				if start < end {
					e.writeRunes(text[start:end])
					start = end
				}
			}
		}
		if ch == '\'' {
			e.writeRaw("''")
			start = end + 1
		}
		if ch != -1 {
			spaces = ch == ' '
			breaks = isPyBreak(ch)
		}
	}
	e.writeIndicator("'", false)
}

var pyEscapes = map[rune]string{
	0: "0", 0x07: "a", 0x08: "b", 0x09: "t", 0x0A: "n", 0x0B: "v", 0x0C: "f", 0x0D: "r",
	0x1B: "e", '"': "\"", '\\': "\\", 0x85: "N", 0xA0: "_", 0x2028: "L", 0x2029: "P",
}

// pySlice is Python's text[start:end] for start >= 0: empty when start >= end.
func pySlice(text []rune, start, end int) []rune {
	if start >= end || start >= len(text) {
		return nil
	}
	return text[start:end]
}

func (e *pyEmitter) writeDoubleQuoted(text []rune) {
	e.writeIndicator("\"", true)
	start := 0
	for end := 0; end <= len(text); end++ {
		var ch rune = -1
		if end < len(text) {
			ch = text[end]
		}
		if ch == -1 || strings.ContainsRune("\"\\\u0085\u2028\u2029\uFEFF", ch) ||
			!(ch >= 0x20 && ch <= 0x7E || ch >= 0xA0 && ch <= 0xD7FF || ch >= 0xE000 && ch <= 0xFFFD) {
			if start < end {
				e.writeRunes(text[start:end])
				start = end
			}
			if ch != -1 {
				var data string
				if r, ok := pyEscapes[ch]; ok {
					data = "\\" + r
				} else if ch <= 0xFF {
					data = fmt.Sprintf("\\x%02X", ch)
				} else if ch <= 0xFFFF {
					data = fmt.Sprintf("\\u%04X", ch)
				} else {
					data = fmt.Sprintf("\\U%08X", ch)
				}
				e.writeRaw(data)
				start = end + 1
			}
		}
		if end > 0 && end < len(text)-1 && (ch == ' ' || start >= end) &&
			e.column+(end-start) > yamlBestWidth {
			data := string(pySlice(text, start, end)) + "\\"
			if start < end {
				start = end
			}
			e.writeRaw(data)
			e.writeIndent()
			e.whitespace = false
			e.indention = false
			if start < len(text) && text[start] == ' ' {
				e.writeRaw("\\")
			}
		}
	}
	e.writeIndicator("\"", false)
}
