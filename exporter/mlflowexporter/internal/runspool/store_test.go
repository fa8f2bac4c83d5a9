package runspool

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []*record{
		{order: 7, part: 2, first: time.Unix(1e9, 123), key: "run\x00name=a", items: 1000, data: []byte{1, 2, 3}},
		{order: 0, part: 0, first: time.Unix(-5, 0), key: "", items: 0, data: nil},
	} {
		got, err := decodeRecord(r.encode())
		require.NoError(t, err)
		assert.Equal(t, r.order, got.order)
		assert.Equal(t, r.part, got.part)
		assert.True(t, r.first.Equal(got.first))
		assert.Equal(t, r.key, got.key)
		assert.Equal(t, r.items, got.items)
		assert.Equal(t, len(r.data), len(got.data))
	}
}

// A stored record read back by a later process may be damaged: decoding
// never panics, and what decodes encodes back to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	f.Add((&record{order: 3, part: 1, first: time.Unix(1e9, 0), key: "k", items: 10, data: []byte("0123456789")}).encode())
	f.Add([]byte{recordV1})
	f.Add([]byte{recordV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		again, err := decodeRecord(r.encode())
		require.NoError(t, err)
		assert.Equal(t, r.key, again.key)
		assert.Equal(t, r.items, again.items)
		assert.Equal(t, r.data, again.data)
	})
}
