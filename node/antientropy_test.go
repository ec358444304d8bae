package node

import (
	"slices"
	"testing"
)

func TestDigestChildren(t *testing.T) {
	a, b := New(Config{Origin: "a~1"}), New(Config{Origin: "b~1"})
	for _, n := range []*Node{a, b} {
		n.Apply(single("x~1", 1, 10, StringPath("d", "k1"), enc(1), nil))
		n.Apply(single("x~1", 2, 11, StringPath("d", "k2"), enc(2), nil))
		n.Apply(single("x~1", 3, 12, StringPath("d", "k3", "z"), enc(3), nil))
		n.Apply(single("x~1", 4, 13, StringPath("e"), enc(4), nil))
	}
	// b holds another value at d.k2 under the same tick: the digests must show where.
	b.Load(single("x~1", 2, 50, StringPath("d", "k2"), enc(99), nil))
	if a.Digest(nil) == b.Digest(nil) {
		t.Fatal("digests equal after corruption")
	}
	_, ka, _ := a.DigestChildren(nil, nil, 0)
	_, kb, _ := b.DigestChildren(nil, nil, 0)
	if len(ka) != 2 || ka[0].Name != String("d") || ka[0].Digest == kb[0].Digest || ka[1].Digest != kb[1].Digest || !ka[1].Leaf || ka[0].Leaf {
		t.Fatalf("root children %+v vs %+v", ka, kb)
	}
	own, kd, more := a.DigestChildren(StringPath("d"), nil, 2)
	if own != ([2]uint64{}) || !more || len(kd) != 2 || kd[1].Name != String("k2") {
		t.Fatalf("first page of d: %v %+v %v", own, kd, more)
	}
	_, rest, more := a.DigestChildren(StringPath("d"), &kd[1].Name, 2)
	if more || len(rest) != 1 || rest[0].Name != String("k3") || rest[0].Leaf {
		t.Fatalf("second page of d: %+v %v", rest, more)
	}
	ownA, _, _ := a.DigestChildren(StringPath("d", "k2"), nil, 0)
	ownB, _, _ := b.DigestChildren(StringPath("d", "k2"), nil, 0)
	if ownA == ownB || ownA == ([2]uint64{}) {
		t.Fatal("own hashes of the differing entry")
	}
	if _, k, _ := a.DigestChildren(StringPath("nope"), nil, 0); k != nil {
		t.Fatal("children of a missing path")
	}
}

func TestSubtreeEntries(t *testing.T) {
	n := New(Config{Origin: "a~1"})
	write(t, n, StringPath("d"), enc(0))
	for _, k := range []string{"a", "b", "c", "d"} {
		write(t, n, StringPath("d", k), enc(1))
	}
	del(t, n, StringPath("d", "b"))
	write(t, n, StringPath("e"), enc(1))
	var got []string
	var after Path
	for {
		after = n.SubtreeEntries(StringPath("d"), after, 2, func(u *Update) { got = append(got, u.Ops[0].Path.String()) })
		if after == nil {
			break
		}
	}
	if want := []string{"d", "d.a", "d.b", "d.c", "d.d"}; !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v (tombstone d.b included)", got, want)
	}
}

func TestSettle(t *testing.T) {
	n := New(Config{Origin: "me~2"})
	n.Apply(single("me~1", 1, 5, StringPath("a"), enc(1), nil))
	n.SeeHead("me~1", 4) // ticks 2..4 announced, never received
	n.Ready()
	if got := n.Settle("me~1", Upto(4)); got != 3 {
		t.Fatalf("Settle = %d, want 3", got)
	}
	if !n.MissingOf("me~1").Empty() || n.Stats().Settled != 3 || n.Stats().Applied != 1 {
		t.Fatalf("missing %v stats %+v", n.MissingOf("me~1"), n.Stats())
	}
	if eff := n.Ready(); len(eff.Log) != 0 || len(eff.Send) != 0 || len(eff.Events) != 0 {
		t.Fatalf("effects %+v: the caller logs settled ticks as one range", eff)
	}
	if !n.Known()["me~1"].Equal(Upto(4)) || n.Tock() != 5 {
		t.Fatalf("known %v tock %d", n.Known(), n.Tock())
	}
	// A range of 2^32 ticks costs one range, not one update per tick.
	n.SeeHead("far~1", 1<<32)
	if got := n.Settle("far~1", Upto(1<<32)); got != 1<<32 || !n.MissingOf("far~1").Empty() {
		t.Fatalf("Settle of 2^32 ticks = %d, missing %v", got, n.MissingOf("far~1"))
	}
	// Never the node's own origin, and a second settle is a no-op.
	n.SeeHead("me~2", 3)
	if n.Settle("me~2", Upto(3)) != 0 || n.MissingOf("me~2").Len() != 3 {
		t.Fatal("settled the node's own origin")
	}
	if n.Settle("me~1", Upto(4)) != 0 {
		t.Fatal("settled twice")
	}
}

func TestForget(t *testing.T) {
	n := New(Config{Origin: "me~2"})
	n.Apply(single("old~1", 1, 5, StringPath("a"), enc(1), nil))
	n.Apply(single("old~1", 2, 6, StringPath("b"), enc(1), nil))
	n.Apply(single("old~1", 3, 7, StringPath("b"), nil, Chain{{"old~1", 2}}))
	write(t, n, StringPath("c"), enc(1))
	n.Purge(map[string]uint64{"old~1": 2, "me~2": 1})
	n.Ready()
	digest := n.Digest(nil)
	if n.Forget([]string{"old~1", "me~2"}) != 1 {
		t.Fatal("Forget count")
	}
	if _, ok := n.Known()["old~1"]; ok || slices.Contains(n.Origins(), "old~1") {
		t.Fatalf("forgotten origin still in the vectors: %v", n.Known())
	}
	if _, ok := n.Highest()["old~1"]; ok {
		t.Fatal("forgotten origin in Highest")
	}
	if _, ok := n.PurgeWatermark()["old~1"]; ok {
		t.Fatal("forgotten origin in the watermark")
	}
	if _, ok := n.Lookup(StringPath("b")); ok {
		t.Fatal("tombstone of a forgotten origin kept")
	}
	if e, ok := n.Lookup(StringPath("a")); !ok || e.Origin != "old~1" || n.Digest(nil) != digest {
		t.Fatal("live entry of the forgotten origin lost")
	}
	// A late update of it (here: the one that wrote b) is ignored, not applied as new.
	if n.Apply(single("old~1", 2, 6, StringPath("b"), enc(1), nil)) {
		t.Fatal("late update of a forgotten origin applied")
	}
	n.SeeHead("old~1", 9)
	if len(n.Missing()) != 0 || n.Behind(map[string]uint64{"old~1": 3}) {
		t.Fatalf("missing %v after a late head", n.Missing())
	}
	n.Purge(map[string]uint64{"old~1": 3})
	if _, ok := n.PurgeWatermark()["old~1"]; ok {
		t.Fatal("a late watermark brought the origin back")
	}
	if !slices.Equal(n.Forgotten(), []string{"old~1"}) || n.Stats().Forgotten != 1 {
		t.Fatalf("Forgotten %v stats %+v", n.Forgotten(), n.Stats())
	}
	// Loading its entries (a state transfer) keeps them under the forgotten origin.
	n.Load(single("old~1", 1, 5, StringPath("a"), enc(1), nil))
	if len(n.Known()) != 1 || n.Settle("old~1", Upto(3)) != 0 {
		t.Fatalf("known %v", n.Known())
	}
}

func TestDropStale(t *testing.T) {
	n := New(Config{Origin: "a~1"})
	u := write(t, n, StringPath("x", "y"), enc(1))
	write(t, n, StringPath("z"), enc(2))
	n.Ready()
	other := New(Config{Origin: "b~1"})
	other.Apply(single("a~1", 2, n.Tock(), StringPath("z"), enc(2), nil))
	if n.DropStale(StringPath("x", "y"), u.Origin, u.Tick, u.Tock+1) {
		t.Fatal("dropped another version")
	}
	n.AddWatch(WatchSpec{ID: 7, Path: Path{}, MaxDepth: -1}) // on the root: x must still be pruned
	if !n.DropStale(StringPath("x", "y"), u.Origin, u.Tick, u.Tock) {
		t.Fatal("not dropped")
	}
	// Watchers see the entry go.
	if evs := n.Ready().Events; len(evs) != 1 || evs[0].Watch != 7 || !evs[0].Entry.Path.Equal(StringPath("x", "y")) || evs[0].Entry.HasData || evs[0].Entry.Value != nil {
		t.Fatalf("events %+v", evs)
	}
	if _, ok := n.Lookup(StringPath("x", "y")); ok || n.Len() != 1 || n.Digest(nil) != other.Digest(nil) {
		t.Fatalf("after drop: len %d", n.Len())
	}
	// DigestChildren lists every child, even one holding nothing live (Children would hide it).
	if _, kids, _ := n.DigestChildren(nil, nil, 0); len(kids) != 1 || kids[0].Name != String("z") || !n.Known()["a~1"].Contains(u.Tick) {
		t.Fatalf("the empty inner node stays (root children %+v), or the tick was forgotten", kids)
	}
	if _, ok := n.ByTick(u.Origin, u.Tick); ok {
		t.Fatal("still indexed by tick")
	}
}
