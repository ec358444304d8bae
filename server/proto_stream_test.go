package server

import (
	"testing"
	"time"
)

// A client that reuses the seq of a running watch ends that watch and starts a new one under
// the seq; the old watch's cleanup must leave the new one registered, so that stop still finds
// it and it ends.
func TestProtoStreamSeqReused(t *testing.T) {
	srv := ptStart(t, Config{})
	a := srv.dial(t)
	b := srv.dial(t)
	const seq = 1000
	a.send(ptM{"seq": seq, "action": "watch", "path": ptA("r")})
	if m := a.next(seq); m["state"] != "start" {
		t.Fatalf("first watch: %v, want state start", m)
	}
	a.send(ptM{"seq": seq, "action": "watch", "path": ptA("r")})
	got := map[any]int{}
	for len(got) < 2 {
		m := a.next(seq)
		got[m["state"]]++
	}
	if got["end"] != 1 || got["start"] != 1 {
		t.Fatalf("reusing the seq: states %v, want the old watch's end and the new one's start", got)
	}
	// Let the old watch's goroutine finish its cleanup.
	time.Sleep(50 * time.Millisecond)
	a.ok(ptM{"action": "get_tock"})

	ptSet(b, ptA("r", "x"), 1)
	if m := a.next(seq); m["state"] != nil || !ptValueEq(m["value"], 1) {
		t.Fatalf("the new watch: %v, want the event for r.x", m)
	}
	if r := a.ok(ptM{"action": "stop", "task": seq}); r["result"] != true {
		t.Fatalf("stop of the new watch: %v, want result true", r)
	}
	if m := a.next(seq); m["state"] != "end" {
		t.Fatalf("after stop: %v, want state end", m)
	}
}
