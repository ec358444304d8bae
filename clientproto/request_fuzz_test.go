package clientproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"runtime"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// Helpers here are prefixed reqF so that they cannot collide with the rest of the package's
// tests.

// reqFPath is a DistKV path on the wire: ext type 3 holding the concatenated msgpack
// encodings of its elements.
type reqFPath []any

func (p reqFPath) EncodeMsgpack(e *msgpack.Encoder) error {
	var data []byte
	for _, el := range p {
		data = append(data, reqFEncode(nil, el)...)
	}
	if err := e.EncodeExtHeader(3, len(data)); err != nil {
		return err
	}
	_, err := e.Writer().Write(data)
	return err
}

// reqFEncode encodes v the way DistKV's Python client does (compact integers and floats).
func reqFEncode(tb testing.TB, v any) []byte {
	var b bytes.Buffer
	e := msgpack.NewEncoder(&b)
	e.UseCompactInts(true)
	e.UseCompactFloats(true)
	if err := e.Encode(v); err != nil {
		if tb != nil {
			tb.Fatalf("encode %#v: %v", v, err)
		}
		panic(err)
	}
	return b.Bytes()
}

type reqFM = map[string]any

// reqFSeeds are real requests, as DistKV's client and distkv's own send them, and a few
// broken ones.
func reqFSeeds(tb testing.TB) [][]byte {
	chain := reqFM{"node": "a~1", "tick": 7, "prev": reqFM{"node": "b~2", "tick": 3, "prev": nil}}
	reqs := []any{
		reqFM{"seq": 0, "qlen": 10},
		reqFM{"seq": 1, "action": "watch", "path": reqFPath{".distkv", "config"}, "nchain": 3, "fetch": true},
		reqFM{"seq": 2, "action": "get_value", "path": reqFPath{"probe", "a"}, "nchain": 0},
		reqFM{"seq": 3, "action": "get_value", "node": "a~1", "tick": 5},
		reqFM{"seq": 4, "action": "set_value", "path": []any{"x", 1, -2, true, []byte("b"), 1.5, nil},
			"value": reqFM{"nested": []any{1, "two", 3.0, nil}}, "chain": chain, "prev": "old", "idem": true, "nchain": 2},
		reqFM{"seq": 5, "action": "set_value", "path": reqFPath{"k"}, "value": []byte{0, 1}, "chain": nil},
		reqFM{"seq": 6, "action": "delete_value", "path": reqFPath{"k"}, "nchain": -1},
		reqFM{"seq": 7, "action": "delete_tree", "path": reqFPath{"k"}},
		reqFM{"seq": 8, "action": "get_tree", "path": reqFPath{}, "long_path": true, "min_depth": 1, "max_depth": 3, "empty": 1, "nchain": 1},
		reqFM{"seq": 9, "action": "enum", "path": []any{"a"}, "with_data": true, "empty": nil},
		reqFM{"seq": 10, "action": "get_state", "known": true, "missing": 1, "nodes": nil, "debug": false},
		reqFM{"seq": 11, "action": "get_tock"},
		reqFM{"seq": 12, "action": "stop", "task": 1},
		reqFM{"seq": 1, "state": "ack", "ack": 3},
		reqFM{"seq": 13, "action": "multi", "nchain": 1, "ops": []any{
			reqFM{"path": reqFPath{"m", "a"}, "value": 1, "chain": chain},
			reqFM{"path": []any{"m", "b"}, "delete": true, "prev": 2},
			reqFM{"path": reqFPath{"m", "c"}, "value": "x", "idem": true, "unknown": []any{1}},
		}},
		reqFM{"seq": 14, "action": "watch", "path": reqFPath{"w"}, "iter": true, "long_path": true, "fetch": true, "state": nil},
		reqFM{"seq": 15, "action": "frobnicate", "x": reqFM{"y": []any{}}},
		[]any{1, 2, 3},
		"not a map",
		reqFM{"seq": -1},
		reqFM{"seq": 16, "action": "get_value", "path": "a.b"},
		reqFM{"seq": 17, "action": "set_value", "path": reqFPath{"k"}, "chain": "head"},
	}
	var out [][]byte
	for _, r := range reqs {
		out = append(out, reqFEncode(tb, r))
	}
	good := reqFEncode(tb, reqs[4])
	out = append(out,
		append(append([]byte{}, good...), 0x00),                         // trailing byte
		good[:len(good)/2],                                              // truncated
		[]byte{0x81, 0xc1, 0x00},                                        // never-used byte
		[]byte{0x81, 0x01, 0x02},                                        // non-string key
		[]byte{0x81, 0xa3, 'o', 'p', 's', 0xdd, 0xff, 0xff, 0xff, 0xff}, // count claim
		[]byte{0x81, 0xa4, 'p', 'a', 't', 'h', 0xc9, 0xff, 0xff, 0xff, 0xff, 3},
		[]byte{},
	)
	return out
}

// reqFAllocLimit is the most ParseRequest may allocate for an input of n bytes: a small
// multiple of it, plus a constant for the Request itself and small maps.
func reqFAllocLimit(n int) uint64 { return 64*uint64(n) + 64<<10 }

// reqFAlloc returns the bytes allocated by fn (and by anything else running meanwhile, so
// callers re-measure before they complain).
func reqFAlloc(fn func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	fn()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// reqFParseAlloc parses b and returns what that allocated, the least of a few runs if the
// first is over the limit.
func reqFParseAlloc(b []byte) (q *Request, alloc uint64, err error) {
	alloc = reqFAlloc(func() { q, err = ParseRequest(b) })
	for i := 0; i < 3 && alloc > reqFAllocLimit(len(b)); i++ {
		alloc = min(alloc, reqFAlloc(func() { ParseRequest(b) }))
	}
	return q, alloc, err
}

func FuzzParseRequest(f *testing.F) {
	for _, b := range reqFSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		q, alloc, err := reqFParseAlloc(in)
		if limit := reqFAllocLimit(len(b)); alloc > limit {
			t.Fatalf("ParseRequest of %d bytes allocated %d bytes (limit %d)", len(b), alloc, limit)
		}
		PeekSeq(b) // must not panic either
		// The server's variant, whose values alias its input, decodes the same request.
		qo, erro := ParseOwnedRequest(bytes.Clone(b))
		if qo != nil {
			qo.owned = false
		}
		if (err == nil) != (erro == nil) || (err != nil && err.Error() != erro.Error()) || !reflect.DeepEqual(q, qo) {
			t.Fatalf("ParseOwnedRequest differs from ParseRequest: %v / %v\n%#v\n%#v", err, erro, q, qo)
		}
		if err != nil {
			if q != nil {
				t.Fatalf("both a request and an error: %v", err)
			}
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v does not wrap ErrBadRequest", err)
			}
			return
		}
		if q == nil {
			t.Fatal("no request and no error")
		}
		// The request owns its memory: the caller may reuse the buffer.
		for i := range in {
			in[i] = 0xc1
		}
		q2, err2 := ParseRequest(b)
		if err2 != nil || !reflect.DeepEqual(q, q2) {
			t.Fatalf("the request changed when its input buffer was overwritten (or parsing is not deterministic): %v", err2)
		}
		// What passes the server's framing (ReadMessage) keeps values that are complete
		// msgpack objects.
		if n, err := ScanMessage(b); err != nil || n != len(b) {
			return
		}
		ops := append([]Op{q.Op}, q.Ops...)
		for i, op := range ops {
			if op.HasValue {
				if n, err := ScanMessage(op.Value); err != nil || n != len(op.Value) {
					t.Fatalf("op %d: value % x is not one msgpack object: %d, %v", i, op.Value, n, err)
				}
			}
			if op.HasPrev {
				if n, err := ScanMessage(op.Prev); err != nil || n != len(op.Prev) {
					t.Fatalf("op %d: prev % x is not one msgpack object: %d, %v", i, op.Prev, n, err)
				}
			}
		}
	})
}

func TestParseRequestSeeds(t *testing.T) {
	// The seeds parse as a server expects.
	seeds := reqFSeeds(t)
	q, err := ParseRequest(seeds[1])
	if err != nil || q.Seq != 1 || q.Action != ActWatch || !q.HasPath || len(q.Path) != 2 || q.NChain != 3 || !q.Fetch || q.MaxDepth != -1 {
		t.Errorf("DistKV's startup watch: %+v, %v", q, err)
	}
	q, err = ParseRequest(seeds[4])
	if err != nil || !q.Op.HasValue || !q.Op.HasChain || q.Op.Chain.Origin != "a~1" || q.Op.Chain.Tick != 7 || !q.Op.HasPrev || !q.Op.Idem || len(q.Path) != 7 {
		t.Errorf("set_value with everything: %+v, %v", q, err)
	}
	q, err = ParseRequest(seeds[5])
	if err != nil || !q.Op.HasChain || q.Op.Chain.Origin != "" {
		t.Errorf("set_value with chain nil: %+v, %v", q, err)
	}
	q, err = ParseRequest(seeds[14])
	if err != nil || len(q.Ops) != 3 || !q.Ops[1].Delete || !q.Ops[1].HasPrev || !q.Ops[2].Idem || q.Ops[0].Chain.Tick != 7 {
		t.Errorf("multi: %+v, %v", q, err)
	}
}

// A request's allocation must follow its size, not the counts it declares: every element of
// an ops array or of a path takes one input byte at least, and must not cost 100+ bytes each.
func TestParseRequestAllocationBounded(t *testing.T) {
	const n = 1 << 20
	mk := func(key string, hdr []byte, fill byte) []byte {
		b := []byte{0x81}
		b = append(b, reqFEncode(t, key)...)
		b = append(b, hdr...)
		return append(b, bytes.Repeat([]byte{fill}, n)...)
	}
	cnt := binary.BigEndian.AppendUint32(nil, n)
	cases := []struct {
		name string
		b    []byte
	}{
		{"ops: array of 1Mi empty maps", mk("ops", append([]byte{0xdd}, cnt...), 0x80)},
		{"path: ext 3 of 1Mi fixints", mk("path", append(append([]byte{0xc9}, cnt...), 3), 0x01)},
		{"path: array of 1Mi fixints", mk("path", append([]byte{0xdd}, cnt...), 0x01)},
		{"value: 1 MiB of nested arrays", mk("value", append([]byte{0xdd}, cnt...), 0x90)},
	}
	for _, tc := range cases {
		q, alloc, err := reqFParseAlloc(tc.b)
		limit := reqFAllocLimit(len(tc.b))
		t.Logf("%s: %d bytes in, %d allocated (%.0fx), err %v", tc.name, len(tc.b), alloc, float64(alloc)/float64(len(tc.b)), err)
		if alloc > limit {
			t.Errorf("%s: ParseRequest of %d bytes allocated %d MiB (%.0fx the input; limit %d MiB)", tc.name, len(tc.b), alloc>>20, float64(alloc)/float64(len(tc.b)), limit>>20)
		}
		_ = q
	}
}
