package server_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server"
	"github.com/distkv/distkv/server/servertest"
)

// durableCluster is a cluster whose nodes keep their data directories across Restart.
func durableCluster(t *testing.T, n int, seed int64) *servertest.Cluster {
	var mu sync.Mutex
	dirs := map[int]string{}
	return servertest.New(t, servertest.Options{N: n, Seed: seed, Configure: func(i int, cfg *server.Config) {
		mu.Lock()
		defer mu.Unlock()
		if dirs[i] == "" {
			dirs[i] = t.TempDir()
		}
		cfg.DataDir, cfg.Fsync = dirs[i], "always"
	}})
}

// deleteAndPurge deletes p at node i together with a value too big for a serf event (so the
// serf event carries only a head announcement), and waits until node i purged the tombstone.
func deleteAndPurge(t *testing.T, c *servertest.Cluster, i int, p node.Path) {
	t.Helper()
	if _, err := c.Delete(i, p); err != nil {
		t.Fatal(err)
	}
	c.MustWrite(i, node.StringPath("big"), strings.Repeat("x", 3000))
	deadline := time.Now().Add(30 * time.Second)
	for {
		var purged uint64
		c.Node(i).Node(func(n *node.Node) { purged = n.Stats().Purged })
		if purged > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("n%d did not purge the tombstone of %s within 30s", i, p)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkGone fails unless no running node holds a live value at p, and every node's tree is
// identical.
func checkGone(t *testing.T, c *servertest.Cluster, p node.Path) {
	t.Helper()
	for _, i := range c.Running() {
		var e node.Entry
		var ok bool
		c.Node(i).Node(func(n *node.Node) { e, ok = n.Lookup(p) })
		if ok && !e.Deleted {
			t.Errorf("n%d: purged delete of %s undone: it holds %x (%s/%d@%d)", i, p, e.Value, e.Origin, e.Tick, e.Tock)
		}
	}
	c.CheckIdentical()
}

// Scenario 1 of issue 8: a node stopped gracefully while the others delete a path and purge
// its tombstone must not bring the deleted value back when it restarts.
func TestRestartAfterPurgeDoesNotResurrect(t *testing.T) {
	c := durableCluster(t, 3, 41)
	p := node.StringPath("a", "x")
	c.MustWrite(0, p, "hello")
	c.WaitConverged(15 * time.Second)
	c.Stop(2)
	deleteAndPurge(t, c, 0, p)
	c.Restart(2)
	took := c.WaitConverged(30 * time.Second)
	t.Logf("converged %v after the restart", took.Round(time.Millisecond))
	checkGone(t, c, p)
	// Counted from the restart on: the restarted node never reports a tree that differs
	// from the others' while knowing the same ticks.
	if n := strings.Count(c.Logs(4000), "their trees differ"); n > 0 {
		t.Errorf("the housekeeper saw same ticks with different trees %d times", n)
	}
}

// Scenario 1, second half: a brand-new empty node joining after the purge gets serf's replay
// of old user events (the set of the deleted path among them); they must not survive the
// state transfer.
func TestJoinAfterPurgeDoesNotResurrect(t *testing.T) {
	c := durableCluster(t, 2, 43)
	p := node.StringPath("a", "x")
	c.MustWrite(0, p, "hello")
	// Enough entries that the state transfer takes a while: the replayed events arrive during it.
	cl := c.Client(0)
	for k := 0; k < 3000; k++ {
		if _, err := cl.SetValue(context.Background(), node.StringPath("fill", strconv.Itoa(k)), k); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitConverged(15 * time.Second)
	deleteAndPurge(t, c, 0, p)
	c.AddNode()
	c.WaitConverged(30 * time.Second)
	checkGone(t, c, p)
}
