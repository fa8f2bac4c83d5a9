// Package searchfilter implements the subset of MLflow's runs/search filter
// and order_by syntax (mlflow/utils/search_utils.py) that this project's
// backends evaluate in memory: the test server and the local file store.
//
// Supported filter clauses, joined by AND (case-insensitive):
//
//	metrics.<key>    = != < <= > >=        numeric value, latest point only
//	params.<key>     = != LIKE ILIKE       quoted string
//	tags.<key>       = != LIKE ILIKE       quoted string
//	attributes.<a>   string attributes (run_id, run_name, status, user_id,
//	                 artifact_uri, lifecycle_stage): = != LIKE ILIKE, and
//	                 IN / NOT IN for run_id; numeric attributes (start_time,
//	                 end_time, created): = != < <= > >=
//
// Keys may be quoted with backticks or double quotes (tags.`my.key`).
// Entity prefixes accept MLflow's aliases (metric/metrics, param/params/
// parameter/parameters, tag/tags, attribute/attributes/attr/run). OR and
// parentheses are rejected, as MLflow's parser rejects them.
//
// Matching follows the SQL store: a clause on a missing metric, param or tag
// never matches (also for !=), LIKE is case-sensitive, a NaN metric compares
// as 0 (the SQL store keeps 0 in the value column of NaN points).
package searchfilter

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// Entity types of a clause or an order_by key.
const (
	TypeMetric    = "metric"
	TypeParam     = "parameter"
	TypeTag       = "tag"
	TypeAttribute = "attribute"
)

var stringAttributes = map[string]bool{
	"run_id": true, "run_name": true, "status": true, "user_id": true,
	"artifact_uri": true, "lifecycle_stage": true,
}

var numericAttributes = map[string]bool{
	"start_time": true, "end_time": true, "created": true,
}

// Clause is one comparison of a filter.
type Clause struct {
	Type       string // TypeMetric, TypeParam, TypeTag or TypeAttribute
	Key        string // unquoted key; attributes use their canonical name
	Comparator string // upper-case: =, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN
	Value      string // string operand
	Number     float64
	Values     []string // IN / NOT IN operands
	re         *regexp.Regexp
}

// Filter is a parsed filter string: all clauses must match.
type Filter struct {
	Clauses []Clause
}

func invalid(format string, args ...any) error {
	return mlflow.NewError(mlflow.ErrorCodeInvalidParameterValue, format, args...)
}

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

// Match reports whether run satisfies every clause. A nil filter matches.
func (f *Filter) Match(r *mlflow.Run) bool {
	if f == nil {
		return true
	}
	for i := range f.Clauses {
		if !f.Clauses[i].match(r) {
			return false
		}
	}
	return true
}

func (c *Clause) match(r *mlflow.Run) bool {
	switch c.Type {
	case TypeMetric:
		m, ok := latestMetric(r, c.Key)
		if !ok {
			return false
		}
		v := m.Value
		if math.IsNaN(v) {
			v = 0
		}
		return compareNumbers(v, c.Comparator, c.Number)
	case TypeParam:
		for _, p := range r.Data.Params {
			if p.Key == c.Key {
				return c.matchString(p.Value)
			}
		}
		return false
	case TypeTag:
		if v, ok := r.Tag(c.Key); ok {
			return c.matchString(v)
		}
		return false
	default:
		if numericAttributes[c.Key] {
			v, ok := numericAttribute(r, c.Key)
			if !ok {
				return false
			}
			return compareNumbers(float64(v), c.Comparator, c.Number)
		}
		return c.matchString(stringAttribute(r, c.Key))
	}
}

func (c *Clause) matchString(v string) bool {
	switch c.Comparator {
	case "=":
		return v == c.Value
	case "!=":
		return v != c.Value
	case "LIKE", "ILIKE":
		return c.re.MatchString(v)
	case "IN", "NOT IN":
		in := false
		for _, x := range c.Values {
			if x == v {
				in = true
				break
			}
		}
		return in == (c.Comparator == "IN")
	}
	return false
}

func compareNumbers(a float64, op string, b float64) bool {
	switch op {
	case "=":
		return a == b
	case "!=":
		return a != b
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	}
	return false
}

func latestMetric(r *mlflow.Run, key string) (mlflow.Metric, bool) {
	for _, m := range r.Data.Metrics {
		if m.Key == key {
			return m, true
		}
	}
	return mlflow.Metric{}, false
}

func numericAttribute(r *mlflow.Run, key string) (int64, bool) {
	switch key {
	case "start_time":
		return r.Info.StartTime, true
	case "end_time":
		// A run that has not ended has a NULL end_time in the SQL store.
		return r.Info.EndTime, r.Info.EndTime != 0
	}
	return 0, false
}

func stringAttribute(r *mlflow.Run, key string) string {
	switch key {
	case "run_id":
		return r.Info.RunID
	case "run_name":
		return r.Info.RunName
	case "status":
		return string(r.Info.Status)
	case "user_id":
		return r.Info.UserID
	case "artifact_uri":
		return r.Info.ArtifactURI
	case "lifecycle_stage":
		return r.Info.LifecycleStage
	}
	return ""
}

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

// CreatePageToken encodes an offset the way MLflow's SearchUtils does:
// base64 of the JSON {"offset": n}.
func CreatePageToken(offset int) string {
	return base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf(`{"offset": %d}`, offset)))
}

// ParsePageToken decodes a token from CreatePageToken; "" is offset 0.
func ParsePageToken(token string) (int, error) {
	if token == "" {
		return 0, nil
	}
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		return 0, invalid("Invalid page token, could not base64-decode")
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, invalid("Invalid page token, decoded value=%s", raw)
	}
	off, ok := v["offset"]
	if !ok {
		return 0, invalid("Invalid page token, parsed value=%s", raw)
	}
	n, err := strconv.Atoi(string(off))
	if err != nil || n < 0 {
		return 0, invalid("Invalid page token, offset %s is not a non-negative integer", off)
	}
	return n, nil
}

// ExperimentFilter is a parsed experiments/search filter: name and tags
// clauses only.
type ExperimentFilter struct {
	Clauses []Clause
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

// Match reports whether the experiment satisfies every clause.
func (f *ExperimentFilter) Match(e *mlflow.Experiment) bool {
	if f == nil {
		return true
	}
	for i := range f.Clauses {
		c := &f.Clauses[i]
		if c.Key == "name" && c.Type == TypeAttribute {
			if !c.matchString(e.Name) {
				return false
			}
			continue
		}
		found := false
		for _, t := range e.Tags {
			if t.Key == c.Key {
				found = true
				if !c.matchString(t.Value) {
					return false
				}
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
