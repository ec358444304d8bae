package server

import (
	"bufio"
	"bytes"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
)

// watchOnly opens a watch on w on a connection without flow control (the greeting is not
// answered) and returns its seq and the watch's queue id.
func watchOnly(tb testing.TB, s *ptSrv) (*ptConn, uint64, uint64) {
	tb.Helper()
	c := s.dial(tb)
	seq := c.send(ptM{"action": "watch", "path": ptA("w"), "nchain": 1})
	if m := c.next(seq); m["state"] != "start" {
		tb.Fatalf("watch: %v", m)
	}
	return c, seq, watchID(tb, s)
}

// watchID waits for the server's only watch and returns its id.
func watchID(tb testing.TB, s *ptSrv) uint64 {
	tb.Helper()
	for deadline := time.Now().Add(ptTimeout); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		s.S.mu.Lock()
		for k := range s.S.watches {
			s.S.mu.Unlock()
			return k
		}
		s.S.mu.Unlock()
	}
	tb.Fatalf("no watch registered within %v", ptTimeout)
	return 0
}

// route hands events to the watch id as the node's lock holder does, never more than half
// its queue ahead of the stream, so that the watch keeps up by design.
func route(s *Server, id uint64, n int, ev func(i int) node.Event) {
	for i := 0; i < n; {
		s.mu.Lock()
		q := s.watches[id]
		for ; q != nil && i < n && len(q.ch) < cap(q.ch)/2; i++ {
			s.routeLocked(ev(i))
		}
		s.mu.Unlock()
		runtime.Gosched()
	}
}

// Events queued faster than one write each go out batched, every one of them, in order, with
// the wire form of one message per event.
func TestWatchBatchInOrderNothingLost(t *testing.T) {
	s := ptStart(t, Config{})
	c, seq, id := watchOnly(t, s)
	const n = 20000
	value := ptMustEncode(t, bytes.Repeat([]byte{'v'}, 100))
	route(s.S, id, n, func(i int) node.Event {
		p := node.StringPath("w", string(rune('a'+i%7)))
		return node.Event{Watch: id, Entry: node.Entry{Path: p, Value: value, HasData: true,
			Chain: node.Chain{{Origin: "o", Tick: uint64(i + 1)}}, Tock: uint64(i + 1)}}
	})
	for i := range n {
		m := c.next(seq)
		if m["wseq"] != nil {
			t.Fatalf("event %d: %v: wseq without flow control", i, m)
		}
		if got := ptUint(m["tock"]); got != uint64(i+1) {
			t.Fatalf("event %d: tock %d, want %d (%v)", i, got, i+1, m)
		}
	}
	s.S.mu.Lock()
	defer s.S.mu.Unlock()
	if s.S.watches[id] == nil {
		t.Errorf("the watch was dropped")
	}
}

// Batches with flow control on: every message still numbered 1, 2, ... and never more than
// the window unacked, however many events are queued.
func TestWatchBatchWindowed(t *testing.T) {
	s := ptStart(t, Config{})
	c := flowConn(t, s)
	seq := c.send(ptM{"action": "watch", "path": ptA("w"), "nchain": 1})
	readWseq(t, c, seq, 1)
	id := watchID(t, s)
	const n = 1000
	s.S.mu.Lock()
	for i := range n {
		s.S.routeLocked(node.Event{Watch: id, Entry: node.Entry{Path: node.StringPath("w", "x"), Value: []byte{0x01},
			HasData: true, Chain: node.Chain{{Origin: "o", Tick: uint64(i + 1)}}, Tock: uint64(i + 1)}})
	}
	s.S.mu.Unlock()
	// Unacked, the stream stops at the window: 1 (start) + DefaultQlen-2 events.
	for ws := uint64(2); ws < DefaultQlen; ws++ {
		readWseq(t, c, seq, ws)
	}
	expectQuiet(t, c, "a batch past the window")
	next, acked := uint64(DefaultQlen), uint64(0)
	for i := DefaultQlen - 2; i < n; i++ {
		if m := readAcking(t, c, seq, &next, &acked); ptUint(m["tock"]) != uint64(i+1) {
			t.Fatalf("event %d: %v", i, m)
		}
	}
}

// A watcher that reads nothing is still ended once its queue is full, batches or not: the
// batches in its connection's queue are bounded, so the events behind them pile up.
func TestWatchBatchSlowReaderOverflows(t *testing.T) {
	s := ptStart(t, Config{WatchQueue: 64})
	c, seq, id := watchOnly(t, s)
	value := ptMustEncode(t, bytes.Repeat([]byte{'v'}, 1000))
	deadline := time.Now().Add(ptTimeout)
	sent := 0
	for {
		s.S.mu.Lock()
		q := s.S.watches[id]
		if q != nil {
			sent++
			s.S.routeLocked(node.Event{Watch: id, Entry: node.Entry{Path: node.StringPath("w", "x"), Value: value,
				HasData: true, Chain: node.Chain{{Origin: "o", Tick: uint64(sent)}}, Tock: uint64(sent)}})
		}
		s.S.mu.Unlock()
		if q == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a watcher that does not read still watches after %d events", sent)
		}
		if len(q.ch) > cap(q.ch)/2 {
			time.Sleep(100 * time.Microsecond) // the stream takes what it can: only a stalled one falls behind
		}
	}
	t.Logf("ended after %d events", sent)
	for {
		m := c.next(seq)
		if m["error"] != nil {
			ptCheckErr(t, m, seq, "overflow")
			break
		}
		if m["state"] != nil {
			t.Fatalf("%v before the overflow error", m)
		}
	}
	if m := c.next(seq); m["state"] != "end" {
		t.Errorf("after the overflow error: %v, want state end", m)
	}
}

// BenchmarkWatchEvents is one watcher's server side: events routed as the lock holder does,
// encoded, written and read off the socket (without decoding) by a client that keeps up.
func BenchmarkWatchEvents(b *testing.B) {
	s := ptStart(b, Config{})
	c, _, id := watchOnly(b, s)
	value := ptMustEncode(b, bytes.Repeat([]byte{'v'}, 256))
	ev := node.Event{Watch: id, Entry: node.Entry{Path: node.StringPath("w", "x"), Value: value, HasData: true,
		Chain: node.Chain{{Origin: "o", Tick: 1}}, Tock: 1}}
	br := bufio.NewReaderSize(c.nc, 64<<10)
	// One event first: after it, every event of the same path has the same wire form.
	route(s.S, id, 1, func(int) node.Event { return ev })
	if _, err := clientproto.ReadMessage(br, 1<<20); err != nil {
		b.Fatal(err)
	}
	route(s.S, id, 1, func(int) node.Event { return ev })
	m, err := clientproto.ReadMessage(br, 1<<20)
	if err != nil {
		b.Fatal(err)
	}
	size := int64(len(m))
	done := make(chan error, 1)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		_, err := io.CopyN(io.Discard, br, size*int64(b.N))
		done <- err
	}()
	route(s.S, id, b.N, func(int) node.Event { return ev })
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
