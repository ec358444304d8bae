package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server/servertest"
)

// houseCounter reads a counter of the housekeeper's status (and the housekeeper's index).
func houseCounter(t *testing.T, c *servertest.Cluster, key string) (uint64, int) {
	t.Helper()
	for _, i := range c.Running() {
		st, err := c.State(i)
		if err != nil {
			t.Fatal(err)
		}
		if st["housekeeper"] == c.Name(i) {
			return partUint(st[key]), i
		}
	}
	return 0, -1
}

func statCounter(t *testing.T, c *servertest.Cluster, i int, key string) uint64 {
	t.Helper()
	st, err := c.State(i)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := st["stats"].(map[string]any)
	return partUint(m[key])
}

// TestAntiEntropyRepairsCorruptTrees: two nodes' trees are changed behind the replication's
// back (a newer value at one path on one node, a newer tombstone at another path on another),
// so that every node knows the same ticks but the digests differ. The housekeeper narrows the
// difference down to the two paths and repairs them by the conflict rule: every node ends
// with the same tree, the tombstone included, and the counters show it.
func TestAntiEntropyRepairsCorruptTrees(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 3, Seed: 41})
	var acks []servertest.Ack
	for k := 0; k < 40; k++ {
		acks = append(acks, c.MustWrite(k%3, node.StringPath("ae", fmt.Sprint(k/10), fmt.Sprint(k)), k))
	}
	c.WaitConverged(20 * time.Second)

	v, w := acks[7], acks[23]
	c.Node(2).Node(func(n *node.Node) {
		n.Load(&node.Update{Origin: v.Origin, Tick: v.Tick, Tock: v.Tock + 1000,
			Ops: []node.Op{{Path: v.Path, Value: node.AppendString(nil, "corrupt but newer")}}})
	})
	c.Node(1).Node(func(n *node.Node) {
		n.Load(&node.Update{Origin: w.Origin, Tick: w.Tick, Tock: w.Tock + 1000,
			Ops: []node.Op{{Path: w.Path, Delete: true}}})
	})
	if ok, _ := c.Converged(); ok {
		t.Fatal("setup: digests still equal after the corruption")
	}
	c.WaitConverged(30 * time.Second)
	c.CheckIdentical()
	for _, i := range c.Running() {
		var ev, ew node.Entry
		var okv, okw bool
		c.Node(i).Node(func(n *node.Node) { ev, okv = n.Lookup(v.Path); ew, okw = n.Lookup(w.Path) })
		if !okv || ev.Tock != v.Tock+1000 {
			t.Errorf("n%d: %s is %+v, want the newer value", i, v.Path, ev)
		}
		if okw && (!ew.Deleted || ew.Tock != w.Tock+1000) { // absent: the tombstone was purged since
			t.Errorf("n%d: %s is %+v, want the newer tombstone", i, w.Path, ew)
		}
	}
	div, hk := houseCounter(t, c, "divergences")
	rep, _ := houseCounter(t, c, "repaired")
	var loaded uint64
	for _, i := range c.Running() {
		loaded += statCounter(t, c, i, "loaded")
	}
	t.Logf("housekeeper n%d: divergences %d, repaired %d; entries loaded %d", hk, div, rep, loaded)
	if div < 2 || rep < 4 || loaded < 4 {
		t.Fatalf("counters: divergences %d (want >= 2), repaired %d, loaded %d (want >= 4)", div, rep, loaded)
	}
}

// TestAntiEntropyKeepsPurgedDeletes: a node holds a live value the others deleted and purged
// (the resurrection of issue 8: all know the same ticks). The repair must not spread the
// value back to them: the node that kept it drops it, and all converge.
func TestAntiEntropyKeepsPurgedDeletes(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 3, Seed: 43})
	p := node.StringPath("ae", "gone")
	a := c.MustWrite(0, p, "old")
	c.WaitConverged(20 * time.Second)
	d, err := c.Delete(0, p)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		purged := true
		for _, i := range c.Running() {
			c.Node(i).Node(func(n *node.Node) {
				if _, ok := n.Lookup(p); ok {
					purged = false
				}
			})
		}
		if purged {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the tombstone was not purged")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// n2 gets the old value back behind the replication's back.
	c.Node(2).Node(func(n *node.Node) {
		n.Load(&node.Update{Origin: a.Origin, Tick: a.Tick, Tock: a.Tock, Ops: []node.Op{{Path: p, Value: a.Value}}})
	})
	c.WaitConverged(30 * time.Second)
	c.CheckIdentical()
	for _, i := range c.Running() {
		c.Node(i).Node(func(n *node.Node) {
			if e, ok := n.Lookup(p); ok {
				t.Errorf("n%d: the deleted %s (delete %s/%d) came back: %+v", i, p, d.Origin, d.Tick, e)
			}
		})
	}
	if got := statCounter(t, c, 2, "dropped"); got != 1 {
		t.Errorf("n2 dropped %d entries, want 1", got)
	}
}
