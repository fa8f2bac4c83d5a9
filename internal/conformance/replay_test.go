package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflowtest"
)

// serverOptions makes the test server the version's kind of server: from
// MLflow 3 on it has logged models (and writes the control characters its
// path unquoting makes back as %xx).
func serverOptions(version string) []mlflowtest.Option {
	if major, _, _ := strings.Cut(version, "."); major >= "3" && len(major) == 1 {
		return []mlflowtest.Option{mlflowtest.WithLoggedModels()}
	}
	return nil
}

// recordings is testdata/conformance at the repository root.
const recordings = "../../testdata/conformance"

func readRecording(t *testing.T, path string) Recording {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var r Recording
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

// TestReplay replays every recorded case of every version against the
// in-memory test server. A case must match the versions its Match field
// names (all when nil); for the others the difference is logged with the
// case's reason.
func TestReplay(t *testing.T) {
	versions, err := os.ReadDir(recordings)
	if err != nil {
		t.Fatalf("no recordings: %v", err)
	}
	found := 0
	for _, v := range versions {
		if !v.IsDir() {
			continue
		}
		version := v.Name()
		found++
		t.Run(version, func(t *testing.T) {
			srv := mlflowtest.Start(t, serverOptions(version)...)
			client := &http.Client{Timeout: 30 * time.Second}
			files, err := filepath.Glob(filepath.Join(recordings, version, "*.json"))
			if err != nil {
				t.Fatal(err)
			}
			recorded := map[string]bool{}
			for _, f := range files {
				want := readRecording(t, f)
				name := strings.TrimSuffix(filepath.Base(f), ".json")
				recorded[name] = true
				t.Run(name, func(t *testing.T) {
					c, ok := CaseByName(name)
					if !ok {
						t.Fatalf("%s: recorded case %q is not in the case table (Cases); delete the file or restore the case", f, name)
					}
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					got, err := Run(ctx, client, srv.URL(), c)
					if err != nil {
						t.Fatal(err)
					}
					diffs := compare(want, got)
					if c.Known != "" && len(diffs) > 0 {
						var hard []string
						for _, d := range diffs {
							if !strings.Contains(d, ": body:\n") {
								hard = append(hard, d)
							}
						}
						if len(hard) == 0 {
							t.Logf("case %s: known body difference from MLflow %s: %s\n%s", name, version, c.Known, strings.Join(diffs, "\n"))
							return
						}
						diffs = hard
					}
					switch {
					case len(diffs) == 0:
					case c.Match == nil || slices.Contains(c.Match, version):
						t.Errorf("case %s, MLflow %s: the test server answers differently from the recording %s\n%s",
							name, version, f, strings.Join(diffs, "\n"))
					default:
						t.Logf("case %s: known difference from MLflow %s, test server matches %v: %s", name, version, c.Match, c.Why)
					}
				})
			}
			for _, c := range Cases {
				if !recorded[c.Name] {
					t.Errorf("case %s has no recording for MLflow %s: run make conformance-record", c.Name, version)
				}
			}
		})
	}
	if found == 0 {
		t.Fatal("no version directories under " + recordings)
	}
}

// TestCaseTable checks the table itself: enough cases, unique names, a
// note for each and a reason for every restricted Match.
func TestCaseTable(t *testing.T) {
	if len(Cases) < 60 {
		t.Errorf("only %d cases", len(Cases))
	}
	seen := map[string]bool{}
	for _, c := range Cases {
		if seen[c.Name] {
			t.Errorf("case %s twice", c.Name)
		}
		seen[c.Name] = true
		if c.Match != nil && c.Why == "" {
			t.Errorf("case %s: Match without Why", c.Name)
		}
		if c.Note == "" {
			t.Errorf("case %s: no Note", c.Name)
		}
	}
}

// compare returns readable differences between a recording and a replay.
func compare(want, got Recording) []string {
	var out []string
	if len(want.Exchanges) != len(got.Exchanges) {
		return []string{fmt.Sprintf("recording has %d requests, the case table %d: re-record", len(want.Exchanges), len(got.Exchanges))}
	}
	for i := range want.Exchanges {
		w, g := want.Exchanges[i], got.Exchanges[i]
		where := fmt.Sprintf("step %d: %s %s", i, g.Request.Method, g.Request.Path)
		if Canonical(w.Request) != Canonical(g.Request) {
			out = append(out, fmt.Sprintf("%s: the recorded request differs from the case table (re-record):\n  recorded: %s\n  table:    %s",
				where, Canonical(w.Request), Canonical(g.Request)))
			continue
		}
		if w.Status != g.Status {
			out = append(out, fmt.Sprintf("%s: status: real %d, test server %d", where, w.Status, g.Status))
		}
		if w.ErrorCode != g.ErrorCode {
			out = append(out, fmt.Sprintf("%s: error_code: real %q, test server %q", where, w.ErrorCode, g.ErrorCode))
		}
		wb, gb := Canonical(w.Body), Canonical(g.Body)
		if wb != gb {
			out = append(out, fmt.Sprintf("%s: body:\n%s", where, lineDiff(wb, gb)))
		}
	}
	return out
}

// lineDiff is a small line diff: "-" real server, "+" test server.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	// Longest common subsequence table.
	n, m := len(al), len(bl)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if al[i] == bl[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var sb strings.Builder
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && al[i] == bl[j]:
			sb.WriteString("    " + al[i] + "\n")
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			sb.WriteString("  + " + bl[j] + "\n")
			j++
		default:
			sb.WriteString("  - " + al[i] + "\n")
			i++
		}
	}
	return "  (- real server, + test server)\n" + strings.TrimSuffix(sb.String(), "\n")
}
