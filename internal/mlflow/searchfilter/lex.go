package searchfilter

import "strings"

type tokKind int

const (
	tokWord   tokKind = iota // identifier, keyword or bare number
	tokString                // 'quoted' or "quoted" (as a value)
	tokOp                    // comparison operator
	tokLParen
	tokRParen
	tokComma
)

type token struct {
	kind tokKind
	text string
}

// tokenize splits a filter or order_by element into words, quoted
// strings, operators and punctuation.
func tokenize(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{kind: tokLParen, text: "("})
			i++
		case c == ')':
			toks = append(toks, token{kind: tokRParen, text: ")"})
			i++
		case c == ',':
			toks = append(toks, token{kind: tokComma, text: ","})
			i++
		case c == '\'' || c == '"':
			end := strings.IndexByte(s[i+1:], c)
			if end < 0 {
				return nil, invalid("Invalid filter '%s': unterminated string starting at %d", s, i)
			}
			toks = append(toks, token{kind: tokString, text: s[i+1 : i+1+end]})
			i += end + 2
		case c == '=' || c == '!' || c == '<' || c == '>':
			j := i + 1
			if j < len(s) && s[j] == '=' {
				j++
			}
			op := s[i:j]
			if op == "!" {
				return nil, invalid("Invalid filter '%s': unknown operator '!'", s)
			}
			toks = append(toks, token{kind: tokOp, text: op})
			i = j
		default:
			// A word runs until whitespace or an operator; backtick or
			// double-quoted sections after a '.' are part of it.
			j := i
			var b strings.Builder
			for j < len(s) {
				ch := s[j]
				if ch == '`' || (ch == '"' && j > i && s[j-1] == '.') {
					end := strings.IndexByte(s[j+1:], ch)
					if end < 0 {
						return nil, invalid("Invalid filter '%s': unterminated quoted key", s)
					}
					b.WriteString(s[j+1 : j+1+end])
					j += end + 2
					continue
				}
				if ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || strings.IndexByte("=!<>(),'\"", ch) >= 0 {
					break
				}
				b.WriteByte(ch)
				j++
			}
			toks = append(toks, token{kind: tokWord, text: b.String()})
			i = j
		}
	}
	return toks, nil
}
