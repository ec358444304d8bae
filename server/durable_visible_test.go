package server_test

import (
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distkv/distkv/eventlog"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server"
	"github.com/distkv/distkv/server/servertest"
)

// gateFS is the OS file system whose log segment fsyncs can be held back or made to fail.
type gateFS struct {
	eventlog.OSFS
	mu   sync.Mutex
	open chan struct{} // closed: fsyncs pass; nil: they fail
	fail bool
}

func newGateFS() *gateFS {
	g := &gateFS{open: make(chan struct{})}
	close(g.open)
	return g
}

// hold makes fsyncs wait until release.
func (g *gateFS) hold() (release func()) {
	ch := make(chan struct{})
	g.mu.Lock()
	g.open = ch
	g.mu.Unlock()
	return func() { close(ch) }
}

func (g *gateFS) setFail(f bool) {
	g.mu.Lock()
	g.fail = f
	g.mu.Unlock()
}

func (g *gateFS) OpenFile(name string, flag int, perm os.FileMode) (eventlog.File, error) {
	f, err := g.OSFS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return &gateFile{File: f, g: g}, nil
}

type gateFile struct {
	eventlog.File
	g *gateFS
}

func (f *gateFile) Sync() error {
	f.g.mu.Lock()
	open, fail := f.g.open, f.g.fail
	f.g.mu.Unlock()
	<-open
	if fail {
		return syscall.EIO
	}
	return f.File.Sync()
}

func durableWithFS(t *testing.T, n int, fsOf map[int]eventlog.FS) *servertest.Cluster {
	dirs := map[int]string{}
	var mu sync.Mutex
	return servertest.New(t, servertest.Options{N: n, Seed: 53, Configure: func(i int, cfg *server.Config) {
		mu.Lock()
		defer mu.Unlock()
		if dirs[i] == "" {
			dirs[i] = t.TempDir()
		}
		cfg.DataDir, cfg.Fsync, cfg.LogFS = dirs[i], "always", fsOf[i]
	}})
}

// A node's own tick leaves it only once durable: while its fsync is held back, no peer learns
// of the tick (the housekeeper asks for vectors and would pull it); once released, they do.
func TestOwnTickInvisibleUntilDurable(t *testing.T) {
	g := newGateFS()
	c := durableWithFS(t, 2, map[int]eventlog.FS{1: g})
	c.MustWrite(1, node.StringPath("v", "before"), 1)
	c.WaitConverged(15 * time.Second)
	origin := c.Origin(1)
	var tick uint64
	c.Node(1).Node(func(n *node.Node) { tick = n.Tick() })

	release := g.hold()
	done := make(chan error, 1)
	go func() {
		_, err := c.Write(1, node.StringPath("v", "held"), 2)
		done <- err
	}()
	// The write is applied on n1 and waits for its fsync.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var applied uint64
		c.Node(1).Node(func(n *node.Node) { applied = n.Tick() })
		if applied == tick+1 {
			break
		}
		if time.Now().After(deadline) {
			release()
			t.Fatalf("setup: n1 applied tick %d, want %d", applied, tick+1)
		}
	}
	// Several housekeeping rounds (200 ms each): n0 asks n1 for its vector every round.
	for deadline := time.Now().Add(1500 * time.Millisecond); time.Now().Before(deadline); {
		var seen uint64
		c.Node(0).Node(func(n *node.Node) { seen = n.Highest()[origin] })
		if seen > tick {
			release()
			t.Fatalf("n0 heard of n1's tick %d before it was durable on n1", seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.WaitConverged(15 * time.Second)
	c.CheckIdentical()
}

// A failed fsync refuses writes, keeps the update for the log's recovery, and once the disk
// works again the update is logged and replicated: a restart finds the node's whole history.
func TestFailedLogWriteIsRecovered(t *testing.T) {
	g := newGateFS()
	c := durableWithFS(t, 2, map[int]eventlog.FS{1: g})
	c.MustWrite(1, node.StringPath("v", "before"), 1)
	c.WaitConverged(15 * time.Second)
	g.setFail(true)
	_, err := c.Write(1, node.StringPath("v", "failed"), 2)
	if err == nil {
		t.Fatal("a write whose fsync failed was acknowledged")
	}
	if _, err := c.Write(1, node.StringPath("v", "refused"), 3); err == nil || !strings.Contains(err.Error(), "cannot take writes") {
		t.Fatalf("a write while the log fails: %v, want unavailable", err)
	}
	g.setFail(false)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.Write(1, node.StringPath("v", "after"), 4)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes still refused 30s after the disk recovered: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.WaitConverged(15 * time.Second)
	// The failed write was applied at n1; it must have reached the log and the peer.
	for _, i := range c.Running() {
		var ok bool
		c.Node(i).Node(func(n *node.Node) { _, ok = n.Lookup(node.StringPath("v", "failed")) })
		if !ok {
			t.Errorf("n%d lacks the write whose first fsync failed", i)
		}
	}
	var tick uint64
	origin := c.Origin(1)
	c.Node(1).Node(func(n *node.Node) { tick = n.Tick() })
	c.Stop(1)
	c.Restart(1)
	var known node.RangeSet
	c.Node(1).Node(func(n *node.Node) { known = n.Known()[origin] })
	if !known.Equal(node.Upto(tick)) {
		t.Fatalf("after a restart n1 knows %s of its origin %s, want 1-%d", known, origin, tick)
	}
	c.WaitConverged(15 * time.Second)
	c.CheckIdentical()
}
