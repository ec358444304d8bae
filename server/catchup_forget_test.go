package server

import (
	"slices"
	"testing"

	"github.com/distkv/distkv/node"
)

// A node that forgot an origin and then takes the state of a donor that never heard of it
// (another network, as when a restarted node joins one that started alone meanwhile) keeps
// forgetting it: the origin's live entries come along, but a late update of it (a serf event
// replayed from the ring at a merge, a push in flight) stays ignored. Carrying the entries
// without the name brought the origin back to life in the fresh node: the stale update of a
// path whose delete was purged long ago was applied as new, and came back everywhere.
func TestCarryOverKeepsForgottenOrigins(t *testing.T) {
	const dead, other, self, donor = "b~1", "c~1", "b~2", "d~1"
	p, q := node.StringPath("f", "k13"), node.StringPath("f", "live")
	set := func(origin string, tick, tock uint64, path node.Path, v int64) *node.Update {
		return &node.Update{Origin: origin, Tick: tick, Tock: tock, Ops: []node.Op{{Path: path, Value: node.AppendInt(nil, v)}}}
	}
	stale := set(dead, 1, 10, p, 1) // the old origin's write of p, deleted later by other
	old := node.New(node.Config{Origin: self})
	old.Apply(stale)
	old.Apply(set(dead, 2, 11, q, 2)) // a live entry of the dead origin: it stays
	old.Apply(&node.Update{Origin: other, Tick: 1, Tock: 12, Ops: []node.Op{{Path: p, Delete: true}}})
	old.Purge(map[string]uint64{dead: 2, other: 1})
	old.Forget([]string{dead})
	old.Ready()
	if _, ok := old.Lookup(p); ok {
		t.Fatal("the delete's tombstone was not purged")
	}

	fresh := node.New(node.Config{Origin: self})
	fresh.Load(set(donor, 1, 20, node.StringPath("g"), 3))
	fresh.LoadSummary(map[string]node.RangeSet{donor: node.Upto(1)}, map[string]uint64{donor: 1}, 20, nil)
	carryOver(old, fresh)
	if e, ok := fresh.Lookup(p); ok {
		t.Fatalf("the carry brought the deleted value back: %+v", e)
	}

	if !slices.Contains(fresh.Forgotten(), dead) {
		t.Errorf("the fresh node no longer forgets %s: forgotten %v", dead, fresh.Forgotten())
	}
	if e, ok := fresh.Lookup(q); !ok || e.Origin != dead {
		t.Errorf("the live entry of the forgotten origin was not carried: %+v", e)
	}
	if _, ok := fresh.Highest()[dead]; ok {
		t.Errorf("the forgotten origin is back in the heads: %v", fresh.Highest())
	}
	if fresh.Apply(stale) {
		t.Error("a late update of the forgotten origin was applied as new")
	}
	if e, ok := fresh.Lookup(p); ok {
		t.Errorf("the deleted value came back: %+v", e)
	}
}
