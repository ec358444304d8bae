package server

// Protocol tests under load: a watcher that never reads, many connections at once, and
// pipelined requests on one connection.

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"
)

// A watch whose client never reads must not block writers on other connections: its queue
// overflows, the watch ends with an "overflow" error, and the writers never notice.
func TestProtoSlowWatcherDoesNotBlockWriters(t *testing.T) {
	srv := ptStart(t, Config{WatchQueue: 16})
	slow := srv.dial(t)
	wseq := slow.send(ptM{"action": "watch", "path": ptA("slow"), "nchain": 1})
	if m := slow.next(wseq); m["state"] != "start" {
		t.Fatalf("watch: %v", m)
	}
	// From here on the slow client reads nothing. Events carry 16 KiB values, so that the
	// kernel's socket buffers and the connection's own queue fill long before 2000 writes.
	w := srv.dial(t)
	value := bytes.Repeat([]byte{'v'}, 16<<10)
	const writes = 2000
	t0 := time.Now()
	for i := 0; i < writes; i++ {
		value[0] = byte(i)
		r, err := w.tryCall(ptM{"action": "set_value", "path": ptA("slow", int64(i%50)), "value": value, "nchain": 0})
		if err != nil {
			t.Fatalf("write %d of %d blocked or failed while a watcher did not read: %v", i, writes, err)
		}
		if r["error"] != nil {
			t.Fatalf("write %d: %v", i, r)
		}
	}
	t.Logf("writes done at %v", time.Since(t0))
	if tick := ptTick(w); tick != writes {
		t.Errorf("tick %d after %d writes", tick, writes)
	}

	// Now read the slow watcher: some events, then the overflow error, then end.
	events := 0
	for {
		m, err := slow.readMsg()
		if err != nil {
			t.Fatalf("slow watcher: after %d events: %v (no overflow error)", events, err)
		}
		if ptUint(m["seq"]) != wseq {
			t.Fatalf("slow watcher: unexpected message %v", m)
		}
		if m["error"] != nil {
			ptCheckErr(t, m, wseq, "overflow")
			break
		}
		if m["state"] != nil {
			t.Fatalf("slow watcher: %v before the overflow error", m)
		}
		events++
		if events > writes {
			t.Fatalf("slow watcher: %d events and no overflow", events)
		}
	}
	if m := slow.next(wseq); m["state"] != "end" {
		t.Errorf("after the overflow error: %v, want state end", m)
	}
	t.Logf("the slow watcher got %d of %d events before its overflow", events, writes)
	// The watch is gone: its connection is still usable, and no more events arrive.
	ptSet(w, ptA("slow", "after"), 1)
	ptStillServes(t, slow, "the slow watcher's connection")
	if r := slow.ok(ptM{"action": "stop", "task": wseq}); r["result"] != false {
		t.Errorf("stop of the overflowed watch: %v, want false (it is over)", r)
	}
	for _, m := range slow.held {
		t.Errorf("message after the overflow: %v", m)
	}
}

// 8 connections x 200 interleaved writes and reads, each connection reading its own writes.
func TestProtoConcurrentConnections(t *testing.T) {
	srv := ptStart(t, Config{})
	const conns, ops, keys = 8, 200, 20
	cs := make([]*ptConn, conns)
	for i := range cs {
		cs[i] = srv.dial(t)
	}
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < ops; j++ {
				p := ptA("cc", int64(i), int64(j%keys))
				r, err := c.tryCall(ptM{"action": "set_value", "path": p, "value": j})
				if err != nil || r["error"] != nil || r["changed"] != true {
					errs <- fmt.Errorf("conn %d set %d: %v %v", i, j, r, err)
					return
				}
				r, err = c.tryCall(ptM{"action": "get_value", "path": p})
				if err != nil || !ptValueEq(r["value"], j) {
					errs <- fmt.Errorf("conn %d get %d after its own write: %v %v", i, j, r, err)
					return
				}
				// Some reads of another connection's keys and whole-state requests.
				if j%25 == 0 {
					if r, err := c.tryCall(ptM{"action": "get_state"}); err != nil || r["error"] != nil {
						errs <- fmt.Errorf("conn %d get_state: %v %v", i, r, err)
						return
					}
					if r, err := c.tryCall(ptM{"action": "enum", "path": ptA("cc", int64((i+1)%conns))}); err != nil || r["error"] != nil {
						errs <- fmt.Errorf("conn %d enum: %v %v", i, r, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	c := cs[0]
	if tick := ptTick(c); tick != conns*ops {
		t.Errorf("tick %d after %d writes", tick, conns*ops)
	}
	for i := 0; i < conns; i++ {
		for k := 0; k < keys; k++ {
			want := ops - keys + k // the last j with j%keys == k
			if r := ptGet(c, ptA("cc", int64(i), int64(k))); !ptValueEq(r["value"], want) {
				t.Errorf("cc.%d.%d = %v, want %d", i, k, r["value"], want)
			}
		}
	}
}

// 100 requests sent before any reply is read; every reply comes, once, matched by seq, and
// the reads see the writes sent before them on the same connection.
func TestProtoPipelined(t *testing.T) {
	srv := ptStart(t, Config{})
	c := srv.dial(t)
	const n = 100
	var buf bytes.Buffer
	type want struct {
		kind  string
		value int
	}
	wants := map[uint64]want{}
	for i := 1; i <= n; i++ {
		var m ptM
		switch i % 4 {
		case 1:
			m = ptM{"action": "set_value", "path": ptA("pl", int64(i/4)), "value": i}
			wants[uint64(i)] = want{"set", i}
		case 2:
			m = ptM{"action": "get_value", "path": ptA("pl", int64(i/4))}
			wants[uint64(i)] = want{"get", i - 1}
		case 3:
			m = ptM{"action": "get_tree", "path": ptA("pl")}
			wants[uint64(i)] = want{"tree", 0}
		default:
			m = ptM{"action": "get_tock"}
			wants[uint64(i)] = want{"tock", 0}
		}
		m["seq"] = i
		buf.Write(ptMustEncode(t, m))
	}
	c.sendRaw(buf.Bytes())

	got := map[uint64]int{}
	treeOpen := map[uint64]bool{}
	finished := 0
	for finished < n {
		m, err := c.readMsg()
		if err != nil {
			t.Fatalf("after %d of %d replies: %v", finished, n, err)
		}
		seq := ptUint(m["seq"])
		w, ok := wants[seq]
		if !ok {
			t.Fatalf("reply for an unknown seq: %v", m)
		}
		if m["error"] != nil {
			t.Fatalf("seq %d: %v", seq, m)
		}
		switch w.kind {
		case "tree":
			switch m["state"] {
			case "start":
				if treeOpen[seq] || got[seq] > 0 {
					t.Errorf("seq %d: second start", seq)
				}
				treeOpen[seq] = true
			case "end":
				if !treeOpen[seq] {
					t.Errorf("seq %d: end without start", seq)
				}
				treeOpen[seq] = false
				got[seq]++
				finished++
			default:
				if !treeOpen[seq] {
					t.Errorf("seq %d: entry outside start..end: %v", seq, m)
				}
			}
			continue
		case "set":
			if m["changed"] != true {
				t.Errorf("seq %d: %v", seq, m)
			}
		case "get":
			if !ptValueEq(m["value"], w.value) {
				t.Errorf("seq %d: get %v, want the value %d written just before on this connection", seq, m, w.value)
			}
		case "tock":
			if m["tock"] == nil {
				t.Errorf("seq %d: %v", seq, m)
			}
		}
		got[seq]++
		finished++
	}
	for seq := range wants {
		if got[seq] != 1 {
			t.Errorf("seq %d answered %d times", seq, got[seq])
		}
	}
	ptStillServes(t, c, "after pipelining")
}

// A watch with fetch while another connection writes: the fetched state and the live events
// together give every key's final value, and no key ever goes back to an older value (no
// stale data after fresher data), across several walk chunks.
func TestProtoWatchFetchDuringWrites(t *testing.T) {
	srv := ptStart(t, Config{})
	w := srv.dial(t)
	a := srv.dial(t)
	const keys, writes = 1500, 3000
	for i := 0; i < keys; i += 100 {
		var seqs []uint64
		for k := i; k < i+100; k++ {
			seqs = append(seqs, w.send(ptM{"action": "set_value", "path": ptA("fw", int64(k)), "value": 0, "nchain": 0}))
		}
		for _, s := range seqs {
			if r := w.next(s); r["error"] != nil {
				t.Fatal(r)
			}
		}
	}

	done := make(chan error, 1)
	go func() {
		for v := 1; v <= writes; v++ {
			r, err := w.tryCall(ptM{"action": "set_value", "path": ptA("fw", int64(v%keys)), "value": v, "nchain": 0})
			if err == nil && r["error"] != nil {
				err = fmt.Errorf("%v", r)
			}
			if err != nil {
				done <- err
				return
			}
		}
		_, err := w.tryCall(ptM{"action": "set_value", "path": ptA("fw", "end"), "value": "end"})
		done <- err
	}()

	wseq := a.send(ptM{"action": "watch", "path": ptA("fw"), "fetch": true})
	if m := a.next(wseq); m["state"] != "start" {
		t.Fatal(m)
	}
	l := &ptLongener{prefix: []any{"fw"}}
	last := map[int64]int64{}
	uptodate := false
	for {
		m := a.next(wseq)
		if m["error"] != nil {
			t.Fatalf("watch: %v", m)
		}
		if m["state"] == "uptodate" {
			if uptodate {
				t.Fatal("second uptodate")
			}
			uptodate = true
			continue
		}
		if m["state"] != nil {
			t.Fatalf("watch: %v", m)
		}
		p := l.full(t, m)
		if len(p) == 2 && p[1] == "end" {
			if !uptodate {
				t.Error("the end marker came before uptodate")
			}
			break
		}
		k, v := ptInt(p[1]), ptInt(m["value"])
		if old, seen := last[k]; seen && v <= old {
			t.Errorf("key %d: value %d after %d (stale after fresh, uptodate=%v)", k, v, old, uptodate)
		}
		last[k] = v
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for k := int64(0); k < keys; k++ {
		want := int64(0)
		for v := int64(writes); v >= 1; v-- {
			if v%keys == k {
				want = v
				break
			}
		}
		if got, seen := last[k]; !seen || got != want {
			t.Errorf("key %d: the watcher's last value %d (seen %v), want %d", k, got, seen, want)
		}
	}
}

// Watches end when their connection goes away: nothing stays registered.
func TestProtoWatchesEndWithConnection(t *testing.T) {
	srv := ptStart(t, Config{})
	c := srv.dial(t)
	for i := 0; i < 3; i++ {
		seq := c.send(ptM{"action": "watch", "path": ptA("we", int64(i)), "fetch": true})
		c.streamUntil(seq, "uptodate")
	}
	count := func() int {
		srv.S.mu.Lock()
		defer srv.S.mu.Unlock()
		return len(srv.S.watches)
	}
	if n := count(); n != 3 {
		t.Fatalf("%d watches registered, want 3", n)
	}
	c.nc.Close()
	deadline := time.Now().Add(ptTimeout)
	for count() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d watches still registered after their connection closed", count())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Writes below the old watches still work and reach nobody.
	d := srv.dial(t)
	ptSet(d, ptA("we", int64(1), "x"), 1)
	if r := d.ok(ptM{"action": "enum", "path": ptA("we"), "empty": true}); len(r["result"].([]any)) != 1 {
		t.Errorf("enum after the watches ended: %v, want only the written child", r)
	}
}
