package mlflow

import (
	"errors"
	"fmt"
	"net/http"
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
