package server

import (
	"context"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"testing"
)

// The headroom is at least the floor, shrinks in share as the heap grows but never in bytes,
// and a load's pace is never faster than loadGCPercent.
func TestGCPercent(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 1600}, // below paceMinLive: the runtime's least goal (4 MiB × 16) is the floor
		{2 * mib, 1600},
		{4 * mib, 1600},
		{16 * mib, 400},
		{64 * mib, 100},
		{128 * mib, 75},
		{256 * mib, 50},
		{512 * mib, 45},
		{1024 * mib, 40},
		{8192 * mib, 40},
	} {
		if got := gcPercent(c.live, false); got != c.want {
			t.Errorf("gcPercent(%d MiB) = %d, want %d", c.live/mib, got, c.want)
		}
	}
	prev := 0.0
	for live := uint64(paceMinLive); live < 4096*mib; live += 3 * mib {
		p := gcPercent(live, false)
		if p < 40 {
			t.Fatalf("gcPercent(%d) = %d, below 40", live, p)
		}
		// Rounding to a whole percent takes off at most half a percent of live.
		headroom := float64(live) * float64(p+1) / 100
		if headroom < float64(paceFloor) || headroom < prev {
			t.Fatalf("headroom at %d MiB %.0f MiB, floor %d MiB, previous %.0f MiB", live/mib, headroom/mib, paceFloor/mib, prev/mib)
		}
		prev = float64(live) * float64(p) / 100
		if lp := gcPercent(live, true); lp != max(p, loadGCPercent) {
			t.Fatalf("loading at %d MiB: %d, want %d", live/mib, lp, max(p, loadGCPercent))
		}
	}
}

func TestEnvPace(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{nil, ""},
		{map[string]string{"GOGC": "200"}, "GOGC"},
		{map[string]string{"GOGC": "off"}, "GOGC"},
		{map[string]string{"GOMEMLIMIT": "1GiB"}, "GOMEMLIMIT"},
		{map[string]string{"GODEBUG": "gctrace=1"}, ""},
	} {
		if got := envPace(func(k string) string { return c.env[k] }); got != c.want {
			t.Errorf("envPace(%v) = %q, want %q", c.env, got, c.want)
		}
	}
}

// With GOGC or GOMEMLIMIT in the environment neither a server nor a load changes the pace.
func TestGCPaceLeftToEnv(t *testing.T) {
	orig := debug.SetGCPercent(123)
	defer debug.SetGCPercent(orig)
	t.Setenv("GOMEMLIMIT", "1GiB")
	release := holdGCPace(nil)
	done := slowLoadGC()
	if p := debug.SetGCPercent(123); p != 123 {
		t.Errorf("pace with GOMEMLIMIT set %d, want 123 kept", p)
	}
	done()
	release()
	if p := debug.SetGCPercent(123); p != 123 {
		t.Errorf("pace after the holds %d, want 123 kept", p)
	}
}

// Servers and loads share one pace, whatever order they end in, and the last to end restores
// the pace the first found; a load alone keeps a slower pace than its own.
func TestGCPaceHolds(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	live := func() uint64 {
		s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
		rtmetrics.Read(s)
		return s[0].Value.Uint64()
	}
	pace := func(what string, want int) {
		t.Helper()
		got := debug.SetGCPercent(want) // restores it as well
		if got != want {
			t.Errorf("pace %s %d, want %d", what, got, want)
		}
	}
	runtime.GC()
	releaseA := holdGCPace(nil)
	releaseB := holdGCPace(nil)
	pace("with two servers", gcPercent(live(), false))
	done := slowLoadGC()
	pace("with a load", gcPercent(live(), true))
	releaseA()
	releaseA() // a second call is a no-op
	done()
	pace("after the load", gcPercent(live(), false))

	// The cleanup of the sentinel paces again after each collection; one of an older
	// generation does nothing.
	pacer.Lock()
	gen := pacer.gen
	pacer.Unlock()
	debug.SetGCPercent(7)
	pacer.Lock()
	pacer.percent = 7
	pacer.Unlock()
	paceAfterGC(gen - 1)
	pace("after a stale sentinel", 7)
	runtime.GC()
	paceAfterGC(gen)
	pace("after a collection", gcPercent(live(), false))

	releaseB()
	pace("after the servers", 100)
	paceAfterGC(gen)
	pace("after the servers' sentinel", 100)

	debug.SetGCPercent(1000)
	done = slowLoadGC()
	pace("during a load alone with a slower pace", 1000)
	done()
	pace("after a load alone", 1000)
	debug.SetGCPercent(-1)
	done = slowLoadGC()
	pace("during a load alone with the collector off", -1)
	done()
	pace("after a load alone with the collector off", -1)
	debug.SetGCPercent(100)
	done = slowLoadGC()
	pace("during a load alone", loadGCPercent)
	done()
	pace("after a load alone", 100)
}

// A running server holds the pace; its shutdown gives the process back the pace it found.
func TestServerHoldsGCPace(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	servers := func() int {
		pacer.Lock()
		defer pacer.Unlock()
		return pacer.servers
	}
	s := ptStart(t, Config{})
	s.dial(t) // the greeting comes once the start is over
	if n := servers(); n != 1 {
		t.Fatalf("%d servers hold the pace, want 1", n)
	}
	if err := s.S.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := servers(); n != 0 {
		t.Errorf("%d servers hold the pace after the shutdown, want 0", n)
	}
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("pace after the shutdown %d, want 100", p)
	}
}

// TestLeaveGCPace: a server told to leave the pace, with a data dir to load, never sets it.
func TestLeaveGCPace(t *testing.T) {
	orig := debug.SetGCPercent(123)
	defer debug.SetGCPercent(orig)
	s := ptStart(t, Config{LeaveGCPace: true, DataDir: t.TempDir()})
	s.dial(t)
	if p := debug.SetGCPercent(123); p != 123 {
		t.Errorf("pace while a server that leaves it runs: %d, want 123 kept", p)
	}
	if err := s.S.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p := debug.SetGCPercent(123); p != 123 {
		t.Errorf("pace after it stopped: %d, want 123 kept", p)
	}
}
