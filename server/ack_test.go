package server

import (
	"context"
	"testing"
)

// A write with nothing to wait for is answered at once only while no earlier reply is queued:
// the replies of a connection keep the order of its writes.
func TestAckWriteOrder(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &conn{s: &Server{}, ctx: ctx, cancel: cancel, out: make(chan []byte, 8), acks: make(chan ack, 8)}
	c.ackWrite(ack{reply: []byte("1")})
	if len(c.out) != 1 || len(c.acks) != 0 {
		t.Fatalf("an idle connection's write was queued (out %d, acks %d)", len(c.out), len(c.acks))
	}
	c.ackWrite(ack{seq: 7, reply: []byte("2")}) // waits for the log: queued
	c.ackWrite(ack{reply: []byte("3")})         // behind it
	c.ackWrite(ack{reply: []byte("4"), more: []ackPart{{}}})
	if len(c.out) != 1 || len(c.acks) != 3 {
		t.Fatalf("writes behind a queued one went out at once (out %d, acks %d)", len(c.out), len(c.acks))
	}
	close(c.acks)
	c.acker()
	close(c.out)
	var got string
	for b := range c.out {
		got += string(b)
	}
	if got != "1234" || c.queued.Load() != 0 {
		t.Fatalf("replies %q, %d still counted queued; want 1234, 0", got, c.queued.Load())
	}
}

// A reply queued from a stream's goroutine (kill_node) is counted like the reader's: the count
// returns to 0, so a later write is neither answered ahead of a queued one nor forever queued.
func TestQueueAckCounted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &conn{s: &Server{}, ctx: ctx, cancel: cancel, out: make(chan []byte, 8), acks: make(chan ack, 8)}
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
