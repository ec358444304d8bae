package wire

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/distkv/distkv/gossip"
	"github.com/distkv/distkv/internal/alloctest"
	"github.com/distkv/distkv/node"
)

// hostileBody is a body of size bytes: prefix, then an array header claiming count items, then
// filler that is none.
func hostileBody(prefix []byte, count, size int) []byte {
	b := node.AppendArrayLen(append([]byte(nil), prefix...), count)
	for len(b) < size {
		b = append(b, 0xc1) // never valid msgpack
	}
	return b
}

// TestHostileFramesAllocateLittle: a Push frame whose update claims 2^31 ops, or as many as
// the frame's bytes could count, and messages whose range sets claim every byte as an item,
// are refused having allocated a small multiple of the frame, not of the count.
func TestHostileFramesAllocateLittle(t *testing.T) {
	const size = 4 << 20
	upd := node.AppendUint(node.AppendUint(node.AppendString(node.AppendArrayLen(node.AppendArrayLen(nil, 1), 4), "o"), 1), 1)
	pull := node.AppendString(node.AppendArrayLen(nil, 2), "o")
	vec := node.AppendMapLen(node.AppendString(node.AppendString(node.AppendArrayLen(nil, 8), "n"), "o"), 1)
	vec = node.AppendString(vec, "o")
	cases := []struct {
		name   string
		typ    byte
		body   []byte
		decode func([]byte) error
	}{
		{"push, 2^31 ops", MsgPush, hostileBody(upd, 1<<31, size), func(b []byte) error { _, err := DecodeUpdates(b); return err }},
		{"push, ops to the end", MsgPush, hostileBody(upd, size-len(upd)-5, size), func(b []byte) error { _, err := DecodeUpdates(b); return err }},
		{"pull reply, ops to the end", MsgPullReply, hostileBody(append(node.AppendString(node.AppendArrayLen(nil, 3), "o"), upd...), size-64, size),
			func(b []byte) error { _, err := DecodePullReply(b); return err }},
		{"pull, range items to the end", MsgPull, hostileBody(pull, size-len(pull)-5, size), func(b []byte) error { _, err := DecodePull(b); return err }},
		{"vector, range items to the end", MsgVector, hostileBody(vec, size-len(vec)-5, size), func(b []byte) error { _, err := DecodeVector(b); return err }},
	}
	for _, tc := range cases {
		var frame bytes.Buffer
		bw := bufio.NewWriter(&frame)
		if err := gossip.WriteFrame(bw, tc.typ, tc.body); err != nil || bw.Flush() != nil {
			t.Fatal(err)
		}
		var err error
		got := alloctest.Bytes(func() {
			br := bufio.NewReaderSize(bytes.NewReader(frame.Bytes()), 64<<10)
			var body []byte
			if _, body, err = gossip.ReadFrame(br, 64<<20, nil); err == nil {
				err = tc.decode(body)
			}
		})
		if err == nil {
			t.Errorf("%s: decoded", tc.name)
		}
		// Reading the frame costs about twice its size (it grows as bytes arrive); decoding
		// must add little to that.
		if limit := uint64(3*frame.Len() + 256<<10); got > limit {
			t.Errorf("%s: a %d-byte frame allocated %d bytes (limit %d)", tc.name, frame.Len(), got, limit)
		}
		t.Logf("%s: %d-byte frame, %d bytes allocated", tc.name, frame.Len(), got)
	}
}
