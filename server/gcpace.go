package server

import (
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
)

// The collector's pace (docs/performance.md, "The collector's pace"). At the Go default
// (GOGC=100) a collection runs each time the heap doubles: two or three times a second on the
// small live heap of a busy node (6-25 MiB, the runtime's least goal 4 MiB), and the RSS is twice
// the live data on a big one. The server instead lets the heap grow by headroom(live) past the
// live data the last collection marked, and sets GOGC to that after every cycle.
const (
	// paceFloor is the least headroom: a small heap collects about once per paceFloor
	// allocated, whatever its size.
	paceFloor = 64 << 20
	// paceMinLive is the smallest live size paced by ratio: the runtime's least heap goal is
	// 4 MiB × GOGC/100, so a higher percent on a tinier heap would raise the goal past the floor.
	paceMinLive = 4 << 20
	// loadGCPercent is the least pace while a node loads its state. A load allocates almost
	// only live data, so at a faster pace the collector re-marks the growing tree over and over
	// (1M entries: 6.6 s of CPU at GOGC=100, 3.4 s with the collector off). The pages the slow
	// pace leaves behind go back to the OS when the last load ends.
	loadGCPercent = 400
)

// headroomShare is the headroom, in percent of the live heap: 100 up to 64 MiB, then 25 points
// less per doubling down to 50 at 256 MiB, then 5 less per doubling down to 40 from 1 GiB. Each
// step down costs collector CPU (a cycle per headroom allocated, each marking the whole live
// heap) for RSS on the heaps where RSS matters.
func headroomShare(live uint64) float64 {
	const mib = 1 << 20
	switch l := float64(live); {
	case l <= 64*mib:
		return 100
	case l <= 256*mib:
		return 100 - 25*math.Log2(l/(64*mib))
	case l <= 1024*mib:
		return 50 - 5*math.Log2(l/(256*mib))
	default:
		return 40
	}
}

// gcPercent is the GOGC that lets a heap of live bytes grow by its headroom, at least
// loadGCPercent while loading.
func gcPercent(live uint64, loading bool) int {
	live = max(live, paceMinLive)
	headroom := max(float64(paceFloor), float64(live)*headroomShare(live)/100)
	p := int(math.Round(headroom * 100 / float64(live)))
	if loading {
		p = max(p, loadGCPercent)
	}
	return p
}

// envPace names the Go runtime variable that sets the pace, if the environment sets one: the
// operator's choice then stands, and the server never calls SetGCPercent.
func envPace(getenv func(string) string) string {
	for _, v := range []string{"GOGC", "GOMEMLIMIT"} {
		if getenv(v) != "" {
			return v
		}
	}
	return ""
}

// pacer is the process's one owner of debug.SetGCPercent. Servers (several in an in-process
// test cluster) hold it while they run, loads while they restore; it paces while anyone holds
// it and restores the pace it found when the last lets go.
var pacer struct {
	sync.Mutex
	env     string // envPace at the first hold; "" when the pace is the server's
	servers int    // running servers
	loads   int    // loads in progress
	saved   int    // the pace before the first hold
	gen     uint64 // bumped on each release of the last hold: older sentinels stop re-arming
	armed   bool   // a sentinel of gen waits for the next collection
	percent int    // the pace last set
}

// holdGCPace makes the pacer pace the process until release is called.
func holdGCPace(log *slog.Logger) (release func()) {
	return pacerHold(&pacer.servers, log)
}

// slowLoadGC holds the load's pace until done is called.
func slowLoadGC() (done func()) {
	return pacerHold(&pacer.loads, nil)
}

func pacerHold(count *int, log *slog.Logger) func() {
	pacer.Lock()
	defer pacer.Unlock()
	if pacer.servers+pacer.loads == 0 {
		pacer.env = envPace(os.Getenv)
		if pacer.env == "" {
			pacer.saved = debug.SetGCPercent(100)
			debug.SetGCPercent(pacer.saved)
			pacer.percent = pacer.saved
		}
	}
	*count++
	if pacer.env != "" {
		if log != nil && pacer.servers == 1 {
			log.Info("collector pace left to the environment", "var", pacer.env)
		}
	} else {
		paceLocked()
	}
	var once sync.Once
	return func() { once.Do(func() { pacerRelease(count) }) }
}

func pacerRelease(count *int) {
	pacer.Lock()
	*count--
	ours := pacer.env == ""
	if ours && pacer.servers+pacer.loads == 0 {
		pacer.gen++
		pacer.armed = false
		debug.SetGCPercent(pacer.saved)
	} else if ours {
		paceLocked()
	}
	lastLoad := ours && count == &pacer.loads && *count == 0
	pacer.Unlock()
	if lastLoad {
		// The pages the load's slow pace left behind; outside the lock, which the cleanup
		// after this forced collection takes.
		debug.FreeOSMemory()
	}
}

// paceLocked sets the pace for the live heap the last collection marked, and, while servers
// run, arms a sentinel whose cleanup paces again after the next collection.
func paceLocked() {
	live := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(live)
	var p int
	if pacer.servers > 0 {
		p = gcPercent(live[0].Value.Uint64(), pacer.loads > 0)
	} else {
		p = max(pacer.saved, loadGCPercent) // a load alone (tools, benchmarks): no pacing
		if pacer.saved < 0 {
			p = pacer.saved // the collector was off: keep it off
		}
	}
	if p != pacer.percent {
		debug.SetGCPercent(p)
		pacer.percent = p
	}
	if pacer.servers > 0 && !pacer.armed {
		pacer.armed = true
		// The sentinel must not be a tiny allocation (under 16 pointer-free bytes), which
		// shares its block with others and may never be freed.
		runtime.AddCleanup(new(gcSentinel), paceAfterGC, pacer.gen)
	}
}

type gcSentinel struct{ _ *byte }

// paceAfterGC runs once a collection found the sentinel of gen unreachable.
func paceAfterGC(gen uint64) {
	pacer.Lock()
	defer pacer.Unlock()
	if gen != pacer.gen || pacer.env != "" {
		return
	}
	pacer.armed = false
	paceLocked()
}
