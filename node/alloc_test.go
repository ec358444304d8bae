package node

import (
	"testing"

	"github.com/distkv/distkv/internal/alloctest"
)

// hostileUpdate is an update whose op count claims every byte of a body of size bytes, the
// rest being filler that is not an op: the decoder must fail having allocated in proportion
// to what it read, not to the count.
func hostileUpdate(size int) []byte {
	b := AppendUint(AppendUint(AppendString(AppendArrayLen(nil, 4), "o"), 1), 1)
	b = AppendArrayLen(b, size-len(b)-5)
	for len(b) < size {
		b = append(b, 0x01) // not an op
	}
	return b
}

func TestDecodeAllocationBoundedByInput(t *testing.T) {
	const size = 1 << 20
	var dup []byte // a range set of one tick, repeated
	dup = AppendArrayLen(dup, size-5)
	for len(dup) < size {
		dup = append(dup, 0x05)
	}
	cases := []struct {
		name string
		in   []byte
		run  func(b []byte) error
		ok   bool
	}{
		{"update ops", hostileUpdate(size), func(b []byte) error { _, err := DecodeUpdate(b); return err }, false},
		{"range set duplicates", dup, func(b []byte) error { _, err := NewReader(b).RangeSet(); return err }, true},
		{"huge count, few bytes", []byte{0x94, 0xa1, 0x6f, 0x01, 0x01, 0xdd, 0x80, 0, 0, 0, 0x94}, func(b []byte) error { _, err := DecodeUpdate(b); return err }, false},
	}
	for _, tc := range cases {
		var err error
		got := alloctest.Bytes(func() { err = tc.run(tc.in) })
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.name, err, tc.ok)
		}
		// Twice the input, plus a little for fixed buffers: a decoder that sizes anything by a
		// count it read (80 bytes an op, 16 a range) is far above.
		if limit := uint64(2*len(tc.in) + 64<<10); got > limit {
			t.Errorf("%s: decoding %d bytes allocated %d bytes (limit %d)", tc.name, len(tc.in), got, limit)
		}
		t.Logf("%s: %d bytes in, %d bytes allocated", tc.name, len(tc.in), got)
	}
}
