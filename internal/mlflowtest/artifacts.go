package mlflowtest

import (
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// Artifacts: the proxied artifact API of a server started with
// --serve-artifacts (mlflow-artifacts/artifacts/<path>, kept in memory)
// and artifacts/list. Databricks-managed storage is in databricks_files.go.

// artifactRoot is where the messages say artifacts are kept (the real
// server names its --artifacts-destination directory).
const artifactRoot = "/mlflowtest/artifacts"

// uploadArtifact is PUT mlflow-artifacts/artifacts/<path>.
func (s *Server) uploadArtifact(w http.ResponseWriter, _ *http.Request, a args) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key, ok := s.artifactKey(a.param)
	if !ok {
		writeError(w, invalidParam("Invalid path"))
		return
	}
	s.st.artifacts[key] = append([]byte(nil), a.body...)
	writeJSON(w, empty{})
}

// downloadArtifact is GET (and HEAD) mlflow-artifacts/artifacts/<path>.
func (s *Server) downloadArtifact(w http.ResponseWriter, _ *http.Request, a args) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key, ok := s.artifactKey(a.param)
	if !ok {
		writeError(w, invalidParam("Invalid path"))
		return
	}
	b, ok := s.st.artifacts[key]
	if !ok {
		// The artifact repository's download fails and the handler
		// answers with the repository's error, as an internal error.
		writeError(w, mlflow.NewError(mlflow.ErrorCodeInternalError,
			"The following failures occurred while downloading one or more artifacts from %s:\n##### File %s #####\n[Errno 2] No such file or directory: '%s/%s'",
			artifactRoot, key, artifactRoot, key))
		return
	}
	w.Header().Set("Content-Type", artifactContentType(key))
	w.Header().Set("Content-Disposition", "attachment; filename="+path.Base(key))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// artifactKey is the name under which the proxy stores the artifact of a
// request path (see decodeArtifactPath), or false for a path the real
// server refuses as "Invalid path". The caller holds s.mu.
func (s *Server) artifactKey(p string) (string, bool) {
	p = s.decodeArtifactPath(p)
	clean, ok := cleanArtifactPath(p)
	if !ok || clean == "." || strings.Contains(p, "#") {
		return "", false
	}
	return clean, true
}

// listArtifacts is artifacts/list for a run whose artifacts are behind
// the proxy.
func (s *Server) listArtifacts(a args) (any, *mlflow.APIError) {
	req, err := decode[reqListArtifacts](a.obj)
	if err != nil {
		return nil, err
	}
	if err := require(required{"run_id", req.reqRunID}); err != nil {
		return nil, err
	}
	rel, ok := req.relPath()
	if !ok {
		return nil, invalidParam("Invalid path")
	}
	run, err := s.st.run(req.id())
	if err != nil {
		return nil, err
	}
	root := strings.TrimPrefix(run.info.ArtifactURI, "mlflow-artifacts:/")
	root = strings.TrimPrefix(root, "/")
	return outListArtifacts{RootURI: run.info.ArtifactURI, Files: listDir(s.st.artifacts, root, rel)}, nil
}

type reqListArtifacts struct {
	reqRunID
	Path optString `json:"path"`
}

// relPath is the listed directory relative to the run's artifact root, ""
// for the root itself, or false for a path MLflow refuses.
func (r reqListArtifacts) relPath() (string, bool) {
	rel, ok := cleanArtifactPath(r.Path.Value)
	if rel == "." {
		rel = ""
	}
	return rel, ok
}

type outListArtifacts struct {
	RootURI string         `json:"root_uri"`
	Files   []artifactFile `json:"files,omitempty"`
}

type artifactFile struct {
	Path     string `json:"path"`
	IsDir    bool   `json:"is_dir"`
	FileSize *int64 `json:"file_size,omitempty"`
}

// listDir lists, sorted by name, what lies directly in the directory rel
// under root, given every file by its full path: files, and directories
// for the names with files below them. Paths are rel-relative as MLflow
// answers them.
func listDir(files map[string][]byte, root, rel string) []artifactFile {
	dir := root
	if rel != "" {
		dir = root + "/" + rel
	}
	entries := map[string]artifactFile{}
	for k, v := range files {
		sub, ok := strings.CutPrefix(k, dir+"/")
		if !ok {
			continue
		}
		name, _, isDir := strings.Cut(sub, "/")
		f := artifactFile{Path: path.Join(rel, name), IsDir: isDir}
		if !isDir {
			n := int64(len(v))
			f.FileSize = &n
		}
		entries[name] = f
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []artifactFile
	for _, n := range names {
		out = append(out, entries[n])
	}
	return out
}

func cleanArtifactPath(p string) (string, bool) {
	if p == "" {
		return "", true
	}
	if strings.HasPrefix(p, "/") || strings.Contains(p, "\\") {
		return "", false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "", false
		}
	}
	return path.Clean(p), true
}

// artifactContentType is the type Flask's send_file guesses from the file
// name (Python's mimetypes), for the common artifact kinds.
func artifactContentType(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".txt", ".log":
		return "text/plain"
	case ".json":
		return "application/json"
	case ".csv":
		return "text/csv"
	case ".html", ".htm":
		return "text/html"
	case ".png":
		return "image/png"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".svg":
		return "image/svg+xml"
	}
	return "application/octet-stream"
}

// decodeArtifactPath turns the path of a proxied artifact request, already
// percent-decoded once by the HTTP server (as Flask decodes it), into the
// name the real server stores: MLflow's validate_path_is_safe (the 2.9 and
// 3.0 handlers both use its result) unquotes it again until it stops
// changing, so "%25" + "41" ends up "A" and "%10" a control character;
// MLflow 3.0 (WithLoggedModels) then writes control characters back as %xx
// (lowercase hex). The caller holds s.mu.
func (s *Server) decodeArtifactPath(p string) string {
	for range 10 {
		d := pyUnquote(p)
		if d == p {
			break
		}
		p = d
	}
	if s.reg.v3 {
		var b strings.Builder
		for _, c := range p {
			if c < 0x20 || c == 0x7f {
				fmt.Fprintf(&b, "%%%02x", c)
				continue
			}
			b.WriteRune(c)
		}
		p = b.String()
	}
	return p
}

// pyUnquote is Python's urllib.parse.unquote: valid %XX escapes become
// bytes, anything else stays, and the bytes are read as UTF-8 with
// invalid sequences replaced by U+FFFD.
func pyUnquote(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
