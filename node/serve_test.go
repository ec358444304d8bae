package node

import (
	"math/rand"
	"reflect"
	"testing"
)

// Serve answers a pull of a range far longer than the origin's current ticks (settled or
// superseded ticks: up to 2^32 of them) without walking it tick by tick; a walk of 2^40 ticks
// would not end within the test's timeout.
func TestServeHugeKnownRange(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	const far = 1 << 39
	for _, tick := range []uint64{3, far} {
		n.Apply(&Update{Origin: "x~1", Tick: tick, Tock: tick, Ops: []Op{{Path: StringPath("p", "a"+string(rune('a'+tick%26))), Value: enc(1)}}})
	}
	n.MarkKnown("x~1", Upto(1<<40))
	ups, sup := n.Serve("x~1", Upto(1<<40), 0, 0)
	if len(ups) != 2 || ups[0].Tick != 3 || ups[1].Tick != far {
		t.Fatalf("served %v", ups)
	}
	want := NewRangeSet(Range{1, 3}, Range{4, far}, Range{far + 1, 1<<40 + 1})
	if !sup.Equal(want) {
		t.Fatalf("superseded %v, want %v", sup, want)
	}
	ups, sup = n.Serve("x~1", Upto(1<<40), 1, 0)
	if len(ups) != 1 || ups[0].Tick != 3 || !sup.Equal(NewRangeSet(Range{1, 3}, Range{4, far})) {
		t.Fatalf("max 1: %v, superseded %v", ups, sup)
	}
}

// serveNaive is Serve's definition, tick by tick.
func serveNaive(n *Node, origin string, want RangeSet, max int) ([]uint64, RangeSet) {
	o := n.origins[origin]
	var ticks []uint64
	var sup RangeSet
	for _, r := range want.Intersect(o.known).Ranges() {
		for t := r.Start; t < r.End; t++ {
			if o.current.get(t) == nil {
				sup.Add(t)
				continue
			}
			if max > 0 && len(ticks) >= max {
				return ticks, sup
			}
			ticks = append(ticks, t)
		}
	}
	return ticks, sup
}

// Serve agrees with its definition for short and long ranges, with and without a limit.
func TestServeMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for round := 0; round < 300; round++ {
		n := New(Config{Origin: "me~1"})
		for i := 0; i < rng.Intn(20); i++ {
			tick := uint64(1 + rng.Intn(60))
			n.Apply(&Update{Origin: "x~1", Tick: tick, Tock: tick, Ops: []Op{{Path: StringPath("k", string(rune('a'+rng.Intn(8)))), Value: enc(int64(i))}}})
		}
		n.MarkKnown("x~1", NewRangeSet(Range{uint64(1 + rng.Intn(10)), uint64(11 + rng.Intn(60))}))
		want := NewRangeSet(Range{uint64(1 + rng.Intn(30)), uint64(31 + rng.Intn(40))})
		max := rng.Intn(4)
		ups, sup := n.Serve("x~1", want, max, 0)
		var got []uint64
		for _, u := range ups {
			got = append(got, u.Tick)
		}
		wt, ws := serveNaive(n, "x~1", want, max)
		if !reflect.DeepEqual(got, wt) || !sup.Equal(ws) {
			t.Fatalf("round %d: Serve gives %v %v, the definition %v %v", round, got, sup, wt, ws)
		}
	}
}

// A tombstone written below the watermark after a purge goes at the next Purge with the same
// watermark: skipping the walk when nothing changed must not skip it.
func TestPurgeRepeatedWatermark(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	write(t, n, StringPath("a"), enc(1))
	del(t, n, StringPath("a")) // tick 2
	wm := map[string]uint64{"me~1": 10}
	if got := n.Purge(wm); got != 1 {
		t.Fatalf("first purge: %d", got)
	}
	if got := n.Purge(wm); got != 0 {
		t.Fatalf("repeated purge: %d", got)
	}
	write(t, n, StringPath("b"), enc(1))
	del(t, n, StringPath("b")) // tick 4, below the watermark already announced
	if got := n.Purge(wm); got != 1 {
		t.Fatalf("purge after a new tombstone: %d, want 1", got)
	}
	if _, ok := n.Lookup(StringPath("b")); ok {
		t.Fatal("the tombstone stayed")
	}
}
