package node

import (
	"fmt"
	"testing"
)

// TestApplyBatchAllocs: a pushed frame's updates to existing entries cost the effects log one
// allocation for the whole batch, not one per doubling. The tick index adds its pages: two
// allocations per 64 dense ticks, one per batch of 32; the race detector's runtime adds about
// one more. Without the single growth it is 6 or more.
func TestApplyBatchAllocs(t *testing.T) {
	n := New(Config{Origin: "a~1"})
	const keys, batch, runs = 32, 32, 12
	paths := make([]Path, keys)
	for i := range paths {
		paths[i] = StringPath("bench", fmt.Sprint(i))
	}
	tick := uint64(0)
	next := func() []*Update {
		us := make([]*Update, batch)
		for i := range us {
			tick++
			us[i] = &Update{Origin: "peer~1", Tick: tick, Tock: tick, Ops: []Op{{Path: paths[i%keys], Value: memValue}}}
		}
		return us
	}
	n.ApplyBatch(next()) // the entries exist from here on
	n.Ready()
	batches := make([][]*Update, runs+1) // AllocsPerRun runs once more to warm up
	for i := range batches {
		batches[i] = next()
	}
	i := 0
	allocs := testing.AllocsPerRun(runs, func() {
		n.ApplyBatch(batches[i])
		i++
		n.Ready()
	})
	if allocs > 3 {
		t.Errorf("ApplyBatch of %d updates to existing entries: %v allocations, want at most 3", batch, allocs)
	}
}
