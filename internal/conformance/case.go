// Package conformance records how real MLflow tracking servers answer a
// table of request sequences (cases) and replays the recordings against the
// project's in-memory server (internal/mlflowtest), so that the test server
// is checked against the real thing in every `go test` run without a
// network or a real server.
//
// Record with tools/conformance (make conformance-record MLFLOW_URL=...
// VERSION=...); the recordings live in testdata/conformance/<version>/ at
// the repository root, one JSON file per case. replay_test.go replays them.
//
// The test server imitates the SQL store of MLflow TargetVersion (2.9.2,
// the version the project's docs and tests were first checked against). A
// case is expected to match every recorded version unless its Match field
// names the versions it matches, with Why saying what the others do
// differently; the replay test still replays those versions and logs the
// difference. Where the target version accepts what a newer one refuses,
// the test server takes the stricter answer (it must never accept what a
// real server refuses), and Match names the newer version.
package conformance

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

// TargetVersion is the MLflow version whose behaviour the test server
// imitates where recorded versions differ.
const TargetVersion = "2.9.2"

// Case is one sequence of requests. Later steps refer to values saved from
// earlier answers with {{var}} templates in Path and Body.
type Case struct {
	Name string
	// Note says what the case checks (written into the recording).
	Note string
	// Match lists the versions whose recording the test server must
	// reproduce; nil means every recorded version.
	Match []string
	// Why explains, when Match is set, what the other versions do.
	Why string
	// Known, when set, is a known difference of the test server's answer
	// body from every version, with the reason it is left: the replay
	// still requires the same status and error_code, and logs the body
	// difference instead of failing.
	Known string
	Steps []Step
}

// Step is one HTTP request.
type Step struct {
	Method string
	// Path is the request path with query, relative to the server root
	// ("/api/2.0/mlflow/runs/get?run_id={{run}}").
	Path string
	// Body is the request body template; "" sends none.
	Body string
	// ContentType defaults to application/json for a request with a body;
	// NoContentType sends none.
	ContentType   string
	NoContentType bool
	// Save stores values of a JSON answer under variable names: var ->
	// dotted path ("run.info.run_id", "runs.0.info.run_id").
	Save map[string]string
}

// Templates: {{name}} is the case's unique experiment name, {{uniq}} a
// unique token for other names (registered models), and every other
// {{var}} a value saved by an earlier step.
var templateRE = regexp.MustCompile(`\{\{([a-zA-Z0-9_]+)\}\}`)

func expand(tmpl string, vars map[string]string) (string, error) {
	var missing []string
	out := templateRE.ReplaceAllStringFunc(tmpl, func(m string) string {
		name := m[2 : len(m)-2]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		return out, fmt.Errorf("template variables not set: %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// maxRecordedBody is the longest request body written into a recording as
// is; longer (generated) bodies are written as head, length and digest.
const maxRecordedBody = 600

// RecordedRequest is a step's request as written to a recording, still
// templated (so it is the same on every run).
type RecordedRequest struct {
	Method      string `json:"method"`
	Path        string `json:"path"`
	ContentType string `json:"content_type,omitempty"`
	Body        string `json:"body,omitempty"`
	BodyLength  int    `json:"body_length,omitempty"`
	BodySHA256  string `json:"body_sha256,omitempty"`
}

func (s Step) contentType() string {
	switch {
	case s.NoContentType:
		return ""
	case s.ContentType != "":
		return s.ContentType
	case s.Body != "" || s.Method == "POST":
		return "application/json"
	}
	return ""
}

// Recorded returns the step's request as a recording shows it.
func (s Step) Recorded() RecordedRequest {
	r := RecordedRequest{Method: s.Method, Path: s.Path, ContentType: s.contentType(), Body: s.Body}
	if len(s.Body) > maxRecordedBody {
		sum := sha256.Sum256([]byte(s.Body))
		r.Body = s.Body[:200] + "…"
		r.BodyLength = len(s.Body)
		r.BodySHA256 = hex.EncodeToString(sum[:])
	}
	return r
}
