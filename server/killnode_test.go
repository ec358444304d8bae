package server_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server/servertest"
)

// TestKillNodeReleasesWatermark: a member that crashed for good (failed, no new incarnation)
// holds the purge watermark until serf forgets it. kill_node is refused while it is alive and
// while its origin heads an entry; once accepted, the member leaves the membership, the
// watermark passes the delete, its tombstone is purged, the dead origin is forgotten everywhere and
// every node holds the same tree.
func TestKillNodeReleasesWatermark(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 3, Seed: 61})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dead := c.Origin(2)
	mine, gone := node.StringPath("k", "mine"), node.StringPath("k", "gone")
	c.MustWrite(2, mine, "v")
	c.MustWrite(2, gone, "v")
	if _, err := c.Delete(2, gone); err != nil { // a tombstone of the dead origin
		t.Fatal(err)
	}
	c.WaitConverged(20 * time.Second)
	if err := c.Client(0).KillNode(ctx, c.Name(2)); err == nil || !strings.Contains(err.Error(), "alive") {
		t.Fatalf("kill_node of a live member: %v", err)
	}
	c.Partition([]int{0, 1}, []int{2})
	c.Stop(2) // its leave does not get through: the others find it failed
	waitStatus(t, c, 0, c.Name(2), "failed")

	// Its live entry: refused, as DistKV does.
	err := c.Client(0).KillNode(ctx, dead)
	if err == nil || !errors.Is(err, clientproto.ErrBadRequest) || !strings.Contains(err.Error(), "has entry") {
		t.Fatalf("kill_node while the origin heads an entry: %v", err)
	}
	del, err := c.Delete(0, mine)
	if err != nil {
		t.Fatal(err)
	}
	// A failed member holds the watermark: the delete's tombstone stays.
	time.Sleep(3 * time.Second) // 15 housekeeping rounds
	c.Node(0).Node(func(n *node.Node) {
		if _, held := n.Lookup(mine); !held || n.PurgeWatermark()[del.Origin] >= del.Tick {
			t.Fatalf("the watermark passed the delete (%v) while a member is failed", n.PurgeWatermark())
		}
	})
	if err := c.Client(1).KillNode(ctx, "nobody"); err == nil || !strings.Contains(err.Error(), "no node") {
		t.Errorf("kill_node of an unknown node: %v", err)
	}
	if err := c.Client(1).KillNode(ctx, c.Origin(1)); !errors.Is(err, clientproto.ErrBadRequest) {
		t.Errorf("kill_node of the node itself: %v", err)
	}
	if err := c.Client(1).KillNode(ctx, c.Name(2)); err != nil {
		t.Fatalf("kill_node: %v", err)
	}
	waitAll(t, c, 60*time.Second, "the tombstones purged and the dead origin forgotten", func(n *node.Node) bool {
		_, m := n.Lookup(mine)
		_, g := n.Lookup(gone)
		_, known := n.Known()[dead]
		return !m && !g && !known && slices.Contains(n.Forgotten(), dead) && n.PurgeWatermark()[del.Origin] >= del.Tick
	})
	for _, i := range c.Running() {
		c.Node(i).Node(func(n *node.Node) {
			if _, ok := n.PurgeWatermark()[dead]; ok {
				t.Errorf("n%d: the killed origin is still in the watermark", i)
			}
		})
		if ms, err := c.Members(i); err != nil || ms[c.Name(2)] != "left" {
			t.Errorf("n%d: members %v (%v): want the killed member left", i, ms, err)
		}
	}
	c.WaitConverged(20 * time.Second)
	c.CheckIdentical()
}

// waitStatus waits until node i sees member name with the given status.
func waitStatus(t *testing.T, c *servertest.Cluster, i int, name, status string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ms, err := c.Members(i)
		if err == nil && ms[name] == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("n%d: %s is %q (%v), want %s", i, name, ms[name], err, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
