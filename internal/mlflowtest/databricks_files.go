package mlflowtest

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// Databricks artifact storage as the fake workspace models it: experiments
// created without an artifact_location get
// dbfs:/databricks/mlflow-tracking/<exp>, so runs carry
// dbfs:/databricks/mlflow-tracking/<exp>/<run>/artifacts; their files are
// written through the Files API (PUT /api/2.0/fs/files<path>) under
// /WorkspaceInternal/Mlflow/Artifacts/<exp>/Runs/<run>/artifacts/..., kept
// in memory, and listed by mlflow/artifacts/list.
//
// The fake's own choices where the real answer is not documented: a write
// for a run that does not exist is 404 RESOURCE_DOES_NOT_EXIST, a write
// anywhere but inside a run's artifact directory is 403 PERMISSION_DENIED.
// Absent: directory endpoints (/api/2.0/fs/directories), DELETE, multipart
// and pre-signed uploads (credentials-for-write), Unity Catalog volumes,
// logged-model storage.

// Paths and prefixes of Databricks artifact storage.
const (
	DatabricksFilesPath       = "/api/2.0/fs/files"
	DatabricksArtifactsRoot   = "/WorkspaceInternal/Mlflow/Artifacts/"
	databricksTrackingPrefix  = "dbfs:/databricks/mlflow-tracking/"
	rpcDatabricksFiles        = "fs/files"
	dbxFileNotFound           = "The file being accessed is not found."
	dbxFileExists             = "The file being created already exists."
	dbxFilesPermissionDenied  = "User does not have permission to write to %s."
	dbxFilesInvalidPath       = "Invalid path: %s"
	dbxFilesRunDoesNotExist   = "Run '%s' does not exist."
	dbxFilesMethodNotAllowed  = "Method %s is not allowed on files."
	dbxFilesOverwriteNotValid = "Invalid value for overwrite: %q."
)

// databricksArtifactDir maps a run's dbfs: artifact URI to its Files API
// directory; ok is false for any other URI.
func databricksArtifactDir(artifactURI string) (string, bool) {
	rest, ok := strings.CutPrefix(artifactURI, databricksTrackingPrefix)
	if !ok {
		return "", false
	}
	exp, runAndRel, ok := strings.Cut(strings.Trim(rest, "/"), "/")
	if !ok || exp == "" || runAndRel == "" {
		return "", false
	}
	return DatabricksArtifactsRoot + exp + "/Runs/" + runAndRel, true
}

// validFilePath accepts an absolute path of plain names.
func validFilePath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00") {
		return false
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// serveFiles answers the Files API for one file.
func (w *workspace) serveFiles(rw http.ResponseWriter, r *http.Request, filePath string, body []byte) {
	if !validFilePath(filePath) {
		writeError(rw, mlflow.NewError(mlflow.ErrorCodeInvalidParameterValue, dbxFilesInvalidPath, filePath))
		return
	}
	switch r.Method {
	case http.MethodPut:
		w.putFile(rw, r, filePath, body)
	case http.MethodGet, http.MethodHead:
		w.mu.Lock()
		b, ok := w.files[filePath]
		w.mu.Unlock()
		if !ok {
			writeError(rw, &mlflow.APIError{HTTPStatus: http.StatusNotFound, Code: mlflow.ErrorCodeNotFound, Message: dbxFileNotFound})
			return
		}
		rw.Header().Set("Content-Type", "application/octet-stream")
		rw.Header().Set("Content-Length", strconv.Itoa(len(b)))
		rw.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = rw.Write(b)
		}
	default:
		rw.Header().Set("Allow", "GET, HEAD, PUT")
		writeError(rw, &mlflow.APIError{HTTPStatus: http.StatusMethodNotAllowed, Code: mlflow.ErrorCodeBadRequest, Message: fmt.Sprintf(dbxFilesMethodNotAllowed, r.Method)})
	}
}

func (w *workspace) putFile(rw http.ResponseWriter, r *http.Request, filePath string, body []byte) {
	// "If true or unspecified, an existing file will be overwritten."
	overwrite := true
	if v, ok := r.URL.Query()["overwrite"]; ok {
		b, err := strconv.ParseBool(v[len(v)-1])
		if err != nil {
			writeError(rw, mlflow.NewError(mlflow.ErrorCodeInvalidParameterValue, dbxFilesOverwriteNotValid, v[len(v)-1]))
			return
		}
		overwrite = b
	}
	if e := w.checkWritable(filePath); e != nil {
		writeError(rw, e)
		return
	}
	w.mu.Lock()
	_, exists := w.files[filePath]
	if exists && !overwrite {
		w.mu.Unlock()
		writeError(rw, &mlflow.APIError{HTTPStatus: http.StatusConflict, Code: mlflow.ErrorCodeAlreadyExists, Message: dbxFileExists})
		return
	}
	w.files[filePath] = slices.Clone(body)
	w.mu.Unlock()
	rw.WriteHeader(http.StatusNoContent)
}

// checkWritable lets writes through only inside the artifact directory of
// an existing run, which is where MLflow's client writes.
func (w *workspace) checkWritable(filePath string) *mlflow.APIError {
	denied := &mlflow.APIError{HTTPStatus: http.StatusForbidden, Code: mlflow.ErrorCodePermissionDenied,
		Message: fmt.Sprintf(dbxFilesPermissionDenied, filePath)}
	rest, ok := strings.CutPrefix(filePath, DatabricksArtifactsRoot)
	if !ok {
		return denied
	}
	segs := strings.Split(rest, "/")
	if len(segs) < 4 || segs[1] != "Runs" {
		return denied
	}
	runID := segs[2]
	w.srv.mu.Lock()
	run, ok := w.srv.st.runs[runID]
	var uri string
	if ok {
		uri = run.info.ArtifactURI
	}
	w.srv.mu.Unlock()
	if !ok {
		return mlflow.NewError(mlflow.ErrorCodeResourceDoesNotExist, dbxFilesRunDoesNotExist, runID)
	}
	dir, ok := databricksArtifactDir(uri)
	if !ok || !strings.HasPrefix(filePath, dir+"/") {
		return denied
	}
	return nil
}

// createExperiment creates an experiment sent without artifact_location
// and gives it Databricks-managed storage. It reports false, leaving the
// request to the MLflow handler, for anything else (malformed requests
// included, which that handler answers).
func (w *workspace) createExperiment(rw http.ResponseWriter, r *http.Request, body []byte) bool {
	obj, aerr := requestObject(r, "experiments/create", body)
	if aerr != nil {
		return false
	}
	req, aerr := decode[struct {
		ArtifactLocation optString `json:"artifact_location"`
	}](obj)
	if aerr != nil || req.ArtifactLocation.Value != "" {
		return false
	}
	s := w.srv
	s.mu.Lock()
	resp, aerr := s.createExperiment(args{obj: obj})
	if aerr == nil {
		if id, ok := resp.(map[string]any)["experiment_id"].(string); ok {
			if e, err := s.st.experiment(id); err == nil {
				e.ArtifactLocation = strings.TrimSuffix(databricksTrackingPrefix, "/") + "/" + id
			}
		}
	}
	s.mu.Unlock()
	respond(rw, resp, aerr)
	return true
}

// listArtifacts answers mlflow/artifacts/list for a run whose artifacts
// live in workspace storage, from the files written through the Files API.
// It reports false for other runs and malformed requests.
func (w *workspace) listArtifacts(rw http.ResponseWriter, r *http.Request, body []byte) bool {
	obj, aerr := requestObject(r, "artifacts/list", body)
	if aerr != nil {
		return false
	}
	req, aerr := decode[reqListArtifacts](obj)
	if aerr != nil || req.id() == "" {
		return false
	}
	rel, ok := req.relPath()
	if !ok {
		return false
	}
	w.srv.mu.Lock()
	run, found := w.srv.st.runs[req.id()]
	var uri string
	if found {
		uri = run.info.ArtifactURI
	}
	w.srv.mu.Unlock()
	root, ok := databricksArtifactDir(uri)
	if !found || !ok {
		return false
	}
	w.mu.Lock()
	files := listDir(w.files, root, rel)
	w.mu.Unlock()
	writeJSON(rw, outListArtifacts{RootURI: uri, Files: files})
	return true
}

// DatabricksFile returns a file written through the Files API by its
// absolute path (/WorkspaceInternal/Mlflow/Artifacts/<exp>/Runs/<run>/artifacts/<rel>).
func (s *Server) DatabricksFile(filePath string) ([]byte, bool) {
	if s.dbx == nil {
		return nil, false
	}
	s.dbx.mu.Lock()
	defer s.dbx.mu.Unlock()
	b, ok := s.dbx.files[filePath]
	return slices.Clone(b), ok
}

// DatabricksFiles lists the paths of every file written through the Files
// API, sorted.
func (s *Server) DatabricksFiles() []string {
	if s.dbx == nil {
		return nil
	}
	s.dbx.mu.Lock()
	defer s.dbx.mu.Unlock()
	out := make([]string, 0, len(s.dbx.files))
	for p := range s.dbx.files {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
