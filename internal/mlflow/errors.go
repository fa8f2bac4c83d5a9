package mlflow

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// MLflow error codes (databricks_pb2.ErrorCode names) the project handles.
const (
	ErrorCodeInvalidParameterValue  = "INVALID_PARAMETER_VALUE"
	ErrorCodeBadRequest             = "BAD_REQUEST"
	ErrorCodeResourceAlreadyExists  = "RESOURCE_ALREADY_EXISTS"
	ErrorCodeAlreadyExists          = "ALREADY_EXISTS" // Databricks
	ErrorCodeResourceConflict       = "RESOURCE_CONFLICT"
	ErrorCodeAborted                = "ABORTED"
	ErrorCodeUnauthenticated        = "UNAUTHENTICATED"
	ErrorCodeCustomerUnauthorized   = "CUSTOMER_UNAUTHORIZED"
	ErrorCodePermissionDenied       = "PERMISSION_DENIED"
	ErrorCodeResourceDoesNotExist   = "RESOURCE_DOES_NOT_EXIST"
	ErrorCodeNotFound               = "NOT_FOUND"
	ErrorCodeEndpointNotFound       = "ENDPOINT_NOT_FOUND"
	ErrorCodeRequestLimitExceeded   = "REQUEST_LIMIT_EXCEEDED"
	ErrorCodeResourceExhausted      = "RESOURCE_EXHAUSTED"
	ErrorCodeInternalError          = "INTERNAL_ERROR"
	ErrorCodeInvalidState           = "INVALID_STATE"
	ErrorCodeDataLoss               = "DATA_LOSS"
	ErrorCodeTemporarilyUnavailable = "TEMPORARILY_UNAVAILABLE"
)

// APIError is an error answered by an MLflow backend. Code is MLflow's
// error_code when the body was MLflow JSON, "" otherwise (HTML 404/500 pages).
type APIError struct {
	HTTPStatus int
	Code       string
	Message    string
	// RetryAfter is the server's Retry-After delay, 0 when absent.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	switch {
	case e.Code != "" && e.HTTPStatus != 0:
		return fmt.Sprintf("mlflow: %s (HTTP %d): %s", e.Code, e.HTTPStatus, e.Message)
	case e.Code != "":
		return fmt.Sprintf("mlflow: %s: %s", e.Code, e.Message)
	default:
		return fmt.Sprintf("mlflow: HTTP %d: %s", e.HTTPStatus, e.Message)
	}
}

// NewError builds an APIError with the HTTP status MLflow uses for code.
func NewError(code, format string, args ...any) *APIError {
	return &APIError{HTTPStatus: StatusForCode(code), Code: code, Message: fmt.Sprintf(format, args...)}
}

// StatusForCode maps an MLflow error code to the HTTP status the real server
// answers with.
func StatusForCode(code string) int {
	switch code {
	case ErrorCodeInvalidParameterValue, ErrorCodeBadRequest, ErrorCodeResourceAlreadyExists:
		return http.StatusBadRequest
	case ErrorCodeUnauthenticated, ErrorCodeCustomerUnauthorized:
		return http.StatusUnauthorized
	case ErrorCodePermissionDenied:
		return http.StatusForbidden
	case ErrorCodeResourceDoesNotExist, ErrorCodeNotFound, ErrorCodeEndpointNotFound:
		return http.StatusNotFound
	case ErrorCodeAlreadyExists, ErrorCodeResourceConflict, ErrorCodeAborted:
		return http.StatusConflict
	case ErrorCodeRequestLimitExceeded, ErrorCodeResourceExhausted:
		return http.StatusTooManyRequests
	case ErrorCodeTemporarilyUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

func asAPIError(err error) (*APIError, bool) {
	var e *APIError
	ok := errors.As(err, &e)
	return e, ok
}

// IsNotFound reports a missing experiment, run or endpoint.
func IsNotFound(err error) bool {
	e, ok := asAPIError(err)
	if !ok {
		return false
	}
	switch e.Code {
	case ErrorCodeResourceDoesNotExist, ErrorCodeNotFound:
		return true
	}
	return e.Code == "" && e.HTTPStatus == http.StatusNotFound
}

// IsAlreadyExists reports a create that lost to an existing entity, in the
// open-source spelling and Databricks'.
func IsAlreadyExists(err error) bool {
	e, ok := asAPIError(err)
	return ok && (e.Code == ErrorCodeResourceAlreadyExists || e.Code == ErrorCodeAlreadyExists)
}

// IsInvalidParameter reports a 400 that names bad input (a limit, a changed
// param, a bad key, a deleted run): retrying the same request cannot succeed.
func IsInvalidParameter(err error) bool {
	e, ok := asAPIError(err)
	return ok && (e.Code == ErrorCodeInvalidParameterValue || e.Code == ErrorCodeBadRequest)
}

// IsRetryable reports whether the same request may succeed later: 408, 429
// and 5xx answers, as MLflow's own client retries them. Transport errors are
// not APIErrors; callers treat those as retryable themselves.
func IsRetryable(err error) bool {
	e, ok := asAPIError(err)
	if !ok {
		return false
	}
	switch e.HTTPStatus {
	case http.StatusRequestTimeout, http.StatusTooManyRequests:
		return true
	}
	return e.HTTPStatus >= 500
}

// IsThrottled reports a rate-limit answer (429 or its error codes).
func IsThrottled(err error) bool {
	e, ok := asAPIError(err)
	if !ok {
		return false
	}
	return e.HTTPStatus == http.StatusTooManyRequests || e.Code == ErrorCodeRequestLimitExceeded || e.Code == ErrorCodeResourceExhausted
}

// IsTransient reports whether the same request may pass later: a retryable
// answer (IsRetryable), or no MLflow answer at all (connection refused or
// reset, a timeout), which retrying is the only way to learn more about.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if _, ok := asAPIError(err); ok {
		return IsRetryable(err)
	}
	return true
}

// RetryAfter is the delay the server asked for (Retry-After), 0 if none.
func RetryAfter(err error) time.Duration {
	if e, ok := asAPIError(err); ok {
		return e.RetryAfter
	}
	return 0
}

// IsAuthRefused reports 401 and 403: wrong or missing credentials, or a
// principal without the right on the resource.
func IsAuthRefused(err error) bool {
	e, ok := asAPIError(err)
	return ok && (e.HTTPStatus == http.StatusUnauthorized || e.HTTPStatus == http.StatusForbidden)
}

// ErrRunGone marks a run deleted or ended while data was being written to
// it; callers wrap it (fmt.Errorf("...: %w: %w", id, ErrRunGone, answer))
// and test it with errors.Is.
var ErrRunGone = errors.New("run deleted or no longer active")

// IsRunGone recognises answers meaning a run can take no more data: 404
// RESOURCE_DOES_NOT_EXIST for a run that no longer exists, 400 for a deleted
// one (SQL stores say "must be in the 'active' state", file stores "must be
// in 'active' lifecycle_stage"), or an error already marked ErrRunGone.
func IsRunGone(err error) bool {
	if errors.Is(err, ErrRunGone) {
		return true
	}
	e, ok := asAPIError(err)
	if !ok {
		return false
	}
	if e.HTTPStatus == http.StatusNotFound && e.Code == ErrorCodeResourceDoesNotExist {
		return true
	}
	return IsInvalidParameter(err) && (strings.Contains(e.Message, "'active' state") || strings.Contains(e.Message, "'active' lifecycle_stage"))
}

// IsExperimentInactive recognises the refusal to create a run in a deleted
// experiment: INVALID_PARAMETER_VALUE from the SQL store, INVALID_STATE
// (HTTP 500) from file stores.
func IsExperimentInactive(err error) bool {
	e, ok := asAPIError(err)
	if !ok {
		return false
	}
	return strings.Contains(e.Message, "non-active experiment") ||
		strings.Contains(e.Message, "experiment") && strings.Contains(e.Message, "'active' state")
}

// IsParamChanged recognises the refusal to log a param again with another
// value (params are write-once in MLflow).
func IsParamChanged(err error) bool {
	e, ok := asAPIError(err)
	return ok && IsInvalidParameter(err) && strings.Contains(e.Message, "Changing param values is not allowed")
}

// IsEndpointMissing reports whether err is a server's answer that it has no
// such endpoint: a 404 without an MLflow error code (Flask's HTML page, what
// MLflow 2 servers answer for logged-models) or ENDPOINT_NOT_FOUND. A 404
// RESOURCE_DOES_NOT_EXIST (an unknown experiment or model) is not.
func IsEndpointMissing(err error) bool {
	e, ok := asAPIError(err)
	if !ok {
		return false
	}
	return e.Code == ErrorCodeEndpointNotFound || e.HTTPStatus == http.StatusNotFound && e.Code == ""
}
