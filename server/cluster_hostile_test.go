package server_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/gossip"
	"github.com/distkv/distkv/gossip/wire"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server"
	"github.com/distkv/distkv/server/servertest"
)

// peerDial opens a raw data-plane connection to node i from a host outside the cluster.
func peerDial(t *testing.T, c *servertest.Cluster, i int) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := c.Net.Host("10.0.9.9").Dial(ctx, net.JoinHostPort(c.Member(i).Host, "7000"))
	if err != nil {
		t.Fatalf("dial n%d's peer port: %v", i, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// sendFrames writes frames to conn and returns what the node answers before it closes.
func sendFrames(t *testing.T, conn net.Conn, frames ...func(*bufio.Writer) error) (errText string, closed bool) {
	t.Helper()
	bw := bufio.NewWriter(conn)
	for _, f := range frames {
		if err := f(bw); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	for {
		typ, body, err := gossip.ReadFrame(br, 1<<20, nil)
		if err != nil {
			return errText, errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
		}
		if typ == wire.MsgError {
			errText = string(body)
		}
	}
}

func hello(bw *bufio.Writer) error {
	return gossip.WriteFrame(bw, wire.MsgHello, wire.Hello{Name: "intruder", Origin: "evil~1"}.Append(nil))
}

func push(us ...*node.Update) func(*bufio.Writer) error {
	return func(bw *bufio.Writer) error { return gossip.WriteFrame(bw, wire.MsgPush, wire.AppendUpdates(nil, us)) }
}

func evilUpdate(tick, tock uint64, chain ...node.Link) *node.Update {
	return &node.Update{Origin: "evil~1", Tick: tick, Tock: tock,
		Ops: []node.Op{{Path: node.StringPath("hostile"), Value: []byte{0xa1, 0x78}, Chain: chain}}}
}

// TestClusterHostilePush (scenario 2 of issue 8): a Push whose update has tock 2^63-1, or whose
// chain names tick 2^62 of another node's origin, and serf events carrying the same, are
// refused whole: the connection is closed with an Error frame, nothing is applied, the clock is
// not exhausted, the named origin keeps taking writes, and purging still advances.
func TestClusterHostilePush(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 2, Seed: 41})
	const A, B = 0, 1
	c.MustWrite(A, node.StringPath("h", "a"), "before")
	c.WaitConverged(10 * time.Second)
	originB := c.Origin(B)
	far := uint64(1) << 62

	hostile := map[string]*node.Update{
		"tock 2^63-1":                evilUpdate(1, node.MaxTick),
		"chain naming B's tick 2^62": evilUpdate(1, 5, node.Link{Origin: originB, Tick: far}),
	}
	for name, u := range hostile {
		for _, i := range []int{A, B} {
			// A good update in front of the bad one: the whole frame is refused.
			good := evilUpdate(2, 3)
			good.Ops[0].Path = node.StringPath("h", "good")
			errText, closed := sendFrames(t, peerDial(t, c, i), hello, push(good, u))
			if !closed || !strings.Contains(errText, "implausible") {
				t.Errorf("%s to n%d: error frame %q, closed %v; want an implausible-input error and a close", name, i, errText, closed)
			}
			c.Node(i).DeliverUserEvent("u", wire.AppendUpdates(nil, []*node.Update{good, u}))
		}
	}
	// A serf heads event naming the far tick is refused too.
	c.Node(A).DeliverUserEvent("h", wire.AppendWatermark(nil, map[string]uint64{originB: far}))
	c.Node(B).DeliverUserEvent("h", wire.AppendWatermark(nil, map[string]uint64{originB: 1 << 40}))

	for _, i := range []int{A, B} {
		c.Node(i).Node(func(n *node.Node) {
			if n.Tock() >= node.MaxPlausible {
				t.Errorf("n%d: clock at %d", i, n.Tock())
			}
			if h := n.Highest()[originB]; h >= far || h >= 1<<40 {
				t.Errorf("n%d: highest tick of %s raised to %d", i, originB, h)
			}
			if _, ok := n.Known()["evil~1"]; ok {
				t.Errorf("n%d applied part of a refused frame: %v", i, n.Known()["evil~1"])
			}
		})
	}
	// Both nodes take writes (B's own origin was named), and the network converges.
	c.MustWrite(A, node.StringPath("h", "after", "a"), 1)
	c.MustWrite(B, node.StringPath("h", "after", "b"), 2)
	// Purging still advances: a delete's tombstone goes everywhere.
	if _, err := c.Delete(B, node.StringPath("h", "a")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, i := range []int{A, B} {
		for {
			var purged uint64
			c.Node(i).Node(func(n *node.Node) { purged = n.Stats().Purged })
			if purged > 0 {
				break
			}
			if time.Now().After(deadline) {
				ok, why := c.Converged()
				t.Fatalf("n%d purged nothing within 30s (converged %v: %s)", i, ok, why)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	c.WaitConverged(10 * time.Second)
	c.CheckIdentical()
	c.CheckAcked()
}

// served reports whether node i answers a Vector request on a fresh connection, which it keeps
// open; false if the node closed it without answering.
func served(t *testing.T, c *servertest.Cluster, i int) (net.Conn, bool) {
	conn := peerDial(t, c, i)
	bw := bufio.NewWriter(conn)
	if hello(bw) != nil || gossip.WriteFrame(bw, wire.MsgVectorReq, nil) != nil || bw.Flush() != nil {
		return conn, false // already closed
	}
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	typ, _, err := gossip.ReadFrame(bufio.NewReader(conn), 1<<20, nil)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("n%d neither answered nor closed within 20s", i)
		}
		return conn, false
	}
	return conn, typ == wire.MsgVector
}

// TestPeerConnLimits: a connection that sends no Hello within PeerHelloTimeout is closed, and
// connections over MaxPeerConns are closed without being served; the node keeps serving.
func TestPeerConnLimits(t *testing.T) {
	const max = 4
	c := servertest.New(t, servertest.Options{N: 2, Seed: 42, Configure: func(i int, cfg *server.Config) {
		if i == 0 {
			cfg.MaxPeerConns = max
			cfg.PeerHelloTimeout = 300 * time.Millisecond
		}
	}})
	const A = 0
	// Silent connections are closed by the Hello deadline (or at once, those over the cap).
	var silent []net.Conn
	for k := 0; k < max+2; k++ {
		silent = append(silent, peerDial(t, c, A))
	}
	for k, conn := range silent {
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err := conn.Read(make([]byte, 1))
		var ne net.Error
		if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			t.Fatalf("silent connection %d still open after 20s (err %v)", k, err)
		}
	}
	// Connections that are served stay open: at most max of them are, the rest are closed
	// unanswered (the other node's requests may hold a slot for a moment too).
	var held []net.Conn
	ok := 0
	for k := 0; k < 2*max; k++ {
		conn, yes := served(t, c, A)
		held = append(held, conn)
		if yes {
			ok++
		}
	}
	if ok > max || ok == 0 {
		t.Fatalf("%d of %d connections were served, want 1..%d", ok, 2*max, max)
	}
	t.Logf("%d of %d connections served with the cap at %d", ok, 2*max, max)
	// Closing them frees the slots.
	for _, conn := range held {
		conn.Close()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, yes := served(t, c, A)
		conn.Close()
		if yes {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no connection served after the others closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.MustWrite(A, node.StringPath("limits"), "still replicating")
	c.WaitConverged(10 * time.Second)
}

// TestPushStreamOutlivesIdleTimeout: a push stream idle past PeerIdleTimeout is closed by the
// pusher before the receiver's deadline cuts it (no push is written into a dying connection),
// and the next write goes out on a fresh stream.
func TestPushStreamOutlivesIdleTimeout(t *testing.T) {
	const idle = 2 * time.Second
	c := servertest.New(t, servertest.Options{N: 2, Seed: 43, LogLevel: slog.LevelDebug, HousekeepInterval: time.Minute,
		Configure: func(i int, cfg *server.Config) { cfg.PeerIdleTimeout = idle }})
	const A, B = 0, 1
	c.MustWrite(A, node.StringPath("idle", "0"), "opens the push stream")
	c.WaitConverged(10 * time.Second)
	time.Sleep(idle + idle/2)                                                     // the stream is idle past the receiver's timeout
	a1 := c.MustWrite(A, node.StringPath("idle", "1"), strings.Repeat("v", 4000)) // too big for serf
	waitKnows(t, c, B, c.Origin(A), a1.Tick, 10*time.Second)
	if logs := c.Logs(4000); strings.Contains(logs, "i/o timeout") {
		t.Fatalf("a peer connection hit its read deadline:\n%s", logs)
	}
}

// TestClusterHostileRepairs: an anti-entropy Load whose entry has tock 2^63-1, or a tick 2^40
// of an origin no one heard of, and a Settle of such ticks, are refused whole like a Push:
// nothing is loaded or settled, the clock is not exhausted, and no gap opens that would never
// fill.
func TestClusterHostileRepairs(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 2, Seed: 44})
	const A = 0
	load := func(us ...*node.Update) func(*bufio.Writer) error {
		return func(bw *bufio.Writer) error { return gossip.WriteFrame(bw, wire.MsgLoad, wire.AppendUpdates(nil, us)) }
	}
	good := evilUpdate(1, 3)
	good.Ops[0].Path = node.StringPath("h", "good")
	for name, u := range map[string]*node.Update{"tock 2^63-1": evilUpdate(2, node.MaxTick), "tick 2^40": evilUpdate(1<<40, 5)} {
		errText, closed := sendFrames(t, peerDial(t, c, A), hello, load(good, u))
		if !closed || !strings.Contains(errText, "implausible") {
			t.Errorf("%s: error frame %q, closed %v; want an implausible-input error and a close", name, errText, closed)
		}
	}
	settle := func(bw *bufio.Writer) error {
		far := node.NewRangeSet(node.Range{Start: 1 << 40, End: 1<<40 + 2})
		return gossip.WriteFrame(bw, wire.MsgSettle, wire.AppendSettles(nil, []wire.Settle{{Origin: "evil~1", Ticks: far}}))
	}
	if errText, closed := sendFrames(t, peerDial(t, c, A), hello, settle); !closed || !strings.Contains(errText, "implausible") {
		t.Errorf("settle: error frame %q, closed %v; want an implausible-input error and a close", errText, closed)
	}
	c.Node(A).Node(func(n *node.Node) {
		if n.Tock() >= node.MaxPlausible {
			t.Errorf("clock at %d", n.Tock())
		}
		if h := n.Highest()["evil~1"]; h != 0 {
			t.Errorf("highest tick of evil~1 raised to %d", h)
		}
		if _, ok := n.Lookup(node.StringPath("h", "good")); ok {
			t.Error("loaded part of a refused frame")
		}
	})
	c.MustWrite(A, node.StringPath("h", "after"), 1)
	c.WaitConverged(10 * time.Second)
}
