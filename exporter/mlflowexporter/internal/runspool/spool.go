// Package runspool holds each run's points until they fill one MLflow
// log-batch request or have waited max_delay, and then sends them.
//
// It sits between the exporter's sending queue and MLflow while a request
// budget applies (docs/reliability.md §1). exporterhelper's queue batcher
// could hold a run's partition itself, and did, but a held request is an
// in-flight request of the persistent queue, and the persistent queue
// rewrites its list of in-flight requests with every enqueue, read and
// release: with a thousand busy runs holding a minute of one-second exports
// each, that list had 100k entries and the collector spent most of its CPU
// rewriting it. Here the sending queue hands each export of a run to the
// spool unbatched (a batch is in flight too), and the spool keeps the
// points durably (one record per export, written with the same storage
// extension) before the queue releases them: every operation costs the
// same whatever is held, and nothing the receiver acknowledged lives only
// in memory.
package runspool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

// Sender writes some of one run's records (OTLP protobuf encodings, in
// arrival order) to MLflow, retrying as the exporter does. Any return
// while the spool runs releases them: the sender has either written them
// or dropped them and said why. A return after Stop began keeps them.
type Sender func(ctx context.Context, key string, data [][]byte) error

// Splitter cuts an encoding of items points after its first n points.
type Splitter func(data []byte, n int) (head, tail []byte, headItems, tailItems int, err error)

// Settings configure a spool.
type Settings struct {
	// MaxDelay is the longest a point waits for its request to fill.
	MaxDelay time.Duration
	// BatchSize is how many points make one full request.
	BatchSize int
	// Capacity bounds the points held; Append refuses beyond it, and the
	// sending queue in front keeps what is refused.
	Capacity int
	// Workers send concurrently, never two of one run at once.
	Workers int
	Send    Sender
	Split   Splitter
	Logger  *zap.Logger
	// Held, when set, is told every change of the points held.
	Held func(delta int64)
	now  func() time.Time
}

// ErrFull is returned by Append when the spool holds Capacity points.
var ErrFull = errors.New("run spool is full")

// Spool holds runs' records. Its zero value is not usable; see New.
type Spool struct {
	set   Settings
	mu    sync.Mutex
	wake  *sync.Cond
	store *store
	runs  map[string]*run
	ready []*run
	held  int
	full  bool // logged once per episode

	ctx     context.Context
	cancel  context.CancelFunc
	stopped bool
	wg      sync.WaitGroup
}

type run struct {
	key      string
	recs     []*record
	items    int
	queued   bool // in ready
	inflight bool
	// ending: the run's end is held; everything it has leaves now, not
	// after max_delay, so that the run shows as ended with its last points.
	ending bool
}

// New returns a stopped spool.
func New(set Settings) *Spool {
	if set.now == nil {
		set.now = time.Now
	}
	if set.Logger == nil {
		set.Logger = zap.NewNop()
	}
	if set.Held == nil {
		set.Held = func(int64) {}
	}
	set.Workers = max(set.Workers, 1)
	set.BatchSize = max(set.BatchSize, 1)
	s := &Spool{set: set, runs: map[string]*run{}}
	s.wake = sync.NewCond(&s.mu)
	return s
}

// Start loads what a previous process left in client (nil: keep records in
// memory only) and starts sending.
func (s *Spool) Start(ctx context.Context, client storage.Client) error {
	s.store = newStore(client)
	recs, err := s.store.load(ctx)
	if err != nil && len(recs) == 0 {
		return err
	}
	if err != nil {
		s.set.Logger.Error("Part of the run spool could not be read; sending what could", zap.Error(err))
	}
	slices.SortStableFunc(recs, func(a, b *record) int {
		if a.order != b.order {
			return cmpUint(a.order, b.order)
		}
		return cmpUint(a.part, b.part)
	})
	for _, r := range recs {
		s.add(r)
	}
	if len(recs) > 0 {
		s.set.Logger.Info("Resuming points held for their runs' requests before the restart",
			zap.Int("points", s.held), zap.Int("runs", len(s.runs)))
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(s.set.Workers + 1)
	for range s.set.Workers {
		go s.work()
	}
	go s.tick()
	return nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Append keeps one run's encoded points durably; when it returns nil they
// are the spool's to deliver.
func (s *Spool) Append(ctx context.Context, key string, data []byte, items int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || s.store == nil {
		return errors.New("run spool is not running")
	}
	if s.held > 0 && s.held+items > s.set.Capacity {
		if !s.full {
			s.full = true
			s.set.Logger.Warn("The run spool is full: new data waits in the sending queue until MLflow takes what is held",
				zap.Int("points_held", s.held), zap.Int("capacity", s.set.Capacity))
		}
		return fmt.Errorf("%w (%d points held)", ErrFull, s.held)
	}
	r := &record{first: s.set.now(), key: key, items: items, data: data}
	s.store.assign(r)
	r.order = r.seq
	if err := s.store.write(ctx, []*record{r}, nil); err != nil {
		s.store.forget(r)
		return err
	}
	s.add(r)
	return nil
}

// SendNow sends everything key holds without waiting for max_delay: its
// run ended, and what it holds will not fill a request any more.
func (s *Spool) SendNow(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rn := s.runs[key]; rn != nil {
		rn.ending = true
		s.enqueue(rn)
	}
}

// add puts r at the end of its run, under s.mu.
func (s *Spool) add(r *record) {
	rn := s.runs[r.key]
	if rn == nil {
		rn = &run{key: r.key}
		s.runs[r.key] = rn
	}
	rn.recs = append(rn.recs, r)
	rn.items += r.items
	s.held += r.items
	s.set.Held(int64(r.items))
	if rn.ending || rn.items >= s.set.BatchSize {
		s.enqueue(rn)
	}
}

func (s *Spool) enqueue(rn *run) {
	if rn.queued || rn.inflight || len(rn.recs) == 0 {
		return
	}
	rn.queued = true
	s.ready = append(s.ready, rn)
	s.wake.Signal()
}

// tick makes runs whose oldest point waited MaxDelay ready.
func (s *Spool) tick() {
	defer s.wg.Done()
	every := min(max(s.set.MaxDelay/20, 10*time.Millisecond), time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		now := s.set.now()
		for _, rn := range s.runs {
			if !rn.queued && !rn.inflight && len(rn.recs) > 0 && now.Sub(rn.recs[0].first) >= s.set.MaxDelay {
				s.enqueue(rn)
			}
		}
		s.mu.Unlock()
	}
}

func (s *Spool) work() {
	defer s.wg.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		for len(s.ready) == 0 && !s.stopped {
			s.wake.Wait()
		}
		if s.stopped {
			return
		}
		rn := s.ready[0]
		s.ready[0] = nil
		s.ready = s.ready[1:]
		rn.queued = false
		taken, err := s.take(rn)
		if err != nil {
			s.set.Logger.Error("Cannot cut a run's held points into a request; sending them whole", zap.Error(err))
		}
		if len(taken) == 0 {
			continue
		}
		rn.inflight = true
		data := make([][]byte, len(taken))
		for i, r := range taken {
			data[i] = r.data
		}
		s.mu.Unlock()
		err = s.set.Send(s.ctx, rn.key, data)
		s.mu.Lock()
		rn.inflight = false
		if s.stopped && err != nil {
			continue // kept for the next start
		}
		s.release(rn, taken)
	}
}

// take picks the run's first records up to one request, splitting the
// record that straddles the request's end (durably, before it is sent).
func (s *Spool) take(rn *run) ([]*record, error) {
	n := 0
	for i, r := range rn.recs {
		if n+r.items <= s.set.BatchSize {
			n += r.items
			continue
		}
		if n == s.set.BatchSize || s.set.Split == nil {
			return rn.recs[:max(i, 1)], nil
		}
		hd, tl, hi, ti, err := s.set.Split(r.data, s.set.BatchSize-n)
		if err != nil || hi == 0 {
			return rn.recs[:max(i, 1)], err
		}
		head := &record{order: r.order, part: r.part, first: r.first, key: r.key, items: hi, data: hd}
		tail := &record{order: r.order, part: r.part + 1, first: r.first, key: r.key, items: ti, data: tl}
		s.store.assign(head)
		s.store.assign(tail)
		if err := s.store.write(s.ctx, []*record{head, tail}, []*record{r}); err != nil {
			s.store.forget(head)
			s.store.forget(tail)
			return rn.recs[:max(i, 1)], err
		}
		rn.recs = slices.Insert(slices.Delete(rn.recs, i, i+1), i, head, tail)
		return rn.recs[:i+1], nil
	}
	return rn.recs, nil
}

// release forgets records the sender is done with.
func (s *Spool) release(rn *run, taken []*record) {
	if err := s.store.write(context.Background(), nil, taken); err != nil {
		// Sent, but still stored: a restart would send them again, and
		// the exporter's per-series watermark skips them there.
		s.set.Logger.Warn("Cannot release sent points from the run spool", zap.Error(err))
	}
	items := 0
	for _, r := range taken {
		items += r.items
	}
	rn.recs = slices.Delete(rn.recs, 0, len(taken))
	rn.items -= items
	s.held -= items
	s.set.Held(-int64(items))
	if s.full && s.held < s.set.Capacity/2 {
		s.full = false
		s.set.Logger.Info("The run spool has room again", zap.Int("points_held", s.held))
	}
	if len(rn.recs) == 0 {
		delete(s.runs, rn.key)
		return
	}
	if rn.ending || rn.items >= s.set.BatchSize || s.set.now().Sub(rn.recs[0].first) >= s.set.MaxDelay {
		s.enqueue(rn)
	}
}

// Drain makes every run ready now and waits until nothing is held or ctx
// ends. An in-memory spool drains on shutdown; a stored one need not.
func (s *Spool) Drain(ctx context.Context) error {
	s.mu.Lock()
	for _, rn := range s.runs {
		s.enqueue(rn)
	}
	s.mu.Unlock()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		s.mu.Lock()
		held := s.held
		s.mu.Unlock()
		if held == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("run spool: %d points not sent before shutdown: %w", held, ctx.Err())
		case <-t.C:
		}
	}
}

// Stop ends sending; requests in flight are told through their context.
// What is held stays stored for the next start.
func (s *Spool) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.cancel == nil || s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	s.cancel()
	s.wake.Broadcast()
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("stop run spool: %w", ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held > 0 && s.store.client == nil {
		s.set.Logger.Warn("Points held for their runs' requests are lost at shutdown: the sending queue is in memory (configure sending_queue.storage to keep them)",
			zap.Int("points", s.held))
	}
	return nil
}

// Held is the number of points held.
func (s *Spool) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}
