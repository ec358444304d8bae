package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
)

// Version is the protocol version sent in the greeting.
var Version = []uint64{0, 1, 0}

// conn is one client connection. The reader goroutine parses requests and runs simple ones
// inline, so a connection's writes are applied in the order sent; streams (get_tree, watch)
// run in their own goroutines; one writer goroutine owns the socket's write side.
type conn struct {
	s      *Server
	nc     net.Conn
	out    chan []byte
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the writer has stopped

	mu      sync.Mutex
	streams map[uint64]*streamTask
	wg      sync.WaitGroup
	// acks orders the replies to writes: each waits for durability in turn.
	acks chan ack
}

type ack struct {
	seq   uint64 // log sequence to wait for
	send  []*node.Update
	more  []ackPart // delete_tree's further chunks, each waited for and sent on its own
	reply []byte
	errFn func(error) []byte
}

// ackPart is one log record's worth of an ack: the log fails batch by batch, and Wait reports
// only its own batch, so each part is waited for.
type ackPart struct {
	seq  uint64
	send []*node.Update
}

func newConn(s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		s: s, nc: nc, ctx: ctx, cancel: cancel,
		out:     make(chan []byte, 256),
		done:    make(chan struct{}),
		streams: make(map[uint64]*streamTask),
		acks:    make(chan ack, 1024),
	}
}

func (c *conn) close() {
	c.cancel()
	c.nc.Close()
}

// send queues a message for the writer; it blocks while the client is not reading (back
// pressure for that connection only) and drops it once the connection is gone.
func (c *conn) send(b []byte) bool {
	if c.ctx.Err() != nil {
		return false
	}
	select {
	case c.out <- b:
		return true
	case <-c.ctx.Done():
		return false
	}
}

func (c *conn) writer() {
	defer close(c.done)
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	// Drain until serve closes out, so that a last error message is written before the close.
	for b := range c.out {
		if _, err := bw.Write(b); err != nil {
			c.close()
			continue // keep draining so senders never block
		}
		if len(c.out) == 0 {
			if err := bw.Flush(); err != nil {
				c.close()
			}
		}
	}
	bw.Flush()
}

// acker replies to writes in order once each is durable.
func (c *conn) acker() {
	for a := range c.acks {
		// Not c.ctx: a client that hangs up must not stop its write from reaching peers.
		err := c.s.finish(context.Background(), a.seq, a.send)
		for _, p := range a.more {
			// Every part, also after a failed one: a durable part goes to the peers, one
			// that is not is kept for store.recover.
			if e := c.s.finish(context.Background(), p.seq, p.send); err == nil {
				err = e
			}
		}
		if err != nil && a.errFn != nil {
			c.send(a.errFn(err))
			continue
		}
		c.send(a.reply)
	}
}

func (c *conn) serve() {
	log := c.s.logger().With("client", c.nc.RemoteAddr().String())
	go c.writer()
	ackDone := make(chan struct{})
	go func() { c.acker(); close(ackDone) }()
	defer func() {
		c.cancel()
		c.wg.Wait() // streams have stopped sending
		close(c.acks)
		<-ackDone // the last replies are queued
		// A client that does not read must not hold the writer forever.
		c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		close(c.out)
		<-c.done
		c.nc.Close()
	}()

	c.s.mu.Lock()
	greet := clientproto.NewMsg(0).Str("node", c.s.cfg.Name).Str("origin", c.s.node.Origin()).
		Uint("tick", c.s.node.Tick()).Uint("tock", c.s.node.Tock())
	c.s.mu.Unlock()
	greet.Key("version")
	greet.Array(len(Version))
	for _, v := range Version {
		greet.AppendUint(v)
	}
	c.send(greet.Bytes())

	br := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		b, err := clientproto.ReadMessage(br, c.s.cfg.MaxRequest)
		if err != nil {
			if errors.Is(err, io.EOF) || c.ctx.Err() != nil {
				return
			}
			// The stream cannot be resynchronised: say why, then close.
			et := clientproto.EtypeMalformed
			if errors.Is(err, clientproto.ErrTooLarge) {
				et = clientproto.EtypeTooLarge
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) && !isNetErr(err) {
				log.Warn("closing client connection", "err", err)
				c.send(clientproto.NewMsg(0).Str("error", err.Error()).Str("etype", et).Bytes())
			}
			return
		}
		req, err := clientproto.ParseRequest(b)
		if err != nil {
			c.send(errReply(clientproto.PeekSeq(b), err, 0))
			continue
		}
		c.dispatch(req)
	}
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, net.ErrClosed)
}

// streamTask is one running stream; its pointer tells it from a later stream that reused
// its seq.
type streamTask struct{ cancel context.CancelFunc }

// stream runs fn in its own goroutine, registered under the request's seq so that "stop" can
// cancel it. A client reusing the seq of a running stream cancels that one.
func (c *conn) stream(seq uint64, fn func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(c.ctx)
	task := &streamTask{cancel: cancel}
	c.mu.Lock()
	if old := c.streams[seq]; old != nil {
		old.cancel()
	}
	c.streams[seq] = task
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() {
			c.mu.Lock()
			if c.streams[seq] == task { // not a later stream under the same seq
				delete(c.streams, seq)
			}
			c.mu.Unlock()
			cancel()
		}()
		fn(ctx)
	}()
}

func (c *conn) stop(seq uint64) bool {
	c.mu.Lock()
	task := c.streams[seq]
	c.mu.Unlock()
	if task != nil {
		task.cancel()
	}
	return task != nil
}

// errReply builds {seq, error, etype, tock}.
func errReply(seq uint64, err error, tock uint64) []byte {
	var ce *node.CondError
	et := clientproto.Etype(err)
	if errors.As(err, &ce) {
		et = clientproto.EtypeCondition
		if ce.Chain {
			et = clientproto.EtypeChain
		}
	}
	m := clientproto.NewMsg(seq).Str("error", err.Error()).Str("etype", et)
	if tock > 0 {
		m.Uint("tock", tock)
	}
	return m.Bytes()
}
