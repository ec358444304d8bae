package server

import (
	"runtime/debug"
	"testing"
)

// Overlapping loads (an in-process cluster restoring its nodes) leave the collector's pace as
// they found it, whatever order they end in; a pace slower than the load's is kept.
func TestSlowLoadGCRestoresPace(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	doneA := slowLoadGC()
	doneB := slowLoadGC()
	if p := debug.SetGCPercent(loadGCPercent); p != loadGCPercent {
		t.Errorf("pace during loads %d, want %d", p, loadGCPercent)
	}
	doneA()
	if p := debug.SetGCPercent(loadGCPercent); p != loadGCPercent {
		t.Errorf("pace with one load left %d, want %d", p, loadGCPercent)
	}
	doneB()
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("pace after the loads %d, want 100", p)
	}
	debug.SetGCPercent(1000)
	slowLoadGC()()
	if p := debug.SetGCPercent(100); p != 1000 {
		t.Errorf("a slower pace became %d, want 1000 kept", p)
	}
}
