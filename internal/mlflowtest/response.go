package mlflowtest

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// empty is the answer of an RPC that returns nothing: {}.
type empty struct{}

// respond writes an RPC handler's answer: the JSON response, MLflow's JSON
// error, or Werkzeug's 500 page for errHTML500.
func respond(w http.ResponseWriter, resp any, err *mlflow.APIError) {
	switch {
	case err == errHTML500:
		writeInternalError(w)
	case err != nil:
		writeError(w, err)
	default:
		writeJSON(w, resp)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeInternalError(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, e *mlflow.APIError) {
	b, _ := json.Marshal(struct {
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
	}{e.Code, e.Message})
	w.Header().Set("Content-Type", "application/json")
	status := e.HTTPStatus
	if status == 0 {
		status = mlflow.StatusForCode(e.Code)
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Werkzeug's default error pages, which the real server answers for
// unknown paths, wrong methods and unhandled exceptions.
func writeHTML(w http.ResponseWriter, status int, title, heading, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html>\n<html lang=en>\n<title>%s</title>\n<h1>%s</h1>\n<p>%s</p>\n", title, heading, text)
}

func writeNotFound(w http.ResponseWriter) {
	writeHTML(w, http.StatusNotFound, "404 Not Found", "Not Found",
		"The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.")
}

func writeInternalError(w http.ResponseWriter) {
	writeHTML(w, http.StatusInternalServerError, "500 Internal Server Error", "Internal Server Error",
		"The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application.")
}
