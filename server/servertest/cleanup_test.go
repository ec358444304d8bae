package servertest

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/distkv/distkv/server"
)

func TestMain(m *testing.M) { Main(m) }

// cleanupTB records the cleanups registered on it, to run them itself in testing's order
// (last registered first), and makes its TempDirs itself: a removal checks that no server
// still runs, as the real one fails when a server writes into the directory meanwhile.
type cleanupTB struct {
	testing.TB
	c        *Cluster
	cleanups []func()
	early    []string // directories removed while a server ran
}

func (tb *cleanupTB) Cleanup(f func()) { tb.cleanups = append(tb.cleanups, f) }

// run runs the recorded cleanups, last first, once.
func (tb *cleanupTB) run() {
	fs := tb.cleanups
	tb.cleanups = nil
	for _, f := range slices.Backward(fs) {
		f()
	}
}

func (tb *cleanupTB) TempDir() string {
	dir, err := os.MkdirTemp(tb.TB.TempDir(), "node")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if tb.c != nil && len(tb.c.Running()) > 0 {
			tb.early = append(tb.early, dir)
		}
		os.RemoveAll(dir)
	})
	return dir
}

// A data directory made in Configure, for the first nodes and for one added later, is
// removed only after every server stopped.
func TestDataDirsOutliveServers(t *testing.T) {
	tb := &cleanupTB{TB: t}
	t.Cleanup(tb.run) // stops the servers if the test ends before its own run
	c := New(tb, Options{N: 2, Configure: func(i int, cfg *server.Config) { cfg.DataDir = tb.TempDir() }})
	tb.c = c
	c.AddNode()
	c.WaitMembers(30 * time.Second)
	tb.run()
	if len(tb.early) > 0 {
		t.Fatalf("data dirs removed while servers ran: %v", tb.early)
	}
	if r := c.Running(); len(r) > 0 {
		t.Fatalf("nodes %v still running after the cleanups", r)
	}
}
