package server_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server"
	"github.com/distkv/distkv/server/servertest"
)

// TestLeftNodeRestartedAloneKeepsDeletes: C stops gracefully (it leaves, so the others purge
// without it), then starts again cut off from them: it reaches no --join address and starts
// alone, on a clock that knows nothing of what the others did meanwhile. The others deleted a
// path and purged the tombstone; a write of C on its old clock would have a lower tock. C must
// refuse writes until it hears from the others (or take them without undoing the delete): when
// the partition heals, the delete wins everywhere, and C's next write orders after it.
func TestLeftNodeRestartedAloneKeepsDeletes(t *testing.T) {
	_, c := dirCluster(t, 3, 41)
	const A, C = 0, 2
	p := node.StringPath("left", "p")
	tock := leaveAndPurge(t, c, A, p, C)

	c.Restart(C) // alone: the partition holds
	if cw, err := c.Write(C, p, "from C, older"); err == nil {
		t.Fatalf("C, restarted alone after leaving, wrote %s at tock %d (A's clock was at %d after the delete); want it refused", p, cw.Tock, tock)
	} else if !errors.Is(err, clientproto.ErrNotReady) {
		t.Fatalf("C's write while alone: %v, want it refused as not ready", err)
	}
	c.Heal()
	took := c.WaitConverged(30 * time.Second)
	t.Logf("converged %v after the heal", took.Round(time.Millisecond))
	checkGone(t, c, p)

	// Once C hears from the others, it takes writes again, ordered after their delete.
	deadline := time.Now().Add(30 * time.Second)
	for {
		cw, err := c.Write(C, node.StringPath("left", "after"), "from C, later")
		if err == nil {
			if cw.Tock <= tock {
				t.Errorf("C's write after the heal has tock %d, not above the delete's (at most %d)", cw.Tock, tock)
			}
			break
		}
		if !errors.Is(err, clientproto.ErrNotReady) || time.Now().After(deadline) {
			t.Fatalf("C does not take writes after the heal: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.WaitConverged(30 * time.Second)
	c.CheckIdentical()
	c.CheckAcked()
}

// TestAloneNodeWritesOnceItForgets: a node restarted alone, whose members never come back,
// takes writes again once it has remembered no other member for ForgetAfter: it is then the
// network.
func TestAloneNodeWritesOnceItForgets(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	c := servertest.New(t, servertest.Options{N: 2, Seed: 42, JoinTimeout: time.Second,
		Configure: func(i int, cfg *server.Config) { cfg.DataDir = dirs[i]; forgetSoon(i, cfg) }})
	c.MustWrite(0, node.StringPath("alone", "a"), 1)
	c.WaitConverged(10 * time.Second)
	c.Stop(1)
	c.Partition([]int{1})
	c.Restart(1)
	refused := false
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.Write(1, node.StringPath("alone", "b"), 2)
		if err == nil {
			break
		}
		if !errors.Is(err, clientproto.ErrNotReady) || time.Now().After(deadline) {
			t.Fatalf("the node alone does not take writes once it forgot the others: %v", err)
		}
		refused = true
		time.Sleep(50 * time.Millisecond)
	}
	if !refused {
		t.Error("the node took writes at once although it remembered another member")
	}
}

// TestCrashedNodeRestartedAloneTakesWrites: a node that crashed did not leave: the others count
// it as failed and purge nothing it has not seen, so, restarted alone, it takes writes at once,
// and its writes on its old clock still lose to the others' later deletes, whose tombstones are
// kept for it.
func TestCrashedNodeRestartedAloneTakesWrites(t *testing.T) {
	dirs, c := dirCluster(t, 3, 43)
	const A, C = 0, 2
	p := node.StringPath("crash", "p")
	c.MustWrite(A, p, "before")
	c.WaitConverged(10 * time.Second)

	c.Partition([]int{C}) // C's leave reaches nobody: the others see it fail
	c.Stop(C)
	// What a crash leaves behind: the running marker of a process that did not stop.
	if err := os.WriteFile(filepath.Join(dirs[C], "running"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 20; k++ {
		c.MustWrite(A, node.StringPath("crash", "a", fmt.Sprint(k)), k) // A's clock runs ahead of C's
	}
	if _, err := c.Delete(A, p); err != nil {
		t.Fatal(err)
	}

	c.Restart(C) // alone: the partition holds
	if _, err := c.Write(C, p, "from C, older"); err != nil {
		t.Fatalf("C, restarted alone after a crash, refused a write: %v", err)
	}
	c.Heal()
	c.WaitConverged(30 * time.Second)
	checkGone(t, c, p)
	c.CheckAcked()
}

// dirCluster starts n in-process nodes, each with a data directory of its own; also edits
// their configurations further.
func dirCluster(t *testing.T, n int, seed int64, also ...func(i int, cfg *server.Config)) ([]string, *servertest.Cluster) {
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = t.TempDir()
	}
	c := servertest.New(t, servertest.Options{N: n, Seed: seed, JoinTimeout: 2 * time.Second,
		Configure: func(i int, cfg *server.Config) {
			cfg.DataDir = dirs[i]
			for _, f := range also {
				f(i, cfg)
			}
		}})
	return dirs, c
}
