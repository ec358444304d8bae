package node

import (
	"bytes"
	"reflect"
	"slices"
	"testing"
)

// eventsByWatch groups events per watch, as paths with a "-" suffix for deletes.
func eventsByWatch(evs []Event) map[uint64][]string {
	m := map[uint64][]string{}
	for _, ev := range evs {
		s := ev.Entry.Path.String()
		if ev.Entry.Deleted {
			s += "-"
		}
		m[ev.Watch] = append(m[ev.Watch], s)
	}
	return m
}

func TestWatchDepthBounds(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	specs := []WatchSpec{
		{ID: 1, Path: StringPath("a"), MinDepth: 0, MaxDepth: -1},
		{ID: 2, Path: StringPath("a"), MinDepth: 1, MaxDepth: 1},
		{ID: 3, Path: StringPath("a"), MinDepth: 0, MaxDepth: 0},
		{ID: 4, Path: StringPath("a", "b"), MinDepth: 1, MaxDepth: -1},
		{ID: 5, Path: Path{}, MinDepth: 2, MaxDepth: 2},
		{ID: 6, Path: StringPath("zzz"), MinDepth: 0, MaxDepth: -1},
		{ID: 7, Path: StringPath("a"), MinDepth: 3, MaxDepth: 1}, // empty window
	}
	for _, s := range specs {
		n.AddWatch(s)
	}
	for _, p := range []string{"a", "a.b", "a.b.c", "a.b.c.d", "ab", "x.a", "b.a.b", "a.x"} {
		write(t, n, sp(t, p), enc(1))
	}
	del(t, n, sp(t, "a.b.c"))
	del(t, n, sp(t, "x.a"))
	got := eventsByWatch(n.Ready().Events)
	want := map[uint64][]string{
		1: {"a", "a.b", "a.b.c", "a.b.c.d", "a.x", "a.b.c-"},
		2: {"a.b", "a.x"},
		3: {"a"},
		4: {"a.b.c", "a.b.c.d", "a.b.c-"},
		5: {"a.b", "x.a", "a.x", "x.a-"}, // depth 2 only: "b.a.b" is depth 3, "b.a" was never written
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events\n got %v\nwant %v", got, want)
	}
}

func TestWatchEventContent(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	n.AddWatch(WatchSpec{ID: 9, Path: StringPath("a"), MaxDepth: -1})
	u := write(t, n, StringPath("a", "b"), enc(7))
	evs := n.Ready().Events
	if len(evs) != 1 {
		t.Fatalf("events %v", evs)
	}
	e := evs[0].Entry
	if evs[0].Watch != 9 || !e.Path.Equal(StringPath("a", "b")) || !bytes.Equal(e.Value, enc(7)) || e.Deleted ||
		e.Origin != "me~1" || e.Tick != u.Tick || e.Tock != u.Tock || !reflect.DeepEqual(e.Chain, Chain{{"me~1", 1}}) || !e.HasData {
		t.Errorf("event entry %+v", e)
	}
	// The event's path is the watcher's own.
	e.Path[0] = String("changed")
	if _, ok := n.Lookup(StringPath("a", "b")); !ok {
		t.Error("event path aliases the tree")
	}
	del(t, n, StringPath("a", "b"))
	evs = n.Ready().Events
	if len(evs) != 1 || !evs[0].Entry.Deleted || evs[0].Entry.Value != nil || evs[0].Entry.Tick != 2 ||
		!reflect.DeepEqual(evs[0].Entry.Chain, Chain{{"me~1", 2}}) {
		t.Errorf("delete event %+v", evs)
	}
	// A no-op delete has no event.
	del(t, n, StringPath("a", "b"))
	if evs := n.Ready().Events; len(evs) != 0 {
		t.Errorf("no-op delete events %v", evs)
	}
	// A multi-path write gives its events in op order, in one batch.
	_, _, err := n.Write([]Change{{Path: StringPath("a", "z"), Value: enc(1)}, {Path: StringPath("a", "c"), Value: enc(2)}, {Path: StringPath("q"), Value: enc(3)}, {Path: StringPath("a"), Value: enc(4)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := eventsByWatch(n.Ready().Events)[9]; !reflect.DeepEqual(got, []string{"a.z", "a.c", "a"}) {
		t.Errorf("multi events %v", got)
	}
}

func TestWatchRemoteApply(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	n.AddWatch(WatchSpec{ID: 1, Path: StringPath("k"), MaxDepth: -1})
	p := StringPath("k", "x")
	win := single("b~1", 1, 10, p, enc(2), nil)
	lose := single("a~1", 1, 5, p, enc(1), nil)
	n.Apply(win)
	n.Apply(lose) // loses the conflict: no event
	n.Apply(win)  // duplicate: no event
	evs := n.Ready().Events
	if len(evs) != 1 || evs[0].Entry.Origin != "b~1" || !bytes.Equal(evs[0].Entry.Value, enc(2)) {
		t.Errorf("events %+v", evs)
	}
	n.Apply(single("c~1", 1, 11, p, nil, Chain{{"b~1", 1}}))
	evs = n.Ready().Events
	if len(evs) != 1 || !evs[0].Entry.Deleted || evs[0].Entry.Origin != "c~1" {
		t.Errorf("remote delete events %+v", evs)
	}
	// Load (full-state transfer) reports changes too.
	n.Load(single("d~1", 3, 20, StringPath("k", "y"), enc(3), nil))
	if evs := n.Ready().Events; len(evs) != 1 || evs[0].Entry.Origin != "d~1" {
		t.Errorf("load events %+v", evs)
	}
}

func TestRemoveWatch(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	write(t, n, StringPath("a", "b"), enc(1))
	before := walkAll(n, true)
	digest := n.Digest(nil)
	n.AddWatch(WatchSpec{ID: 1, Path: StringPath("a", "b", "c", "d"), MaxDepth: -1})
	n.AddWatch(WatchSpec{ID: 2, Path: StringPath("x", "y", "z"), MaxDepth: -1})
	n.AddWatch(WatchSpec{ID: 3, Path: StringPath("x"), MaxDepth: -1})
	n.AddWatch(WatchSpec{ID: 4, Path: Path{}, MaxDepth: -1})
	write(t, n, StringPath("x", "y", "z"), enc(1))
	if got := eventsByWatch(n.Ready().Events); len(got[2]) != 1 || len(got[3]) != 1 || len(got[4]) != 1 || len(got[1]) != 0 {
		t.Errorf("events %v", got)
	}
	del(t, n, StringPath("x", "y", "z"))
	n.Ready()
	n.RemoveWatch(2)
	n.RemoveWatch(2)   // twice: ignored
	n.RemoveWatch(999) // unknown: ignored
	write(t, n, StringPath("x", "y", "z"), enc(2))
	if got := eventsByWatch(n.Ready().Events); len(got[2]) != 0 || len(got[3]) != 1 {
		t.Errorf("events after RemoveWatch(2): %v", got)
	}
	del(t, n, StringPath("x", "y", "z"))
	n.RemoveWatch(1)
	n.RemoveWatch(3)
	n.RemoveWatch(4)
	n.Purge(map[string]uint64{"me~1": n.Tick()})
	n.Ready()
	write(t, n, StringPath("a", "b", "c", "d"), enc(1))
	if evs := n.Ready().Events; len(evs) != 0 {
		t.Errorf("events after removing every watch: %v", evs)
	}
	del(t, n, StringPath("a", "b", "c", "d"))
	n.Purge(map[string]uint64{"me~1": n.Tick()})
	// Every empty node the watches created is gone.
	if after := walkAll(n, true); !reflect.DeepEqual(after, before) {
		t.Errorf("nodes linger after RemoveWatch:\n got %v\nwant %v", pathsOf(after), pathsOf(before))
	}
	if c := n.Children(Path{}); !reflect.DeepEqual(c, []Element{String("a")}) {
		t.Errorf("Children(root) = %v", c)
	}
	if c := n.Children(StringPath("a", "b")); len(c) != 0 {
		t.Errorf("Children(a.b) = %v", c)
	}
	if n.Digest(nil) != digest {
		t.Error("digest changed")
	}
	// A watch on a written entry keeps the entry; removing it keeps it too.
	n.AddWatch(WatchSpec{ID: 5, Path: StringPath("a", "b"), MaxDepth: 0})
	n.RemoveWatch(5)
	if _, ok := n.Lookup(StringPath("a", "b")); !ok {
		t.Error("RemoveWatch dropped a written entry")
	}
	// A watch on a path keeps that node while a purge empties it; removing it then prunes.
	n.AddWatch(WatchSpec{ID: 6, Path: StringPath("w", "v"), MaxDepth: -1})
	write(t, n, StringPath("w", "v"), enc(1))
	del(t, n, StringPath("w", "v"))
	n.Purge(map[string]uint64{"me~1": n.Tick()})
	n.Ready()
	write(t, n, StringPath("w", "v", "u"), enc(1))
	if evs := n.Ready().Events; len(evs) != 1 || evs[0].Watch != 6 {
		t.Errorf("watch lost by a purge of its entry: %v", evs)
	}
	del(t, n, StringPath("w", "v", "u"))
	n.Purge(map[string]uint64{"me~1": n.Tick()})
	n.RemoveWatch(6)
	if after := walkAll(n, true); !reflect.DeepEqual(pathsOf(after), pathsOf(before)) {
		t.Errorf("nodes linger: %v", pathsOf(after))
	}
}

// Several watches on one path, with the same bounds: each gets its own event, in the order
// they were added.
func TestWatchMany(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	for id := uint64(1); id <= 5; id++ {
		n.AddWatch(WatchSpec{ID: id, Path: StringPath("a"), MaxDepth: -1})
	}
	write(t, n, StringPath("a", "b"), enc(1))
	var ids []uint64
	for _, ev := range n.Ready().Events {
		ids = append(ids, ev.Watch)
	}
	if !slices.Equal(ids, []uint64{1, 2, 3, 4, 5}) {
		t.Errorf("watch ids %v", ids)
	}
	n.RemoveWatch(3)
	write(t, n, StringPath("a", "b"), enc(2))
	ids = nil
	for _, ev := range n.Ready().Events {
		ids = append(ids, ev.Watch)
	}
	if !slices.Equal(ids, []uint64{1, 2, 4, 5}) {
		t.Errorf("watch ids after removing 3: %v", ids)
	}
}

// Found by this test (fixed in Children): a child whose subtree held nothing but a watch (or
// only tombstones) was listed, so a client watching "x.y.z" made "x" appear in a listing of
// the root although nothing was ever written there.
func TestChildrenIgnoresWatchOnlyNodes(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	write(t, n, StringPath("a"), enc(1))
	n.AddWatch(WatchSpec{ID: 1, Path: StringPath("x", "y", "z"), MaxDepth: -1})
	n.AddWatch(WatchSpec{ID: 2, Path: StringPath("a", "q", "r"), MaxDepth: -1})
	if c := n.Children(Path{}); !reflect.DeepEqual(c, []Element{String("a")}) {
		t.Errorf("Children(root) = %v, want [a]: a watch makes phantom children", c)
	}
	if c := n.Children(StringPath("a")); len(c) != 0 {
		t.Errorf("Children(a) = %v, want none", c)
	}
	if c := n.Children(StringPath("x")); len(c) != 0 {
		t.Errorf("Children(x) = %v, want none", c)
	}
}

// Children lists exactly the children with a live entry at or below them.
func TestChildrenLiveOnly(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	write(t, n, StringPath("t", "u"), enc(1))
	del(t, n, StringPath("t", "u"))
	write(t, n, StringPath("v"), enc(1))
	del(t, n, StringPath("v"))
	write(t, n, StringPath("w", "x", "y"), enc(1))
	write(t, n, StringPath("z"), enc(1))
	if c := n.Children(Path{}); !reflect.DeepEqual(c, []Element{String("w"), String("z")}) {
		t.Errorf("Children(root) = %v, want [w z]", c)
	}
	if c := n.Children(StringPath("w")); !reflect.DeepEqual(c, []Element{String("x")}) {
		t.Errorf("Children(w) = %v", c)
	}
	if c := n.Children(StringPath("nope")); c != nil {
		t.Errorf("Children(nope) = %v", c)
	}
	// Order is canonical across kinds.
	m := New(Config{Origin: "me~1"})
	kids := []Element{BytesStr("b"), String("s"), mustFloat(0.5), Int(-1), Uint(1 << 63), Bool(true), Nil()}
	for _, k := range kids {
		write(t, m, StringPath("p").Append(k), enc(1))
	}
	want := slices.Clone(kids)
	slices.SortFunc(want, Compare)
	if c := m.Children(StringPath("p")); !reflect.DeepEqual(c, want) || c[0] != Nil() {
		t.Errorf("Children(p) = %v, want %v", c, want)
	}
}
