package runspool

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// memClient is a storage client in a map, as a bbolt file would keep it
// across a restart; fail makes the next Batch fail.
type memClient struct {
	mu      sync.Mutex
	kv      map[string][]byte
	fail    atomic.Bool
	batches atomic.Int64
}

func newMemClient() *memClient { return &memClient{kv: map[string][]byte{}} }

func (c *memClient) Get(_ context.Context, k string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.kv[k]), nil
}
func (c *memClient) Set(_ context.Context, k string, v []byte) error {
	return c.Batch(context.Background(), storage.SetOperation(k, v))
}
func (c *memClient) Delete(_ context.Context, k string) error {
	return c.Batch(context.Background(), storage.DeleteOperation(k))
}
func (c *memClient) Close(context.Context) error { return nil }
func (c *memClient) Batch(_ context.Context, ops ...*storage.Operation) error {
	if c.fail.Load() {
		return errors.New("disk full")
	}
	c.batches.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			op.Value = slices.Clone(c.kv[op.Key])
		case storage.Set:
			c.kv[op.Key] = slices.Clone(op.Value)
		case storage.Delete:
			delete(c.kv, op.Key)
		}
	}
	return nil
}

func (c *memClient) records() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k := range maps.Keys(c.kv) {
		if k != metaKey {
			n++
		}
	}
	return n
}

// Points are bytes here: a record of n points is n bytes, each the point's
// number within its run modulo 256, so order and loss both show.
func points(from, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(from + i)
	}
	return b
}

func byteSplit(data []byte, n int) ([]byte, []byte, int, int, error) {
	return data[:n], data[n:], n, len(data) - n, nil
}

// sink records what was sent, per run, and may hold sends until released.
type sink struct {
	mu    sync.Mutex
	sends map[string][][]byte // per run: each request's points
	block chan struct{}
	err   error
}

func newSink() *sink { return &sink{sends: map[string][][]byte{}} }

func (k *sink) send(ctx context.Context, key string, data [][]byte) error {
	if k.block != nil {
		select {
		case <-k.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var req []byte
	for _, d := range data {
		req = append(req, d...)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sends[key] = append(k.sends[key], req)
	return k.err
}

func (k *sink) requests(key string) [][]byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.sends[key])
}

func (k *sink) total() (reqs, pts int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, rs := range k.sends {
		for _, r := range rs {
			reqs++
			pts += len(r)
		}
	}
	return reqs, pts
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newSpool(t *testing.T, k *sink, clk *clock, client storage.Client, mut func(*Settings)) *Spool {
	t.Helper()
	set := Settings{MaxDelay: time.Minute, BatchSize: 1000, Capacity: 1 << 20, Workers: 3, Send: k.send, Split: byteSplit, now: clk.Now}
	if mut != nil {
		mut(&set)
	}
	s := New(set)
	require.NoError(t, s.Start(context.Background(), client))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s
}

func contiguous(t *testing.T, reqs [][]byte, want int) {
	t.Helper()
	var all []byte
	for _, r := range reqs {
		all = append(all, r...)
	}
	require.Len(t, all, want)
	assert.Equal(t, points(0, want), all, "every point once, in arrival order")
}

func TestFullRequestsWhateverTheRecordSize(t *testing.T) {
	for _, size := range []int{10, 50, 333, 501, 1000, 2500} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			clk := &clock{now: time.Unix(1e9, 0)}
			k := newSink()
			client := newMemClient()
			s := newSpool(t, k, clk, client, nil)
			const perRun = 5000
			for i := 0; i < perRun; i += size {
				for _, run := range []string{"a", "b"} {
					n := min(size, perRun-i)
					require.NoError(t, s.Append(context.Background(), run, points(i, n), n))
				}
			}
			require.Eventually(t, func() bool { _, p := k.total(); return p == 2*perRun }, 5*time.Second, time.Millisecond)
			for _, run := range []string{"a", "b"} {
				reqs := k.requests(run)
				assert.Len(t, reqs, perRun/1000, "only full requests, none waiting for max_delay")
				for _, r := range reqs {
					assert.Len(t, r, 1000)
				}
				contiguous(t, reqs, perRun)
			}
			require.Eventually(t, func() bool { return s.Held() == 0 && client.records() == 0 }, time.Second, time.Millisecond)
		})
	}
}

func TestPartialRequestWaitsForMaxDelay(t *testing.T) {
	clk := &clock{now: time.Unix(1e9, 0)}
	k := newSink()
	s := newSpool(t, k, clk, newMemClient(), func(s *Settings) { s.MaxDelay = 30 * time.Second })
	require.NoError(t, s.Append(context.Background(), "a", points(0, 10), 10))
	clk.Add(20 * time.Second)
	require.NoError(t, s.Append(context.Background(), "a", points(10, 10), 10))
	// Nothing is due: wait several ticks (10 ms each here) to see none leaves.
	time.Sleep(100 * time.Millisecond)
	reqs, _ := k.total()
	require.Zero(t, reqs, "sent before max_delay")
	clk.Add(10 * time.Second) // the oldest point has waited max_delay
	require.Eventually(t, func() bool { r, _ := k.total(); return r == 1 }, 5*time.Second, time.Millisecond)
	contiguous(t, k.requests("a"), 20)
}

// A run that ended sends everything it holds at once, in full requests and
// one partial, without waiting for max_delay; other runs keep waiting.
func TestEndedRunSendsAtOnce(t *testing.T) {
	clk := &clock{now: time.Unix(1e9, 0)}
	k := newSink()
	s := newSpool(t, k, clk, newMemClient(), func(s *Settings) { s.BatchSize = 100 })
	require.NoError(t, s.Append(context.Background(), "b", points(0, 10), 10))
	for i := 0; i < 250; i += 50 {
		require.NoError(t, s.Append(context.Background(), "a", points(i, 50), 50))
	}
	require.Eventually(t, func() bool { return len(k.requests("a")) == 2 }, 5*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond) // several ticks: the 50 left wait
	require.Len(t, k.requests("a"), 2)

	require.NoError(t, s.Append(context.Background(), "a", points(250, 120), 120)) // with the end
	s.SendNow("a")
	require.Eventually(t, func() bool { _, p := k.total(); return p == 370 }, 5*time.Second, time.Millisecond)
	reqs := k.requests("a")
	contiguous(t, reqs, 370)
	assert.Len(t, reqs, 4, "100, 100, 100, 70: full requests first, then what is left")
	assert.Empty(t, k.requests("b"), "another run still waits for max_delay")
	s.SendNow("nobody") // a run with nothing held: no-op
	assert.Equal(t, 10, s.Held())
}

func TestHeldPointsSurviveARestart(t *testing.T) {
	clk := &clock{now: time.Unix(1e9, 0)}
	client := newMemClient()
	k := newSink()
	k.block = make(chan struct{}) // MLflow never answers before the stop
	s := newSpool(t, k, clk, client, nil)
	for i := 0; i < 2600; i += 130 {
		require.NoError(t, s.Append(context.Background(), "a", points(i, 130), 130))
	}
	require.NoError(t, s.Append(context.Background(), "b", points(0, 7), 7))
	require.NoError(t, s.Stop(context.Background())) // sends in flight are cancelled
	reqs, _ := k.total()
	require.Zero(t, reqs)

	// The next process: same storage, MLflow answers, the clock has moved.
	clk.Add(2 * time.Minute)
	k2 := newSink()
	k2.block = make(chan struct{}) // until every loaded point is counted
	s2 := newSpool(t, k2, clk, client, nil)
	assert.Equal(t, 2607, s2.Held())
	close(k2.block)
	require.Eventually(t, func() bool { _, p := k2.total(); return p == 2607 }, 5*time.Second, time.Millisecond)
	contiguous(t, k2.requests("a"), 2600)
	contiguous(t, k2.requests("b"), 7)
	assert.Len(t, k2.requests("a"), 3, "1000 + 1000 + 600")
	require.Eventually(t, func() bool { return client.records() == 0 }, time.Second, time.Millisecond)
}

func TestSplitRecordsKeepTheirPlaceAcrossARestart(t *testing.T) {
	clk := &clock{now: time.Unix(1e9, 0)}
	client := newMemClient()
	k := newSink()
	release := make(chan struct{})
	var first atomic.Bool
	// The first request (900 + 100 of the 300-point record) is sent;
	// the rest stays held when the process stops.
	send := func(ctx context.Context, key string, data [][]byte) error {
		if first.CompareAndSwap(false, true) {
			return k.send(ctx, key, data)
		}
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}
	s := newSpool(t, k, clk, client, func(s *Settings) { s.Send = send; s.Workers = 1 })
	require.NoError(t, s.Append(context.Background(), "a", points(0, 900), 900))
	require.NoError(t, s.Append(context.Background(), "a", points(900, 300), 300))
	require.NoError(t, s.Append(context.Background(), "a", points(1200, 1000), 1000))
	require.Eventually(t, func() bool { r, _ := k.total(); return r == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, s.Stop(context.Background()))

	clk.Add(time.Minute) // the last partial request is due
	k2 := newSink()
	s2 := newSpool(t, k2, clk, client, nil)
	assert.Equal(t, 1200, s2.Held(), "the tail of the split record and the next one")
	require.Eventually(t, func() bool { _, p := k2.total(); return p == 1200 }, 5*time.Second, time.Millisecond)
	contiguous(t, append(k.requests("a"), k2.requests("a")...), 2200)
}

func TestFullSpoolRefusesAndRecovers(t *testing.T) {
	clk := &clock{now: time.Unix(1e9, 0)}
	k := newSink()
	k.block = make(chan struct{})
	s := newSpool(t, k, clk, newMemClient(), func(s *Settings) { s.Capacity = 2500 })
	for i := range 2 {
		require.NoError(t, s.Append(context.Background(), "a", points(i*1000, 1000), 1000))
	}
	require.ErrorIs(t, s.Append(context.Background(), "b", points(0, 600), 600), ErrFull)
	require.NoError(t, s.Append(context.Background(), "b", points(0, 500), 500), "up to capacity")
	close(k.block)
	require.Eventually(t, func() bool { return s.Held() <= 500 }, 5*time.Second, time.Millisecond)
	require.NoError(t, s.Append(context.Background(), "b", points(500, 600), 600))
}

func TestStorageFailureRefusesTheAppendOnly(t *testing.T) {
	clk := &clock{now: time.Unix(1e9, 0)}
	client := newMemClient()
	k := newSink()
	s := newSpool(t, k, clk, client, func(s *Settings) { s.MaxDelay = time.Second })
	require.NoError(t, s.Append(context.Background(), "a", points(0, 10), 10))
	client.fail.Store(true)
	require.Error(t, s.Append(context.Background(), "a", points(10, 10), 10))
	client.fail.Store(false)
	assert.Equal(t, 10, s.Held(), "the refused points are the sending queue's to retry")
	require.NoError(t, s.Append(context.Background(), "a", points(10, 10), 10))
	clk.Add(time.Second)
	require.Eventually(t, func() bool { _, p := k.total(); return p == 20 }, 5*time.Second, time.Millisecond)
	contiguous(t, k.requests("a"), 20)
	require.Eventually(t, func() bool { return client.records() == 0 }, time.Second, time.Millisecond)
}

func TestDroppedBySenderIsReleased(t *testing.T) {
	clk := &clock{now: time.Unix(1e9, 0)}
	k := newSink()
	k.err = errors.New("permanent: MLflow refused the run")
	s := newSpool(t, k, clk, newMemClient(), nil)
	require.NoError(t, s.Append(context.Background(), "a", points(0, 1000), 1000))
	require.Eventually(t, func() bool { return s.Held() == 0 }, 5*time.Second, time.Millisecond)
	r, _ := k.total()
	assert.Equal(t, 1, r, "not resent")
}

func TestInMemoryDrain(t *testing.T) {
	clk := &clock{now: time.Unix(1e9, 0)}
	k := newSink()
	s := newSpool(t, k, clk, nil, nil)
	for _, run := range []string{"a", "b", "c"} {
		require.NoError(t, s.Append(context.Background(), run, points(0, 42), 42))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, s.Drain(ctx))
	_, p := k.total()
	assert.Equal(t, 126, p)
}

func TestDamagedRecordIsReported(t *testing.T) {
	client := newMemClient()
	clk := &clock{now: time.Unix(1e9, 0)}
	k := newSink()
	k.block = make(chan struct{})
	s := newSpool(t, k, clk, client, nil)
	require.NoError(t, s.Append(context.Background(), "a", points(0, 5), 5))
	require.NoError(t, s.Append(context.Background(), "a", points(5, 5), 5))
	require.NoError(t, s.Stop(context.Background()))
	client.kv[recordKey(1)] = []byte{9, 9}
	s2 := New(Settings{MaxDelay: time.Minute, BatchSize: 1000, Capacity: 100, Send: newSink().send, now: clk.Now})
	require.NoError(t, s2.Start(context.Background(), client), "what can be read is sent")
	defer func() { _ = s2.Stop(context.Background()) }()
	assert.Equal(t, 5, s2.Held())
}
