package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server/servertest"
)

// TestClusterJoinUnderLoad adds nodes while writers run at every node: each new node takes a
// donor's full state while updates keep coming (over serf, and pushes once it is ready), and
// must end identical to the others, with no acknowledged write lost. The new nodes then take
// writes too.
func TestClusterJoinUnderLoad(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 3, Seed: 3})
	// Some state to transfer first.
	for k := 0; k < 200; k++ {
		if _, err := c.Write(k%3, node.StringPath("pre", string(rune('a'+k%26)), string(rune('a'+k/26))), k); err != nil {
			t.Fatal(err)
		}
	}
	wait := startLoad(t, c, all(c), loadSpec{Writers: 2, Writes: 400, Paths: 50, DeleteEvery: 9, Pace: 2 * time.Millisecond})
	time.Sleep(300 * time.Millisecond)
	t0 := time.Now()
	n3 := c.AddNode()
	t.Logf("n%d joined and serves clients after %v", n3, time.Since(t0).Round(time.Millisecond))
	wait2 := startLoad(t, c, []int{n3}, loadSpec{Writers: 1, Writes: 150, Paths: 50, DeleteEvery: 9, Pace: 2 * time.Millisecond, Prefix: "load"})
	t0 = time.Now()
	n4 := c.AddNode()
	t.Logf("n%d joined and serves clients after %v", n4, time.Since(t0).Round(time.Millisecond))
	res, res2 := wait(), wait2()
	for _, err := range append(res.errs, res2.errs...) {
		t.Errorf("writer: %v", err)
	}
	if n := c.Dump(n4); len(n) == 0 {
		t.Errorf("n%d holds nothing", n4)
	}
	t.Logf("%d + %d writes acknowledged in %v", res.acked.Load(), res2.acked.Load(), res.took.Round(time.Millisecond))
	checkCluster(t, c, 60*time.Second)
}

// TestClusterJoinWithTombstones: a node joining after deletes (tombstones, perhaps purged
// already) ends with the same live tree and does not resurrect anything.
func TestClusterJoinAfterDeletes(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 2, Seed: 4})
	for k := 0; k < 100; k++ {
		c.MustWrite(k%2, node.StringPath("d", string(rune('a'+k%20))), k)
	}
	for k := 0; k < 20; k += 2 {
		if _, err := c.Delete(k%2, node.StringPath("d", string(rune('a'+k)))); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitConverged(30 * time.Second)
	// Let the housekeeper purge the tombstones (two rounds at 200ms).
	time.Sleep(time.Second)
	n := c.AddNode()
	c.MustWrite(n, node.StringPath("d", "new"), "x")
	checkCluster(t, c, 30*time.Second)
	if got := len(c.Dump(n)); got != 11 {
		t.Errorf("n%d holds %d entries, want 11", n, got)
	}
}

// TestClusterJoinHoldsStateWhenReady: a node opens its client port only once it holds the
// network's state. Right after AddNode returns, the new node must know every tick the
// network knew before it started to join. The network holds more than one pull reply's worth
// (4096 updates) of one origin, and recent serf events (which serf replays to a joining node)
// carry some of them, so the joining node has applied a few updates before it catches up.
func TestClusterJoinHoldsStateWhenReady(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: skipped under -short")
	}
	c := servertest.New(t, servertest.Options{N: 1, Seed: 5, HousekeepInterval: time.Minute})
	cl := c.Client(0)
	const n = 5000
	ctx := context.Background()
	for k := 0; k < n; k++ {
		if _, err := cl.Set(ctx, node.StringPath("many", fmt.Sprint(k)), []byte{0x01}); err != nil {
			t.Fatal(err)
		}
	}
	var before map[string]node.RangeSet
	c.Node(0).Node(func(nd *node.Node) { before = nd.Known() })
	j := c.AddNode()
	var after map[string]node.RangeSet
	var entries int
	c.Node(j).Node(func(nd *node.Node) { after, entries = nd.Known(), nd.Len() })
	for o, rs := range before {
		if miss := rs.Minus(after[o]); !miss.Empty() {
			t.Errorf("n%d serves clients without ticks %s of %s (it holds %d entries of %d)", j, miss, o, entries, n)
		}
	}
	c.WaitConverged(30 * time.Second)
	c.CheckIdentical()
}
