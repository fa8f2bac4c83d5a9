package mlflow

import (
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"
)

// The messages are what MLflow 2.9.2 and 3.0.0 answered
// (testdata/conformance); every classifier must see through wrapping.
func TestClassifiers(t *testing.T) {
	wrap := func(e error) error { return fmt.Errorf("log batch to run %q: %w", "r1", e) }
	runDeleted := &APIError{HTTPStatus: 400, Code: ErrorCodeInvalidParameterValue, Message: "The run 0123 must be in the 'active' state. Current state is deleted."}
	runDeletedFile := &APIError{HTTPStatus: 400, Code: ErrorCodeInvalidParameterValue, Message: "The run 0123 must be in 'active' lifecycle_stage."}
	runMissing := &APIError{HTTPStatus: 404, Code: ErrorCodeResourceDoesNotExist, Message: "Run with id=0123 not found"}
	expDeleted := &APIError{HTTPStatus: 400, Code: ErrorCodeInvalidParameterValue, Message: "The experiment 7 must be in the 'active' state. Current state is deleted."}
	expDeletedFile := &APIError{HTTPStatus: 500, Code: ErrorCodeInvalidState, Message: "Could not create run under non-active experiment with ID 7."}
	paramChanged := &APIError{HTTPStatus: 400, Code: ErrorCodeInvalidParameterValue, Message: "Changing param values is not allowed. Params were already logged='[...]' for run ID='0123'."}
	badKey := &APIError{HTTPStatus: 400, Code: ErrorCodeInvalidParameterValue, Message: "Invalid metric name: 'a//b'"}
	throttled := &APIError{HTTPStatus: 429, Code: ErrorCodeRequestLimitExceeded, Message: "slow down", RetryAfter: 3 * time.Second}
	unavailable := &APIError{HTTPStatus: 503, Message: "<html>"}
	unauth := &APIError{HTTPStatus: 401, Code: ErrorCodeUnauthenticated, Message: "bad token"}
	forbidden := &APIError{HTTPStatus: 403, Code: ErrorCodePermissionDenied, Message: "no"}
	noEndpoint := &APIError{HTTPStatus: 404, Message: "<!doctype html><title>404 Not Found</title>"}
	transport := &url.Error{Op: "Post", URL: "http://x", Err: errors.New("connection refused")}

	type want struct{ runGone, expInactive, paramChanged, transient, auth, endpointMissing, notFound bool }
	for _, tc := range []struct {
		name string
		err  error
		want want
	}{
		{"run deleted (sql)", runDeleted, want{runGone: true}},
		{"run deleted (file store)", runDeletedFile, want{runGone: true}},
		{"run missing", runMissing, want{runGone: true, notFound: true}},
		{"run gone marker", fmt.Errorf("log to run: %w: %w", ErrRunGone, runMissing), want{runGone: true, notFound: true}},
		{"experiment deleted (sql)", expDeleted, want{runGone: true, expInactive: true}},
		{"experiment deleted (file store)", expDeletedFile, want{expInactive: true, transient: true}},
		{"param changed", paramChanged, want{paramChanged: true}},
		{"bad key", badKey, want{}},
		{"throttled", throttled, want{transient: true}},
		{"unavailable", unavailable, want{transient: true}},
		{"unauthenticated", unauth, want{auth: true}},
		{"forbidden", forbidden, want{auth: true}},
		{"endpoint missing", noEndpoint, want{endpointMissing: true, notFound: true}},
		{"transport", transport, want{transient: true}},
		{"nil", nil, want{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, err := range []error{tc.err, wrap(tc.err)} {
				if tc.err == nil && err != nil {
					continue
				}
				got := want{IsRunGone(err), IsExperimentInactive(err), IsParamChanged(err), IsTransient(err), IsAuthRefused(err), IsEndpointMissing(err), IsNotFound(err)}
				if got != tc.want {
					t.Errorf("%v: got %+v, want %+v", err, got, tc.want)
				}
			}
		})
	}
	if d := RetryAfter(wrap(throttled)); d != 3*time.Second {
		t.Errorf("RetryAfter = %v, want 3s", d)
	}
	if d := RetryAfter(transport); d != 0 {
		t.Errorf("RetryAfter(transport) = %v, want 0", d)
	}
}
