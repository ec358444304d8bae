package server_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/distkv/distkv/housekeeper"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server/servertest"
)

// TestPartitionTwoHousekeepers: a 2|2 split gives each side its own housekeeper, both acting
// (their round counters rise); both sides write, to the same paths too. Around the heal both
// may act at once. Afterwards every node holds the same tree, nothing acknowledged is lost,
// no tick is duplicated or missing, and every node names the same housekeeper again.
func TestPartitionTwoHousekeepers(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 4, Seed: 61})
	a, b := []int{0, 1}, []int{2, 3}
	c.Partition(a, b)
	partWaitSplit(t, c, [][]int{a, b}, 30*time.Second)

	rounds := func(i int) uint64 {
		st, err := c.State(i)
		if err != nil {
			t.Fatal(err)
		}
		r, ok := st["house_rounds"]
		if !ok {
			t.Fatalf("n%d, a housekeeper, reports no house_rounds: %v", i, st)
		}
		return partUint(r)
	}
	r0, r2 := rounds(0), rounds(2)
	counts := partRun(t, c,
		partSide{Name: "a", Nodes: a, Writers: 2, Writes: 150, Private: 100, Shared: 50},
		partSide{Name: "b", Nodes: b, Writers: 2, Writes: 150, Private: 100, Shared: 50})
	time.Sleep(500 * time.Millisecond)
	if r := rounds(0); r <= r0 {
		t.Errorf("n0 (housekeeper of side a) made no round during the split: %d -> %d", r0, r)
	}
	if r := rounds(2); r <= r2 {
		t.Errorf("n2 (housekeeper of side b) made no round during the split: %d -> %d", r2, r)
	}
	pre := partLogInfo(t, c, "before the heal")

	// Watch both housekeepers across the heal: for a moment both may act.
	both := make(chan bool)
	go func() {
		saw := false
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			s0, e0 := c.State(0)
			s2, e2 := c.State(2)
			if e0 == nil && e2 == nil && s0["housekeeper"] == "n0" && s2["housekeeper"] == "n2" {
				if _, ok := s2["house_rounds"]; ok {
					saw = true
				}
			}
			if e0 == nil && e2 == nil && s2["housekeeper"] == "n0" {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		both <- saw
	}()
	digests, converged, ok := partHeal(t, c, 20*time.Second)
	t.Logf("both sides' housekeepers seen acting after the heal began: %v", <-both)
	if ok {
		t.Logf("heal with %d + %d versions written apart: identical digests %v, converged %v",
			counts[0].total(), counts[1].total(), digests.Round(time.Millisecond), converged.Round(time.Millisecond))
	}
	c.CheckIdentical()
	c.CheckAcked()
	sideOf := func(i int) int { return i / 2 }
	paths, overlap := partCheckWinners(t, c, sideOf, pre)
	partCheckTicks(t, c)
	t.Logf("winners of %d paths checked (%d written on both sides), %d conflicts detected", paths, overlap, conflicts(c))
	c.WaitMembers(20 * time.Second)
	for _, i := range c.Running() {
		st, err := c.State(i)
		if err != nil {
			t.Fatal(err)
		}
		if st["housekeeper"] != "n0" {
			t.Errorf("n%d names housekeeper %v after the heal, want n0", i, st["housekeeper"])
		}
	}
}

func partUint(v any) uint64 {
	switch x := v.(type) {
	case uint64:
		return x
	case int64:
		return uint64(x)
	case uint8:
		return uint64(x)
	case uint16:
		return uint64(x)
	case uint32:
		return uint64(x)
	case int8:
		return uint64(x)
	case int16:
		return uint64(x)
	case int32:
		return uint64(x)
	case int:
		return uint64(x)
	}
	return 0
}

// partVectors builds random member reports: each member knows a random part of each origin's
// ticks (some known by no one), and its digest is a function of what it knows.
func partVectors(rng *rand.Rand, members, origins int) []housekeeper.Vector {
	var vs []housekeeper.Vector
	for m := 0; m < members; m++ {
		v := housekeeper.Vector{Member: fmt.Sprintf("m%d", m), Known: map[string]node.RangeSet{}, Highest: map[string]uint64{}}
		for o := 0; o < origins; o++ {
			name := fmt.Sprintf("o%d~1", o)
			var rs node.RangeSet
			top := uint64(rng.IntN(60))
			rs.AddRange(1, top/2+1) // everyone has a prefix
			for t := top/2 + 1; t <= top; t++ {
				if rng.IntN(3) > 0 {
					rs.Add(t)
				}
			}
			if !rs.Empty() {
				v.Known[name] = rs
				v.Highest[name] = max(top, rs.Max())
			}
		}
		v.Digest = partDigestOf(v.Known)
		vs = append(vs, v)
	}
	return vs
}

func partDigestOf(known map[string]node.RangeSet) [2]uint64 {
	var d [2]uint64
	for o, rs := range known {
		for _, r := range rs.Ranges() {
			for t := r.Start; t < r.End; t++ {
				h := uint64(len(o))*1_000_003 + t*7919
				d[0] ^= h * 0x9e3779b97f4a7c15
				d[1] ^= h * 0xc2b2ae3d27d4eb4f
			}
		}
	}
	return d
}

// partApply carries out repairs on copies of the reports, as members pulling would.
func partApply(vs []housekeeper.Vector, rs []housekeeper.Repair) []housekeeper.Vector {
	out := make([]housekeeper.Vector, len(vs))
	idx := map[string]int{}
	for k, v := range vs {
		known := map[string]node.RangeSet{}
		for o, r := range v.Known {
			known[o] = r.Clone()
		}
		out[k] = v
		out[k].Known = known
		idx[v.Member] = k
	}
	for _, r := range rs {
		from := vs[idx[r.From]].Known[r.Origin] // what the source reported
		got := r.Ticks.Intersect(from)
		k := idx[r.Member]
		u := out[k].Known[r.Origin]
		u.AddSet(got)
		out[k].Known[r.Origin] = u
	}
	for k := range out {
		out[k].Digest = partDigestOf(out[k].Known)
	}
	return out
}

// TestPartitionHousekeeperIdempotent: the housekeeper's decisions are pure and idempotent, so
// two nodes acting as housekeeper at once (each side's, around a heal) do no harm: the same
// reports give the same plan and watermark, carrying out a plan twice (or two housekeepers'
// plans) gives what carrying it out once gives, and after it there is nothing left to plan.
func TestPartitionHousekeeperIdempotent(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for round := 0; round < 200; round++ {
		vs := partVectors(rng, 2+rng.IntN(4), 1+rng.IntN(4))
		p1, p2 := housekeeper.Plan(vs), housekeeper.Plan(vs)
		if !reflect.DeepEqual(p1, p2) {
			t.Fatalf("Plan is not deterministic:\n%v\n%v", p1, p2)
		}
		once := partApply(vs, p1)
		twice := partApply(vs, append(slices.Clone(p1), p1...))
		if !reflect.DeepEqual(once, twice) {
			t.Fatalf("carrying a plan out twice differs from once")
		}
		// A second housekeeper that got the reports in another order.
		perm := slices.Clone(vs)
		rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		other := housekeeper.Plan(perm)
		bothPlans := partApply(vs, append(slices.Clone(p1), other...))
		if !reflect.DeepEqual(once, bothPlans) {
			t.Fatalf("two housekeepers' plans together differ from one")
		}
		if !housekeeper.Converged(once) {
			t.Fatalf("after the plan the members have not converged")
		}
		if again := housekeeper.Plan(once); len(again) != 0 {
			t.Fatalf("after the plan there is more to plan: %v", again)
		}
		if !reflect.DeepEqual(housekeeper.Heads(vs), housekeeper.Heads(perm)) {
			t.Fatalf("Heads depends on the order of the reports")
		}

		// Two watermark trackers fed the same rounds (two housekeepers with the same view)
		// announce the same watermarks; a round repeated changes nothing; the watermark
		// never falls.
		var w1, w2 housekeeper.Watermark
		prev := map[string]uint64{}
		for _, r := range [][]housekeeper.Vector{vs, vs, once, once} { // members never forget
			m1, _ := w1.Round(r)
			m2, _ := w2.Round(r)
			if !reflect.DeepEqual(m1, m2) {
				t.Fatalf("two housekeepers announce different watermarks: %v, %v", m1, m2)
			}
			m1b, _ := w1.Round(r)
			if m1b == nil {
				m1b = map[string]uint64{}
			}
			w2.Round(r)
			for o, t0 := range prev {
				if m1b[o] < t0 {
					t.Fatalf("the watermark of %s fell from %d to %d", o, t0, m1b[o])
				}
			}
			// Safe: never above what every member knows without a gap.
			for o, wt := range m1b {
				for _, v := range r {
					if v.Known[o].Contig() < wt {
						t.Fatalf("watermark %s:%d above what %s knows (%s)", o, wt, v.Member, v.Known[o])
					}
				}
			}
			prev = m1b
		}
		if !reflect.DeepEqual(w1.Current(), w2.Current()) {
			t.Fatalf("watermarks differ at the end: %v, %v", w1.Current(), w2.Current())
		}
	}
}
