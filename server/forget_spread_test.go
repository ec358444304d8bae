package server_test

import (
	"slices"
	"testing"
	"time"

	"github.com/distkv/distkv/gossip/wire"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server/servertest"
)

// An origin one member forgot reaches the members that never heard of it, during a partition
// too (no round is complete): a node of a network that formed on its own must ignore the
// origin's late updates before a merge replays them from serf's event ring. Before, only a
// member that still reported the origin was told, and only in a complete round; a member that
// had never heard of it took a replayed update of it as new, and a value whose delete the
// other network had purged long ago came back everywhere (TestFault, seed 299769).
func TestForgottenOriginsSpreadToMembersThatNeverHeardOfThem(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 3, Seed: 64})
	side := []int{0, 1}
	c.Partition(side, []int{2})
	partWaitSplit(t, c, [][]int{side, {2}}, 30*time.Second)

	const dead = "n9~1" // an origin the network forgot, which n0 never heard of
	c.Node(1).Node(func(n *node.Node) { n.Forget([]string{dead}) })
	deadline := time.Now().Add(15 * time.Second)
	for {
		var forgot bool
		c.Node(0).Node(func(n *node.Node) { forgot = slices.Contains(n.Forgotten(), dead) })
		if forgot {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n0 does not forget %s, which n1 forgot, after 15s", dead)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p := node.StringPath("stale")
	c.Node(0).DeliverUserEvent("u", wire.AppendUpdates(nil, []*node.Update{
		{Origin: dead, Tick: 1, Tock: 1, Ops: []node.Op{{Path: p, Value: node.AppendInt(nil, 1)}}}}))
	c.Node(0).Node(func(n *node.Node) {
		if e, ok := n.Lookup(p); ok {
			t.Errorf("a replayed update of the forgotten origin was applied: %+v", e)
		}
	})
}
