package server

import (
	"runtime/debug"
	"sync"
)

// loadGCPercent is the collector's pace while a node loads its state. A load allocates almost
// only live data, so at the default pace the collector re-marks the growing tree once per
// doubling, which costs about as much CPU as the load itself (1M entries: 6.6 s of CPU at
// GOGC=100, 3.4 s with the collector off). Collecting less often trades a higher transient peak
// for that; slowLoadGC returns the pages the slower pace left behind once the load is done.
const loadGCPercent = 400

var loadGC struct {
	sync.Mutex
	active int // loads in progress (in-process clusters restore several nodes at once)
	saved  int // the pace before the first of them
}

// slowLoadGC slows the collector for a load and returns the function that ends it. Concurrent
// loads share one slow period: the last to end restores the pace the first one found.
func slowLoadGC() (done func()) {
	loadGC.Lock()
	if loadGC.active == 0 {
		loadGC.saved = debug.SetGCPercent(loadGCPercent)
		if loadGC.saved < 0 || loadGC.saved > loadGCPercent { // GOGC=off or a slower pace: keep it
			debug.SetGCPercent(loadGC.saved)
		}
	}
	loadGC.active++
	loadGC.Unlock()
	return func() {
		loadGC.Lock()
		defer loadGC.Unlock()
		if loadGC.active--; loadGC.active == 0 {
			debug.SetGCPercent(loadGC.saved)
			debug.FreeOSMemory()
		}
	}
}
