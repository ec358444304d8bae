package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distkv/distkv/node"
)

// testHeader returns a header with several origins, fragmented range sets
// and every field set.
func testHeader() Header {
	return Header{
		Node: "n1", Origin: "n1~3", Created: 1_750_000_000, Tock: 98765,
		Known: map[string]node.RangeSet{
			"n1~3": node.Upto(4000),
			"n2~1": node.NewRangeSet(node.Range{Start: 1, End: 100}, node.Range{Start: 102, End: 103}, node.Range{Start: 200, End: 1 << 40}),
			"n3~7": {},
			"n1~2": node.NewRangeSet(node.Range{Start: 5, End: 6}),
		},
		Highest:    map[string]uint64{"n1~3": 4000, "n2~1": 1<<40 + 5, "n3~7": 0, "n1~2": 9},
		Purge:      map[string]uint64{"n1~3": 3000, "n2~1": 90},
		LogSegment: 42,
		Entries:    10_000,
	}
}

// testUpdates returns n entries: values of assorted msgpack types, about one
// tombstone in eight, one atomic multi-op update in sixteen, and chains.
func testUpdates(seed uint64, n int) []*node.Update {
	rnd := rand.New(rand.NewPCG(seed, 7))
	origins := []string{"n1~3", "n2~1", "n1~2", strings.Repeat("long-origin-name", 3) + "~1"}
	us := make([]*node.Update, n)
	for i := range us {
		u := &node.Update{Origin: origins[rnd.IntN(len(origins))], Tick: uint64(i + 1), Tock: uint64(rnd.Int64N(1 << 40))}
		nops := 1
		if rnd.IntN(16) == 0 {
			nops = 2 + rnd.IntN(4)
		}
		for j := range nops {
			op := node.Op{Path: node.Path{node.String("k"), node.Int(int64(i)), node.Int(int64(j))}}
			if rnd.IntN(8) == 0 {
				op.Delete = true
			} else {
				op.Value = testValue(rnd)
			}
			for k := range rnd.IntN(3) {
				op.Chain = append(op.Chain, node.Link{Origin: origins[k], Tick: uint64(rnd.IntN(1000) + 1)})
			}
			u.Ops = append(u.Ops, op)
		}
		us[i] = u
	}
	return us
}

func testValue(rnd *rand.Rand) []byte {
	switch rnd.IntN(4) {
	case 0:
		return node.AppendInt(nil, rnd.Int64()-rnd.Int64())
	case 1:
		return node.AppendString(nil, strings.Repeat("v", rnd.IntN(300)))
	case 2:
		n := rnd.IntN(100)
		if rnd.IntN(1000) == 0 { // rare, so that files stay small: a 32-bit bin length
			n = 70000
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return node.AppendBinString(nil, string(b))
	}
	v := node.AppendMapLen(nil, 2)
	v = node.AppendInt(node.AppendString(v, "a"), 1)
	return node.AppendBool(node.AppendArrayLen(node.AppendString(v, "b"), 1), true)
}

// writeSnap commits a snapshot named name in dir and returns its path.
func writeSnap(t testing.TB, dir, name string, h Header, us []*node.Update) string {
	t.Helper()
	w, err := Create(dir, name, h)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Abort()
	for _, u := range us {
		if err := w.Add(u); err != nil {
			t.Fatalf("Add(%v): %v", u, err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return filepath.Join(dir, name)
}

// smallFile returns the bytes of a committed snapshot with a few small
// entries: a value with a chain, a tombstone, a multi-op update.
func smallFile(t testing.TB) []byte {
	t.Helper()
	h := Header{Node: "n", Origin: "n~1", Created: 1, Tock: 9, Known: map[string]node.RangeSet{"n~1": node.Upto(5)},
		Highest: map[string]uint64{"n~1": 5}, Purge: map[string]uint64{"n~1": 2}, LogSegment: 3, Entries: 4}
	us := []*node.Update{
		{Origin: "n~1", Tick: 4, Tock: 8, Ops: []node.Op{{Path: node.StringPath("a"), Value: node.AppendString(nil, "v"), Chain: node.Chain{{Origin: "n~1", Tick: 2}}}}},
		{Origin: "n~1", Tick: 3, Tock: 7, Ops: []node.Op{{Path: node.StringPath("gone"), Delete: true}}},
		{Origin: "n~1", Tick: 5, Tock: 9, Ops: []node.Op{
			{Path: node.Path{node.Int(1)}, Value: node.AppendInt(nil, -300)},
			{Path: node.Path{node.Int(2)}, Delete: true},
		}},
	}
	b, err := os.ReadFile(writeSnap(t, t.TempDir(), FileName(1), h, us))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readBytes reads data as a snapshot file, from memory: the header, every
// entry and the error that ended the reading (nil after a verified trailer).
func readBytes(data []byte) (Header, []*node.Update, error) {
	r, err := newReader("mem", bytes.NewReader(data), int64(len(data)), ReaderOptions{})
	if err != nil {
		return Header{}, nil, err
	}
	return readAll(r)
}

// readPath reads the file at path like readBytes.
func readPath(path string, o ReaderOptions) (Header, []*node.Update, error) {
	r, err := OpenWith(path, o)
	if err != nil {
		return Header{}, nil, err
	}
	defer r.Close()
	return readAll(r)
}

func readAll(r *Reader) (Header, []*node.Update, error) {
	var us []*node.Update
	for {
		u, err := r.Next()
		if errors.Is(err, io.EOF) {
			if r.Offset() != r.Size() {
				return r.Header(), us, fmt.Errorf("io.EOF at offset %d of %d", r.Offset(), r.Size())
			}
			return r.Header(), us, nil
		}
		if err != nil {
			return r.Header(), us, err
		}
		us = append(us, u)
	}
}

// sameUpdates compares updates by wire form, which is exact and treats nil
// and empty slices alike.
func sameUpdates(t testing.TB, got, want []*node.Update) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i := range got {
		if g, w := got[i].AppendMsgpack(nil), want[i].AppendMsgpack(nil); !bytes.Equal(g, w) {
			t.Fatalf("entry %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

// sameHeader compares headers by their (deterministic) encoding.
func sameHeader(t testing.TB, got, want Header) {
	t.Helper()
	if g, w := got.appendMsgpack(nil), want.appendMsgpack(nil); !bytes.Equal(g, w) {
		t.Fatalf("header:\ngot  %+v\nwant %+v", got, want)
	}
}

// fileBuilder makes snapshot files byte by byte, for tests of what a
// Writer never writes.
type fileBuilder struct{ b []byte }

func newFile() *fileBuilder { return &fileBuilder{b: append([]byte(fileMagic), formatVersion)} }

// newFileFrom continues a copy of b.
func newFileFrom(b []byte) *fileBuilder { return &fileBuilder{b: append([]byte(nil), b...)} }

// record appends a framed record.
func (f *fileBuilder) record(payload []byte) *fileBuilder {
	f.b = append(binary.BigEndian.AppendUint32(f.b, uint32(len(payload))), payload...)
	return f
}

// trailer appends a trailer claiming count entries, with the right CRC and
// any extra keys and values, and returns the file.
func (f *fileBuilder) trailer(count uint64, extra ...any) []byte {
	sum := crc32.Checksum(f.b, crcTable)
	f.record(rawMap(append([]any{"count", node.AppendUint(nil, count), "crc", node.AppendUint(nil, uint64(sum))}, extra...)...))
	return f.b
}

// rawMap encodes a map from alternating keys and already-encoded values.
func rawMap(kv ...any) []byte {
	b := node.AppendMapLen(nil, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		b = append(node.AppendString(b, kv[i].(string)), kv[i+1].([]byte)...)
	}
	return b
}

// minimalHeader is the payload of a valid header record with every key,
// then the extra keys and values.
func minimalHeader(extra ...any) []byte { return minimalHeaderWith("", nil, extra...) }

// minimalHeaderWith is minimalHeader with key's value replaced by val.
func minimalHeaderWith(key string, val []byte, extra ...any) []byte {
	u := func(v uint64) []byte { return node.AppendUint(nil, v) }
	emptyMap := node.AppendMapLen(nil, 0)
	kv := []any{"node", node.AppendString(nil, "n"), "origin", node.AppendString(nil, "n~1"), "created", u(5),
		"tock", u(1), "known", emptyMap, "highest", emptyMap, "purge", emptyMap, "log_segment", u(1), "entries", u(0)}
	for i := 0; i < len(kv); i += 2 {
		if kv[i] == key {
			kv[i+1] = val
		}
	}
	return rawMap(append(kv, extra...)...)
}

// describe prints the record structure of a snapshot file, for failure
// messages: offset, kind and length of each record, as far as it parses.
func describe(b []byte) string {
	var s strings.Builder
	if len(b) < fileHeaderSize {
		return fmt.Sprintf("%d bytes: short file header %q\n", len(b), b)
	}
	fmt.Fprintf(&s, "%6d file header %q version %d\n", 0, b[:len(fileMagic)], b[len(fileMagic)])
	for off, i := fileHeaderSize, 0; off < len(b); i++ {
		if off+frameHeaderSize > len(b) {
			fmt.Fprintf(&s, "%6d %d stray bytes\n", off, len(b)-off)
			break
		}
		n := int(binary.BigEndian.Uint32(b[off:]))
		kind := "entry"
		switch {
		case i == 0:
			kind = "header"
		case n > 0 && off+frameHeaderSize < len(b) && kindOf(b[off+frameHeaderSize]) == kindMap:
			kind = "trailer"
		}
		fmt.Fprintf(&s, "%6d %-7s length %d\n", off, kind, n)
		if off+frameHeaderSize+n > len(b) {
			fmt.Fprintf(&s, "%6d (file ends %d bytes short)\n", len(b), off+frameHeaderSize+n-len(b))
			break
		}
		off += frameHeaderSize + n
	}
	return s.String()
}
