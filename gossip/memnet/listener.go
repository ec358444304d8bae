package memnet

import (
	"context"
	"net"
	"sync"
	"syscall"
)

// backlog is how many dialled streams may wait for Accept, like a listen
// backlog. Dials beyond it wait until the context ends.
const backlog = 64

// listener accepts the streams dialled to one bound address. It serves both
// Host.Listen and the stream side of a Transport.
type listener struct {
	n      *Network
	addr   Addr
	ch     chan net.Conn
	done   chan struct{}
	mu     sync.Mutex
	closed bool

	// track, if set, adopts each accepted stream before it is queued (a
	// Transport closes the streams it owns on Shutdown). It returns false to
	// refuse the stream.
	track func(*conn) bool
}

func newListener(n *Network, addr Addr) *listener {
	return &listener{n: n, addr: addr, ch: make(chan net.Conn, backlog), done: make(chan struct{})}
}

// Accept implements net.Listener.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "memnet", Addr: l.addr, Err: net.ErrClosed}
	default:
	}
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "memnet", Addr: l.addr, Err: net.ErrClosed}
	}
}

// Close implements net.Listener: it unbinds the address and closes every stream
// still waiting to be accepted. Streams already accepted stay open, as with TCP.
func (l *listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return &net.OpError{Op: "close", Net: "memnet", Addr: l.addr, Err: net.ErrClosed}
	}
	l.closed = true
	close(l.done)
	l.mu.Unlock()
	l.n.unbind(l.addr, l)
	l.drain()
	return nil
}

// Addr implements net.Listener.
func (l *listener) Addr() net.Addr { return l.addr }

func (l *listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// drain closes the streams queued for Accept.
func (l *listener) drain() {
	for {
		select {
		case c := <-l.ch:
			_ = c.Close()
		default:
			return
		}
	}
}

// enqueue hands a dialled stream to Accept. It fails if the listener closes or
// ctx ends first.
func (l *listener) enqueue(ctx context.Context, c *conn) error {
	if l.track != nil && !l.track(c) {
		return syscall.ECONNREFUSED
	}
	select {
	case l.ch <- c:
		// Close may have drained the queue just before this send: if the listener
		// is closed now, drain again so that no stream is left behind unaccepted.
		if l.isClosed() {
			l.drain()
		}
		return nil
	case <-l.done:
		return syscall.ECONNREFUSED
	case <-ctx.Done():
		return ctx.Err()
	}
}
