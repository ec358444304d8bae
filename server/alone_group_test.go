package server_test

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server"
	"github.com/distkv/distkv/server/servertest"
)

// joinCluster is dirCluster whose nodes join the addresses in join[i], when set, instead of
// the first running node: restarted nodes can find each other inside a partition.
func joinCluster(t *testing.T, n int, seed int64, join map[int][]int) *servertest.Cluster {
	dirs := map[int]string{} // nodes added later get one too
	var c *servertest.Cluster
	c = servertest.New(t, servertest.Options{N: n, Seed: seed, JoinTimeout: 2 * time.Second,
		Configure: func(i int, cfg *server.Config) {
			if dirs[i] == "" {
				dirs[i] = t.TempDir()
			}
			cfg.DataDir = dirs[i]
			if to, ok := join[i]; ok && c != nil {
				cfg.Join = nil
				for _, j := range to {
					cfg.Join = append(cfg.Join, net.JoinHostPort(c.Member(j).Host, "7946"))
				}
			}
		}})
	return c
}

// refused fails the test unless node i refuses a write as not ready.
func refused(t *testing.T, c *servertest.Cluster, i int, p node.Path, why string) {
	t.Helper()
	if w, err := c.Write(i, p, "old clock"); err == nil {
		t.Fatalf("n%d wrote %s at tock %d %s; want it refused", i, p, w.Tock, why)
	} else if !errors.Is(err, clientproto.ErrNotReady) {
		t.Fatalf("n%d's write %s: %v, want it refused as not ready", i, why, err)
	}
}

// waiting reports what node i's get_state says of its wait.
func waiting(t *testing.T, c *servertest.Cluster, i int) bool {
	t.Helper()
	st, err := c.State(i)
	if err != nil {
		t.Fatal(err)
	}
	w, ok := st["waiting"].(bool)
	if !ok {
		t.Fatalf("n%d's state has no waiting: %v", i, st["waiting"])
	}
	return w
}

// writesAfter waits until node i takes a write again and checks that it orders after tock.
func writesAfter(t *testing.T, c *servertest.Cluster, i int, tock uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		w, err := c.Write(i, node.StringPath("group", "after", fmt.Sprint(i)), "later")
		if err == nil {
			if w.Tock <= tock {
				t.Errorf("n%d's write has tock %d, not above %d", i, w.Tock, tock)
			}
			return
		}
		if !errors.Is(err, clientproto.ErrNotReady) || time.Now().After(deadline) {
			t.Fatalf("n%d takes no writes: %v", i, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// leaveAndPurge has node i write p and every node take it; then it stops the nodes left
// gracefully (they leave: the others purge without them) and cuts them off, so that they start
// again alone, and node i writes past their clocks, deletes p and purges its tombstone. It
// returns i's clock after the purge, at or above the delete's tock.
func leaveAndPurge(t *testing.T, c *servertest.Cluster, i int, p node.Path, left ...int) uint64 {
	t.Helper()
	c.MustWrite(i, p, "before")
	c.WaitConverged(10 * time.Second)
	for _, j := range left {
		c.Stop(j)
	}
	c.Partition(left)
	for k := 0; k < 20; k++ {
		c.MustWrite(i, node.StringPath("past", fmt.Sprint(k)), k) // i's clock runs ahead of theirs
	}
	deleteAndPurge(t, c, i, p)
	var tock uint64
	c.Node(i).Node(func(n *node.Node) { tock = n.Tock() })
	return tock
}

// TestLeftNodesRestartedTogetherWait: B and C stop gracefully, A deletes a path and purges its
// tombstone, and B and C start again together, cut off from A. Each is ready and answers the
// other, but neither knows A's clock: neither may end its wait on the other's word, nor may
// the second to start take writes because it caught up from the first. Once A is back both
// take writes ordered after its delete, and the delete holds everywhere. Both restart orders.
func TestLeftNodesRestartedTogetherWait(t *testing.T) {
	for _, order := range [][2]int{{1, 2}, {2, 1}} {
		t.Run(fmt.Sprintf("n%d_first", order[0]), func(t *testing.T) {
			const A, B, C = 0, 1, 2
			first, second := order[0], order[1]
			c := joinCluster(t, 3, 51+int64(first), map[int][]int{second: {first}})
			p := node.StringPath("group", "p")
			tock := leaveAndPurge(t, c, A, p, B, C)

			c.Restart(first) // alone
			c.Restart(second)
			refused(t, c, second, p, "after catching up only from a waiting member")
			time.Sleep(time.Second) // housekeeping rounds: each hears the other, waiting
			refused(t, c, first, p, "on the word of a member that waits too")
			refused(t, c, second, p, "on the word of a member that waits too")
			if !waiting(t, c, first) || !waiting(t, c, second) {
				t.Error("get_state does not say that the nodes wait")
			}

			c.Heal()
			c.WaitConverged(30 * time.Second)
			checkGone(t, c, p)
			writesAfter(t, c, B, tock)
			writesAfter(t, c, C, tock)
			if waiting(t, c, B) || waiting(t, c, C) {
				t.Error("get_state says a node still waits once it takes writes")
			}
			c.WaitConverged(30 * time.Second)
			c.CheckIdentical()
			c.CheckAcked()
		})
	}
}

// TestWholeNetworkRestartedTakesWrites: every node stops gracefully at once (no leave reaches
// another, so each remembers the others), then all start again. Each waits, but once all it
// remembers are back and waiting, the group is the whole network: they take writes, ordered
// after everything written before, instead of waiting for --forget-after.
func TestWholeNetworkRestartedTakesWrites(t *testing.T) {
	c := joinCluster(t, 3, 55, map[int][]int{1: {0}, 2: {0}})
	for k := 0; k < 10; k++ {
		c.MustWrite(k%3, node.StringPath("whole", fmt.Sprint(k)), k)
	}
	c.WaitConverged(10 * time.Second)
	var tock uint64
	for i := 0; i < 3; i++ {
		c.Node(i).Node(func(n *node.Node) { tock = max(tock, n.Tock()) })
	}
	c.Partition([]int{0}, []int{1}, []int{2}) // the leaves reach nobody
	for i := 0; i < 3; i++ {
		c.Stop(i)
	}
	c.Heal()
	for i := 0; i < 3; i++ {
		c.Restart(i)
	}
	for i := 0; i < 3; i++ {
		writesAfter(t, c, i, tock)
	}
	c.WaitConverged(30 * time.Second)
	c.CheckIdentical()
	c.CheckAcked()
}

// TestFreshNodeJoiningWaitingMembersWaits: a new node whose only donor waits took a state on a
// clock that may be behind the network's: it waits with its donor, and takes writes once the
// network is back.
func TestFreshNodeJoiningWaitingMembersWaits(t *testing.T) {
	const A, B = 0, 1
	c := joinCluster(t, 2, 57, map[int][]int{2: {B}})
	p := node.StringPath("fresh", "p")
	tock := leaveAndPurge(t, c, A, p, B)
	c.Net.Partition([]string{c.Member(B).Host, "10.0.0.3"}) // B and the node to come

	c.Restart(B)
	D := c.AddNode() // joins B
	refused(t, c, D, p, "after taking the state of a waiting member")
	time.Sleep(time.Second) // housekeeping rounds: D hears only B, waiting
	refused(t, c, D, p, "on the word of a waiting member")
	c.Heal()
	c.WaitConverged(30 * time.Second)
	checkGone(t, c, p)
	writesAfter(t, c, D, tock)
	writesAfter(t, c, B, tock)
	c.WaitConverged(30 * time.Second)
	c.CheckIdentical()
	c.CheckAcked()
}
