package runspool

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// store keeps records in a storage extension's key-value client
// (file_storage: one bbolt file). Each operation is one small transaction
// whatever the number of records held: a record's key is its sequence
// number, and one metadata value (lowest and next sequence) bounds the keys
// a restart has to look at. Without a client (an in-memory sending queue)
// nothing is written and a restart loses what was held, as it does the
// queue's own contents.
type store struct {
	client storage.Client
	lo, hi uint64 // every live record's seq is in [lo, hi)
	live   map[uint64]struct{}
}

const (
	metaKey      = "runspool.meta"
	recordPrefix = "runspool.r."
	recordV1     = 1
)

func recordKey(seq uint64) string { return recordPrefix + strconv.FormatUint(seq, 16) }

func newStore(client storage.Client) *store {
	return &store{client: client, live: map[uint64]struct{}{}}
}

func metaOp(lo, hi uint64) *storage.Operation {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], lo)
	binary.BigEndian.PutUint64(b[8:], hi)
	return storage.SetOperation(metaKey, b[:])
}

// assign gives r the next sequence number.
func (s *store) assign(r *record) {
	r.seq = s.hi
	s.hi++
	s.live[r.seq] = struct{}{}
}

// write stores new records (already assigned) and removes old ones in one
// transaction. When it fails nothing changed, in storage or here.
func (s *store) write(ctx context.Context, put, del []*record) error {
	gone := make(map[uint64]struct{}, len(del))
	for _, r := range del {
		gone[r.seq] = struct{}{}
	}
	lo := s.lo
	for lo < s.hi {
		if _, ok := s.live[lo]; ok {
			if _, g := gone[lo]; !g {
				break
			}
		}
		lo++
	}
	if s.client != nil {
		ops := make([]*storage.Operation, 0, len(put)+len(del)+1)
		for _, r := range put {
			ops = append(ops, storage.SetOperation(recordKey(r.seq), r.encode()))
		}
		for _, r := range del {
			ops = append(ops, storage.DeleteOperation(recordKey(r.seq)))
		}
		ops = append(ops, metaOp(lo, s.hi))
		if err := s.client.Batch(ctx, ops...); err != nil {
			return fmt.Errorf("run spool storage: %w", err)
		}
	}
	for seq := range gone {
		delete(s.live, seq)
	}
	s.lo = lo
	return nil
}

// forget undoes assign for a record that was never written.
func (s *store) forget(r *record) { delete(s.live, r.seq) }

// load reads every record a previous process left, in sequence order.
func (s *store) load(ctx context.Context) ([]*record, error) {
	if s.client == nil {
		return nil, nil
	}
	meta, err := s.client.Get(ctx, metaKey)
	if err != nil {
		return nil, fmt.Errorf("read run spool metadata: %w", err)
	}
	if meta == nil {
		return nil, nil
	}
	if len(meta) != 16 {
		return nil, fmt.Errorf("run spool metadata: %d bytes, want 16", len(meta))
	}
	s.lo, s.hi = binary.BigEndian.Uint64(meta[:8]), binary.BigEndian.Uint64(meta[8:])
	var out []*record
	var damaged []*storage.Operation
	const page = 512
	for from := s.lo; from < s.hi; from += page {
		ops := make([]*storage.Operation, 0, page)
		for seq := from; seq < min(from+page, s.hi); seq++ {
			ops = append(ops, storage.GetOperation(recordKey(seq)))
		}
		if err := s.client.Batch(ctx, ops...); err != nil {
			return nil, fmt.Errorf("read run spool: %w", err)
		}
		for i, op := range ops {
			if op.Value == nil {
				continue // released before the restart
			}
			r, err := decodeRecord(op.Value)
			if err != nil {
				// One damaged record must not keep the rest from MLflow.
				damaged = append(damaged, storage.DeleteOperation(op.Key))
				continue
			}
			r.seq = from + uint64(i)
			s.live[r.seq] = struct{}{}
			out = append(out, r)
		}
	}
	if len(damaged) > 0 {
		if err := s.client.Batch(ctx, damaged...); err != nil {
			return out, fmt.Errorf("remove damaged run spool records: %w", err)
		}
		return out, fmt.Errorf("%d run spool records were damaged and are dropped: %w", len(damaged), errDamaged)
	}
	return out, nil
}

// record is one stored piece of a run's data: an OTLP protobuf encoding
// of some of its points.
type record struct {
	seq uint64 // storage key; changes when the record is split
	// order and part order a run's records as they arrived, across
	// splits (the head keeps part, the tail gets part+1) and restarts:
	// the exporter skips points older than a series' newest written one.
	order uint64
	part  uint64
	first time.Time // when its points arrived: max_delay counts from here
	key   string    // the run's partition
	items int
	data  []byte
}

func (r *record) encode() []byte {
	b := make([]byte, 0, 32+len(r.key)+len(r.data))
	b = append(b, recordV1)
	b = binary.AppendUvarint(b, r.order)
	b = binary.AppendUvarint(b, r.part)
	b = binary.AppendVarint(b, r.first.UnixNano())
	b = binary.AppendUvarint(b, uint64(r.items))
	b = binary.AppendUvarint(b, uint64(len(r.key)))
	b = append(b, r.key...)
	return append(b, r.data...)
}

var errDamaged = errors.New("damaged record")

func decodeRecord(b []byte) (*record, error) {
	if len(b) == 0 || b[0] != recordV1 {
		return nil, fmt.Errorf("%w: unknown version", errDamaged)
	}
	b = b[1:]
	var vals [5]uint64
	var first int64
	for i := range vals {
		var n int
		if i == 2 {
			first, n = binary.Varint(b)
		} else {
			vals[i], n = binary.Uvarint(b)
		}
		if n <= 0 {
			return nil, errDamaged
		}
		b = b[n:]
	}
	if uint64(len(b)) < vals[4] || vals[3] > math.MaxInt32 {
		return nil, errDamaged
	}
	r := &record{
		order: vals[0], part: vals[1], first: time.Unix(0, first), items: int(vals[3]),
		key: string(b[:vals[4]]), data: append([]byte(nil), b[vals[4]:]...),
	}
	return r, nil
}
