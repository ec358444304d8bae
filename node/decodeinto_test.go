package node

import (
	"bytes"
	"fmt"
	"testing"
)

// fill overwrites b, as a reused read buffer is overwritten by the next record.
func fill(b []byte) {
	for i := range b {
		b[i] = 0xa1
	}
}

// The node keeps values, chains and names of an update decoded into reused scratch (a
// restore's UpdateInto) or carved from a batch's blocks (a push frame's Updates): none of them
// may alias the input bytes or the scratch that the next decode overwrites.
func TestDecodedUpdateDoesNotAliasBuffers(t *testing.T) {
	value := AppendBinString(nil, "0123456789abcdef")
	chain := Chain{{"other~1", 3}}
	enc := func(tick uint64, key string) []byte {
		return single("peer~1", tick, tick, StringPath("dir", key), value, chain).AppendMsgpack(nil)
	}
	check := func(t *testing.T, n *Node, keys ...string) {
		t.Helper()
		for _, k := range keys {
			e, ok := n.Lookup(StringPath("dir", k))
			if !ok || !bytes.Equal(e.Value, value) {
				t.Fatalf("%s: entry %v %v, want value %x", k, ok, e, value)
			}
			if len(e.Chain) != 2 || e.Chain[1] != chain[0] {
				t.Fatalf("%s: chain %v", k, e.Chain)
			}
		}
		if got := n.Len(); got != len(keys) {
			t.Fatalf("%d live entries, want %d", got, len(keys))
		}
	}

	t.Run("UpdateInto", func(t *testing.T) {
		n := New(Config{Origin: "self~1"})
		var r Reader
		var u Update
		buf := make([]byte, 0, 256)
		for i, k := range []string{"k1", "k2", "k3"} {
			buf = append(buf[:0], enc(uint64(i+10), k)...)
			if err := r.DecodeUpdateInto(buf, &u); err != nil {
				t.Fatal(err)
			}
			n.Load(&u)
			fill(buf)
		}
		// The next decode overwrites the scratch (the last entry's op list and path).
		if err := r.DecodeUpdateInto(single("other~1", 1, 1, StringPath("x", "y"), nil, nil).AppendMsgpack(nil), &u); err != nil {
			t.Fatal(err)
		}
		check(t, n, "k1", "k2", "k3")
	})

	t.Run("Updates", func(t *testing.T) {
		n := New(Config{Origin: "self~1"})
		var frame []byte
		frame = AppendArrayLen(frame, 3)
		for i, k := range []string{"k1", "k2", "k3"} {
			frame = append(frame, enc(uint64(i+10), k)...)
		}
		us, err := NewReader(frame).Updates(0)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range us {
			n.Apply(u)
		}
		fill(frame)
		// Paths carved from one block are capped: appending to one leaves the next intact.
		_ = append(us[0].Ops[0].Path, String("z"))
		if got := us[1].Ops[0].Path.String(); got != StringPath("dir", "k2").String() {
			t.Fatalf("second path is %s after appending to the first", got)
		}
		check(t, n, "k1", "k2", "k3")
	})
}

// Decoding a run of entries under one parent into reused scratch allocates the value, the new
// name and the chain only: the op list, the path and the parent's name are shared.
func TestDecodeUpdateIntoAllocs(t *testing.T) {
	value := AppendBinString(nil, "0123456789abcdef")
	recs := make([][]byte, 100)
	for i := range recs {
		recs[i] = single("peer~1", uint64(i+1), uint64(i+1), StringPath("dir", fmt.Sprintf("k%03d", i)), value, nil).AppendMsgpack(nil)
	}
	var r Reader
	var u Update
	i := 0
	allocs := testing.AllocsPerRun(len(recs)-1, func() {
		if err := r.DecodeUpdateInto(recs[i%len(recs)], &u); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if allocs > 2 {
		t.Fatalf("%.1f allocations a decode, want 2 (value and name)", allocs)
	}
	if u.Origin != "peer~1" || u.Ops[0].Path[0] != String("dir") {
		t.Fatalf("decoded %v", &u)
	}
}
