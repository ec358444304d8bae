package server

import (
	"slices"
	"testing"

	"github.com/distkv/distkv/gossip/wire"
	"github.com/distkv/distkv/node"
)

// Settled ticks survive a restart through the log (one known record for the whole range),
// and forgotten origins through the snapshot header: after each restart the node misses
// nothing of the old origin and keeps its live entry.
func TestSettledAndForgottenSurviveRestarts(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Name: "d1", DataDir: dir, Fsync: "always", SnapshotEvery: 1 << 20}
	const old, lost = "d1~1", 1 << 16
	p := node.StringPath("g", "a")
	s, stop := runServer(t, cfg)
	s.Node(func(n *node.Node) {
		n.Apply(&node.Update{Origin: old, Tick: 1, Tock: 1, Ops: []node.Op{{Path: p, Value: node.AppendInt(nil, 1)}}})
		n.SeeHead(old, lost)
	})
	write(t, s, "x", 1) // commits and logs what the node accumulated
	before := s.store.log.Last()
	if err := s.settle([]wire.Settle{{Origin: old, Ticks: node.Upto(lost)}}); err != nil {
		t.Fatal(err)
	}
	if recs := s.store.log.Last() - before; recs != 1 {
		t.Errorf("settling %d ticks logged %d records, want one", lost-1, recs)
	}
	s.Node(func(n *node.Node) {
		if n.Stats().Settled != lost-1 {
			t.Errorf("settled %d", n.Stats().Settled)
		}
	})
	stop()

	s, stop = runServer(t, cfg)
	s.Node(func(n *node.Node) {
		if !n.Known()[old].Equal(node.Upto(lost)) || !n.MissingOf(old).Empty() {
			t.Errorf("after a restart: known %v, missing %v", n.Known()[old], n.MissingOf(old))
		}
		n.Forget([]string{old})
	})
	if _, err := s.store.snapshot(); err != nil {
		t.Fatal(err)
	}
	stop()

	s, stop = runServer(t, cfg)
	defer stop()
	s.Node(func(n *node.Node) {
		if !slices.Contains(n.Forgotten(), old) || len(n.Missing()) != 0 {
			t.Errorf("after a restart from the snapshot: forgotten %v, missing %v", n.Forgotten(), n.Missing())
		}
		if _, ok := n.Known()[old]; ok {
			t.Error("the forgotten origin came back into the vectors")
		}
		if e, ok := n.Lookup(p); !ok || e.Origin != old {
			t.Errorf("the live entry of the forgotten origin: %+v", e)
		}
	})
}
