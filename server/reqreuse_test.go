package server

import (
	"fmt"
	"testing"
)

// The reader parses every request into one reused Request; a watch, which runs in its own
// goroutine, must keep its own copy: writes on the same connection, to other paths and to
// paths of the same length, do not change what it watches (and -race sees no sharing).
func TestReusedRequestWatchKeepsItsPath(t *testing.T) {
	srv := ptStart(t, Config{})
	a := srv.dial(t)
	const wseq = 500
	a.send(ptM{"seq": wseq, "action": "watch", "path": ptA("w", "d")})
	if m := a.next(wseq); m["state"] != "start" {
		t.Fatalf("watch: %v, want state start", m)
	}
	for i := range 20 {
		ptSet(a, ptA("x", fmt.Sprint(i)), i) // same length as the watch's path, not below it
		ptSet(a, ptA("w", "d", fmt.Sprint(i)), i)
	}
	for i := range 20 {
		m := a.next(wseq)
		if !ptValueEq(m["value"], i) || !ptValueEq(m["path"], ptA(fmt.Sprint(i))) && !ptValueEq(m["path"], ptA("w", "d", fmt.Sprint(i))) {
			t.Fatalf("event %d: %v, want w.d.%d", i, m, i)
		}
	}
	if r := a.ok(ptM{"action": "stop", "task": wseq}); r["result"] != true {
		t.Fatalf("stop: %v", r)
	}
}
