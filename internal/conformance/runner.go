package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Recording is what one run of a case against one server gave, normalised.
type Recording struct {
	Case      string     `json:"case"`
	Note      string     `json:"note,omitempty"`
	Exchanges []Exchange `json:"exchanges"`
}

// Exchange is one request and the normalised answer.
type Exchange struct {
	Request   RecordedRequest `json:"request"`
	Status    int             `json:"status"`
	ErrorCode string          `json:"error_code,omitempty"`
	Body      any             `json:"body"`
}

// UniqueToken returns a random token for experiment and model names, so
// that cases never collide with each other or with other users of a shared
// server.
func UniqueToken() string {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "conf-" + hex.EncodeToString(b[:])
}

// maxAttempts bounds how often Run starts a case over with new names when a
// created experiment id could be mistaken for another number of the case.
const maxAttempts = 5

// Run sends c's steps to the server at baseURL and returns the normalised
// recording. An error means the case could not be run (transport failure,
// an unusable answer), not that the server answered with an error.
func Run(ctx context.Context, client *http.Client, baseURL string, c Case) (Recording, error) {
	var lastErr error
	for range maxAttempts {
		rec, retry, err := runOnce(ctx, client, baseURL, c, UniqueToken())
		if !retry {
			return rec, err
		}
		lastErr = err
	}
	return Recording{}, lastErr
}

func runOnce(ctx context.Context, client *http.Client, baseURL string, c Case, uniq string) (Recording, bool, error) {
	vars := map[string]string{"uniq": uniq, "name": uniq + "-" + c.Name}
	n := newNormaliser(vars, time.Now())
	reserved := caseNumbers(c)
	rec := Recording{Case: c.Name, Note: c.Note}
	type raw struct {
		status int
		ct     string
		body   []byte
	}
	var raws []raw
	for i, s := range c.Steps {
		path, err := expand(s.Path, vars)
		if err != nil {
			return rec, false, fmt.Errorf("case %s step %d: %w", c.Name, i, err)
		}
		body, err := expand(s.Body, vars)
		if err != nil {
			return rec, false, fmt.Errorf("case %s step %d: %w", c.Name, i, err)
		}
		var rd io.Reader
		if s.Body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, s.Method, strings.TrimSuffix(baseURL, "/")+path, rd)
		if err != nil {
			return rec, false, fmt.Errorf("case %s step %d: %w", c.Name, i, err)
		}
		if ct := s.contentType(); ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := client.Do(req)
		if err != nil {
			return rec, false, fmt.Errorf("case %s step %d: %w", c.Name, i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return rec, false, fmt.Errorf("case %s step %d: read answer: %w", c.Name, i, err)
		}
		raws = append(raws, raw{resp.StatusCode, resp.Header.Get("Content-Type"), b})
		if len(s.Save) > 0 {
			// A value the answer lacks (an error, a server without the
			// RPC) still lets the later steps run, with a bogus id, so
			// that the recording shows what the server does with them.
			for name := range s.Save {
				if _, ok := vars[name]; !ok {
					vars[name] = "unsaved-" + name
				}
			}
			var obj any
			if json.Unmarshal(b, &obj) == nil {
				for name, p := range s.Save {
					if v, ok := lookup(obj, p); ok {
						vars[name] = v
						if isDigits(v) && reserved[v] {
							// An experiment id equal to a number the case
							// sends could not be told apart by the
							// normaliser: start over with a new experiment.
							return rec, true, fmt.Errorf("case %s: experiment id %s collides with a number of the case", c.Name, v)
						}
					}
				}
			}
		}
	}
	// Normalise once every variable is known, so that an id saved late is
	// replaced in earlier answers too.
	for i, r := range raws {
		code, body := n.response(r.status, r.ct, r.body)
		rec.Exchanges = append(rec.Exchanges, Exchange{Request: c.Steps[i].Recorded(), Status: r.status, ErrorCode: code, Body: body})
	}
	return rec, false, nil
}

var numberRE = regexp.MustCompile(`[0-9]+`)

// caseNumbers returns the numbers the case's templates write where the
// normaliser would take them for an experiment id, plus the limits MLflow
// writes in its messages.
func caseNumbers(c Case) map[string]bool {
	out := map[string]bool{}
	for _, s := range c.Steps {
		text := s.Path + " " + s.Body
		for _, loc := range numberRE.FindAllStringIndex(text, -1) {
			for _, p := range idPrefixes {
				if strings.HasSuffix(text[:loc[0]], p) {
					out[text[loc[0]:loc[1]]] = true
				}
			}
		}
	}
	for _, n := range []int{100, 250, 500, 1000, 5000, 6000, 8000, 50000, 1000000} {
		out[strconv.Itoa(n)], out[strconv.Itoa(n+1)] = true, true
	}
	return out
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// lookup follows a dotted path ("runs.0.info.run_id") in a decoded JSON
// value and returns a string or number found there.
func lookup(v any, path string) (string, bool) {
	for _, part := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[part]
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return "", false
			}
			v = x[i]
		default:
			return "", false
		}
	}
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

// Canonical returns the stable JSON text of a normalised body.
func Canonical(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
	return strings.TrimSuffix(buf.String(), "\n")
}

// Marshal returns the recording as written to a file: indented, keys
// sorted, HTML characters unescaped, ending in a newline.
func (r Recording) Marshal() []byte {
	return []byte(Canonical(r) + "\n")
}
