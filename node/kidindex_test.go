package node

import (
	"fmt"
	"testing"
)

// Random inserts and removes agree with a map after every step: every name is found exactly
// when it is a member, the count is right and the table stays at most 3/4 full, through the
// growths, the shrinks and the backward shifts of the runs a removal breaks (wrapping at the
// table's end included: small pools keep the table small).
func TestKidIndexMatchesMap(t *testing.T) {
	for _, size := range []int{5, 40, 300} {
		t.Run(fmt.Sprint("pool", size), func(t *testing.T) {
			rng := newRng(uint64(size))
			pool := make([]Element, 0, size)
			seen := map[Element]bool{}
			for len(pool) < size {
				if e := randElement(rng); !seen[e] {
					seen[e] = true
					pool = append(pool, e)
				}
			}
			var x kidIndex
			ref := map[Element]*entry{}
			for step := range 30000 {
				name := pool[rng.IntN(len(pool))]
				// Phases of growth and of shrinking, so that the table grows and hands back.
				grow := (step/3000)%2 == 0
				if (grow && rng.IntN(5) > 0) || (!grow && rng.IntN(5) == 0) {
					if ref[name] == nil {
						c := newEntry(name, nil)
						x.insert(c)
						ref[name] = c
					}
				} else {
					c := x.remove(name)
					if c != ref[name] {
						t.Fatalf("step %d: remove %v = %p, want %p", step, name, c, ref[name])
					}
					delete(ref, name)
				}
				if x.n != len(ref) || x.n*4 > len(x.slots)*3 {
					t.Fatalf("step %d: n %d, want %d, table %d", step, x.n, len(ref), len(x.slots))
				}
				for _, p := range pool {
					if got := x.get(p); got != ref[p] {
						t.Fatalf("step %d: get %v = %p, want %p", step, p, got, ref[p])
					}
				}
			}
		})
	}
}

// A directory that shrinks from many children to few hands its table back.
func TestKidIndexShrinks(t *testing.T) {
	var x kidIndex
	es := make([]entry, 10000)
	for i := range es {
		es[i] = *newEntry(kidName(i), nil)
		x.insert(&es[i])
	}
	big := len(x.slots)
	for i := 100; i < len(es); i++ {
		if x.remove(es[i].name()) != &es[i] {
			t.Fatalf("remove %d", i)
		}
	}
	if len(x.slots) >= big/8 {
		t.Fatalf("table %d slots for %d children (was %d)", len(x.slots), x.n, big)
	}
	for i := range 100 {
		if x.get(es[i].name()) != &es[i] {
			t.Fatalf("lost %d", i)
		}
	}
}
