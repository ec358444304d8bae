package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server/servertest"
)

// knows reports whether node i knows tick of origin.
func knows(c *servertest.Cluster, i int, origin string, tick uint64) bool {
	var ok bool
	c.Node(i).Node(func(n *node.Node) { ok = n.Known()[origin].Contains(tick) })
	return ok
}

// waitKnows polls until node i knows tick of origin, and fails the test after timeout.
func waitKnows(t *testing.T, c *servertest.Cluster, i int, origin string, tick uint64, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for !knows(c, i, origin, tick) {
		if time.Since(start) > timeout {
			ok, why := c.Converged()
			t.Fatalf("n%d does not know %s/%d after %v (converged %v: %s)", i, origin, tick, timeout, ok, why)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// TestClusterGapPull: node A's push of tick t+1 to node B fails (A and B are partitioned for a
// moment); once healed, A writes t+2, whose push reaches B: B sees the gap and must pull t+1
// promptly, without waiting for a housekeeping round (the housekeeper is slowed to a minute
// here, so only the gap detection can be fast). t+1's value is too big for a serf event, so
// only its head travels by gossip, and that is lost in the partition too.
func TestClusterGapPull(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 2, Seed: 11, HousekeepInterval: time.Minute})
	const A, B = 0, 1
	origin := c.Origin(A)
	c.MustWrite(A, node.StringPath("gap", "0"), "warm up the push stream")
	c.WaitConverged(10 * time.Second)

	pulls, pulled := max(0, metric(c.Node(B), `distkv_gap_pulls_total\{result="ok"\}`)), max(0, metric(c.Node(B), "distkv_gap_ticks_pulled_total"))
	c.Partition([]int{A})
	a1 := c.MustWrite(A, node.StringPath("gap", "1"), strings.Repeat("x", 4000))
	// Let the push fail and the head's gossip retransmits run out while partitioned.
	time.Sleep(500 * time.Millisecond)
	if knows(c, B, origin, a1.Tick) {
		t.Fatalf("B got %s/%d across the partition", origin, a1.Tick)
	}
	c.Heal()
	a2 := c.MustWrite(A, node.StringPath("gap", "2"), "after the heal")
	t0 := time.Now()
	took := waitKnows(t, c, B, origin, a2.Tick, 10*time.Second)
	t.Logf("B got t+2 (%s/%d) %v after the write", origin, a2.Tick, took.Round(time.Millisecond))
	waitKnows(t, c, B, origin, a1.Tick, 10*time.Second)
	t.Logf("B got the missing t+1 (%s/%d) %v after t+2 was written", origin, a1.Tick, time.Since(t0).Round(time.Millisecond))
	// The pull shows in B's metrics (the housekeeper, slowed to a minute, pulled nothing).
	if d := max(0, metric(c.Node(B), `distkv_gap_pulls_total\{result="ok"\}`)) - pulls; d < 1 {
		t.Errorf("distkv_gap_pulls_total{result=\"ok\"} moved by %v, want at least 1", d)
	}
	if d := max(0, metric(c.Node(B), "distkv_gap_ticks_pulled_total")) - pulled; d < 1 {
		t.Errorf("distkv_gap_ticks_pulled_total moved by %v, want at least 1", d)
	}
	c.WaitConverged(10 * time.Second)
	c.CheckIdentical()
	c.CheckAcked()
}

// TestClusterGapTail: the last write before a quiet period is lost on its way to B (no later
// write reveals the gap). B must still learn of it (the origin re-announces its head once idle,
// and the housekeeper compares vectors) within a few seconds.
func TestClusterGapTail(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 2, Seed: 12, HousekeepInterval: time.Minute})
	const A, B = 0, 1
	origin := c.Origin(A)
	c.MustWrite(A, node.StringPath("tail", "0"), "warm up")
	c.WaitConverged(10 * time.Second)
	c.Partition([]int{A})
	a1 := c.MustWrite(A, node.StringPath("tail", "1"), strings.Repeat("y", 4000))
	time.Sleep(500 * time.Millisecond)
	c.Heal()
	t0 := time.Now()
	waitKnows(t, c, B, origin, a1.Tick, 10*time.Second)
	t.Logf("B got the lost tail %s/%d %v after the heal", origin, a1.Tick, time.Since(t0).Round(time.Millisecond))
	c.WaitConverged(10 * time.Second)
	c.CheckIdentical()
	c.CheckAcked()
}

// TestClusterRepairFromThirdNode: tick t+1 of A reaches C but not B, then A leaves the network
// for good. B must get t+1 from C (the housekeeper sees that C knows it and B does not).
func TestClusterRepairFromThirdNode(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 3, Seed: 13})
	const A, B, C = 0, 1, 2
	origin := c.Origin(A)
	c.MustWrite(A, node.StringPath("third", "0"), "warm up")
	c.WaitConverged(10 * time.Second)
	c.Partition([]int{B})
	a1 := c.MustWrite(A, node.StringPath("third", "1"), strings.Repeat("z", 4000))
	waitKnows(t, c, C, origin, a1.Tick, 10*time.Second)
	c.Stop(A)
	c.Heal()
	t0 := time.Now()
	waitKnows(t, c, B, origin, a1.Tick, 15*time.Second)
	t.Logf("B got %s/%d from C %v after the heal, with A gone", origin, a1.Tick, time.Since(t0).Round(time.Millisecond))
	c.WaitConverged(10 * time.Second)
	c.CheckIdentical()
	c.CheckAcked()
}
