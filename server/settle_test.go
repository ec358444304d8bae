package server_test

import (
	"slices"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server/servertest"
)

// TestSettleLostTicksAndForgetOrigin: an old incarnation of n2 ("n2~1": n2 crashed and came
// back with a new origin) announced ticks up to 6; every node holds 1..3, only n1 holds 4, nobody
// 5 and 6. The purge watermark waits for every origin's missing ticks, so before settling it
// stalled for everyone. The housekeeper repairs 4 from n1, settles 5 and 6 as lost, purging
// goes on, and once the watermark covers the whole origin every node forgets it: it leaves
// the vectors, its live entry stays, and a late update of it is ignored.
func TestSettleLostTicksAndForgetOrigin(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 3, Seed: 47})
	const ghost = "n2~1"
	live, del, four := node.StringPath("g", "live"), node.StringPath("g", "del"), node.StringPath("g", "four")
	val := node.AppendString(nil, "v")
	for _, i := range c.Running() {
		c.Node(i).Node(func(n *node.Node) {
			n.Apply(&node.Update{Origin: ghost, Tick: 1, Tock: 1, Ops: []node.Op{{Path: live, Value: val}}})
			n.Apply(&node.Update{Origin: ghost, Tick: 2, Tock: 2, Ops: []node.Op{{Path: del, Value: val}}})
			n.Apply(&node.Update{Origin: ghost, Tick: 3, Tock: 3, Ops: []node.Op{{Path: del, Delete: true, Chain: node.Chain{{Origin: ghost, Tick: 2}}}}})
			if i == 1 {
				n.Apply(&node.Update{Origin: ghost, Tick: 4, Tock: 4, Ops: []node.Op{{Path: four, Value: val}}})
			}
			n.SeeHead(ghost, 6)
		})
	}
	// Purging goes on for the other origins: a delete made now is purged everywhere.
	p := node.StringPath("after")
	c.MustWrite(0, p, "x")
	if _, err := c.Delete(0, p); err != nil {
		t.Fatal(err)
	}
	waitAll(t, c, 30*time.Second, "the lost ticks settled and the delete purged", func(n *node.Node) bool {
		_, held := n.Lookup(p)
		return !held && n.MissingOf(ghost).Empty()
	})
	for _, i := range c.Running() {
		var e node.Entry
		var ok bool
		c.Node(i).Node(func(n *node.Node) { e, ok = n.Lookup(four) })
		if !ok || e.Origin != ghost {
			t.Errorf("n%d: tick 4, held by n1, was not repaired: %+v", i, e)
		}
		if got := statCounter(t, c, i, "settled"); got != 2 {
			t.Errorf("n%d settled %d ticks, want 2 (5 and 6)", i, got)
		}
	}
	waitAll(t, c, 30*time.Second, "the ghost origin forgotten", func(n *node.Node) bool {
		_, known := n.Known()[ghost]
		return !known && slices.Contains(n.Forgotten(), ghost)
	})
	c.WaitConverged(20 * time.Second)
	for _, i := range c.Running() {
		c.Node(i).Node(func(n *node.Node) {
			if e, ok := n.Lookup(live); !ok || e.Origin != ghost {
				t.Errorf("n%d: the live entry of the forgotten origin is gone: %+v", i, e)
			}
			if _, ok := n.PurgeWatermark()[ghost]; ok {
				t.Errorf("n%d: the forgotten origin is still in the watermark", i)
			}
			// A late duplicate of the write that the tombstone (purged now) deleted.
			if n.Apply(&node.Update{Origin: ghost, Tick: 2, Tock: 2, Ops: []node.Op{{Path: del, Value: val}}}) {
				t.Errorf("n%d: a late update of a forgotten origin was applied", i)
			}
		})
		if got := statCounter(t, c, i, "forgotten"); got != 1 {
			t.Errorf("n%d: forgotten counter %d", i, got)
		}
	}
	// A node joining now takes the state and forgets the origin too, instead of missing it.
	j := c.AddNode()
	c.WaitConverged(30 * time.Second)
	c.Node(j).Node(func(n *node.Node) {
		if !slices.Contains(n.Forgotten(), ghost) || len(n.MissingOf(ghost).Ranges()) > 0 {
			t.Errorf("joiner: forgotten %v", n.Forgotten())
		}
	})
}

// TestSettleNeverTheLiveOrigin: a head of a live member's origin beyond what anyone holds
// (an implausible announcement) is never settled: the member may still make those ticks.
func TestSettleNeverTheLiveOrigin(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 3, Seed: 53})
	c.MustWrite(1, node.StringPath("a"), "x")
	c.WaitConverged(20 * time.Second)
	o := c.Origin(1)
	c.Node(0).Node(func(n *node.Node) { n.SeeHead(o, n.Highest()[o]+3) })
	time.Sleep(3 * time.Second) // many rounds
	c.Node(0).Node(func(n *node.Node) {
		if n.MissingOf(o).Len() != 3 || n.Stats().Settled != 0 {
			t.Errorf("ticks of the live origin %s settled: missing %v, settled %d", o, n.MissingOf(o), n.Stats().Settled)
		}
	})
}

// waitAll polls until cond holds on every running node.
func waitAll(t *testing.T, c *servertest.Cluster, timeout time.Duration, what string, cond func(*node.Node) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		all := true
		for _, i := range c.Running() {
			c.Node(i).Node(func(n *node.Node) {
				if !cond(n) {
					all = false
				}
			})
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			ok, why := c.Converged()
			t.Fatalf("not %s within %v (converged %v: %s)\n%s", what, timeout, ok, why, c.Logs(30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
