package tests

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
)

// term stops node k with SIGTERM and waits for it, failing the test on a non-zero exit.
func (c *clCluster) term(k int) {
	c.t.Helper()
	nd := c.nodes[k]
	nd.cl.Close()
	nd.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-nd.done:
	case <-time.After(30 * time.Second):
		c.t.Fatalf("%s did not stop within 30s of SIGTERM", nd.name)
	}
	if nd.err != nil {
		c.t.Errorf("%s exited with %v after SIGTERM", nd.name, nd.err)
	}
	nd.killed = true
}

// purged returns node k's count of purged tombstones.
func (c *clCluster) purged(k int) uint64 {
	c.t.Helper()
	st, err := c.state(k)
	if err != nil {
		c.t.Fatal(err)
	}
	stats, _ := st["stats"].(map[string]any)
	return faultUint(stats["purged"])
}

// Issue 8, scenario 1, on real processes with --fsync always: a node stopped with SIGTERM while
// the others delete a path (with a value too big for a serf event in the same moment) and purge
// the tombstone must not bring the value back when it restarts; nor may a brand-new node that
// joins afterwards (serf replays old user events to it). Every node's tree ends identical.
func TestRealRestartAndJoinAfterPurge(t *testing.T) {
	dirs := map[int]string{}
	withDir := func(k int, nd *clNode) {
		dirs[k] = t.TempDir()
		nd.extra = []string{"--data-dir", dirs[k], "--fsync", "always"}
	}
	c := clStartWith(t, 3, withDir)
	ctx := context.Background()
	p := node.StringPath("a", "x")
	if _, err := c.nodes[0].cl.SetValue(ctx, p, "hello"); err != nil {
		t.Fatal(err)
	}
	c.waitConverged(30 * time.Second)
	c.term(2)
	if _, err := c.nodes[0].cl.Delete(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := c.nodes[0].cl.SetValue(ctx, node.StringPath("big"), strings.Repeat("x", 3000)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for c.purged(0) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("n0 did not purge the tombstone within 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.launch(2)
	c.add(withDir)
	c.waitConverged(60 * time.Second)
	for _, k := range c.running() {
		if v, err := c.nodes[k].cl.Get(ctx, p); err == nil {
			t.Errorf("%s answers get %s with %x: the purged delete was undone", c.nodes[k].name, p, v.Raw)
		}
	}
	c.checkIdentical()
	for _, k := range c.running() {
		if n := strings.Count(c.nodes[k].log.String(), "their trees differ"); n > 0 {
			t.Errorf("%s logged %d times that members know the same ticks but their trees differ", c.nodes[k].name, n)
		}
	}
}
