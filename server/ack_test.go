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
