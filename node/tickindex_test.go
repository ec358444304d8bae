package node

import (
	"iter"
	"maps"
	"math/bits"
	"slices"
	"testing"
)

// Random sets, replacements and deletions agree with a map after every step: get, len, all,
// and ticksIn over random ranges, short (page by page) and long (through the pages held),
// for ticks dense from 1, spread thin, and near MaxTick.
func TestTickIndexMatchesMap(t *testing.T) {
	for _, tc := range []struct {
		name       string
		base, span uint64
	}{{"dense", 1, 300}, {"sparse", 1, 1 << 20}, {"top", MaxTick - 500, 501}} {
		t.Run(tc.name, func(t *testing.T) {
			rng := newRng(tc.span)
			var x tickIndex
			ref := map[uint64]*entry{}
			es := make([]entry, 8)
			for step := range 20000 {
				tick := tc.base + rng.Uint64N(tc.span)
				if (step/2000)%2 == 0 && rng.IntN(4) > 0 || (step/2000)%2 == 1 && rng.IntN(4) == 0 {
					e := &es[rng.IntN(len(es))]
					if prev := x.set(tick, e); prev != ref[tick] {
						t.Fatalf("step %d: set %d replaced %p, want %p", step, tick, prev, ref[tick])
					}
					ref[tick] = e
				} else {
					// replace: of the entry held (or of another, which must change nothing),
					// by another entry or by none (a deletion).
					old, e := ref[tick], (*entry)(nil)
					if rng.IntN(4) == 0 {
						old = &es[rng.IntN(len(es))]
					}
					if rng.IntN(3) == 0 {
						e = &es[rng.IntN(len(es))]
					}
					if first := x.replace(tick, old, e); first != ref[tick] {
						t.Fatalf("step %d: replace %d found %p, want %p", step, tick, first, ref[tick])
					}
					switch {
					case ref[tick] != old || old == nil:
					case e == nil:
						delete(ref, tick)
					default:
						ref[tick] = e
					}
				}
				if x.len() != len(ref) || x.get(tick) != ref[tick] {
					t.Fatalf("step %d: len %d want %d; get %d = %p want %p", step, x.len(), len(ref), tick, x.get(tick), ref[tick])
				}
				if step%50 != 0 {
					continue
				}
				got := maps.Collect(x.all())
				if !maps.Equal(got, ref) {
					t.Fatalf("step %d: all %v, want %v", step, got, ref)
				}
				for range 4 {
					start := tc.base + rng.Uint64N(tc.span)
					end := start + rng.Uint64N(200)
					if rng.IntN(3) == 0 {
						end = start + rng.Uint64N(tc.span+1)
					}
					if end > MaxTick+1 {
						end = MaxTick + 1
					}
					var want []uint64
					for k := range ref {
						if k >= start && k < end {
							want = append(want, k)
						}
					}
					slices.Sort(want)
					if got := x.ticksIn(start, end); !slices.Equal(got, want) {
						t.Fatalf("step %d: ticksIn(%d, %d) = %v, want %v", step, start, end, got, want)
					}
				}
			}
			for k := range ref {
				x.del(k)
			}
			if x.len() != 0 || len(x.pages) != 0 {
				t.Fatalf("emptied index holds %d ticks in %d pages", x.len(), len(x.pages))
			}
		})
	}
}

// del drops tick t, if it is held.
func (x *tickIndex) del(t uint64) { x.replace(t, x.get(t), nil) }

// all yields every tick held and its first entry, in no particular order.
func (x *tickIndex) all() iter.Seq2[uint64, *entry] {
	return func(yield func(uint64, *entry) bool) {
		for k, p := range x.pages {
			i := 0
			for m := p.bits; m != 0; m &= m - 1 {
				if !yield(k*64+uint64(bits.TrailingZeros64(m)), p.ents[i]) {
					return
				}
				i++
			}
		}
	}
}
