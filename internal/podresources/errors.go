package podresources

import (
	"context"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The errors a caller tells apart with errors.Is. Every error this package
// returns wraps exactly one of them (and, where there is one, the cause).
var (
	// ErrNoSocket: the socket path does not exist. The collector does not
	// run on a Kubernetes node, or its pod does not mount
	// /var/lib/kubelet/pod-resources.
	ErrNoSocket = errors.New("no kubelet pod-resources socket")
	// ErrTimeout: the kubelet did not answer within the call's timeout (or
	// the caller's context ended first).
	ErrTimeout = errors.New("kubelet pod-resources did not answer in time")
	// ErrUnavailable: the socket is there but nobody answers on it
	// (connection refused while the kubelet restarts, permission denied,
	// a file that is no socket).
	ErrUnavailable = errors.New("kubelet pod-resources unavailable")
	// ErrKubelet: the kubelet answered with an error.
	ErrKubelet = errors.New("kubelet pod-resources answered an error")
	// ErrPodNotFound: the kubelet's answer has no pod of that namespace and
	// name: the pod is not on this node, or is gone.
	ErrPodNotFound = errors.New("pod not on this node")
	// ErrUIDUnresolved: a pod named only by its UID could not be mapped to
	// a namespace and name (see the package doc: the PodResources API does
	// not carry UIDs).
	ErrUIDUnresolved = errors.New("pod uid not resolvable to a namespace and name")
	// ErrNoAnswerYet: Peek before the first call to the kubelet finished.
	ErrNoAnswerYet = errors.New("no answer from the kubelet yet")
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("podresources client closed")
)

// classify maps an error of one List call to the kubelet onto the sentinels
// above. socket is the path dialed; closed says whether the client's own
// context was cancelled by Close.
func classify(socket string, err error, closed bool) error {
	if err == nil {
		return nil
	}
	kind := ErrKubelet
	switch status.Code(err) {
	case codes.DeadlineExceeded:
		kind = ErrTimeout
	case codes.Canceled:
		kind = ErrTimeout
		if closed {
			kind = ErrClosed
		}
	case codes.Unavailable:
		kind = ErrUnavailable
		// The socket can vanish between the check before the call and
		// the dial (a kubelet restart unlinks and recreates it).
		if _, serr := os.Stat(socket); errors.Is(serr, os.ErrNotExist) {
			kind = ErrNoSocket
		}
	}
	return fmt.Errorf("podresources: %s: %w: %w", socket, kind, err)
}

// ctxError is the error of a caller that stopped waiting: ErrTimeout for
// an ended deadline or a cancellation alike (either way the kubelet did not
// answer in the time the caller gave), wrapping the context's error.
func ctxError(socket string, ctx context.Context) error {
	return fmt.Errorf("podresources: %s: %w: %w", socket, ErrTimeout, ctx.Err())
}
