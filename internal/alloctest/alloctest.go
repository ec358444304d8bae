// Package alloctest measures what a piece of code allocates, for tests that bound a decoder's
// memory by its input.
package alloctest

import "runtime"

// Bytes returns the fewest bytes fn allocated in three runs (a stray allocation of the runtime
// may land in one of them).
func Bytes(fn func()) uint64 {
	best := ^uint64(0)
	for i := 0; i < 3; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		fn()
		runtime.ReadMemStats(&after)
		best = min(best, after.TotalAlloc-before.TotalAlloc)
	}
	return best
}
