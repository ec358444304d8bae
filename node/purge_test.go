package node

import (
	"reflect"
	"testing"
)

func TestPurgeTombstones(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	write(t, n, StringPath("a"), enc(1))      // 1
	write(t, n, StringPath("b"), enc(1))      // 2
	write(t, n, StringPath("c"), enc(1))      // 3
	del(t, n, StringPath("a"))                // 4
	del(t, n, StringPath("b"))                // 5
	write(t, n, StringPath("d", "e"), enc(1)) // 6
	del(t, n, StringPath("d", "e"))           // 7
	n.Apply(single("r~1", 1, 100, StringPath("r"), nil, nil))
	n.Apply(single("r~1", 2, 101, StringPath("r2"), nil, nil))
	n.Ready()
	digest := n.Digest(nil)
	known := n.Known()

	if got := n.Purge(map[string]uint64{"me~1": 4}); got != 1 {
		t.Errorf("Purge(me:4) = %d, want 1 (a)", got)
	}
	if _, ok := n.Lookup(StringPath("a")); ok {
		t.Error("tombstone a at the watermark kept")
	}
	if e, ok := n.Lookup(StringPath("b")); !ok || !e.Deleted {
		t.Error("tombstone b above the watermark purged")
	}
	if e, ok := n.Lookup(StringPath("c")); !ok || e.Deleted {
		t.Error("live entry c below the watermark purged")
	}
	for _, p := range []string{"r", "r2"} {
		if _, ok := n.Lookup(StringPath(p)); !ok {
			t.Errorf("tombstone %s of another origin purged", p)
		}
	}
	if n.Stats().Purged != 1 {
		t.Errorf("Stats.Purged = %d", n.Stats().Purged)
	}
	if !reflect.DeepEqual(n.Known(), known) || len(n.Missing()) != 0 {
		t.Errorf("purge changed known ticks: %v, missing %v", n.Known(), n.Missing())
	}
	if n.Digest(nil) != digest {
		t.Error("purge changed the digest")
	}
	if evs := n.Ready(); len(evs.Events)+len(evs.Log)+len(evs.Send) != 0 {
		t.Errorf("purge produced effects %+v", evs)
	}

	// The watermark only grows; a lower one purges nothing more.
	if got := n.Purge(map[string]uint64{"me~1": 2}); got != 0 {
		t.Errorf("lower watermark purged %d", got)
	}
	if wm := n.PurgeWatermark(); !reflect.DeepEqual(wm, map[string]uint64{"me~1": 4}) {
		t.Errorf("watermark %v", wm)
	}
	// The returned map is a copy.
	n.PurgeWatermark()["me~1"] = 100
	if n.PurgeWatermark()["me~1"] != 4 {
		t.Error("PurgeWatermark returns the node's own map")
	}

	if got := n.Purge(map[string]uint64{"me~1": 7, "r~1": 1}); got != 3 {
		t.Errorf("Purge(me:7, r:1) = %d, want 3 (b, d.e, r)", got)
	}
	if n.Stats().Purged != 4 {
		t.Errorf("Stats.Purged = %d", n.Stats().Purged)
	}
	// The emptied inner node d is gone too; r2 (r~1 tick 2) stays.
	if got := pathsOf(walkAll(n, true)); !reflect.DeepEqual(got, []string{"c", "r2"}) {
		t.Errorf("tree after purge: %v", got)
	}
	if got := n.Children(Path{}); !reflect.DeepEqual(got, []Element{String("c")}) {
		t.Errorf("Children(root) = %v", got)
	}
	// Purged ticks stay known: an old update arriving again is a duplicate.
	if n.Apply(single("r~1", 1, 100, StringPath("r"), nil, nil)) {
		t.Error("purged tick applied again")
	}
	// After a purge the path can be written again, with a fresh chain.
	u := write(t, n, StringPath("a"), enc(2))
	if len(u.Ops[0].Chain) != 0 {
		t.Errorf("chain after purge %v", u.Ops[0].Chain)
	}
}

// A tombstone with children is purged but its children stay; the node becomes inner.
func TestPurgeInnerTombstone(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	write(t, n, StringPath("a"), enc(1))
	write(t, n, StringPath("a", "b"), enc(1))
	del(t, n, StringPath("a"))
	n.AddWatch(WatchSpec{ID: 1, Path: StringPath("a"), MaxDepth: -1})
	n.Purge(map[string]uint64{"me~1": n.Tick()})
	if _, ok := n.Lookup(StringPath("a")); ok {
		t.Error("a kept")
	}
	all := walkAll(n, true)
	if len(all) != 2 || all[0].HasData || !all[0].Path.Equal(StringPath("a")) || !all[1].Path.Equal(StringPath("a", "b")) {
		t.Errorf("tree %+v", all)
	}
	// The watch on a survives the purge.
	n.Ready()
	write(t, n, StringPath("a", "b"), enc(2))
	if evs := n.Ready().Events; len(evs) != 1 {
		t.Errorf("events %v", evs)
	}
	// Deleting and purging the child removes everything but the watched node.
	del(t, n, StringPath("a", "b"))
	n.Purge(map[string]uint64{"me~1": n.Tick()})
	n.RemoveWatch(1)
	if all := walkAll(n, true); len(all) != 0 {
		t.Errorf("tree %v", pathsOf(all))
	}
	// A valued parent survives the purge of its last child (DistKV's _chop would unlink it).
	write(t, n, StringPath("p"), enc(1))
	write(t, n, StringPath("p", "q"), enc(1))
	del(t, n, StringPath("p", "q"))
	n.Purge(map[string]uint64{"me~1": n.Tick()})
	if _, ok := n.Lookup(StringPath("p")); !ok {
		t.Error("valued parent removed with its purged child")
	}
}

// Serve reports purged and superseded ticks in superseded, and current ops as updates.
func TestServeSuperseded(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	write(t, n, StringPath("a"), enc(1))                                                                        // 1: superseded by 4
	write(t, n, StringPath("b"), enc(1))                                                                        // 2: superseded by 5
	write(t, n, StringPath("c"), enc(1))                                                                        // 3: current
	del(t, n, StringPath("a"))                                                                                  // 4: tombstone, purged below
	del(t, n, StringPath("b"))                                                                                  // 5: tombstone
	n.Write([]Change{{Path: StringPath("m", "1"), Value: enc(1)}, {Path: StringPath("m", "2"), Value: enc(2)}}) // 6
	write(t, n, StringPath("m", "1"), enc(3))                                                                   // 7: supersedes half of 6
	n.Purge(map[string]uint64{"me~1": 4})

	ups, sup := n.Serve("me~1", Upto(20), 0, 0)
	if !sup.Equal(NewRangeSet(Range{1, 3}, Range{4, 5})) {
		t.Errorf("superseded = %v, want 1-2,4", sup)
	}
	var ticks []uint64
	for _, u := range ups {
		ticks = append(ticks, u.Tick)
		if u.Origin != "me~1" {
			t.Errorf("origin %q", u.Origin)
		}
	}
	if !reflect.DeepEqual(ticks, []uint64{3, 5, 6, 7}) {
		t.Errorf("served ticks %v", ticks)
	}
	for _, u := range ups {
		switch u.Tick {
		case 5:
			if len(u.Ops) != 1 || !u.Ops[0].Delete || u.Ops[0].Value != nil {
				t.Errorf("tick 5 %+v", u.Ops)
			}
		case 6:
			if len(u.Ops) != 1 || !u.Ops[0].Path.Equal(StringPath("m", "2")) {
				t.Errorf("tick 6 ops %+v", u.Ops)
			}
		}
	}
	// max bounds the updates.
	ups, _ = n.Serve("me~1", Upto(20), 2, 0)
	if len(ups) != 2 || ups[0].Tick != 3 || ups[1].Tick != 5 {
		t.Errorf("Serve max 2: %v", ups)
	}
	// Ticks not known here are in neither result.
	ups, sup = n.Serve("me~1", NewRangeSet(Range{8, 100}), 0, 0)
	if len(ups) != 0 || !sup.Empty() {
		t.Errorf("unknown ticks: %v %v", ups, sup)
	}
	if ups, sup := n.Serve("nobody", Upto(5), 0, 0); ups != nil || !sup.Empty() {
		t.Error("unknown origin")
	}
	// A peer that pulls everything ends with the same live entries and known ticks.
	peer := New(Config{Origin: "peer~1"})
	ups, sup = n.Serve("me~1", Upto(n.Tick()), 0, 0)
	for _, u := range ups {
		// round trip through the wire, as a real pull would
		d, err := DecodeUpdate(u.AppendMsgpack(nil))
		if err != nil {
			t.Fatal(err)
		}
		peer.Apply(d)
	}
	peer.MarkKnown("me~1", sup)
	if peer.Digest(nil) != n.Digest(nil) || !reflect.DeepEqual(walkAll(peer, false), walkAll(n, false)) {
		t.Error("pulled state differs")
	}
	if !reflect.DeepEqual(peer.Known()["me~1"], n.Known()["me~1"]) || len(peer.Missing()) != 0 {
		t.Errorf("known %v vs %v", peer.Known(), n.Known())
	}
}

func TestBehind(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	for i := uint64(1); i <= 5; i++ {
		n.Apply(single("o~1", i, i, StringPath("k"), enc(int64(i)), nil))
	}
	n.Apply(single("o~1", 8, 8, StringPath("k"), enc(8), nil)) // 6, 7 missing
	write(t, n, StringPath("mine"), enc(1))
	cases := []struct {
		wm   map[string]uint64
		want bool
	}{
		{nil, false},
		{map[string]uint64{}, false},
		{map[string]uint64{"o~1": 5}, false},
		{map[string]uint64{"o~1": 6}, true}, // tick 6 below the watermark is missing
		{map[string]uint64{"o~1": 8}, true},
		{map[string]uint64{"o~1": 0}, false},
		{map[string]uint64{"me~1": 1}, false},
		{map[string]uint64{"me~1": 2}, true},
		{map[string]uint64{"never~1": 0}, false},
		{map[string]uint64{"never~1": 1}, true},
		{map[string]uint64{"o~1": 3, "never~1": 1}, true},
	}
	for _, c := range cases {
		if got := n.Behind(c.wm); got != c.want {
			t.Errorf("Behind(%v) = %v, want %v", c.wm, got, c.want)
		}
	}
	// Pulling the missing ticks ends being behind.
	n.MarkKnown("o~1", NewRangeSet(Range{6, 8}))
	if n.Behind(map[string]uint64{"o~1": 8}) {
		t.Error("still behind after learning 6-7")
	}
	// Tick 0 in a known set does not count as tick 1.
	m := New(Config{Origin: "me~1"})
	m.MarkKnown("z~1", NewRangeSet(Range{0, 1}, Range{2, 5}))
	if !m.Behind(map[string]uint64{"z~1": 1}) {
		t.Error("known {0, 2-4} is not behind watermark 1")
	}
}

func TestMissingAndHeads(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	n.SeeHead("o~1", 5)
	n.SeeHead("o~1", 3) // lower: ignored
	n.SeeHead("", 9)    // no origin: ignored
	n.Apply(single("o~1", 2, 2, StringPath("k"), enc(1), Chain{{"p~1", 4}}))
	want := map[string]RangeSet{"o~1": NewRangeSet(Range{1, 2}, Range{3, 6}), "p~1": Upto(4)}
	if got := n.Missing(); !reflect.DeepEqual(got, want) {
		t.Errorf("Missing = %v, want %v", got, want)
	}
	if got := n.MissingOf("o~1"); !got.Equal(want["o~1"]) {
		t.Errorf("MissingOf = %v", got)
	}
	if !n.MissingOf("nobody").Empty() {
		t.Error("MissingOf unknown origin")
	}
	if got := n.Highest(); !reflect.DeepEqual(got, map[string]uint64{"o~1": 5, "p~1": 4}) {
		t.Errorf("Highest = %v", got)
	}
	if got := n.Origins(); !reflect.DeepEqual(got, []string{"me~1", "o~1", "p~1"}) {
		t.Errorf("Origins = %v", got)
	}
	// Known and Missing return copies.
	k := n.Known()
	rs := k["o~1"]
	rs.Add(1)
	if n.Known()["o~1"].Contains(1) {
		t.Error("Known shares memory")
	}
}

func TestByTick(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	write(t, n, StringPath("a"), enc(1))                                                                        // 1
	n.Write([]Change{{Path: StringPath("m", "x"), Value: enc(1)}, {Path: StringPath("m", "y"), Value: enc(2)}}) // 2
	write(t, n, StringPath("a"), enc(3))                                                                        // 3 supersedes 1
	del(t, n, StringPath("m", "x"))                                                                             // 4
	if _, ok := n.ByTick("me~1", 1); ok {
		t.Error("superseded tick 1 found")
	}
	if e, ok := n.ByTick("me~1", 2); !ok || !e.Path.Equal(StringPath("m", "y")) || e.Tick != 2 {
		t.Errorf("tick 2: %+v %v", e, ok)
	}
	if e, ok := n.ByTick("me~1", 3); !ok || !e.Path.Equal(StringPath("a")) {
		t.Errorf("tick 3: %+v %v", e, ok)
	}
	if e, ok := n.ByTick("me~1", 4); !ok || !e.Deleted {
		t.Errorf("tick 4: %+v %v", e, ok)
	}
	n.Purge(map[string]uint64{"me~1": 4})
	for _, c := range []struct {
		o    string
		tick uint64
	}{{"me~1", 4}, {"me~1", 99}, {"nobody", 1}} {
		if _, ok := n.ByTick(c.o, c.tick); ok {
			t.Errorf("ByTick(%s, %d) found", c.o, c.tick)
		}
	}
}
