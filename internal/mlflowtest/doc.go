// Package mlflowtest is an in-memory MLflow tracking server for tests. Every
// exporter and client test in this project runs against it instead of a real
// server, so it reproduces the open-source MLflow 2.x tracking server (SQL
// store, started with --serve-artifacts) as closely as the project needs,
// and decodes requests with its own structs rather than the project's REST
// client.
//
// Faithful (checked against mlflow/server/handlers.py, utils/validation.py,
// store/tracking/sqlalchemy_store.py and utils/search_utils.py):
//   - routes under /api/2.0/mlflow/ and /ajax-api/2.0/mlflow/ with their HTTP
//     methods; unknown paths get Werkzeug's 404 HTML page, wrong methods 405;
//   - POST Content-Type check (missing or not application/json: 400
//     INVALID_PARAMETER_VALUE); a body that is not JSON is read as {} (so a
//     required field is reported missing), except on runs/log-batch, where
//     MLflow fails with an unhandled exception: 500 HTML page; a JSON string
//     body is decoded twice (old clients double-encode);
//   - int64 as numbers or strings, doubles as numbers or "NaN"/"Infinity"/
//     "-Infinity"; NaN kept, ±Inf clamped to ±1.7976931348623157e308 as the
//     SQL store does; responses write int64 as numbers and NaN as "NaN";
//   - key rules (Python \w letters and numbers, _ - . / space, normpath
//     unchanged, at most 250), value limits (param 6000, tag 5000,
//     experiment name 500), batch limits (1000 metrics, 100 params, 100 tags,
//     1000 entities) with MLflow 2.x messages, in the store's check order;
//   - params write-once ("Changing param values is not allowed"), any
//     repeated param key in one batch refused, identical metric points not
//     duplicated, latest metric by (step, timestamp, value);
//   - 404 RESOURCE_DOES_NOT_EXIST for unknown runs and experiments (but
//     metrics/get-history of an unknown run answers {}), 400 for writes to a
//     deleted run; deleted experiments keep their name and delete or restore
//     their runs with them;
//   - checked against recordings of real MLflow 2.9.2 and 3.0.0 by
//     internal/conformance (testdata/conformance; messages included, SQL
//     parameter dumps and Python reprs reproduced);
//   - runs/create: no tag validation (the SQL store inserts tags as sent),
//     a repeated tag key refused as the INSERT fails,
//     Default experiment for an empty id, mlflow.runName tag
//     added (and a generated adjective-noun-number name when none), user_id
//     as sent, artifact_uri mlflow-artifacts:/<exp>/<run>/artifacts;
//   - runs/update ignores an unknown status name (200);
//   - runs/search filter, order_by, view type and OFFSET page tokens (a full
//     page always carries a next_page_token, the next page may be empty) via
//     package searchfilter; experiments/search filter on name and tags, view
//     type, default order, a token only when another page exists;
//     max_results below 1 or above 50000 refused (400; MLflow 2.9 still
//     answered max_results 0 with an empty page and a token);
//   - experiment ids are decimal strings from "0", run ids 32 hex digits;
//   - basic auth answers 401 with MLflow's basic-auth app text body.
//
// Deliberate differences and absences:
//   - a bare NaN/Infinity token in a body is refused with 400; the real
//     server answers 200 and stores the metric as value 0, timestamp 0, step
//     0 (protobuf stops parsing there). A refusal makes the client bug loud.
//     Likewise a field of the wrong JSON type is refused with 400 instead of
//     being half-parsed;
//   - the 1,000,000-byte log-batch body limit is enforced (400). MLflow 2.x
//     calls len() on the parsed dict, so the real check never fires;
//   - bearer-token auth is Databricks-like (401 UNAUTHENTICATED JSON);
//   - model registry: registered-models and model-versions create/get only
//     (registry.go); its routes and the logged-model routes answer neither
//     HEAD nor OPTIONS, and a JSON body that is not an object is answered
//     there with a 500 JSON error without code or message rather than
//     Werkzeug's 500 page;
//   - MLflow 3 logged models only WithLoggedModels (logged_models.go);
//   - absent: experiment tags/rename/update RPCs, runs/
//     delete-tag, log-inputs, get-history paging, metrics/get-history-bulk,
//     multipart artifact upload, artifact delete, mlflow-artifacts listing,
//     experiments/search order_by (refused with 400), traces. The request
//     log grows without bound (fine for tests).
//
// Where things are: routes.go is the route table (every method and path,
// and the method that answers it); the handlers are grouped by resource in
// experiments.go, runs.go, metrics.go (log-batch, log-metric,
// get-history), search.go, artifacts.go, registry.go and logged_models.go.
// request.go reads a request (requestObject, decode, require), response.go
// writes the answer; wire.go holds the request and response structs,
// store.go the tracking store and MLflow's validation rules. server.go has
// the Server, its options, faults and auth; databricks.go and
// databricks_files.go the fake Databricks workspace in front of it.
package mlflowtest
