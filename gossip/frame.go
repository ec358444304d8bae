package gossip

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
)

// Network is the peer data plane's view of the network: TCP in production,
// memnet.Host in tests, so that memnet's partitions cut it too.
type Network interface {
	// Listen binds "host:port" (port 0 picks one; see the listener's Addr).
	Listen(addr string) (net.Listener, error)
	// Dial opens a stream to a peer's listener, giving up when ctx ends.
	Dial(ctx context.Context, addr string) (net.Conn, error)
}

// TCP is the production Network.
type TCP struct{}

var _ Network = TCP{}

// Listen implements Network with net.Listen("tcp", addr).
func (TCP) Listen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

// Dial implements Network. Go's dialer enables TCP keep-alives (15 s) and
// no-delay by default: a peer that vanishes is noticed, and small frames are
// not held back.
func (TCP) Dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// FrameHeaderSize is the size of a frame's header: the body length (4 bytes,
// big-endian) and the type (1 byte).
const FrameHeaderSize = 5

// ErrFrameTooLarge is returned by ReadFrame for a frame whose length exceeds
// the reader's maximum, and by WriteFrame for a body the length field cannot
// hold. After it the stream is out of step: drop the connection.
var ErrFrameTooLarge = errors.New("gossip: frame too large")

// WriteFrame writes one frame to w. The caller flushes, so that several frames
// can go out in one write.
func WriteFrame(w *bufio.Writer, typ byte, body []byte) error {
	if uint64(len(body)) > math.MaxUint32 {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(body))
	}
	var hdr [FrameHeaderSize]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(body)))
	hdr[4] = typ
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

// readChunk is the first step by which ReadFrame grows a body when buf is too
// small; each later step doubles what has arrived. A peer that announces a
// large frame and then stalls or hangs up thus costs at most about twice what
// it sent plus this, not the announced size.
const readChunk = 64 << 10

// ReadFrame reads one frame from r. A body of at most limit bytes is accepted;
// it is read into buf when buf's capacity suffices (the result then aliases
// buf), else into a new slice. The length is checked against limit before
// anything is allocated, and a new slice grows with the bytes received, so a
// lying header costs little. At a clean end of stream before a frame it
// returns io.EOF; a stream that ends inside a frame gives io.ErrUnexpectedEOF;
// a length over limit gives ErrFrameTooLarge.
func ReadFrame(r *bufio.Reader, limit int, buf []byte) (typ byte, body []byte, err error) {
	// Peek, not ReadFull into an array: the array would escape to the heap
	// through the io.Reader interface, one allocation per frame.
	hdr, err := r.Peek(FrameHeaderSize - 1)
	if err != nil {
		if len(hdr) > 0 {
			return 0, nil, unexpected(err)
		}
		return 0, nil, err // io.EOF: the stream ended cleanly between frames
	}
	n := binary.BigEndian.Uint32(hdr)
	if limit < 0 || uint64(n) > uint64(limit) {
		return 0, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, limit)
	}
	_, _ = r.Discard(FrameHeaderSize - 1) // cannot fail: the bytes are buffered
	if typ, err = r.ReadByte(); err != nil {
		return 0, nil, unexpected(err)
	}
	size := int(n)
	if cap(buf) >= size {
		body = buf[:size]
		if _, err := io.ReadFull(r, body); err != nil {
			return 0, nil, unexpected(err)
		}
		return typ, body, nil
	}
	// Grow chunk by chunk (doubling, so copies stay linear), allocating
	// exactly what is needed and never more than size.
	body = buf[:0]
	for len(body) < size {
		grow := min(size-len(body), max(len(body), readChunk))
		next := make([]byte, len(body)+grow)
		copy(next, body)
		if _, err := io.ReadFull(r, next[len(body):]); err != nil {
			return 0, nil, unexpected(err)
		}
		body = next
	}
	return typ, body, nil
}

// unexpected turns a clean EOF inside a frame into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
