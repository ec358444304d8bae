package wire

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/distkv/distkv/node"
)

func sampleUpdate() *node.Update {
	return &node.Update{Origin: "a~1", Tick: 7, Tock: 42, Ops: []node.Op{
		{Path: node.StringPath("x", "y"), Value: node.AppendInt(nil, 5), Chain: node.Chain{{Origin: "b~2", Tick: 3}}},
		{Path: node.Path{node.Int(9)}, Delete: true},
	}}
}

func TestRoundTrips(t *testing.T) {
	h := Hello{Name: "n1", Origin: "n1~5"}
	if got, err := DecodeHello(h.Append(nil)); err != nil || got != h {
		t.Fatalf("hello: %v %v", got, err)
	}
	us := []*node.Update{sampleUpdate(), sampleUpdate()}
	if got, err := DecodeUpdates(AppendUpdates(nil, us)); err != nil || !reflect.DeepEqual(got, us) {
		t.Fatalf("updates: %v %v", got, err)
	}
	p := Pull{Origin: "a~1", Ticks: node.NewRangeSet(node.Range{Start: 1, End: 5}, node.Range{Start: 9, End: 10})}
	if got, err := DecodePull(p.Append(nil)); err != nil || got.Origin != p.Origin || !got.Ticks.Equal(p.Ticks) {
		t.Fatalf("pull: %v %v", got, err)
	}
	pr := PullReply{Origin: "a~1", Updates: us, Superseded: node.Upto(3)}
	got, err := DecodePullReply(pr.Append(nil))
	if err != nil || !reflect.DeepEqual(got.Updates, us) || !got.Superseded.Equal(pr.Superseded) {
		t.Fatalf("pull reply: %v %v", got, err)
	}
	v := Vector{Name: "n", Origin: "n~1", Known: map[string]node.RangeSet{"a~1": node.Upto(9)},
		Highest: map[string]uint64{"a~1": 10}, Purge: map[string]uint64{"a~1": 4}, Digest: [2]uint64{1, 2}, Tock: 99, Ready: true}
	gv, err := DecodeVector(v.Append(nil))
	if err != nil || gv.Name != v.Name || gv.Tock != 99 || !gv.Ready || gv.Digest != v.Digest || !gv.Known["a~1"].Equal(v.Known["a~1"]) ||
		!reflect.DeepEqual(gv.Highest, v.Highest) || !reflect.DeepEqual(gv.Purge, v.Purge) {
		t.Fatalf("vector: %+v %v", gv, err)
	}
	v.Waiting, v.Remembers = true, []string{"n2", "n3"}
	if gv, err = DecodeVector(v.Append(nil)); err != nil || !gv.Waiting || !reflect.DeepEqual(gv.Remembers, v.Remembers) {
		t.Fatalf("waiting vector: %+v %v", gv, err)
	}
	// A build before the wait sends 10 fields: it is not waiting.
	v.Waiting, v.Remembers = false, nil
	b := v.Append(nil)
	if b[0] != 0x9c || !bytes.HasSuffix(b, []byte{0xc2, 0x90}) {
		t.Fatalf("vector encoding: % x", b[:1])
	}
	old := append([]byte{0x9a}, b[1:len(b)-2]...)
	if gv, err = DecodeVector(old); err != nil || gv.Waiting || gv.Tock != 99 || gv.DigestVersion != v.DigestVersion {
		t.Fatalf("10-field vector: %+v %v", gv, err)
	}
	rs := []Repair{{Origin: "a~1", Ticks: node.Upto(2), From: "n2"}}
	if got, err := DecodeRepairs(AppendRepairs(nil, rs)); err != nil || len(got) != 1 || got[0].From != "n2" || !got[0].Ticks.Equal(rs[0].Ticks) {
		t.Fatalf("repairs: %v %v", got, err)
	}
	wm := map[string]uint64{"a~1": 3}
	if got, err := DecodeWatermark(AppendWatermark(nil, wm)); err != nil || !reflect.DeepEqual(got, wm) {
		t.Fatalf("watermark: %v %v", got, err)
	}
}

// Truncated messages are errors, never panics.
func TestTruncated(t *testing.T) {
	b := PullReply{Origin: "a~1", Updates: []*node.Update{sampleUpdate()}, Superseded: node.Upto(3)}.Append(nil)
	for i := 0; i < len(b); i++ {
		if _, err := DecodePullReply(b[:i]); err == nil {
			t.Fatalf("truncated at %d decoded", i)
		}
	}
}

// FuzzDecode feeds arbitrary bytes to every decoder of peer messages: none may panic, and
// what decodes must re-encode to something that decodes the same.
func FuzzDecode(f *testing.F) {
	f.Add(Hello{Name: "n", Origin: "n~1"}.Append(nil))
	f.Add(AppendUpdates(nil, []*node.Update{sampleUpdate()}))
	f.Add(Pull{Origin: "o", Ticks: node.Upto(4)}.Append(nil))
	f.Add(PullReply{Origin: "o", Updates: []*node.Update{sampleUpdate()}}.Append(nil))
	f.Add(Vector{Name: "n", Known: map[string]node.RangeSet{"o": node.Upto(3)}}.Append(nil))
	f.Add(AppendRepairs(nil, []Repair{{Origin: "o", Ticks: node.Upto(2), From: "m"}}))
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		DecodeHello(b)
		DecodePull(b)
		DecodeVector(b)
		DecodeRepairs(b)
		DecodeWatermark(b)
		if us, err := DecodeUpdates(b); err == nil {
			again, err := DecodeUpdates(AppendUpdates(nil, us))
			if err != nil || !reflect.DeepEqual(again, us) {
				t.Fatalf("updates do not round-trip: %v", err)
			}
		}
		if pr, err := DecodePullReply(b); err == nil {
			if _, err := DecodePullReply(pr.Append(nil)); err != nil {
				t.Fatalf("pull reply does not round-trip: %v", err)
			}
		}
	})
}
