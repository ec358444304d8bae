package server_test

import (
	"slices"
	"testing"
	"time"

	"github.com/distkv/distkv/server"
	"github.com/distkv/distkv/server/servertest"
)

// TestPartitionHeal splits a cluster in two for long enough that each side declares the other
// failed and runs its own housekeeper, while both sides keep writing: more than 1000 versions
// per side (beyond serf's event replay window), on paths of their own, on paths both sides
// write, and deletes, of shared paths and of paths written before the split. After the heal
// every node must hold the same tree, every acknowledged write must be there or have lost to a
// higher (tock, origin), and every path must hold the version with the highest (tock, origin)
// on every node. In the "forgotten" case the split outlasts the forget horizon
// (Config.ForgetAfter): the majority side forgets the minority and purges tombstones, the
// minority must not, and resyncs when the network heals (docs/housekeeping.md).
func TestPartitionHeal(t *testing.T) {
	cases := []struct {
		name    string
		n       int
		a, b    []int
		deletes bool
		forget  bool
		short   bool // run under -short too
	}{
		{"2v3of5", 5, []int{0, 1, 2}, []int{3, 4}, true, false, true},
		{"3v3of6", 6, []int{0, 1, 2}, []int{3, 4, 5}, true, false, false},
		// The same without deletes: the heal time of a 3|3 split with nothing but sets.
		{"3v3of6_nodeletes", 6, []int{0, 1, 2}, []int{3, 4, 5}, false, false, false},
		{"2v3of5_forgotten", 5, []int{0, 1, 2}, []int{3, 4}, true, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && !tc.short {
				t.Skip("heavy: skipped under -short")
			}
			partHealCase(t, tc.n, tc.a, tc.b, tc.deletes, tc.forget)
		})
	}
}

func partHealCase(t *testing.T, n int, a, b []int, deletes, forget bool) {
	const (
		old         = 60  // old/<k>, written before the split
		shared      = 100 // shared/<k>, written by both sides
		private     = 300 // <side>/<k>
		opsPerSide  = 1320
		deleteEvery = 8
	)
	opts := servertest.Options{N: n, Seed: int64(n)}
	if forget {
		opts.Configure = func(_ int, cfg *server.Config) { cfg.ForgetAfter = 2 * time.Second }
	}
	c := servertest.New(t, opts)
	partSeedOld(t, c, 0, old)

	c.Partition(a, b)
	split := partWaitSplit(t, c, [][]int{a, b}, 30*time.Second)
	t.Logf("split %v | %v: each side runs alone after %v", a, b, split.Round(time.Millisecond))

	// Both sides set and delete the shared paths and delete paths written before the split
	// (present on both sides), and set and delete paths of their own. Past the forget
	// horizon, side a (the majority) purges; a write made on side b with a lower tock than a
	// delete side a purged would then survive, the consequence docs/housekeeping.md accepts
	// (and CheckAcked would count that delete as lost): so there side a deletes only its own
	// paths and its half of the old ones, which side b never writes.
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
	sideA, sideB := side("a", a, -1, true), side("b", b, -1, true)
	if forget {
		sideA, sideB = side("a", a, 0, false), side("b", b, 1, true)
	}
	counts := partRun(t, c, sideA, sideB)
	took := time.Since(start)
	for k, name := range []string{"a", "b"} {
		t.Logf("side %s wrote %d versions (%d sets, %d deletes) in %v", name, counts[k].total(),
			counts[k].sets.Load(), counts[k].deletes.Load(), took.Round(time.Millisecond))
		if counts[k].total() <= 1000 {
			t.Errorf("side %s made only %d versions; the test wants more than 1000 per side", name, counts[k].total())
		}
	}
	// Let the sides' housekeepers run: within the forget horizon neither side purges; past
	// it the majority (side a) does, over everything it wrote.
	if forget {
		if !partWaitWatermark(c, a, 20*time.Second) {
			t.Errorf("side a, a majority that forgot side b, did not purge: %v", partInfo(c, a[0]))
		}
	} else {
		time.Sleep(time.Second)
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
