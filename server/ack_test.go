package server

import (
	"bufio"
	"bytes"
	"context"
	"testing"

	"github.com/distkv/distkv/clientproto"
)

// ackTConn is a connection without a socket: what it writes lands in sock.
func ackTConn() (*conn, *bytes.Buffer, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	sock := &bytes.Buffer{}
	c := &conn{s: &Server{}, ctx: ctx, cancel: cancel, out: make(chan []byte, 8), acks: make(chan ack, 8),
		done: make(chan struct{}), bw: bufio.NewWriter(sock)}
	return c, sock, cancel
}

// A write with nothing to wait for is answered at once only while no earlier reply is queued:
// the replies of a connection keep the order of its writes.
func TestAckWriteOrder(t *testing.T) {
	c, sock, cancel := ackTConn()
	defer cancel()
	c.ackWrite(ack{reply: []byte("1")})
	if c.bw.Buffered() != 1 || len(c.out) != 0 || len(c.acks) != 0 {
		t.Fatalf("an idle connection's write was not answered at once (buffered %d, out %d, acks %d)",
			c.bw.Buffered(), len(c.out), len(c.acks))
	}
	c.ackWrite(ack{seq: 7, reply: []byte("2")}) // waits for the log: queued
	c.ackWrite(ack{reply: []byte("3")})         // behind it
	c.ackWrite(ack{reply: []byte("4"), more: []ackPart{{}}})
	if c.bw.Buffered() != 1 || len(c.acks) != 3 {
		t.Fatalf("writes behind a queued one went out at once (buffered %d, acks %d)", c.bw.Buffered(), len(c.acks))
	}
	close(c.acks)
	c.acker()
	close(c.out)
	c.writer()
	if got := sock.String(); got != "1234" || c.queued.Load() != 0 {
		t.Fatalf("replies %q, %d still counted queued; want 1234, 0", got, c.queued.Load())
	}
}

// The reader's direct replies never overtake a message queued for the writer, and a borrowed
// reply buffer is copied when it has to be queued.
func TestSendNowOrder(t *testing.T) {
	c, sock, cancel := ackTConn()
	defer cancel()
	c.send([]byte("a")) // a stream's message, not yet written
	m := c.replyMsg(1)
	b := m.Bytes()
	c.sendNow(b) // must queue behind "a"
	c.replyMsg(2).Bytes()
	if c.bw.Buffered() != 0 || len(c.out) != 2 {
		t.Fatalf("sendNow wrote ahead of a queued message (buffered %d, out %d)", c.bw.Buffered(), len(c.out))
	}
	close(c.out)
	c.writer()
	want := "a" + string(clientproto.NewMsg(1).Bytes())
	if got := sock.String(); got != want {
		t.Fatalf("wrote %q, want %q", got, want)
	}
	if c.inflight.Load() != 0 {
		t.Fatalf("%d messages still counted in flight", c.inflight.Load())
	}
	// With nothing queued, sendNow writes at once, and flush flushes.
	c.sendNow([]byte("z"))
	if c.bw.Buffered() != 1 || len(c.out) != 0 {
		t.Fatalf("an idle connection's reply was queued (buffered %d)", c.bw.Buffered())
	}
	c.flush()
	if c.bw.Buffered() != 0 || sock.String() != want+"z" {
		t.Fatalf("not flushed: %q", sock.String())
	}
}

// A reply queued from a stream's goroutine (kill_node) is counted like the reader's: the count
// returns to 0, so a later write is neither answered ahead of a queued one nor forever queued.
func TestQueueAckCounted(t *testing.T) {
	c, _, cancel := ackTConn()
	defer cancel()
	c.queueAck(ack{reply: []byte("1")})
	c.ackWrite(ack{reply: []byte("2")}) // behind the queued one
	if len(c.out) != 0 || len(c.acks) != 2 {
		t.Fatalf("a write went out ahead of a queued reply (out %d, acks %d)", len(c.out), len(c.acks))
	}
	close(c.acks)
	c.acker()
	if c.queued.Load() != 0 {
		t.Fatalf("%d still counted queued after the acker drained; want 0", c.queued.Load())
	}
}
