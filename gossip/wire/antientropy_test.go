package wire

import (
	"reflect"
	"testing"

	"github.com/distkv/distkv/node"
)

func antiEntropySamples() [][]byte {
	return [][]byte{
		AppendSettles(nil, []Settle{{Origin: "a~1", Ticks: node.NewRangeSet(node.Range{Start: 3, End: 9})}}),
		AppendOrigins(nil, []string{"a~1", "b~2"}),
		DigestReq{Path: node.StringPath("x"), After: node.Int(4), HasAfter: true}.Append(nil),
		DigestReply{Own: [2]uint64{1, 2}, Children: []node.ChildDigest{{Name: node.String("k"), Digest: [2]uint64{3, 4}, Leaf: true}}, More: true}.Append(nil),
		EntriesReq{Path: node.StringPath("x"), After: node.StringPath("x", "y")}.Append(nil),
		Entries{Updates: []*node.Update{sampleUpdate()}, Next: node.StringPath("x", "z")}.Append(nil),
	}
}

func TestAntiEntropyRoundTrips(t *testing.T) {
	ss := []Settle{{Origin: "a~1", Ticks: node.NewRangeSet(node.Range{Start: 3, End: 9})}}
	if got, err := DecodeSettles(AppendSettles(nil, ss)); err != nil || len(got) != 1 || got[0].Origin != "a~1" || !got[0].Ticks.Equal(ss[0].Ticks) {
		t.Fatalf("settles: %v %v", got, err)
	}
	if got, err := DecodeOrigins(AppendOrigins(nil, []string{"a~1", "b~2"})); err != nil || !reflect.DeepEqual(got, []string{"a~1", "b~2"}) {
		t.Fatalf("origins: %v %v", got, err)
	}
	for _, q := range []DigestReq{{Path: node.StringPath("x"), After: node.Int(4), HasAfter: true}, {Path: node.Path{}}} {
		got, err := DecodeDigestReq(q.Append(nil))
		if err != nil || !got.Path.Equal(q.Path) || got.HasAfter != q.HasAfter || got.After != q.After {
			t.Fatalf("digest req %+v: %+v %v", q, got, err)
		}
	}
	d := DigestReply{Own: [2]uint64{1, 2}, Children: []node.ChildDigest{{Name: node.String("k"), Digest: [2]uint64{3, 4}, Leaf: true}, {Name: node.Nil()}}, More: true}
	if got, err := DecodeDigestReply(d.Append(nil)); err != nil || !reflect.DeepEqual(got, d) {
		t.Fatalf("digest reply: %+v %v", got, err)
	}
	for _, q := range []EntriesReq{{Path: node.StringPath("x"), After: node.StringPath("x", "y")}, {Path: node.Path{}}} {
		got, err := DecodeEntriesReq(q.Append(nil))
		if err != nil || !got.Path.Equal(q.Path) || !got.After.Equal(q.After) || (got.After == nil) != (q.After == nil) {
			t.Fatalf("entries req %+v: %+v %v", q, got, err)
		}
	}
	e := Entries{Updates: []*node.Update{sampleUpdate()}, Next: node.StringPath("x", "z")}
	if got, err := DecodeEntries(e.Append(nil)); err != nil || !reflect.DeepEqual(got.Updates, e.Updates) || !got.Next.Equal(e.Next) {
		t.Fatalf("entries: %+v %v", got, err)
	}
	if got, err := DecodeEntries(Entries{}.Append(nil)); err != nil || got.Next != nil {
		t.Fatalf("last entries page: %+v %v", got, err)
	}
	// A vector of the previous version (8 fields) still decodes; the new field round-trips.
	v := Vector{Name: "n", Forgotten: []string{"old~1"}}
	if got, err := DecodeVector(v.Append(nil)); err != nil || !reflect.DeepEqual(got.Forgotten, v.Forgotten) {
		t.Fatalf("vector forgotten: %+v %v", got, err)
	}
	old := v.Append(nil)
	// 8 fields: without the forgotten origins and the digest version (0, one byte).
	old[0] = 0x98
	old = old[:len(old)-len(AppendOrigins(nil, v.Forgotten))-1]
	if got, err := DecodeVector(old); err != nil || got.Forgotten != nil || got.Name != "n" {
		t.Fatalf("8-field vector: %+v %v", got, err)
	}
}

func TestAntiEntropyTruncated(t *testing.T) {
	decoders := []func([]byte) error{
		func(b []byte) error { _, err := DecodeSettles(b); return err },
		func(b []byte) error { _, err := DecodeOrigins(b); return err },
		func(b []byte) error { _, err := DecodeDigestReq(b); return err },
		func(b []byte) error { _, err := DecodeDigestReply(b); return err },
		func(b []byte) error { _, err := DecodeEntriesReq(b); return err },
		func(b []byte) error { _, err := DecodeEntries(b); return err },
	}
	for k, b := range antiEntropySamples() {
		for i := 0; i < len(b); i++ {
			if decoders[k](b[:i]) == nil {
				t.Fatalf("message %d truncated at %d decoded", k, i)
			}
		}
	}
}

// FuzzDecodeAntiEntropy: no decoder of the anti-entropy messages panics or allocates by a
// declared count, and what decodes re-encodes to the same message.
func FuzzDecodeAntiEntropy(f *testing.F) {
	for _, b := range antiEntropySamples() {
		f.Add(b)
	}
	f.Add([]byte{0x93, 0x92, 0, 0, 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if x, err := DecodeSettles(b); err == nil {
			if _, err := DecodeSettles(AppendSettles(nil, x)); err != nil {
				t.Fatal(err)
			}
		}
		if x, err := DecodeOrigins(b); err == nil {
			if y, err := DecodeOrigins(AppendOrigins(nil, x)); err != nil || !reflect.DeepEqual(x, y) {
				t.Fatal(err)
			}
		}
		if x, err := DecodeDigestReq(b); err == nil {
			if _, err := DecodeDigestReq(x.Append(nil)); err != nil {
				t.Fatal(err)
			}
		}
		if x, err := DecodeDigestReply(b); err == nil {
			if y, err := DecodeDigestReply(x.Append(nil)); err != nil || !reflect.DeepEqual(x, y) {
				t.Fatalf("digest reply does not round-trip: %v", err)
			}
		}
		if x, err := DecodeEntriesReq(b); err == nil {
			if _, err := DecodeEntriesReq(x.Append(nil)); err != nil {
				t.Fatal(err)
			}
		}
		if x, err := DecodeEntries(b); err == nil {
			if _, err := DecodeEntries(x.Append(nil)); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestDigestReplyLimit: a reply of MaxDigestChildren children decodes, one more is refused.
func TestDigestReplyLimit(t *testing.T) {
	for _, n := range []int{MaxDigestChildren, MaxDigestChildren + 1} {
		d := DigestReply{Children: make([]node.ChildDigest, n)}
		for i := range d.Children {
			d.Children[i].Name = node.Int(int64(i))
		}
		got, err := DecodeDigestReply(d.Append(nil))
		if ok := n <= MaxDigestChildren; (err == nil) != ok || (ok && len(got.Children) != n) {
			t.Errorf("%d children: %d decoded, err %v", n, len(got.Children), err)
		}
	}
}
