package server

import (
	"context"
	"sync"
	"time"

	"github.com/distkv/distkv/clientproto"
)

// DefaultQlen is the flow-control window offered in the greeting: DistKV's default
// (server.buffer, 10 messages per stream).
const DefaultQlen = 10

// window is one stream's flow control, DistKV's DelayedWrite: every message of the stream
// carries wseq 1, 2, ...; message n waits until the client has acked n-size+1 or later, so at
// most size-1 messages are unacked. A client that never acks pauses the stream: nothing more
// is built for it, and the stream ends only by stop, by its context or with the connection.
type window struct {
	size uint64

	mu    sync.Mutex
	sent  uint64
	acked uint64
	wake  chan struct{} // signalled on every ack that moves the window
}

func newWindow(size int) *window {
	return &window{size: uint64(size), wake: make(chan struct{}, 1)}
}

// next returns the next wseq, waiting for the window to open; false when ctx ends first.
func (w *window) next(ctx context.Context) (uint64, bool) {
	w.mu.Lock()
	w.sent++
	n := w.sent
	for n-w.acked >= w.size {
		w.mu.Unlock()
		select {
		case <-w.wake:
		case <-ctx.Done():
			return 0, false
		}
		w.mu.Lock()
	}
	w.mu.Unlock()
	return n, true
}

// open says whether the next message may go out without waiting. Only the stream's own
// goroutine sends, so next does not block after open said yes.
func (w *window) open() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sent+1-w.acked < w.size
}

// ack records the client's {state: ack, ack: n}. An ack beyond what was sent is taken as
// acking everything sent, so a bogus ack cannot open the window past its size.
func (w *window) ack(n uint64) {
	w.mu.Lock()
	n = min(n, w.sent)
	moved := n > w.acked
	if moved {
		w.acked = n
	}
	w.mu.Unlock()
	if moved {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// streamOut sends one stream's messages, numbered and windowed when flow control is on.
type streamOut struct {
	c   *conn
	seq uint64
	win *window // nil: no flow control
}

// send sends m (built with the stream's seq); false once the stream or connection is over.
func (o *streamOut) send(ctx context.Context, m *clientproto.Msg) bool {
	if o.win != nil {
		n, ok := o.win.next(ctx)
		if !ok {
			return false
		}
		m.Uint("wseq", n)
	}
	return o.c.send(m.Bytes())
}

// appendMsg is send for a message that goes out in a batch: m, numbered, is appended to dst,
// which the caller hands to flush. false once the stream or connection is over.
func (o *streamOut) appendMsg(ctx context.Context, dst []byte, m *clientproto.Msg) ([]byte, bool) {
	if o.win != nil {
		n, ok := o.win.next(ctx)
		if !ok {
			return dst, false
		}
		m.Uint("wseq", n)
	}
	return append(dst, m.Bytes()...), true
}

// canAppend says whether another message may join the batch without waiting for the window.
func (o *streamOut) canAppend() bool { return o.win == nil || o.win.open() }

// flush hands a batch built with appendMsg to the writer, which takes it over.
func (o *streamOut) flush(b []byte) bool {
	if len(b) == 0 {
		return o.c.ctx.Err() == nil
	}
	return o.c.send(b)
}

func (o *streamOut) state(ctx context.Context, st string) bool {
	return o.send(ctx, clientproto.NewMsg(o.seq).Str("state", st))
}

// endWait bounds how long a stopped stream's end waits for the window, as DistKV's (2 s): it
// says end if the client acks in time, and nothing more otherwise.
const endWait = 2 * time.Second

// end sends {state: end}: while ctx lives, as any message (a paused client gets it once it
// acks); after ctx has ended (a stop), within endWait.
func (o *streamOut) end(ctx context.Context) {
	if ctx.Err() == nil {
		o.state(ctx, clientproto.StateEnd)
		return
	}
	ctx, cancel := context.WithTimeout(o.c.ctx, endWait)
	defer cancel()
	o.state(ctx, clientproto.StateEnd)
}

// qlenFor is the window of a stream: the request's own qlen if it has one (DistKV reads it
// per request), else the one agreed for the connection; 0 turns flow control off.
func (c *conn) qlenFor(q *clientproto.Request) int {
	if q.Qlen > 0 && c.s.cfg.Qlen > 0 {
		return clampQlen(min(q.Qlen, c.s.cfg.Qlen))
	}
	return c.qlen
}

// setQlen takes the client's answer to the greeting, {seq: 0, qlen: n}, as DistKV's HelloProc.
func (c *conn) setQlen(n int) {
	if n <= 0 || c.s.cfg.Qlen <= 0 {
		c.qlen = 0
		return
	}
	c.qlen = clampQlen(min(n, c.s.cfg.Qlen))
}

// clampQlen raises a window below 4 to 4: DistKV's reader refuses fewer (it acks every
// qlen/3 messages), and a window of 1 would never send.
func clampQlen(n int) int { return max(n, 4) }

// ackStream routes a client's ack to its stream's window.
func (c *conn) ackStream(seq, n uint64) {
	c.mu.Lock()
	t := c.streams[seq]
	c.mu.Unlock()
	if t != nil && t.win != nil {
		t.win.ack(n)
	}
}
