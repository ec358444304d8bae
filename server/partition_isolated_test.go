package server_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server"
	"github.com/distkv/distkv/server/servertest"
)

// TestPartitionIsolatedNodeResync: one node is cut off for long enough to be declared failed
// and forgotten (Config.ForgetAfter), while the others write and delete, and their
// housekeeper advances the purge watermark and purges the tombstones. The isolated node
// writes too (sets and deletes of its own). When the network heals it is behind the
// watermark: it must end identical to the others without resurrecting any path deleted
// meanwhile (it resynchronises: docs/housekeeping.md), and every write it acknowledged while
// isolated, or while resynchronising (a writer keeps going at it across the heal), must
// survive, with no tick used twice.
func TestPartitionIsolatedNodeResync(t *testing.T) {
	const (
		N      = 3
		iso    = 2
		old    = 40 // old/<k>: k < 20 deleted by the majority, k >= 35 by the isolated node
		majDel = 20
		isoDel = 35
	)
	majority := []int{0, 1}
	// A failed member is forgotten after ForgetAfter; until then it holds purges back (every
	// member must know a tick before its tombstone goes). Isolated "for a long time" means
	// longer than that: the majority forgets the isolated node and purges.
	const forget = 2 * time.Second
	c := servertest.New(t, servertest.Options{N: N, Seed: 41, Configure: func(_ int, cfg *server.Config) { cfg.ForgetAfter = forget }})
	partSeedOld(t, c, 0, old)
	wmBefore := partInfo(c, 0).purge

	c.Partition([]int{iso})
	took := partWaitSplit(t, c, [][]int{majority, {iso}}, 30*time.Second)
	t.Logf("n%d isolated; declared failed after %v", iso, took.Round(time.Millisecond))

	// The majority writes new paths and deletes old/0..19; the isolated node writes its own
	// paths and deletes old/35..39.
	var dels []servertest.Ack
	for k := 0; k < majDel; k++ {
		a, err := c.Delete(k%2, node.StringPath("old", fmt.Sprint(k)))
		if err != nil || a.Tick == 0 {
			t.Fatalf("delete old/%d: %v (%v)", k, err, a)
		}
		dels = append(dels, a)
	}
	for k := isoDel; k < old; k++ {
		if _, err := c.Delete(iso, node.StringPath("old", fmt.Sprint(k))); err != nil {
			t.Fatal(err)
		}
	}
	counts := partRun(t, c,
		partSide{Name: "maj", Nodes: majority, Writers: 2, Writes: 150, Private: 100, DeleteEvery: 10},
		partSide{Name: "iso", Nodes: []int{iso}, Writers: 2, Writes: 150, Private: 100, DeleteEvery: 10})
	t.Logf("while isolated: the majority made %d versions, n%d %d", counts[0].total(), iso, counts[1].total())

	// The majority's housekeeper advances the watermark past the deletes and purges them
	// (once it forgot the isolated node).
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, i := range majority {
			in := partInfo(c, i)
			for _, d := range dels {
				if in.purge[d.Origin] < d.Tick {
					ok = false
				}
			}
			if in.purged == 0 {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the majority did not purge the deletes within 30s: %v / %v", partInfo(c, 0), partInfo(c, 1))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// As get_state reports it.
	for _, i := range majority {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, err := c.Client(i).State(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dels {
			if st.Purge[d.Origin] < d.Tick {
				t.Errorf("n%d's get_state purge %v does not cover the delete %s", i, st.Purge, d)
			}
			if st.Purge[d.Origin] <= wmBefore[d.Origin] {
				t.Errorf("n%d's purge watermark of %s did not rise: %d, %d before the split", i, d.Origin, st.Purge[d.Origin], wmBefore[d.Origin])
			}
		}
		for _, d := range dels {
			var e node.Entry
			var found bool
			c.Node(i).Node(func(n *node.Node) { e, found = n.Lookup(d.Path) })
			if found && e.HasData {
				t.Errorf("n%d still holds %s (%s/%d deleted=%v) after purging", i, d.Path, e.Origin, e.Tick, e.Deleted)
			}
		}
	}
	// Isolated for a long time: the isolated node's own housekeeper (it is alone on its
	// side) has had its rounds too.
	if !partWaitWatermark(c, []int{iso}, 3*time.Second) {
		t.Logf("n%d's purge watermark does not cover its own writes before the heal", iso)
	}
	pre := partLogInfo(t, c, "before the heal")
	var isoLocal uint64
	c.Node(iso).Node(func(n *node.Node) { isoLocal = n.Stats().Local })

	// Writers keep writing across the heal: at the isolated node (through its
	// resynchronisation) and at the majority (whose pushes and serf events reach the returning
	// node as soon as it is back, racing the housekeeper's first round).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var acked, refused atomic.Int64
	var werrMu sync.Mutex
	var werr error
	for _, at := range []int{iso, 0} {
		cl, err := c.Dial(at)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				_, err := c.WriteWith(cl, at, node.StringPath("heal", fmt.Sprint(at), fmt.Sprint(k%50)), k)
				switch {
				case err == nil:
					if at == iso {
						acked.Add(1)
					}
				case errors.Is(err, clientproto.ErrNotReady):
					refused.Add(1)
				default:
					werrMu.Lock()
					werr = fmt.Errorf("writer at n%d: %w", at, err)
					werrMu.Unlock()
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	digests, converged, ok := partHeal(t, c, 20*time.Second)
	time.Sleep(300 * time.Millisecond) // the writer goes on a little after convergence
	close(stop)
	wg.Wait()
	if werr != nil {
		t.Error(werr)
	}
	if ok {
		t.Logf("identical digests %v after the heal, converged %v after", digests.Round(time.Millisecond), converged.Round(time.Millisecond))
		// Let the last writes of the writer spread too.
		c.WaitConverged(20 * time.Second)
	}
	var isoLocalAfter uint64
	c.Node(iso).Node(func(n *node.Node) { isoLocalAfter = n.Stats().Local })
	t.Logf("writer at n%d across the heal: %d acknowledged, %d refused (not ready); n%d resynchronised: %v (its local-update count went from %d to %d)",
		iso, acked.Load(), refused.Load(), iso, isoLocalAfter < isoLocal, isoLocal, isoLocalAfter)

	// Deleted paths stay deleted everywhere, the isolated node's writes and deletes survive.
	for _, i := range c.Running() {
		c.Node(i).Node(func(n *node.Node) {
			for k := 0; k < old; k++ {
				e, found := n.Lookup(node.StringPath("old", fmt.Sprint(k)))
				live := found && e.HasData && !e.Deleted
				want := k >= majDel && k < isoDel
				if live != want {
					t.Errorf("n%d: old/%d live=%v, want %v (%s/%d@%d)", i, k, live, want, e.Origin, e.Tick, e.Tock)
				}
			}
		})
	}
	c.CheckIdentical()
	c.CheckAcked()
	sideOf := func(i int) int {
		if i == iso {
			return 1
		}
		return 0
	}
	partCheckWinners(t, c, sideOf, pre)
	partCheckTicks(t, c)
}
