package mlflowtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
)

// Reading a request, in the steps MLflow's handlers take: the body, the
// parameters as a JSON object (requestObject), the parameters into the
// handler's request struct (decode), the required parameters (require).

// maxBody bounds what the server reads; MLflow's own limit on log-batch is
// far lower and answered as MLflow answers it.
const maxBody = 64 << 20

func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("request body over %d bytes", maxBody)
	}
	return b, nil
}

// errHTML500 marks a request the real server fails with an unhandled
// exception (a Werkzeug 500 page rather than MLflow JSON).
var errHTML500 = &mlflow.APIError{HTTPStatus: http.StatusInternalServerError}

// requestObject returns the request's arguments as a JSON object, the way
// MLflow's _get_request_message reads them.
func requestObject(r *http.Request, rpc string, body []byte) ([]byte, *mlflow.APIError) {
	if r.Method == http.MethodGet && r.URL.RawQuery != "" {
		return queryObject(r.URL.Query())
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		ct := r.Header.Get("Content-Type")
		if ct == "" {
			return nil, invalidParam("Bad Request. Content-Type header is missing.")
		}
		if base, _, _ := strings.Cut(ct, ";"); base != "application/json" {
			return nil, invalidParam("Bad Request. Content-Type must be one of ['application/json'].")
		}
	}
	if rpc == "runs/log-batch" && len(body) > mlflow.MaxBatchBytes {
		return nil, invalidParam("Batched logging API requests must be at most %d bytes, got a request of size %d.", mlflow.MaxBatchBytes, len(body))
	}
	if bareNonFinite(body) && !json.Valid(body) {
		// Python's json accepts NaN/Infinity tokens; protobuf then stops
		// parsing at that field, and MLflow stores whatever was parsed so far
		// (value, timestamp and step 0). This server refuses instead, so the
		// client bug surfaces as an error rather than as silent zeros.
		return nil, invalidParam("Bare NaN/Infinity JSON token in the request body: send \"NaN\", \"Infinity\" or \"-Infinity\" as strings (a real MLflow server answers 200 and stores corrupted points)")
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || !json.Valid(trimmed) {
		// get_json(silent=True) yields None, read as {}. log-batch first
		// calls len() on it, an unhandled TypeError.
		if rpc == "runs/log-batch" {
			return nil, errHTML500
		}
		return []byte("{}"), nil
	}
	switch trimmed[0] {
	case '{':
		return trimmed, nil
	case 'n': // null
		if rpc == "runs/log-batch" {
			return nil, errHTML500
		}
		return []byte("{}"), nil
	case '"':
		// Older clients double-encode: MLflow decodes a string body again.
		var inner string
		_ = json.Unmarshal(trimmed, &inner)
		in := bytes.TrimSpace([]byte(inner))
		if !json.Valid(in) || len(in) == 0 || in[0] != '{' {
			return nil, errHTML500
		}
		return in, nil
	}
	return nil, errHTML500
}

// queryObject turns query parameters into a JSON object; repeated fields
// become lists, everything else the last value (as a string, which the
// proto JSON mapping accepts for numbers too).
func queryObject(q url.Values) ([]byte, *mlflow.APIError) {
	obj := map[string]any{}
	for k, vs := range q {
		name := strings.TrimSuffix(k, "[]")
		switch name {
		case "experiment_ids", "order_by":
			if prev, ok := obj[name].([]string); ok {
				obj[name] = append(prev, vs...)
			} else {
				obj[name] = append([]string(nil), vs...)
			}
		default:
			obj[name] = vs[len(vs)-1]
		}
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, errHTML500
	}
	return b, nil
}

// decode reads a request's parameters (a JSON object) into a T. A field of
// the wrong JSON type is refused with MLflow's INVALID_PARAMETER_VALUE
// message (see fieldError).
func decode[T any](obj []byte) (T, *mlflow.APIError) {
	var req T
	if err := json.Unmarshal(obj, &req); err != nil {
		return req, invalidParam("%s", fieldError(err))
	}
	return req, nil
}

// required is a parameter an RPC cannot do without: its name and its value
// in the request.
type required struct {
	name  string
	value interface{ present() bool }
}

// require is MLflow's _assert_required over the parameters in order: the
// first one absent is answered as missing.
func require(params ...required) *mlflow.APIError {
	for _, p := range params {
		if !p.value.present() {
			return missing(p.name)
		}
	}
	return nil
}

func missing(param string) *mlflow.APIError {
	return invalidParam("Missing value for required parameter '%s'. See the API docs for more information about request parameters.", param)
}
