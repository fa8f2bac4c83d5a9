package searchfilter

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Parse parses an MLflow runs/search filter string. An empty or blank
// filter matches every run. Errors are *mlflow.APIError with
// INVALID_PARAMETER_VALUE, the code the real server answers with.
func Parse(filter string) (*Filter, error) {
	toks, err := tokenize(filter)
	if err != nil {
		return nil, err
	}
	clauses, err := parseClauses(toks, filter, parseIdentifier)
	if err != nil {
		return nil, err
	}
	return &Filter{Clauses: clauses}, nil
}

func parseClauses(toks []token, filter string, ident func(string) (string, string, error)) ([]Clause, error) {
	var clauses []Clause
	p := &parser{toks: toks, src: filter, ident: ident}
	for !p.done() {
		c, err := p.clause()
		if err != nil {
			return nil, err
		}
		clauses = append(clauses, c)
		if p.done() {
			break
		}
		t := p.next()
		if t.kind != tokWord || !strings.EqualFold(t.text, "AND") {
			return nil, invalid("Invalid clause(s) in filter string: '%s'. Only 'AND' joins clauses; '%s' is not supported", filter, t.text)
		}
		if p.done() {
			return nil, invalid("Invalid filter '%s': dangling 'AND'", filter)
		}
	}
	return clauses, nil
}

// ParseExperimentFilter parses the experiments/search filter subset:
// name (= != LIKE ILIKE) and tags.<key> (= != LIKE ILIKE), joined by AND.
func ParseExperimentFilter(filter string) (*ExperimentFilter, error) {
	toks, err := tokenize(filter)
	if err != nil {
		return nil, err
	}
	clauses, err := parseClauses(toks, filter, experimentIdentifier)
	if err != nil {
		return nil, err
	}
	return &ExperimentFilter{Clauses: clauses}, nil
}

func experimentIdentifier(s string) (typ, key string, err error) {
	switch strings.ToLower(s) {
	case "name", "attribute.name", "attributes.name":
		return TypeAttribute, "name", nil
	}
	typ, key, err = parseIdentifier(s)
	if err == nil && typ == TypeTag {
		return typ, key, nil
	}
	return "", "", invalid("Invalid identifier '%s'. Experiment filters support 'name' and 'tags.<key>'", s)
}

type parser struct {
	toks  []token
	pos   int
	src   string
	ident func(text string) (typ, key string, err error)
}

func (p *parser) done() bool  { return p.pos >= len(p.toks) }
func (p *parser) next() token { t := p.toks[p.pos]; p.pos++; return t }

func (p *parser) clause() (Clause, error) {
	var c Clause
	id := p.next()
	if id.kind != tokWord {
		return c, invalid("Invalid clause(s) in filter string: '%s'. Expected an identifier, got '%s'", p.src, id.text)
	}
	typ, key, err := p.ident(id.text)
	if err != nil {
		return c, err
	}
	c.Type, c.Key = typ, key
	if p.done() {
		return c, invalid("Invalid clause(s) in filter string: '%s'. Missing comparator after '%s'", p.src, id.text)
	}
	op := p.next()
	switch {
	case op.kind == tokOp:
		c.Comparator = op.text
	case op.kind == tokWord && strings.EqualFold(op.text, "NOT"):
		if p.done() || !strings.EqualFold(p.toks[p.pos].text, "IN") {
			return c, invalid("Invalid comparator 'NOT' in filter '%s'", p.src)
		}
		p.pos++
		c.Comparator = "NOT IN"
	case op.kind == tokWord:
		c.Comparator = strings.ToUpper(op.text)
	default:
		return c, invalid("Invalid clause(s) in filter string: '%s'. Expected a comparator, got '%s'", p.src, op.text)
	}
	if err := checkComparator(c); err != nil {
		return c, err
	}
	if p.done() {
		return c, invalid("Invalid clause(s) in filter string: '%s'. Missing value for '%s'", p.src, id.text)
	}
	if c.Comparator == "IN" || c.Comparator == "NOT IN" {
		return p.inList(c)
	}
	v := p.next()
	numeric := c.Type == TypeMetric || (c.Type == TypeAttribute && numericAttributes[c.Key])
	if numeric {
		if v.kind != tokWord {
			return c, invalid("Expected numeric value type for %s. Found %s", c.Type, v.text)
		}
		n, err := strconv.ParseFloat(v.text, 64)
		if err != nil {
			return c, invalid("Expected numeric value type for %s. Found %s", c.Type, v.text)
		}
		c.Number = n
		c.Value = v.text
		return c, nil
	}
	if v.kind != tokString {
		return c, invalid("Expected a quoted string value for %s (e.g. 'my-value'). Got value %s", c.Type, v.text)
	}
	c.Value = v.text
	if c.Comparator == "LIKE" || c.Comparator == "ILIKE" {
		c.re = likeRegexp(c.Value, c.Comparator == "ILIKE")
	}
	return c, nil
}

func (p *parser) inList(c Clause) (Clause, error) {
	if t := p.next(); t.kind != tokLParen {
		return c, invalid("While parsing a list in the query, expected a non-empty list of string values, but got '%s'", t.text)
	}
	for {
		if p.done() {
			return c, invalid("Invalid filter '%s': unterminated list", p.src)
		}
		t := p.next()
		if t.kind != tokString {
			return c, invalid("While parsing a list in the query, expected string value or punctuation, but got different type in list: '%s'", t.text)
		}
		c.Values = append(c.Values, t.text)
		if p.done() {
			return c, invalid("Invalid filter '%s': unterminated list", p.src)
		}
		t = p.next()
		if t.kind == tokRParen {
			return c, nil
		}
		if t.kind != tokComma {
			return c, invalid("Invalid filter '%s': expected ',' or ')' in list, got '%s'", p.src, t.text)
		}
	}
}

// parseIdentifier splits "entity.key" and canonicalises the entity type.
func parseIdentifier(s string) (typ, key string, err error) {
	dot := strings.IndexByte(s, '.')
	if dot <= 0 || dot == len(s)-1 {
		return "", "", invalid("Invalid identifier '%s'. Columns should be specified as 'attribute.<key>', 'metric.<key>', 'tag.<key>', or 'param.<key>'.", s)
	}
	entity, key := strings.ToLower(s[:dot]), s[dot+1:]
	switch entity {
	case "metric", "metrics":
		typ = TypeMetric
	case "param", "params", "parameter", "parameters":
		typ = TypeParam
	case "tag", "tags":
		typ = TypeTag
	case "attribute", "attributes", "attr", "run":
		typ = TypeAttribute
	default:
		return "", "", invalid("Invalid entity type '%s'. Valid values are ['metric', 'parameter', 'tag', 'attribute']", s[:dot])
	}
	if typ == TypeAttribute {
		if !stringAttributes[key] && !numericAttributes[key] {
			return "", "", invalid("Invalid attribute key '%s' specified. Valid keys are '%s'", key, validAttributeKeys())
		}
		if key == "created" {
			key = "start_time"
		}
	}
	return typ, key, nil
}

func validAttributeKeys() []string {
	var keys []string
	for k := range stringAttributes {
		keys = append(keys, k)
	}
	for k := range numericAttributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func checkComparator(c Clause) error {
	var valid []string
	switch {
	case c.Type == TypeMetric, c.Type == TypeAttribute && numericAttributes[c.Key]:
		valid = []string{">", ">=", "!=", "=", "<", "<="}
	case c.Type == TypeAttribute && c.Key == "run_id":
		valid = []string{"!=", "=", "LIKE", "ILIKE", "IN", "NOT IN"}
	default:
		valid = []string{"!=", "=", "LIKE", "ILIKE"}
	}
	for _, v := range valid {
		if v == c.Comparator {
			return nil
		}
	}
	return invalid("Invalid comparator '%s' not one of '%v'", c.Comparator, valid)
}

// likeRegexp translates a SQL LIKE pattern: % is any run, _ any one
// character, everything else literal.
func likeRegexp(pattern string, fold bool) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	if fold {
		b.WriteString("(?i)")
	}
	b.WriteString("(?s)")
	for _, r := range pattern {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
