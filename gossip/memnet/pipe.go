package memnet

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// pipeBuffer is how many bytes one direction of a stream holds before Write
// blocks. It stands in for the kernel's socket buffers: large enough that a
// protocol which writes a request and then reads (as real TCP lets you do for
// small messages) does not deadlock in tests, small enough that a stalled reader
// is still felt as backpressure.
const pipeBuffer = 64 << 10

// Addr is the address of a memnet endpoint: the "host:port" string it was bound
// or dialled with.
type Addr string

// Network implements net.Addr.
func (a Addr) Network() string { return "memnet" }

// String implements net.Addr.
func (a Addr) String() string { return string(a) }

// errReset is what both ends of a stream see when a partition cuts it, like a
// TCP reset. It differs from net.ErrClosed so that code can tell "the network
// broke" from "I closed it".
var errReset = syscall.ECONNRESET

// half is one direction of a stream: bytes written by one end, read by the
// other.
type half struct {
	mu      sync.Mutex
	buf     []byte // buf[r:w] is unread
	r, w    int
	eof     bool          // the writing end closed: the reader sees io.EOF once drained
	gone    bool          // the reading end closed: writes fail with EPIPE
	err     error         // set by reset: both ends fail with it at once
	changed chan struct{} // closed (and replaced) on every change, to wake waiters
}

func newHalf() *half {
	return &half{buf: make([]byte, pipeBuffer), changed: make(chan struct{})}
}

// signal wakes every goroutine waiting on h. Callers hold h.mu.
func (h *half) signal() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// conn is one end of a stream. Reads come from in, writes go to out.
type conn struct {
	in, out       *half
	local, remote Addr
	closed        atomic.Bool
	readDL        deadline
	writeDL       deadline
	onClose       func(*conn) // unregisters the stream; called once, without locks held
}

// newPipe returns the two ends of a buffered, full-duplex stream.
func newPipe(addrA, addrB Addr) (a, b *conn) {
	ab, ba := newHalf(), newHalf()
	a = &conn{in: ba, out: ab, local: addrA, remote: addrB, readDL: makeDeadline(), writeDL: makeDeadline()}
	b = &conn{in: ab, out: ba, local: addrB, remote: addrA, readDL: makeDeadline(), writeDL: makeDeadline()}
	return a, b
}

func (c *conn) opError(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return &net.OpError{Op: op, Net: "memnet", Source: c.local, Addr: c.remote, Err: err}
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.read(p)
	return n, c.opError("read", err)
}

func (c *conn) read(p []byte) (int, error) {
	h := c.in
	for {
		h.mu.Lock()
		switch {
		case c.closed.Load():
			h.mu.Unlock()
			return 0, net.ErrClosed
		case h.err != nil:
			h.mu.Unlock()
			return 0, h.err
		case isClosedChan(c.readDL.wait()):
			h.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		case h.r < h.w:
			n := copy(p, h.buf[h.r:h.w])
			h.r += n
			if h.r == h.w {
				h.r, h.w = 0, 0
			}
			h.signal()
			h.mu.Unlock()
			return n, nil
		case len(p) == 0:
			h.mu.Unlock()
			return 0, nil
		case h.eof:
			h.mu.Unlock()
			return 0, io.EOF
		}
		wait := h.changed
		h.mu.Unlock()
		select {
		case <-wait:
		case <-c.readDL.wait():
		}
	}
}

func (c *conn) Write(p []byte) (int, error) {
	n, err := c.write(p)
	return n, c.opError("write", err)
}

func (c *conn) write(p []byte) (int, error) {
	h := c.out
	total := 0
	for {
		if total > 0 && len(p) == 0 {
			return total, nil // done, even if the reader has gone since
		}
		h.mu.Lock()
		switch {
		case c.closed.Load():
			h.mu.Unlock()
			return total, net.ErrClosed
		case h.err != nil:
			h.mu.Unlock()
			return total, h.err
		case isClosedChan(c.writeDL.wait()):
			h.mu.Unlock()
			return total, os.ErrDeadlineExceeded
		case h.gone:
			h.mu.Unlock()
			return total, syscall.EPIPE
		case len(p) == 0:
			h.mu.Unlock()
			return total, nil
		}
		if h.w == len(h.buf) && h.r > 0 { // compact: reuse the space already read
			h.w = copy(h.buf, h.buf[h.r:h.w])
			h.r = 0
		}
		if n := copy(h.buf[h.w:], p); n > 0 {
			h.w += n
			p = p[n:]
			total += n
			h.signal()
			h.mu.Unlock()
			continue
		}
		wait := h.changed
		h.mu.Unlock()
		select {
		case <-wait:
		case <-c.writeDL.wait():
		}
	}
}

// Close closes this end: the peer reads the remaining bytes and then io.EOF, and
// its writes fail. Blocked calls on this end return net.ErrClosed.
func (c *conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return c.opError("close", net.ErrClosed)
	}
	for _, h := range []*half{c.in, c.out} {
		h.mu.Lock()
		if h == c.in {
			h.gone = true
		} else {
			h.eof = true
		}
		h.signal()
		h.mu.Unlock()
	}
	if c.onClose != nil {
		c.onClose(c)
	}
	return nil
}

// reset breaks the stream in both directions, as a partition does: pending and
// future reads and writes at both ends fail with errReset.
func (c *conn) reset() {
	for _, h := range []*half{c.in, c.out} {
		h.mu.Lock()
		if h.err == nil {
			h.err = errReset
			h.signal()
		}
		h.mu.Unlock()
	}
}

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }

func (c *conn) SetDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	c.readDL.set(t)
	c.writeDL.set(t)
	return nil
}

func (c *conn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	c.readDL.set(t)
	return nil
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	c.writeDL.set(t)
	return nil
}

// deadline is a resettable deadline whose channel is closed once it passes. It
// follows the pipeDeadline of the standard library's net.Pipe.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{}
}

func makeDeadline() deadline { return deadline{cancel: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait until its callback has closed cancel
	}
	d.timer = nil
	closed := isClosedChan(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosedChan(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
