package podresources

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"

	prt "github.com/otelcol-mlflow/otelcol-mlflow/internal/podresources/podresourcestest"
)

// clock is a settable time for TTL tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_700_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newClient returns a client of socket on a fake clock, closed when the
// test ends.
func newClient(t testing.TB, socket string, opts ...Option) (*Client, *clock) {
	t.Helper()
	c, err := New(socket, opts...)
	require.NoError(t, err)
	clk := newClock()
	c.now = clk.Now
	t.Cleanup(func() { c.Close() })
	return c, clk
}

func ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func gpu(id string) Device { return Device{Resource: "nvidia.com/gpu", ID: id} }

func ids(ds []Device) []string {
	var s []string
	for _, d := range ds {
		s = append(s, d.ID)
	}
	return s
}

// node is a node's pods as the kubelet lists them.
var node = []*podresourcesv1.PodResources{
	prt.Pod("ml", "train-a",
		prt.Container("trainer", prt.Devices("nvidia.com/gpu", "GPU-aaaa", "GPU-bbbb")),
		prt.Container("sidecar")),
	prt.Pod("ml", "train-b",
		prt.Container("trainer",
			prt.Devices("example.com/nic", "nic-0"),
			prt.Devices("nvidia.com/gpu", "GPU-cccc")),
		prt.Container("eval", prt.Devices("nvidia.com/gpu", "GPU-dddd"))),
	// MIG, mixed strategy: one resource per profile.
	prt.Pod("ml", "mig-mixed",
		prt.Container("c", prt.Devices("nvidia.com/mig-1g.10gb", "MIG-1111", "MIG-2222"))),
	// MIG, single strategy: MIG devices as nvidia.com/gpu.
	prt.Pod("ml", "mig-single",
		prt.Container("c", prt.Devices("nvidia.com/gpu", "MIG-3333"))),
	// No GPU.
	prt.Pod("kube-system", "dns", prt.Container("coredns", prt.Devices("example.com/nic", "nic-1"))),
	// Time-sliced: two pods hold replicas of one GPU.
	prt.Pod("share", "s1", prt.Container("c", prt.Devices("nvidia.com/gpu", "GPU-eeee::0"))),
	prt.Pod("share", "s2", prt.Container("c", prt.Devices("nvidia.com/gpu.shared", "GPU-eeee::3"))),
	// A device plugin that does not name devices by UUID (GKE's).
	prt.Pod("gke", "g", prt.Container("c", prt.Devices("nvidia.com/gpu", "nvidia0"))),
}

func TestLookup(t *testing.T) {
	kubelet := prt.Start(t)
	kubelet.SetPods(node...)

	logs := t.TempDir()
	for _, d := range []string{"ml_train-a_uid-a", "ml_gone_uid-gone", "not-a-pod-dir", "a_b_c_d"} {
		require.NoError(t, os.Mkdir(filepath.Join(logs, d), 0o755))
	}
	c, _ := newClient(t, kubelet.Socket(), WithPodLogsDir(logs))
	snap, err := c.List(ctx(t))
	require.NoError(t, err)
	assert.Equal(t, len(node), snap.Pods())

	for _, tc := range []struct {
		name      string
		ns, pod   string
		uid       string // look up by UID instead
		container string // look up one container
		want      []Device
		wantErr   error
	}{
		{name: "pod with GPUs", ns: "ml", pod: "train-a", want: []Device{gpu("GPU-aaaa"), gpu("GPU-bbbb")}},
		{name: "GPUs of two containers, other resources ignored", ns: "ml", pod: "train-b", want: []Device{gpu("GPU-cccc"), gpu("GPU-dddd")}},
		{name: "one container", ns: "ml", pod: "train-b", container: "eval", want: []Device{gpu("GPU-dddd")}},
		{name: "container without GPU", ns: "ml", pod: "train-a", container: "sidecar", want: nil},
		{name: "MIG mixed strategy", ns: "ml", pod: "mig-mixed", want: []Device{
			{Resource: "nvidia.com/mig-1g.10gb", ID: "MIG-1111"},
			{Resource: "nvidia.com/mig-1g.10gb", ID: "MIG-2222"},
		}},
		{name: "MIG single strategy", ns: "ml", pod: "mig-single", want: []Device{gpu("MIG-3333")}},
		{name: "pod without GPUs", ns: "kube-system", pod: "dns", want: nil},
		{name: "time-sliced replica", ns: "share", pod: "s1", want: []Device{{Resource: "nvidia.com/gpu", ID: "GPU-eeee", Shared: true}}},
		{name: "time-sliced renamed resource", ns: "share", pod: "s2", want: []Device{{Resource: "nvidia.com/gpu.shared", ID: "GPU-eeee", Shared: true}}},
		{name: "non-UUID device id", ns: "gke", pod: "g", want: []Device{gpu("nvidia0")}},
		{name: "pod not on this node", ns: "ml", pod: "elsewhere", wantErr: ErrPodNotFound},
		{name: "same name, other namespace", ns: "other", pod: "train-a", wantErr: ErrPodNotFound},
		{name: "by uid", uid: "uid-a", want: []Device{gpu("GPU-aaaa"), gpu("GPU-bbbb")}},
		{name: "uid of a pod that is gone", uid: "uid-gone", wantErr: ErrPodNotFound},
		{name: "unknown uid", uid: "uid-x", wantErr: ErrUIDUnresolved},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p *Pod
			var err error
			if tc.uid != "" {
				p, err = snap.PodByUID(tc.uid)
			} else {
				p, err = snap.Pod(tc.ns, tc.pod)
			}
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
				assert.Nil(t, p)
				return
			}
			require.NoError(t, err)
			got := p.GPUs()
			if tc.container != "" {
				var ok bool
				got, ok = p.Container(tc.container)
				require.True(t, ok)
			}
			assert.Equal(t, tc.want, got)
		})
	}

	t.Run("holders", func(t *testing.T) {
		assert.ElementsMatch(t, []PodRef{{"share", "s1"}, {"share", "s2"}}, snap.Holders("GPU-eeee"))
		assert.Equal(t, []PodRef{{"ml", "train-a"}}, snap.Holders("GPU-aaaa"))
		assert.Empty(t, snap.Holders("GPU-none"))
	})
	t.Run("uuid", func(t *testing.T) {
		assert.Equal(t, "MIG-1111", Device{ID: "MIG-1111"}.UUID())
		assert.Equal(t, "gpu-aaaa", Device{ID: "gpu-aaaa"}.UUID())
		assert.Empty(t, Device{ID: "nvidia0"}.UUID())
	})
	t.Run("no such container", func(t *testing.T) {
		p, err := snap.Pod("ml", "train-a")
		require.NoError(t, err)
		_, ok := p.Container("nope")
		assert.False(t, ok)
	})
}

func TestUIDWithoutLogsDir(t *testing.T) {
	kubelet := prt.Start(t)
	kubelet.SetPods(node...)
	for _, opts := range [][]Option{nil, {WithPodLogsDir(filepath.Join(t.TempDir(), "missing"))}} {
		c, _ := newClient(t, kubelet.Socket(), opts...)
		snap, err := c.List(ctx(t))
		require.NoError(t, err) // an unreadable logs dir fails no refresh
		_, err = snap.PodByUID("uid-a")
		assert.ErrorIs(t, err, ErrUIDUnresolved)
	}
}

func TestIsGPUResource(t *testing.T) {
	for name, want := range map[string]bool{
		"nvidia.com/gpu":             true,
		"nvidia.com/gpu.shared":      true,
		"nvidia.com/mig-1g.10gb":     true,
		"nvidia.com/mig-3g.40gb.shr": true,
		"nvidia.com/gpus":            false,
		"amd.com/gpu":                false,
		"example.com/nic":            false,
		"":                           false,
	} {
		assert.Equal(t, want, IsGPUResource(name), name)
	}
}

func TestListErrors(t *testing.T) {
	notSocket := filepath.Join(t.TempDir(), "kubelet.sock")
	require.NoError(t, os.WriteFile(notSocket, nil, 0o600))

	for _, tc := range []struct {
		name    string
		socket  func(t *testing.T) string
		callCtx time.Duration // caller's deadline; 0: none
		want    error
	}{
		{
			name:   "no socket",
			socket: func(t *testing.T) string { return filepath.Join(t.TempDir(), "pod-resources", "kubelet.sock") },
			want:   ErrNoSocket,
		},
		{
			name: "kubelet stopped, socket removed",
			socket: func(t *testing.T) string {
				k := prt.Start(t)
				k.Stop()
				return k.Socket()
			},
			want: ErrNoSocket,
		},
		{
			name:   "not a socket",
			socket: func(*testing.T) string { return notSocket },
			want:   ErrUnavailable,
		},
		{
			name: "socket that hangs",
			socket: func(t *testing.T) string {
				k := prt.Start(t)
				k.Hang(true)
				return k.Socket()
			},
			want: ErrTimeout,
		},
		{
			name: "socket that hangs, caller gives up first",
			socket: func(t *testing.T) string {
				k := prt.Start(t)
				k.Hang(true)
				return k.Socket()
			},
			callCtx: 20 * time.Millisecond,
			want:    ErrTimeout,
		},
		{
			name: "server error",
			socket: func(t *testing.T) string {
				k := prt.Start(t)
				k.SetError(status.Error(codes.Internal, "device manager not ready"))
				return k.Socket()
			},
			want: ErrKubelet,
		},
		{
			name: "server unimplemented",
			socket: func(t *testing.T) string {
				k := prt.Start(t)
				k.SetError(status.Error(codes.Unimplemented, "unknown service"))
				return k.Socket()
			},
			want: ErrKubelet,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const timeout = 150 * time.Millisecond
			c, _ := newClient(t, tc.socket(t), WithTimeout(timeout))
			cctx := ctx(t)
			if tc.callCtx > 0 {
				var cancel context.CancelFunc
				cctx, cancel = context.WithTimeout(cctx, tc.callCtx)
				defer cancel()
			}
			start := time.Now()
			snap, err := c.List(cctx)
			took := time.Since(start)
			assert.ErrorIs(t, err, tc.want)
			for _, other := range []error{ErrNoSocket, ErrTimeout, ErrUnavailable, ErrKubelet} {
				if other != tc.want {
					assert.NotErrorIs(t, err, other)
				}
			}
			assert.Nil(t, snap)
			assert.Less(t, took, timeout+time.Second, "List must be bounded by the timeout")
			if tc.callCtx > 0 {
				assert.Less(t, took, timeout, "the caller's deadline must end its wait")
			}
			t.Log(err)
		})
	}
}

func TestCacheTTL(t *testing.T) {
	kubelet := prt.Start(t)
	kubelet.SetPods(node[0])
	c, clk := newClient(t, kubelet.Socket(), WithTTL(10*time.Second))

	s1, err := c.List(ctx(t))
	require.NoError(t, err)
	clk.Add(9 * time.Second)
	kubelet.SetPods(node...)
	s2, err := c.List(ctx(t))
	require.NoError(t, err)
	assert.Same(t, s1, s2, "within the TTL the answer is reused")
	assert.EqualValues(t, 1, kubelet.Calls())

	clk.Add(time.Second)
	s3, err := c.List(ctx(t))
	require.NoError(t, err)
	assert.EqualValues(t, 2, kubelet.Calls())
	assert.Equal(t, len(node), s3.Pods(), "after the TTL the kubelet is asked again")
	assert.True(t, s3.Taken.After(s1.Taken))
}

func TestSingleFlight(t *testing.T) {
	kubelet := prt.Start(t)
	kubelet.SetPods(node...)
	kubelet.Hang(true)
	c, _ := newClient(t, kubelet.Socket(), WithTimeout(10*time.Second))

	const callers = 32
	snaps := make([]*Snapshot, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { snaps[i], errs[i] = c.List(ctx(t)) })
	}
	require.Eventually(t, func() bool { return kubelet.Calls() == 1 }, 5*time.Second, time.Millisecond)
	time.Sleep(20 * time.Millisecond) // let the others join the call in flight
	kubelet.Hang(false)
	wg.Wait()
	for i := range callers {
		require.NoError(t, errs[i])
		assert.Same(t, snaps[0], snaps[i])
	}
	assert.EqualValues(t, 1, kubelet.Calls(), "concurrent callers share one call")
}

func TestKeepLastGoodAnswer(t *testing.T) {
	kubelet := prt.Start(t)
	kubelet.SetPods(node...)
	c, clk := newClient(t, kubelet.Socket(), WithTTL(5*time.Second), WithTimeout(100*time.Millisecond))

	good, err := c.List(ctx(t))
	require.NoError(t, err)

	for _, fail := range []struct {
		name  string
		set   func()
		reset func()
		want  error
	}{
		{"server error", func() { kubelet.SetError(status.Error(codes.Unavailable, "restarting")) }, func() { kubelet.SetError(nil) }, ErrUnavailable},
		{"hang", func() { kubelet.Hang(true) }, func() { kubelet.Hang(false) }, ErrTimeout},
	} {
		t.Run(fail.name, func(t *testing.T) {
			fail.set()
			clk.Add(5 * time.Second)
			calls := kubelet.Calls()
			snap, err := c.List(ctx(t))
			assert.ErrorIs(t, err, fail.want)
			assert.Same(t, good, snap, "the last good answer is kept")
			assert.Equal(t, calls+1, kubelet.Calls())

			// Not retried before the TTL: no call, no wait.
			start := time.Now()
			snap, err = c.List(ctx(t))
			assert.Less(t, time.Since(start), 50*time.Millisecond)
			assert.ErrorIs(t, err, fail.want)
			assert.Same(t, good, snap)
			assert.Equal(t, calls+1, kubelet.Calls())
			snap, err = c.Peek()
			assert.ErrorIs(t, err, fail.want)
			assert.Same(t, good, snap)

			// Recovered: a fresh answer, no error.
			fail.reset()
			clk.Add(5 * time.Second)
			fresh, err := c.List(ctx(t))
			require.NoError(t, err)
			assert.NotSame(t, good, fresh)
			good = fresh
		})
	}
}

func TestPeekNeverBlocks(t *testing.T) {
	kubelet := prt.Start(t)
	kubelet.SetPods(node...)
	c, clk := newClient(t, kubelet.Socket(), WithTTL(5*time.Second))

	_, err := c.Peek()
	assert.ErrorIs(t, err, ErrNoAnswerYet)
	require.Eventually(t, func() bool { s, err := c.Peek(); return s != nil && err == nil }, 5*time.Second, time.Millisecond)
	good, _ := c.Peek()

	kubelet.Hang(true)
	clk.Add(5 * time.Second)
	start := time.Now()
	for range 100 {
		s, err := c.Peek()
		require.NoError(t, err)
		assert.Same(t, good, s)
	}
	assert.Less(t, time.Since(start), 100*time.Millisecond)
	require.Eventually(t, func() bool { return kubelet.Calls() == 2 }, 5*time.Second, time.Millisecond)
	kubelet.Hang(false)
	require.Eventually(t, func() bool { s, _ := c.Peek(); return s != good }, 5*time.Second, time.Millisecond)
	assert.EqualValues(t, 2, kubelet.Calls(), "one background call for 100 peeks")
}

func TestClose(t *testing.T) {
	kubelet := prt.Start(t)
	kubelet.Hang(true)
	c, err := New(kubelet.Socket(), WithTimeout(time.Minute))
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() { _, err := c.List(context.Background()); done <- err }()
	require.Eventually(t, func() bool { return kubelet.Calls() == 1 }, 5*time.Second, time.Millisecond)
	start := time.Now()
	require.NoError(t, c.Close())
	assert.Less(t, time.Since(start), time.Second, "Close ends the call in flight")
	assert.ErrorIs(t, <-done, ErrClosed)
	_, err = c.List(ctx(t))
	assert.ErrorIs(t, err, ErrClosed)
	_, err = c.Peek()
	assert.ErrorIs(t, err, ErrClosed)
	require.NoError(t, c.Close())
}

func TestNewDefaults(t *testing.T) {
	c, err := New("")
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, DefaultSocket, c.Socket())
	assert.Equal(t, DefaultTimeout, c.timeout)
	assert.Equal(t, DefaultTTL, c.ttl)

	rel, err := New("kubelet.sock")
	require.NoError(t, err)
	defer rel.Close()
	assert.True(t, filepath.IsAbs(rel.Socket()))
}
