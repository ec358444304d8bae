package server

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/node"
)

// dialFrom connects to the server from a given loopback source address and reads the first
// message (the greeting, or the refusal).
func (s *ptSrv) dialFrom(tb testing.TB, src string) (*ptConn, map[string]any) {
	tb.Helper()
	d := net.Dialer{Timeout: ptTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	nc, err := d.Dial("tcp", s.Addr)
	if err != nil {
		tb.Fatalf("dial from %s: %v", src, err)
	}
	tb.Cleanup(func() { nc.Close() })
	c := &ptConn{tb: tb, nc: nc, dec: msgpack.NewDecoder(bufio.NewReaderSize(nc, 64<<10))}
	m, err := c.readMsg()
	if err != nil {
		tb.Fatalf("first message from %s: %v", src, err)
	}
	return c, m
}

func refused(m map[string]any) bool {
	e, _ := m["error"].(string)
	return m["etype"] == "limit" && strings.Contains(e, "client connections open")
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(ptTimeout); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("still not %s after %v", what, ptTimeout)
		}
	}
}

func TestConnFlood(t *testing.T) {
	s := ptStart(t, Config{MaxConns: 6, MaxConnsPerHost: 4})
	busy := s.dial(t) // from 127.0.0.1: 1 of its 4
	ptSet(busy, ptA("f"), 1)
	var mine []*ptConn
	for range 3 {
		c, m := s.dialFrom(t, "127.0.0.1")
		if refused(m) {
			t.Fatalf("refused below the per-host cap: %v", m)
		}
		mine = append(mine, c)
	}
	// A flood from 127.0.0.1, in parallel: every one is refused with a reason and closed,
	// and the established client keeps getting answers meanwhile.
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, m := s.dialFrom(t, "127.0.0.1")
			if !refused(m) {
				t.Errorf("connection over the per-host cap: %v", m)
				return
			}
			if rest := c.expectClosed(); len(rest) != 0 {
				t.Errorf("refused connection got %v", rest)
			}
		}()
	}
	for i := range 20 {
		ptSet(busy, ptA("f"), i)
	}
	wg.Wait()
	// Other hosts still get in, up to the total cap.
	for _, src := range []string{"127.0.0.2", "127.0.0.3"} {
		c, m := s.dialFrom(t, src)
		if refused(m) {
			t.Fatalf("%s refused: %v", src, m)
		}
		ptGet(c, ptA("f"))
	}
	if _, m := s.dialFrom(t, "127.0.0.4"); !refused(m) || !strings.Contains(m["error"].(string), "server's maximum") {
		t.Fatalf("connection over the total cap: %v", m)
	}
	// The Go client reports the refusal.
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	if _, err := client.Dial(ctx, s.Addr); err == nil || !strings.Contains(err.Error(), "client connections open") {
		t.Errorf("Go client over the cap: %v", err)
	}
	// Closed connections give their slots back.
	for _, c := range mine {
		c.nc.Close()
	}
	eventually(t, "admitting 127.0.0.1 again", func() bool {
		c, m := s.dialFrom(t, "127.0.0.1")
		c.nc.Close()
		return !refused(m)
	})
	ptGet(busy, ptA("f"))
}

func TestStreamCap(t *testing.T) {
	s := ptStart(t, Config{MaxStreams: 3})
	c := s.dial(t)
	var watches []uint64
	for range 3 {
		seq := c.send(ptM{"action": "watch", "path": ptA("w")})
		if m := c.next(seq); m["state"] != "start" {
			t.Fatalf("watch: %v", m)
		}
		watches = append(watches, seq)
	}
	// More streams of any kind get an error, framed by start and end as DistKV's server
	// frames a failed stream (its client waits for start); the connection stays usable.
	for _, act := range []string{"watch", "get_tree", "watch"} {
		r := c.streamErr(ptM{"action": act, "path": ptA("w")}, "limit")
		if !strings.Contains(r["error"].(string), "3 streams running") {
			t.Errorf("%s: %v", act, r)
		}
	}
	ptSet(c, ptA("w", "x"), 1)
	for _, seq := range watches {
		if m := c.next(seq); m["value"] != int64(1) {
			t.Errorf("watch %d: %v", seq, m)
		}
	}
	// Another connection is not limited by this one's streams.
	other := s.dial(t)
	other.streamUntil(other.send(ptM{"action": "get_tree", "path": ptA("w")}), "end")
	// Stopping a stream makes room for a new one.
	c.ok(ptM{"action": "stop", "task": watches[0]})
	if m := c.next(watches[0]); m["state"] != "end" {
		t.Fatalf("stopped watch: %v", m)
	}
	eventually(t, "taking a stream after a stop", func() bool {
		seq := c.send(ptM{"action": "get_tree", "path": ptA("w")})
		m := c.next(seq)
		if m["error"] != nil {
			return false
		}
		c.streamUntil2(seq, m)
		return true
	})
}

// streamUntil2 reads a stream whose first message was already read, up to its end.
func (c *ptConn) streamUntil2(seq uint64, first map[string]any) {
	c.tb.Helper()
	if first["state"] != "start" {
		c.tb.Fatalf("stream %d: first message %v", seq, first)
	}
	for m := c.next(seq); m["state"] != "end"; m = c.next(seq) {
	}
}

func TestSlowReaderDropped(t *testing.T) {
	s := ptStart(t, Config{WriteTimeout: 300 * time.Millisecond})
	slow := s.dial(t)
	slow.nc.(*net.TCPConn).SetReadBuffer(4096)
	seq := slow.send(ptM{"action": "watch", "path": ptA("big")})
	if m := slow.next(seq); m["state"] != "start" {
		t.Fatalf("watch: %v", m)
	}
	// slow never reads again. Another client writes big values under its watch until the
	// server drops it; every write is answered meanwhile.
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	w, err := client.Dial(ctx, s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	val, _ := client.Encode(strings.Repeat("v", 64<<10))
	watching := func() bool {
		s.S.mu.Lock()
		defer s.S.mu.Unlock()
		return len(s.S.watches) > 0
	}
	for i := 0; watching(); i++ {
		if ctx.Err() != nil {
			t.Fatal("the client that stopped reading was not dropped")
		}
		if _, err := w.Set(ctx, node.StringPath("big", "k"), val); err != nil {
			t.Fatalf("write %d while a client is stuck: %v", i, err)
		}
	}
	// Its connection is gone too.
	eventually(t, "closing the stuck connection", func() bool {
		n := 0
		s.S.conns.Range(func(any, any) bool { n++; return true })
		return n == 1
	})
	if _, err := w.Get(ctx, node.StringPath("big", "k")); err != nil {
		t.Fatal(err)
	}
}

func TestIdleTimeout(t *testing.T) {
	const idleTimeout = 400 * time.Millisecond
	s := ptStart(t, Config{IdleTimeout: idleTimeout})
	watcher := s.dial(t)
	seq := watcher.send(ptM{"action": "watch", "path": ptA("i")})
	if m := watcher.next(seq); m["state"] != "start" {
		t.Fatalf("watch: %v", m)
	}
	start := time.Now()
	idle := s.dial(t)
	got := idle.expectClosed()
	if len(got) != 1 || got[0]["etype"] != "limit" || !strings.Contains(got[0]["error"].(string), "idle") {
		t.Fatalf("idle connection got %v before the close", got)
	}
	// The watcher has been silent as long as the idle one and longer; it stays open. Wait
	// a few idle timeouts more to be sure.
	time.Sleep(time.Until(start.Add(1500 * time.Millisecond)))
	w := s.dial(t)
	ptSet(w, ptA("i", "x"), 7)
	if m := watcher.next(seq); m["value"] != int64(7) {
		t.Fatalf("watcher: %v", m)
	}
	// Half a request does not keep a connection open either.
	half := s.dial(t)
	b := ptMustEncode(t, ptM{"seq": 1, "action": "get_value", "path": ptA("i", "x")})
	half.sendRaw(b[:len(b)-1])
	if got := half.expectClosed(); len(got) != 0 {
		t.Errorf("half a request got %v", got)
	}
	// A connection that keeps talking is never idle. A closed one fails the test unless this
	// goroutine itself stalled for half the timeout before the request (a busy machine).
	busy := s.dial(t)
	last := time.Now()
	for range 10 {
		time.Sleep(50 * time.Millisecond)
		gap := time.Since(last)
		seq := busy.send(ptM{"action": "get_value", "path": ptA("i", "x")})
		m, err := busy.tryNext(seq)
		last = time.Now()
		switch {
		case err == nil && m["error"] == nil:
		case gap >= idleTimeout/2:
			t.Logf("the test stalled %v between two requests; the busy connection is not checked", gap)
			return
		default:
			t.Fatalf("a connection talking every %v was dropped: %v, %v", gap.Round(time.Millisecond), m, err)
		}
	}
}
