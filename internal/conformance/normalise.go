package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// normaliser replaces everything that changes from one run to the next
// (ids, names made unique, server clock times, generated run names, page
// tokens) with placeholders, so that two recordings of the same server are
// byte-identical and a recording can be compared with a replay.
//
// Rules:
//   - a saved variable's value becomes <var> wherever it occurs; a numeric
//     one (an experiment id) only where it stands as an id: as the whole
//     value of an *_id field, after "=", "'", "/", ":/", "id ", "experiment "
//     and before a non-digit. Run ids (32 hex digits) are replaced
//     everywhere, and any other 32-hex-digit string becomes <hex32>;
//   - {{name}} becomes <name> and {{uniq}} <uniq>;
//   - start_time, end_time, creation_time, last_update_time,
//     creation_timestamp, last_updated_timestamp and timestamp values within
//     two days of the recording become "<now>" (the cases only send small
//     timestamps, so these are the server's clock);
//   - a non-empty user_id becomes "<user>"; a generated run name
//     (adjective-noun-number) in run_name or an mlflow.runName tag becomes
//     "<generated-run-name>"; a non-empty next_page_token "<token>";
//   - inside text, a 13-digit number within two days of the recording (an
//     SQL parameter dump) becomes <now>, a quoted generated run name
//     '<generated-run-name>', and the server's artifact directory named by
//     a download error <artifact-root>;
//   - the sqlalchemy documentation link's version (sqlalche.me/e/14/)
//     becomes <sa>: it belongs to the installed sqlalchemy, not to MLflow;
//   - a run of 20 or more identical characters becomes <N*c>;
//   - an empty "inputs" or "outputs" object is dropped (2.9.2 omits them,
//     3.0.0 writes {}; both say the run has none);
//   - a number with a fraction or exponent is rewritten in Go's shortest
//     form (Python writes 1.0, Go 1; the same double);
//   - arrays of key/value objects (tags, params, metrics, files) are sorted
//     by key or path: their order is not part of the API;
//   - an answer that is not JSON is recorded as its content type and its
//     HTML <title> (or first line), not as the whole page.
type normaliser struct {
	vars map[string]string
	now  time.Time
}

func newNormaliser(vars map[string]string, now time.Time) *normaliser {
	return &normaliser{vars: vars, now: now}
}

var (
	hex32RE     = regexp.MustCompile(`[0-9a-f]{32}`)
	generatedRE = regexp.MustCompile(`^[a-z]+-[a-z]+-[0-9]+$`)
	sqlaRE      = regexp.MustCompile(`sqlalche\.me/e/[0-9]+/`)
	titleRE     = regexp.MustCompile(`(?i)<title>([^<]*)</title>`)
	// The server's artifact directory, as its download errors name it.
	artifactRootRE    = regexp.MustCompile(`artifacts from (/[^:\s]+):`)
	quotedGeneratedRE = regexp.MustCompile(`'[a-z]+-[a-z]+-[0-9]+'`)
	epochMsRE         = regexp.MustCompile(`\b1[0-9]{12}\b`)
)

var timeKeys = map[string]bool{
	"start_time": true, "end_time": true, "creation_time": true, "last_update_time": true,
	"creation_timestamp": true, "last_updated_timestamp": true, "timestamp": true,
	"creation_timestamp_ms": true, "last_updated_timestamp_ms": true, // MLflow 3 logged models
}

// response returns the error_code and the normalised body of an answer.
func (n *normaliser) response(status int, contentType string, body []byte) (string, any) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if strings.HasPrefix(contentType, "application/json") && dec.Decode(&v) == nil && !dec.More() {
		code := ""
		if m, ok := v.(map[string]any); ok {
			if c, ok := m["error_code"].(string); ok {
				code = c
			}
		}
		return code, n.value("", v)
	}
	marker := map[string]any{"content_type": contentType}
	text := string(body)
	if m := titleRE.FindStringSubmatch(text); m != nil {
		marker["title"] = m[1]
	} else {
		line, _, _ := strings.Cut(text, "\n")
		if len(line) > 200 {
			line = line[:200] + "…"
		}
		marker["first_line"] = n.str(line)
	}
	return "", marker
}

func (n *normaliser) value(key string, v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if k == "inputs" || k == "outputs" {
				if m, ok := e.(map[string]any); ok && len(m) == 0 {
					continue
				}
			}
			out[k] = n.value(k, e)
		}
		// A generated run name as the value of an mlflow.runName tag.
		if k, _ := out["key"].(string); k == "mlflow.runName" {
			if s, ok := out["value"].(string); ok && generatedRE.MatchString(s) {
				out["value"] = "<generated-run-name>"
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = n.value(key, e)
		}
		sortByKey(out)
		return out
	case json.Number:
		if timeKeys[key] {
			if ms, err := x.Int64(); err == nil {
				if d := n.now.Sub(time.UnixMilli(ms)); d < 48*time.Hour && d > -48*time.Hour {
					return "<now>"
				}
			}
		}
		if strings.ContainsAny(string(x), ".eE") {
			if f, err := x.Float64(); err == nil {
				return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
			}
		}
		return x
	case string:
		switch {
		case key == "user_id" && x != "":
			return "<user>"
		case key == "next_page_token" && x != "":
			return "<token>"
		case key == "run_name" && generatedRE.MatchString(x):
			return "<generated-run-name>"
		case timeKeys[key] && isDigits(x):
			return n.value(key, json.Number(x))
		}
		if strings.HasSuffix(key, "_id") || key == "experiment_ids" {
			for name, val := range n.vars {
				if x == val {
					return "<" + name + ">"
				}
			}
		}
		return n.str(x)
	}
	return v
}

// sortByKey orders an array of objects that all carry "key" (or "path")
// by that field, keeping the order of equal keys.
func sortByKey(a []any) {
	field := ""
	for _, f := range []string{"key", "path"} {
		all := len(a) > 0
		for _, e := range a {
			m, ok := e.(map[string]any)
			if !ok {
				all = false
				break
			}
			if _, ok := m[f].(string); !ok {
				all = false
				break
			}
		}
		if all {
			field = f
			break
		}
	}
	if field == "" {
		return
	}
	sort.SliceStable(a, func(i, j int) bool {
		ki := a[i].(map[string]any)[field].(string)
		kj := a[j].(map[string]any)[field].(string)
		if ki != kj {
			return ki < kj
		}
		return Canonical(a[i]) < Canonical(a[j])
	})
}

// str replaces the variables inside free text (messages, URIs).
func (n *normaliser) str(s string) string {
	// Longest values first, so that a value containing another is
	// replaced whole.
	names := make([]string, 0, len(n.vars))
	for name := range n.vars {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		if len(n.vars[names[i]]) != len(n.vars[names[j]]) {
			return len(n.vars[names[i]]) > len(n.vars[names[j]])
		}
		return names[i] < names[j]
	})
	for _, name := range names {
		val := n.vars[name]
		if val == "" {
			continue
		}
		if isDigits(val) {
			s = replaceNumericID(s, val, "<"+name+">")
			continue
		}
		s = strings.ReplaceAll(s, val, "<"+name+">")
	}
	s = hex32RE.ReplaceAllString(s, "<hex32>")
	s = sqlaRE.ReplaceAllString(s, "sqlalche.me/e/<sa>/")
	if m := artifactRootRE.FindStringSubmatch(s); m != nil {
		s = strings.ReplaceAll(s, m[1], "<artifact-root>")
	}
	s = quotedGeneratedRE.ReplaceAllString(s, "'<generated-run-name>'")
	s = epochMsRE.ReplaceAllStringFunc(s, func(d string) string {
		if v, ok := new(big.Int).SetString(d, 10); ok && v.IsInt64() {
			if dt := n.now.Sub(time.UnixMilli(v.Int64())); dt < 48*time.Hour && dt > -48*time.Hour {
				return "<now>"
			}
		}
		return d
	})
	return squeezeRuns(s)
}

// squeezeRuns writes a run of 20 or more identical characters (the long
// keys and values of the limit cases) as <N*c>, keeping recordings small
// and lengths visible.
func squeezeRuns(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i := 0; i < len(r); {
		j := i
		for j < len(r) && r[j] == r[i] {
			j++
		}
		if j-i >= 20 {
			fmt.Fprintf(&b, "<%d*%c>", j-i, r[i])
		} else {
			b.WriteString(string(r[i:j]))
		}
		i = j
	}
	return b.String()
}

var idPrefixes = []string{"=", "'", "/", ":/", "id ", "experiment ", "Experiment ", "experiment_id ", `"`, "File "}

// replaceNumericID replaces id in s where it stands as an id (see the
// normaliser's rules).
func replaceNumericID(s, id, placeholder string) string {
	if s == id {
		return placeholder
	}
	var b strings.Builder
	for {
		i := strings.Index(s, id)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(id)
		before, after := s[:i], s[end:]
		// Not followed by a digit or a letter: a run id is hex, and one that
		// starts with the experiment id's digits must stay whole.
		okAfter := after == "" || !isAlnum(after[0])
		okBefore := false
		for _, p := range idPrefixes {
			if strings.HasSuffix(before, p) {
				okBefore = true
				break
			}
		}
		if okBefore && okAfter && (len(before) == 0 || before[len(before)-1] < '0' || before[len(before)-1] > '9') {
			b.WriteString(before)
			b.WriteString(placeholder)
		} else {
			b.WriteString(s[:end])
		}
		s = after
	}
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
