package server

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// quiet is how long a paused stream is watched for a message it must not send. Passing never
// depends on it: a correct server sends nothing however long one waits.
const quiet = 300 * time.Millisecond

// flowConn dials and agrees on DistKV's default window, as DistKV's client does.
func flowConn(t *testing.T, s *ptSrv) *ptConn {
	t.Helper()
	c := s.dial(t)
	if q := ptUint(c.Greeting["qlen"]); q != DefaultQlen {
		t.Fatalf("greeting qlen %v, want %d", c.Greeting["qlen"], DefaultQlen)
	}
	c.send(ptM{"seq": 0, "qlen": DefaultQlen})
	return c
}

// readWseq reads the next message of seq and checks its wseq.
func readWseq(t *testing.T, c *ptConn, seq, wseq uint64) ptM {
	t.Helper()
	m := c.next(seq)
	if got := ptUint(m["wseq"]); got != wseq {
		t.Fatalf("message %v: wseq %d, want %d", m, got, wseq)
	}
	return m
}

func expectQuiet(t *testing.T, c *ptConn, what string) {
	t.Helper()
	if m, err := c.readMsgTimeout(quiet); err == nil {
		t.Fatalf("%s: got %v, want nothing until an ack", what, m)
	}
}

// A client that stops acking inside a get_tree pauses it after qlen-1 messages; the stream
// and the connection stay up, and each ack lets exactly that many more through, in order.
func TestFlowGetTreeStallResume(t *testing.T) {
	s := ptStart(t, Config{})
	w := s.dial(t)
	const n = 100
	for i := range n {
		ptSet(w, ptA("f", i), i)
	}
	c := flowConn(t, s)
	seq := c.send(ptM{"action": "get_tree", "path": ptA("f")})
	if m := readWseq(t, c, seq, 1); m["state"] != "start" {
		t.Fatalf("first message %v", m)
	}
	for ws := uint64(2); ws < DefaultQlen; ws++ {
		readWseq(t, c, seq, ws)
	}
	expectQuiet(t, c, "window full")
	// Other requests on the connection are not held up by the paused stream.
	if r := c.ok(ptM{"action": "get_tock"}); r["tock"] == nil {
		t.Fatalf("get_tock: %v", r)
	}
	c.send(ptM{"seq": seq, "state": "ack", "ack": 3})
	for ws := uint64(DefaultQlen); ws < DefaultQlen+3; ws++ {
		readWseq(t, c, seq, ws)
	}
	expectQuiet(t, c, "window full again")
	// Resume, acking as DistKV's reader does; 11 entries are read (wseq 2..12).
	got, next, acked := 11, uint64(DefaultQlen+3), uint64(3)
	for {
		m := readAcking(t, c, seq, &next, &acked)
		if m["state"] == "end" {
			break
		}
		if ptUint(m["value"]) != uint64(got) {
			t.Fatalf("entry %d: %v", got, m)
		}
		got++
	}
	if got != n {
		t.Fatalf("%d entries, want %d", got, n)
	}
}

// A watch whose client pauses keeps its events queued, bounded by WatchQueue, while writers go
// on; after the pause the client gets every event in order.
func TestFlowWatchStallResume(t *testing.T) {
	s := ptStart(t, Config{})
	c := flowConn(t, s)
	seq := c.send(ptM{"action": "watch", "path": ptA("w")})
	readWseq(t, c, seq, 1)
	w := s.dial(t)
	const n = 200
	for i := range n {
		ptSet(w, ptA("w", "x"), i) // not held up by the paused watcher
	}
	for ws := uint64(2); ws < DefaultQlen; ws++ {
		if m := readWseq(t, c, seq, ws); ptUint(m["value"]) != ws-2 {
			t.Fatalf("event %d: %v", ws-2, m)
		}
	}
	expectQuiet(t, c, "paused watch")
	next, acked := uint64(DefaultQlen), uint64(0)
	for i := DefaultQlen - 2; i < n; i++ {
		if m := readAcking(t, c, seq, &next, &acked); ptUint(m["value"]) != uint64(i) {
			t.Fatalf("event %d: %v", i, m)
		}
	}
}

// readAcking reads the stream's next message, wseq *next, first acking what was read as
// DistKV's reader does: once more than qlen/3 messages since the last ack.
func readAcking(t *testing.T, c *ptConn, seq uint64, next, acked *uint64) ptM {
	t.Helper()
	if *next-1-*acked > DefaultQlen/3 {
		*acked = *next - 1
		c.send(ptM{"seq": seq, "state": "ack", "ack": *acked})
	}
	m := readWseq(t, c, seq, *next)
	*next++
	return m
}

// A client that never acks cannot make the server hold more than the watch's bounded queue:
// past WatchQueue events the watch is dropped from the node (its queue freed once the stream
// ends), writers are never blocked, and the client, once it acks, learns why.
func TestFlowWatchNeverAcksBounded(t *testing.T) {
	const queue = 16
	s := ptStart(t, Config{WatchQueue: queue})
	c := flowConn(t, s)
	seq := c.send(ptM{"action": "watch", "path": ptA("w")})
	readWseq(t, c, seq, 1)
	w := s.dial(t)
	for i := range 10 * queue {
		ptSet(w, ptA("w", "x"), i)
	}
	eventually(t, "the watch dropped from the node", func() bool {
		s.S.mu.Lock()
		defer s.S.mu.Unlock()
		return len(s.S.watches) == 0
	})
	// The client resumes: what was sent and queued, then the overflow error and end.
	var events int
	next, acked := uint64(2), uint64(0)
	for {
		m := readAcking(t, c, seq, &next, &acked)
		if m["error"] != nil {
			if m["etype"] != "overflow" {
				t.Fatalf("error %v", m)
			}
			if e := c.next(seq); e["state"] != "end" {
				t.Fatalf("after the error: %v", e)
			}
			break
		}
		if ptUint(m["value"]) != uint64(events) {
			t.Fatalf("event %d: %v", events, m)
		}
		events++
	}
	if events > DefaultQlen+queue {
		t.Errorf("%d events delivered: more than the window (%d) and queue (%d) hold", events, DefaultQlen, queue)
	}
}

// The window itself: at most size-1 unacked, acks beyond what was sent count as all sent.
func TestWindow(t *testing.T) {
	w := newWindow(4)
	ctx, cancel := context.WithCancel(context.Background())
	for i := uint64(1); i <= 3; i++ {
		if n, ok := w.next(ctx); !ok || n != i {
			t.Fatalf("next = %d, %v", n, ok)
		}
	}
	res := make(chan string)
	go func() {
		n, ok := w.next(ctx)
		res <- fmt.Sprint(n, ok)
	}()
	select {
	case r := <-res:
		t.Fatalf("4th message sent without an ack: %s", r)
	case <-time.After(quiet):
	}
	w.ack(1)
	if r := <-res; r != "4 true" {
		t.Fatalf("after ack: %s", r)
	}
	w.ack(1000) // bogus: taken as acking the 4 sent
	for i := uint64(5); i <= 7; i++ {
		if n, ok := w.next(ctx); !ok || n != i {
			t.Fatalf("next = %d, %v", n, ok)
		}
	}
	go func() {
		n, ok := w.next(ctx)
		res <- fmt.Sprint(n, ok)
	}()
	cancel()
	if r := <-res; r != "0 false" {
		t.Fatalf("cancelled next: %s", r)
	}
}

// A msg_monitor with a bad topic is refused from the reader, framed: the stream goroutine
// must not read the connection's qlen, which the reader sets (run with -race).
func TestMsgMonitorBadTopicRefused(t *testing.T) {
	srv := ptStart(t, Config{})
	c := srv.dial(t)
	for i := 0; i < 8; i++ {
		seq := c.send(ptM{"action": "msg_monitor"})
		c.send(ptM{"seq": 0, "qlen": DefaultQlen - i%2}) // while the monitor may be starting
		if r := c.next(seq); r["state"] != "start" {
			t.Fatalf("first reply %v, want state start", r)
		}
		ptCheckErr(t, c.next(seq), seq, "request")
		if r := c.next(seq); r["state"] != "end" {
			t.Fatalf("last reply %v, want state end", r)
		}
	}
	ptStillServes(t, c, "after bad monitors")
}
