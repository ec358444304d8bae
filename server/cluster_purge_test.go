package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server"
	"github.com/distkv/distkv/server/servertest"
)

// TestClusterPartitionDeleteNotResurrected: during a partition, side A deletes a path (with a
// high tock: A's clock ran ahead) while side B writes the same path with a lower tock. No side
// may purge tombstones while the other is only failed (not forgotten): A's tombstone must
// survive the partition, so that once the sides merge the delete (the higher (tock, origin))
// wins everywhere and the older write does not come back.
func TestClusterPartitionDeleteNotResurrected(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 2, Seed: 31})
	const A, B = 0, 1
	p := node.StringPath("res", "p")
	c.MustWrite(A, p, "before")
	c.WaitConverged(10 * time.Second)

	c.Partition([]int{A})
	c.WaitStatus(A, B, "failed", 20*time.Second)
	c.WaitStatus(B, A, "failed", 20*time.Second)
	// B writes p with a low tock.
	bw := c.MustWrite(B, p, "from B, older")
	// A's clock runs ahead, then A deletes p.
	for k := 0; k < 20; k++ {
		c.MustWrite(A, node.StringPath("res", "a", fmt.Sprint(k)), k)
	}
	del, err := c.Delete(A, p)
	if err != nil {
		t.Fatal(err)
	}
	if del.Tock <= bw.Tock {
		t.Fatalf("setup: A's delete has tock %d, B's write %d: want the delete newer", del.Tock, bw.Tock)
	}
	// Several housekeeping rounds on A's side: with B failed but remembered, nothing is purged.
	time.Sleep(2 * time.Second)
	var purged uint64
	c.Node(A).Node(func(n *node.Node) { purged = n.Stats().Purged })
	if purged > 0 {
		t.Fatalf("A purged %d tombstones while B was only failed", purged)
	}
	t.Logf("A deleted %s at tock %d and kept the tombstone; B wrote it at tock %d", p, del.Tock, bw.Tock)

	c.Heal()
	took := c.WaitConverged(15 * time.Second)
	t.Logf("converged %v after the heal", took.Round(time.Millisecond))
	for _, i := range c.Running() {
		var e node.Entry
		var ok bool
		c.Node(i).Node(func(n *node.Node) { e, ok = n.Lookup(p) })
		if ok && !e.Deleted {
			t.Errorf("n%d: %s = %x written by %s/%d@%d came back over the newer delete %s/%d@%d",
				i, p, e.Value, e.Origin, e.Tick, e.Tock, del.Origin, del.Tick, del.Tock)
		}
	}
	c.CheckIdentical()
	c.CheckAcked()
}

// TestClusterResyncKeepsWrites: node B is cut off long enough to be declared failed, while
// the other side writes (its housekeeper advances the purge watermark past what B knows, so B
// must resynchronise on return). B's writer never stops: before, during and after the
// partition, and during the resynchronisation. Nothing B acknowledged may be lost, no tick may
// be used twice, and every node must end with the same tree. A and B write disjoint paths.
// In the "deletes" case the other side also deletes some of its paths during the partition
// (and purges the tombstones).
func TestClusterResyncKeepsWrites(t *testing.T) {
	for _, deletes := range []bool{false, true} {
		name := "writes"
		if deletes {
			name = "deletes"
		}
		t.Run(name, func(t *testing.T) { testResync(t, deletes) })
	}
}

func testResync(t *testing.T, deletes bool) {
	// B stays away longer than the horizon after which failed members are forgotten: only then
	// may the others purge without it.
	c := servertest.New(t, servertest.Options{N: 3, Seed: 32, Configure: forgetSoon})
	const B = 2
	for k := 0; k < 300; k++ {
		c.MustWrite(k%2, node.StringPath("a", fmt.Sprint(k%100)), k)
	}
	if deletes {
		// A tombstone to purge before the partition: purging starts at once after it.
		c.MustWrite(0, node.StringPath("a", "tomb"), 0)
		if _, err := c.Delete(0, node.StringPath("a", "tomb")); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitConverged(10 * time.Second)

	stop := make(chan struct{})
	bDone := make(chan *loadResult)
	go func() {
		res := &loadResult{}
		for k := 0; ; k++ {
			select {
			case <-stop:
				bDone <- res
				return
			default:
			}
			if _, err := c.Write(B, node.StringPath("b", fmt.Sprint(k%50)), k); err != nil {
				res.fail(err)
			} else {
				res.acked.Add(1)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	c.Partition([]int{B})
	c.WaitStatus(0, B, "failed", 20*time.Second)
	var purged0, tick0 uint64
	c.Node(0).Node(func(n *node.Node) { purged0, tick0 = n.Stats().Purged, n.Tick() })
	for k := 0; k < 100; k++ {
		c.MustWrite(k%2, node.StringPath("a", fmt.Sprint(k)), -k)
		if deletes && k%3 == 0 {
			if _, err := c.Delete(k%2, node.StringPath("a", fmt.Sprint(k))); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Let the housekeeper of A's side advance the watermark (and purge).
	deadline := time.Now().Add(20 * time.Second)
	for {
		var wm map[string]uint64
		var purged uint64
		c.Node(0).Node(func(n *node.Node) { wm, purged = n.PurgeWatermark(), n.Stats().Purged })
		if wm[c.Origin(0)] > tick0 && (!deletes || purged > purged0) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the majority side did not advance its purge watermark (%v) or purge (%d)", wm, purged)
		}
		time.Sleep(25 * time.Millisecond)
	}
	c.Heal()
	t0 := time.Now()
	c.WaitStatus(0, B, "alive", 20*time.Second)
	time.Sleep(time.Second) // B resynchronises while its writer runs
	close(stop)
	res := <-bDone
	for _, err := range res.errs {
		t.Errorf("B's writer: %v", err)
	}
	took := c.WaitConverged(15 * time.Second)
	t.Logf("B wrote %d times; converged %v after the heal (%v after B's writer stopped); B resynchronised %d times",
		res.acked.Load(), time.Since(t0).Round(time.Millisecond), took.Round(time.Millisecond),
		strings.Count(c.Logs(4000), "[n2] resynchronised with the network"))
	c.CheckIdentical()
	c.CheckAcked()
}

// forgetSoon makes failed members forgotten after 3s, so tests can outlast the horizon.
func forgetSoon(_ int, cfg *server.Config) { cfg.ForgetAfter = 3 * time.Second }
