package tests

// The fault schedule of TestFault: a deterministic function of a seed, so that a failing run
// can be replayed (DISTKV_FAULT_SEED). Only the timing of its steps is wall-clock.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	faultSlots   = 6 // network namespaces; node slots
	faultInitial = 5 // nodes running at the start, in slots 0..4
	// At most this many nodes are down (killed or stopped) at once, and at least faultMinUp
	// run, so that a majority runs most of the time.
	faultMaxDown = 2
	faultMinUp   = 3
	// A partition, or a node down, lasts at most this many steps.
	faultMaxHold = 3
)

type faultKind int

const (
	fkSplit   faultKind = iota // a 2-way partition (healing the previous one first)
	fkHeal                     // every data link back on one bridge
	fkKill                     // kill -9 a node (restarted by a later step)
	fkTerm                     // SIGTERM a node, keeping its data (restarted by a later step)
	fkRestart                  // start a killed or stopped node again, same name and data
	fkJoin                     // a fresh node (new name, empty data dir) in an empty slot
	fkLeave                    // a node leaves for good: SIGTERM, data dir removed
	fkQuiet                    // nothing: time for the housekeeper to purge
	// start a node stopped by SIGTERM again, cut off from every other: it must wait for the
	// network (server/alone.go) while the others may have purged its deletes' tombstones
	fkRestartCut
	fkCount
)

var faultKindNames = [...]string{"split", "heal", "kill-9", "sigterm", "restart", "join", "leave", "quiet", "restart-cut"}

func (k faultKind) String() string { return faultKindNames[k] }

// faultStep is one step: do it, then wait dwell.
type faultStep struct {
	kind  faultKind
	slot  int   // kill, term, restart, join, leave
	side  []int // split: the slots moved to the second bridge
	dwell time.Duration
}

func (s faultStep) String() string {
	switch s.kind {
	case fkSplit:
		return fmt.Sprintf("split %v off, %v", s.side, s.dwell)
	case fkHeal, fkQuiet:
		return fmt.Sprintf("%s, %v", s.kind, s.dwell)
	case fkRestartCut:
		return fmt.Sprintf("%s slot %d (split %v off), %v", s.kind, s.slot, s.side, s.dwell)
	}
	return fmt.Sprintf("%s slot %d, %v", s.kind, s.slot, s.dwell)
}

type faultSlotState int

const (
	fsEmpty faultSlotState = iota
	fsUp
	fsDown
)

// faultSim tracks what the schedule did so far: which slots run, which are down (and since
// which step), and the partition.
type faultSim struct {
	slots     [faultSlots]faultSlotState
	downSince [faultSlots]int
	termed    [faultSlots]bool // down after a SIGTERM (a graceful stop)
	split     bool
	splitAt   int
}

func newFaultSim() *faultSim {
	s := &faultSim{}
	for i := 0; i < faultInitial; i++ {
		s.slots[i] = fsUp
	}
	return s
}

func (s *faultSim) count(st faultSlotState) int {
	n := 0
	for _, x := range s.slots {
		if x == st {
			n++
		}
	}
	return n
}

func (s *faultSim) with(st faultSlotState) []int {
	var out []int
	for i, x := range s.slots {
		if x == st {
			out = append(out, i)
		}
	}
	return out
}

// apply records step k.
func (s *faultSim) apply(k int, st faultStep) {
	switch st.kind {
	case fkSplit:
		s.split, s.splitAt = true, k
	case fkHeal:
		s.split = false
	case fkKill, fkTerm:
		s.slots[st.slot], s.downSince[st.slot] = fsDown, k
		s.termed[st.slot] = st.kind == fkTerm
	case fkRestart, fkJoin:
		s.slots[st.slot], s.termed[st.slot] = fsUp, false
	case fkRestartCut:
		s.slots[st.slot], s.termed[st.slot] = fsUp, false
		s.split, s.splitAt = true, k
	case fkLeave:
		s.slots[st.slot] = fsEmpty
	}
}

// faultSchedule returns n steps, a function of seed only. It retries derived streams until the
// schedule holds every kind of fault (for n >= 8), so that even a short run covers them all.
func faultSchedule(seed uint64, n int) []faultStep {
	var steps []faultStep
	for attempt := uint64(0); attempt < 1000; attempt++ {
		steps = faultGenerate(rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15^attempt)), n)
		if n < 8 || faultCovers(steps) {
			break
		}
	}
	return steps
}

// A cut-off restart needs a SIGTERM before it: it is required from 12 steps (the default).
func faultCovers(steps []faultStep) bool {
	var seen [fkCount]bool
	for _, s := range steps {
		seen[s.kind] = true
	}
	need := []faultKind{fkSplit, fkHeal, fkKill, fkTerm, fkRestart, fkJoin, fkLeave}
	if len(steps) >= 12 {
		need = append(need, fkRestartCut)
	}
	for _, k := range need {
		if !seen[k] {
			return false
		}
	}
	return true
}

func faultGenerate(rng *rand.Rand, n int) []faultStep {
	sim := newFaultSim()
	var steps []faultStep
	dwell := func(lo, hi float64) time.Duration {
		return time.Duration((lo + rng.Float64()*(hi-lo)) * float64(time.Second)).Round(100 * time.Millisecond)
	}
	pick := func(xs []int) int { return xs[rng.IntN(len(xs))] }
	for k := 0; k < n; k++ {
		var st faultStep
		forced := false
		if sim.split && k-sim.splitAt >= faultMaxHold {
			st, forced = faultStep{kind: fkHeal}, true
		} else {
			for _, i := range sim.with(fsDown) {
				if k-sim.downSince[i] >= faultMaxHold {
					st, forced = faultStep{kind: fkRestart, slot: i}, true
					break
				}
			}
		}
		if !forced {
			up, down, empty := sim.with(fsUp), sim.with(fsDown), sim.with(fsEmpty)
			var w [fkCount]int
			if !sim.split {
				w[fkSplit] = 3
			} else {
				w[fkHeal] = 3
			}
			if len(up) > faultMinUp && len(down) < faultMaxDown {
				w[fkKill], w[fkTerm] = 3, 2
			}
			if len(down) > 0 {
				w[fkRestart] = 3
			}
			var termed []int
			for _, i := range down {
				if sim.termed[i] {
					termed = append(termed, i)
				}
			}
			if !sim.split && len(termed) > 0 {
				w[fkRestartCut] = 3
			}
			if len(empty) > 0 {
				w[fkJoin] = 2
			}
			// A node leaves only when it can hand its writes over: no partition, none down.
			if !sim.split && len(down) == 0 && len(up) >= faultInitial {
				w[fkLeave] = 2
			}
			w[fkQuiet] = 2
			total := 0
			for _, x := range w {
				total += x
			}
			r := rng.IntN(total)
			var kind faultKind
			for kind = 0; r >= w[kind]; kind++ {
				r -= w[kind]
			}
			st.kind = kind
			switch kind {
			case fkSplit:
				// Split the slots in use (empty ones go either way): 1 or 2 off, or half.
				used := append(up, down...)
				slices.Sort(used)
				rng.Shuffle(len(used), func(i, j int) { used[i], used[j] = used[j], used[i] })
				off := 1 + rng.IntN(len(used)/2)
				st.side = append([]int(nil), used[:off]...)
				for _, e := range empty {
					if rng.IntN(2) == 0 {
						st.side = append(st.side, e)
					}
				}
				slices.Sort(st.side)
			case fkKill, fkTerm, fkLeave:
				st.slot = pick(up)
			case fkRestart:
				st.slot = pick(down)
			case fkRestartCut:
				st.slot = pick(termed)
				st.side = []int{st.slot}
			case fkJoin:
				st.slot = pick(empty)
			}
		}
		if st.kind == fkQuiet {
			st.dwell = dwell(4, 7)
		} else {
			st.dwell = dwell(1.5, 4)
		}
		sim.apply(k, st)
		steps = append(steps, st)
	}
	return steps
}

// TestFaultSchedule checks the generator without any process: the same seed gives the same
// schedule, and every schedule keeps its promises (enough nodes up, bounded holds, leaves only
// when the network is whole).
func TestFaultSchedule(t *testing.T) {
	a, b := faultSchedule(42, 200), faultSchedule(42, 200)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("seed 42 gives two schedules:\n%v\n%v", a, b)
	}
	if fmt.Sprint(a) == fmt.Sprint(faultSchedule(43, 200)) {
		t.Fatalf("seeds 42 and 43 give the same schedule")
	}
	t.Logf("seed 1, 12 steps:\n%s", faultFormat(faultSchedule(1, 12)))
	for seed := uint64(0); seed < 300; seed++ {
		n := 8 + int(seed%50)
		steps := faultSchedule(seed, n)
		if len(steps) != n {
			t.Fatalf("seed %d: %d steps, want %d", seed, len(steps), n)
		}
		if !faultCovers(steps) {
			t.Errorf("seed %d: %d steps miss a kind of fault: %v", seed, n, steps)
		}
		sim := newFaultSim()
		for k, st := range steps {
			bad := ""
			switch st.kind {
			case fkKill, fkTerm, fkLeave:
				if sim.slots[st.slot] != fsUp {
					bad = "the node is not up"
				}
				if st.kind == fkLeave && (sim.split || sim.count(fsDown) > 0) {
					bad = "leaves while the network is not whole"
				}
			case fkRestart:
				if sim.slots[st.slot] != fsDown {
					bad = "the node is not down"
				}
			case fkRestartCut:
				if sim.slots[st.slot] != fsDown || !sim.termed[st.slot] {
					bad = "the node is not down after a SIGTERM"
				}
				if sim.split {
					bad = "splits while a partition holds"
				}
			case fkJoin:
				if sim.slots[st.slot] != fsEmpty {
					bad = "the slot is taken"
				}
			case fkSplit:
				if len(st.side) == 0 || len(st.side) == faultSlots {
					bad = "not a 2-way split"
				}
			}
			sim.apply(k, st)
			if sim.count(fsUp) < faultMinUp || sim.count(fsDown) > faultMaxDown {
				bad = fmt.Sprintf("%d up, %d down", sim.count(fsUp), sim.count(fsDown))
			}
			if sim.split && k-sim.splitAt > faultMaxHold {
				bad = "a partition held too long"
			}
			if bad != "" {
				t.Fatalf("seed %d step %d (%v): %s\n%s", seed, k, st, bad, faultFormat(steps))
			}
		}
	}
}

func faultFormat(steps []faultStep) string {
	var b strings.Builder
	for k, s := range steps {
		fmt.Fprintf(&b, "  %2d %v\n", k, s)
	}
	return b.String()
}
