package podresources

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

const (
	// DefaultSocket is where the kubelet serves the PodResources API.
	DefaultSocket = "/var/lib/kubelet/pod-resources/kubelet.sock"
	// DefaultPodLogsDir is the kubelet's default podLogsDir.
	DefaultPodLogsDir = "/var/log/pods"
	// DefaultTimeout bounds one List call to the kubelet.
	DefaultTimeout = time.Second
	// DefaultTTL is how long an answer is used before the next call.
	DefaultTTL = 5 * time.Second

	// maxMsgSize is the kubelet's own client limit
	// (k8s.io/kubernetes/pkg/kubelet/apis/podresources DefaultMaxMsgSize):
	// a node with many pods, CPU ids and NUMA nodes outgrows gRPC's 4 MiB.
	maxMsgSize = 16 << 20
)

// Option configures a Client.
type Option func(*Client)

// WithTimeout bounds each List call to the kubelet (default 1 s). A call
// that hangs fails with ErrTimeout after it.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithTTL sets how long an answer is used before the kubelet is asked again
// (default 5 s). A failed call is not retried before the TTL has passed
// either.
func WithTTL(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.ttl = d
		}
	}
}

// WithPodLogsDir has each refresh also read the kubelet's pod log
// directories (DefaultPodLogsDir unless the kubelet's podLogsDir says
// otherwise) to map pod UIDs to namespace and name, for Snapshot.PodByUID.
// An unreadable directory leaves UIDs unresolved; it fails no refresh.
func WithPodLogsDir(dir string) Option {
	return func(c *Client) { c.logsDir = dir }
}

// Client asks the kubelet which devices its pods hold, at most once per
// TTL, and shares each answer among its callers. It is safe for concurrent
// use.
type Client struct {
	socket  string
	timeout time.Duration
	ttl     time.Duration
	logsDir string
	now     func() time.Time

	conn   *grpc.ClientConn
	lister podresourcesv1.PodResourcesListerClient

	base   context.Context // cancelled by Close: ends a call in flight
	cancel context.CancelFunc
	wg     sync.WaitGroup // the call in flight

	mu       sync.Mutex
	closed   bool
	snap     *Snapshot // last good answer
	err      error     // error of the last call; nil after a good one
	next     time.Time // when the next call is due
	inflight *call
}

// call is one List call to the kubelet, shared by every caller that wants
// an answer while it runs.
type call struct {
	done chan struct{}
	snap *Snapshot // c.snap after the call: its answer, or the previous good one
	err  error
}

// New returns a Client for the kubelet socket at path (DefaultSocket when
// empty). It does not connect: a missing socket shows up as ErrNoSocket from
// List and Peek, so a collector off Kubernetes can create one unconditionally.
func New(path string, opts ...Option) (*Client, error) {
	if path == "" {
		path = DefaultSocket
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("podresources: socket path %q: %w", path, err)
	}
	c := &Client{
		socket:  abs,
		timeout: DefaultTimeout,
		ttl:     DefaultTTL,
		now:     time.Now,
	}
	for _, o := range opts {
		o(c)
	}
	// Plain gRPC over the unix socket with insecure credentials, as the
	// kubelet's own podresources client does: the socket's file mode is the
	// access control. Reconnects back off to at most a few seconds, so a
	// restarted kubelet is found again within about one TTL (gRPC's default
	// ceiling is two minutes).
	c.conn, err = grpc.NewClient("unix://"+abs,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsgSize)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  100 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   c.ttl,
			},
			MinConnectTimeout: c.timeout,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("podresources: %s: %w", abs, err)
	}
	c.lister = podresourcesv1.NewPodResourcesListerClient(c.conn)
	c.base, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// Socket is the absolute path of the kubelet socket.
func (c *Client) Socket() string { return c.socket }

// List returns the kubelet's answer, asking the kubelet when the last
// answer is older than the TTL. Concurrent callers share one call; the call
// takes at most the timeout, and a caller waits at most until its ctx ends.
//
// When a call fails, List returns the error together with the last good
// snapshot (nil if there never was one): the answer is then older than the
// TTL (see Snapshot.Taken), but still the best there is. The GPUs allocated
// to running pods do not change while the kubelet restarts or stalls (its
// device manager restores them from its checkpoint), so a failed refresh
// keeps the previous answer rather than drop every run's attribution to a
// fallback and back again on each kubelet hiccup. A failed call is retried
// after the TTL, not on every List, so a hanging kubelet costs callers at
// most one timeout per TTL.
func (c *Client) List(ctx context.Context) (*Snapshot, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("podresources: %s: %w", c.socket, ErrClosed)
	}
	if c.now().Before(c.next) {
		s, err := c.snap, c.err
		c.mu.Unlock()
		return s, err
	}
	cl := c.inflight
	if cl == nil {
		cl = c.startLocked()
	}
	c.mu.Unlock()

	select {
	case <-cl.done:
		return cl.snap, cl.err
	case <-ctx.Done():
		c.mu.Lock()
		s := c.snap
		c.mu.Unlock()
		return s, ctxError(c.socket, ctx)
	}
}

// Peek returns what List would without waiting: the last good snapshot and
// the error of the last call, starting a call in the background when one is
// due. Before the first call has finished it returns ErrNoAnswerYet. A
// scrape that must never block uses Peek.
func (c *Client) Peek() (*Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("podresources: %s: %w", c.socket, ErrClosed)
	}
	if c.inflight == nil && !c.now().Before(c.next) {
		c.startLocked()
	}
	if c.snap == nil && c.err == nil {
		return nil, fmt.Errorf("podresources: %s: %w", c.socket, ErrNoAnswerYet)
	}
	return c.snap, c.err
}

// Close ends a call in flight and releases the connection. List and Peek
// return ErrClosed after it.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	return c.conn.Close()
}

// startLocked starts the one call in flight. c.mu is held.
func (c *Client) startLocked() *call {
	cl := &call{done: make(chan struct{})}
	c.inflight = cl
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		snap, err := c.fetch()
		c.mu.Lock()
		c.inflight = nil
		c.next = c.now().Add(c.ttl)
		c.err = err
		if err == nil {
			c.snap = snap
		}
		cl.snap, cl.err = c.snap, c.err
		c.mu.Unlock()
		close(cl.done)
	}()
	return cl
}

// fetch makes one List call to the kubelet. Its context is the client's,
// not a caller's: a caller that stops waiting does not cancel the answer the
// others wait for.
func (c *Client) fetch() (*Snapshot, error) {
	if _, err := os.Stat(c.socket); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("podresources: %s: %w", c.socket, ErrNoSocket)
		}
		return nil, fmt.Errorf("podresources: %s: %w: %w", c.socket, ErrUnavailable, err)
	}
	ctx, cancel := context.WithTimeout(c.base, c.timeout)
	defer cancel()
	resp, err := c.lister.List(ctx, &podresourcesv1.ListPodResourcesRequest{})
	if err != nil {
		return nil, classify(c.socket, err, c.base.Err() != nil)
	}
	var uids map[string]PodRef
	if c.logsDir != "" {
		uids, _ = readPodLogDirs(c.logsDir) // unreadable: UIDs stay unresolved
	}
	return newSnapshot(resp, uids, c.now()), nil
}
