package server_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server"
	"github.com/distkv/distkv/server/servertest"
)

// TestCrashWhileWaitingWaitsAgain: C leaves, the others delete a path and purge its tombstone,
// and C starts again cut off from them: it waits. Killed while it waits, it starts again, still
// cut off, as a node that crashed; but its clock is the one it waited on, and the others did
// not hold the watermark for it: it must wait again. Once healed it takes writes ordered after
// the delete, and the delete holds everywhere.
func TestCrashWhileWaitingWaitsAgain(t *testing.T) {
	_, c := dirCluster(t, 3, 47)
	const A, C = 0, 2
	p := node.StringPath("crash", "p")
	tock := leaveAndPurge(t, c, A, p, C)

	c.Restart(C) // alone: waits
	refused(t, c, C, p, "restarted alone after leaving")
	c.Kill(C)
	c.Restart(C) // alone again, after a crash
	refused(t, c, C, p, "restarted alone after a crash while it waited")
	if !waiting(t, c, C) {
		t.Error("get_state does not say that the node waits")
	}

	c.Heal()
	c.WaitConverged(30 * time.Second)
	checkGone(t, c, p)
	writesAfter(t, c, C, tock)
	c.WaitConverged(30 * time.Second)
	c.CheckIdentical()
	c.CheckAcked()
}

// TestClockFloorSurvivesRestart: C leaves and the others' clock runs ahead; C starts again cut
// off and waits, then hears from them and takes writes on the clock it learned. The machine
// crashes before anything C logged since is on disk (--fsync never): the log it restarts from
// ends where the wait began, and with no wait left on disk it takes writes at once. They must
// still order after everything the network wrote before C's wait ended.
func TestClockFloorSurvivesRestart(t *testing.T) {
	const A, C = 0, 2
	dirs, c := dirCluster(t, 3, 49, func(i int, cfg *server.Config) {
		if i == C {
			cfg.Fsync = "never"
		}
	})
	c.MustWrite(A, node.StringPath("floor", "before"), 0)
	c.WaitConverged(10 * time.Second)
	c.Stop(C)
	c.Partition([]int{C})
	var last servertest.Ack
	for k := 0; k < 20; k++ {
		last = c.MustWrite(A, node.StringPath("floor", fmt.Sprint(k)), k)
	}
	c.WaitConverged(10 * time.Second) // every sure member's clock is at last.Tock or above

	c.Restart(C) // alone: waits, and logs nothing while it does
	refused(t, c, C, node.StringPath("floor", "c"), "restarted alone after leaving")
	durable := t.TempDir() // C's log as a machine crash from now on leaves it
	if err := os.CopyFS(durable, os.DirFS(filepath.Join(dirs[C], "log"))); err != nil {
		t.Fatal(err)
	}
	c.Heal()
	for deadline := time.Now().Add(30 * time.Second); waiting(t, c, C); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("C still waits 30s after the heal")
		}
	}

	c.Partition([]int{C}) // the others find it failed, and it starts again alone
	c.Kill(C)
	if err := os.RemoveAll(filepath.Join(dirs[C], "log")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dirs[C], "log"), os.DirFS(durable)); err != nil {
		t.Fatal(err)
	}
	c.Restart(C)
	var tock uint64
	c.Node(C).Node(func(n *node.Node) { tock = n.Tock() })
	if tock < last.Tock {
		t.Errorf("C restarted with tock %d, below the %d it learned when its wait ended", tock, last.Tock)
	}
	w, err := c.Write(C, node.StringPath("floor", "c"), "after")
	if err != nil {
		t.Fatalf("C, restarted after a crash, refused a write: %v", err)
	}
	if w.Tock <= last.Tock {
		t.Errorf("C's write after the crash has tock %d, not above %d", w.Tock, last.Tock)
	}
	c.Heal()
	c.WaitConverged(30 * time.Second)
	c.CheckIdentical()
	c.CheckAcked()
}
