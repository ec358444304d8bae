// Package peer is distkv's peer data plane: the framed TCP connections between servers that
// carry pushes, pulls, vectors and state transfers (docs/replication.md, "The data plane").
//
// A Plane moves frames; what they mean is its Handler's business (the server). It owns:
//   - the listener, at most Config.MaxConns connections at a time, each opening with Hello
//     within HelloTimeout and then sending a frame at least every IdleTimeout;
//   - one persistent push stream per peer, with a bounded queue that drops rather than
//     slowing writers (the receiver sees the gap and pulls);
//   - request/reply exchanges and one-way messages on short-lived connections;
//   - Puller, the scheduling of gap pulls.
//
// Every goroutine it starts ends at Close, which also cuts short every dial and connection.
package peer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/distkv/distkv/gossip"
	"github.com/distkv/distkv/gossip/wire"
)

// Info is another member as the data plane needs it.
type Info struct {
	Name, Peer, Origin string // member name, data plane address, current origin
	Ready              bool
	Waiting            bool // waiting to hear from the network (server/alone.go)
}

// Handler answers the frames peers send. Handle is called from one goroutine per connection,
// concurrently for different connections. body is valid only until Handle returns: the
// connection reads its next frame into the same buffer, so what Handle keeps it decodes (the
// wire decoders copy). It may write reply frames on r (nil for a message
// the server handles locally, see Plane.Tell); an error closes the connection after an Error
// frame saying why.
type Handler interface {
	Handle(from wire.Hello, t byte, body []byte, r *Replier) error
}

// Config configures a Plane.
type Config struct {
	Network  gossip.Network
	MaxFrame int // cap on one frame, checked before anything is allocated
	MaxConns int // cap on open inbound connections
	// HelloTimeout bounds the wait for an inbound connection's Hello; IdleTimeout the wait for
	// each later frame. Pushers close their idle streams at half of IdleTimeout.
	HelloTimeout, IdleTimeout time.Duration
	// Hello is what this node says when it dials.
	Hello  func() wire.Hello
	Logger *slog.Logger
	// Counters, if set, counts the frames and bytes (metrics).
	Counters *Counters
}

// Plane is one node's end of the data plane.
type Plane struct {
	cfg Config
	h   Handler
	ln  net.Listener

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	streams map[string]*stream // outbound push streams by member name
	closed  bool
}

// Listen opens the data plane's port on addr; Serve accepts on it.
func Listen(cfg Config, addr string, h Handler) (*Plane, error) {
	ln, err := cfg.Network.Listen(addr)
	if err != nil {
		return nil, err
	}
	p := &Plane{cfg: cfg, h: h, ln: ln, streams: map[string]*stream{}}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p, nil
}

// Addr returns the listener's address.
func (p *Plane) Addr() net.Addr { return p.ln.Addr() }

// Close stops accepting, ends every connection, stream and goroutine of the plane, and waits
// for them.
func (p *Plane) Close() {
	p.mu.Lock()
	p.closed = true
	for _, s := range p.streams {
		s.cancel()
	}
	p.mu.Unlock()
	p.cancel()
	p.ln.Close()
	p.wg.Wait()
}

// goTracked runs fn in a goroutine Close waits for, unless the plane is closed.
func (p *Plane) goTracked(fn func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	go func() { defer p.wg.Done(); fn() }()
	return true
}

// refusedLogEvery rate-limits the log line about connections refused over MaxConns.
const refusedLogEvery = 10 * time.Second

// Serve accepts connections until Close, at most MaxConns at a time: one more is closed at
// once, so a flood of connections costs a file descriptor for a moment each.
func (p *Plane) Serve() {
	slots := make(chan struct{}, p.cfg.MaxConns)
	var refused int
	var lastLog time.Time
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			if p.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			conn.Close()
			if refused++; time.Since(lastLog) >= refusedLogEvery {
				p.cfg.Logger.Warn("peer connections over the cap; closing new ones", "max", p.cfg.MaxConns,
					"refused", refused, "last from", conn.RemoteAddr().String())
				refused, lastLog = 0, time.Now()
			}
			continue
		}
		if !p.goTracked(func() { defer func() { <-slots }(); p.serveConn(conn) }) {
			conn.Close()
			return
		}
	}
}

func (p *Plane) serveConn(conn net.Conn) {
	defer conn.Close()
	stop := context.AfterFunc(p.ctx, func() { conn.Close() })
	defer stop()
	br := bufio.NewReaderSize(conn, 64<<10)
	r := &Replier{bw: bufio.NewWriterSize(conn, 64<<10), c: p.cfg.Counters}
	// A connection that says nothing holds a slot: Hello must come soon, frames after it
	// within the idle timeout (pushers close their idle streams before it).
	conn.SetReadDeadline(time.Now().Add(p.cfg.HelloTimeout))
	t, b, err := p.readFrame(br)
	if err != nil || t != wire.MsgHello {
		p.cfg.Logger.Debug("peer connection without hello", "from", conn.RemoteAddr().String(), "type", t, "err", err)
		return
	}
	hello, err := wire.DecodeHello(b)
	if err != nil {
		return
	}
	var buf []byte // one frame body at a time, reused: a push stream sends many alike
	for {
		conn.SetReadDeadline(time.Now().Add(p.cfg.IdleTimeout))
		t, b, err := p.readFrameInto(br, buf)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				p.cfg.Logger.Debug("peer connection", "peer", hello.Name, "err", err)
			}
			return
		}
		if err := p.h.Handle(hello, t, b, r); err != nil {
			p.cfg.Logger.Warn("bad message from peer; closing its connection", "peer", hello.Name, "type", t, "err", err)
			r.Send(wire.MsgError, []byte(err.Error()))
			return
		}
		if cap(b) <= maxKeptFrame {
			buf = b[:0]
		}
	}
}

// maxKeptFrame bounds the frame buffer an idle connection holds on to; a larger frame (a
// state chunk, a big value) is read into a buffer of its own.
const maxKeptFrame = 256 << 10

// Replier writes reply frames on one connection.
type Replier struct {
	bw *bufio.Writer
	c  *Counters
}

// Write buffers one frame.
func (r *Replier) Write(t byte, body []byte) error {
	err := gossip.WriteFrame(r.bw, t, body)
	if err == nil {
		r.c.out(body)
	}
	return err
}

// Send writes one frame and flushes it with whatever was buffered.
func (r *Replier) Send(t byte, body []byte) error {
	if err := r.Write(t, body); err != nil {
		return err
	}
	return r.bw.Flush()
}

// dial opens a connection to a peer and says hello; ctx (and Close) cut the dial short.
func (p *Plane) dial(ctx context.Context, to Info) (net.Conn, *bufio.Writer, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	stop := context.AfterFunc(p.ctx, cancel)
	defer stop()
	conn, err := p.cfg.Network.Dial(ctx, to.Peer)
	if err != nil {
		return nil, nil, err
	}
	bw := bufio.NewWriterSize(conn, 64<<10)
	if err := p.writeFrame(bw, wire.MsgHello, p.cfg.Hello().Append(nil)); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, bw, nil
}

// Request opens a connection to a peer, sends one request frame and calls fn for each reply
// frame until fn returns false. An Error frame ends it with the peer's reason.
func (p *Plane) Request(ctx context.Context, to Info, t byte, body []byte, fn func(t byte, body []byte) (bool, error)) error {
	conn, bw, err := p.dial(ctx, to)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	stop2 := context.AfterFunc(p.ctx, func() { conn.Close() })
	defer stop2()
	if err := p.writeFrame(bw, t, body); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	for {
		rt, b, err := p.readFrame(br)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if rt == wire.MsgError {
			return fmt.Errorf("peer %s: %s", to.Name, b)
		}
		more, err := fn(rt, b)
		if err != nil || !more {
			return err
		}
	}
}

// Vector asks a peer for its state summary.
func (p *Plane) Vector(ctx context.Context, to Info) (wire.Vector, error) {
	var v wire.Vector
	err := p.Request(ctx, to, wire.MsgVectorReq, nil, func(t byte, b []byte) (bool, error) {
		if t != wire.MsgVector {
			return false, fmt.Errorf("peer %s answered %d to a vector request", to.Name, t)
		}
		var err error
		v, err = wire.DecodeVector(b)
		return false, err
	})
	return v, err
}

// Tell sends a one-way message to a peer in the background, giving up after a few seconds.
func (p *Plane) Tell(to Info, t byte, body []byte) {
	p.goTracked(func() {
		conn, bw, err := p.dial(p.ctx, to)
		if err != nil {
			return
		}
		defer conn.Close()
		stop := context.AfterFunc(p.ctx, func() { conn.Close() })
		defer stop()
		conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if err := p.writeFrame(bw, t, body); err == nil {
			bw.Flush()
		}
	})
}
