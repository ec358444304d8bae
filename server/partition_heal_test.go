package server_test

import (
	"slices"
	"testing"
	"time"

	"github.com/distkv/distkv/server/servertest"
)

// TestPartitionHeal splits a cluster in two for long enough that each side declares the other
// failed and runs its own housekeeper (and purge watermark), while both sides keep writing:
// more than 1000 versions per side (beyond serf's event replay window), on paths of their
// own, on paths both sides write, and deletes, of shared paths and of paths written before
// the split. After the heal every node must hold the same tree, every acknowledged write must
// be there or have lost to a higher (tock, origin), and every path written on both sides must
// hold the version with the highest (tock, origin) on every node.
func TestPartitionHeal(t *testing.T) {
	cases := []struct {
		name    string
		n       int
		a, b    []int
		deletes bool
		short   bool // run under -short too
	}{
		{"2v3of5", 5, []int{0, 1, 2}, []int{3, 4}, true, true},
		{"3v3of6", 6, []int{0, 1, 2}, []int{3, 4, 5}, true, false},
		// The same without deletes: the purge watermark then has no tombstone to drop, and
		// the heal time of a 3|3 split is measured whatever happens to deletes.
		{"3v3of6_nodeletes", 6, []int{0, 1, 2}, []int{3, 4, 5}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && !tc.short {
				t.Skip("heavy: skipped under -short")
			}
			partHealCase(t, tc.n, tc.a, tc.b, tc.deletes)
		})
	}
}

func partHealCase(t *testing.T, n int, a, b []int, deletes bool) {
	const (
		old         = 60  // old/<k>, written before the split
		shared      = 100 // shared/<k>, written by both sides
		private     = 300 // <side>/<k>
		opsPerSide  = 1320
		deleteEvery = 8
	)
	c := servertest.New(t, servertest.Options{N: n, Seed: int64(n)})
	partSeedOld(t, c, 0, old)

	c.Partition(a, b)
	split := partWaitSplit(t, c, [][]int{a, b}, 30*time.Second)
	t.Logf("split %v | %v: each side runs alone after %v", a, b, split.Round(time.Millisecond))

	// Both sides set and delete the shared paths and delete paths written before the split
	// (present on both sides), and set and delete paths of their own.
	side := func(name string, nodes []int, parity int, delShared bool) partSide {
		writers := 2
		if len(nodes) == 2 {
			writers = 3
		}
		s := partSide{Name: name, Nodes: nodes, Writers: writers, Writes: opsPerSide / (writers * len(nodes)),
			Private: private, Shared: shared, Old: old, OldParity: parity, DeleteShared: delShared, DeleteEvery: deleteEvery}
		if !deletes {
			s.DeleteEvery = 0
		}
		return s
	}
	start := time.Now()
	counts := partRun(t, c, side("a", a, -1, true), side("b", b, -1, true))
	took := time.Since(start)
	for k, name := range []string{"a", "b"} {
		t.Logf("side %s wrote %d versions (%d sets, %d deletes) in %v", name, counts[k].total(),
			counts[k].sets.Load(), counts[k].deletes.Load(), took.Round(time.Millisecond))
		if counts[k].total() <= 1000 {
			t.Errorf("side %s made only %d versions; the test wants more than 1000 per side", name, counts[k].total())
		}
	}
	// A long partition gives each side's housekeeper time to advance its purge watermark
	// over everything the side wrote; wait for that (or for nothing, if the sides do not
	// purge while split), so that the state before the heal is stable.
	for k, nodes := range [][]int{a, b} {
		if !partWaitWatermark(c, nodes, 1500*time.Millisecond) {
			t.Logf("side %s: the purge watermark does not cover the side's writes before the heal", []string{"a", "b"}[k])
		}
	}
	pre := partLogInfo(t, c, "before the heal")

	digests, converged, ok := partHeal(t, c, 20*time.Second)
	if ok {
		t.Logf("heal of %v | %v with %d + %d versions written apart: identical digests %v after Heal(), converged (same known ticks) %v after",
			a, b, counts[0].total(), counts[1].total(), digests.Round(time.Millisecond), converged.Round(time.Millisecond))
	}
	partLogInfo(t, c, "after the heal")

	sideOf := func(i int) int {
		if slices.Contains(a, i) {
			return 0
		}
		return 1
	}
	entries := c.CheckIdentical()
	acks := c.CheckAcked()
	paths, both := partCheckWinners(t, c, sideOf, pre)
	partCheckTicks(t, c)
	t.Logf("%d entries, %d acknowledged writes checked, winners of %d paths checked (%d written on both sides), %d conflicts detected",
		entries, acks, paths, both, conflicts(c))
}
