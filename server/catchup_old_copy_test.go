package server_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server"
	"github.com/distkv/distkv/server/servertest"
)

// A node whose data directory is restored from an old copy is behind its own history by more
// ticks than one pull reply holds. Catch-up pulls all of them, in as many replies as it takes
// (docs/replication.md, "Joining and restarting", step 3), before the client port opens, rather
// than failing and retrying the whole catch-up once per reply.
func TestRestartFromOldCopyPullsAllOwnTicks(t *testing.T) {
	dirs := map[int]string{0: t.TempDir(), 1: t.TempDir()}
	const writes = 2000
	c := servertest.New(t, servertest.Options{N: 2, Seed: 62, HousekeepInterval: time.Hour, Configure: func(i int, cfg *server.Config) {
		// A clean stop keeps the origin. A frame of 64 KiB caps a pull reply at a few hundred
		// of these updates; no watermark passes the old copy's ticks (no rounds), so the
		// restart pulls rather than taking the donor's state.
		cfg.DataDir, cfg.Fsync, cfg.MaxPeerFrame = dirs[i], "never", 64<<10
	}})
	const B = 1
	c.MustWrite(B, node.StringPath("old"), 0)
	c.WaitConverged(15 * time.Second)
	c.Stop(B)
	old := t.TempDir()
	if err := os.CopyFS(old, os.DirFS(dirs[B])); err != nil {
		t.Fatal(err)
	}
	c.Restart(B)
	for k := range writes {
		c.MustWrite(B, node.StringPath("w", strings.Repeat("k", 20), strconv.Itoa(k)), k)
	}
	c.WaitConverged(30 * time.Second)
	var head uint64
	c.Node(B).Node(func(n *node.Node) { head = n.Tick() })
	c.Stop(B)
	if err := os.RemoveAll(dirs[B]); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dirs[B], os.DirFS(old)); err != nil {
		t.Fatal(err)
	}
	c.Restart(B) // returns once B serves clients
	c.Node(B).Node(func(n *node.Node) {
		if miss := n.MissingOf(n.Origin()); n.Tick() != head || !miss.Empty() {
			t.Errorf("serving at tick %d of %d, own ticks missing %v", n.Tick(), head, miss)
		}
	})
	if logs := c.Logs(4000); strings.Contains(logs, "catching up with the network failed") {
		t.Errorf("catch-up retried:\n%s", logs)
	}
}
