package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
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

	qlen int // flow-control window agreed in the greeting; 0: none. Reader goroutine only.

	mu      sync.Mutex
	streams map[uint64]*streamTask
	wg      sync.WaitGroup
	// acks orders the replies to writes: each waits for durability in turn.
	acks chan ack
	// queued counts the acks sent to acks and not yet replied to; the reader goroutine alone
	// adds to it, so when it reads 0 no earlier reply is outstanding (see ackWrite).
	queued atomic.Int64
	sess   session // login state (auth.go)

	// The socket's write side. The writer goroutine writes what send queues; the reader
	// goroutine writes its own replies here directly (sendNow) while nothing is queued,
	// which saves a goroutine hand-off per request, and flushes once no further request is
	// buffered, so that pipelined requests share a write.
	wmu     sync.Mutex
	bw      *bufio.Writer
	wfailed bool
	// inflight counts the messages given to out and not yet written; sendNow writes
	// directly only at 0, so that it never overtakes a queued message.
	inflight atomic.Int64
	msg      clientproto.Msg     // the reader goroutine's reply buffer (replyMsg)
	chs      [1]node.Change      // the reader goroutine's room for a single write's change
	req      clientproto.Request // the reader goroutine's parsed request, reused (parse)
}

type ack struct {
	seq   uint64 // log sequence to wait for
	send  []*node.Update
	more  []ackPart // delete_tree's further chunks, each waited for and sent on its own
	reply []byte
	// borrowed: reply is the reader's reply buffer (replyMsg), copied if the ack is queued
	borrowed bool
	// w, when its action is set, is a client write: its metrics and its "not durable" error
	// reply (where done and errFn would each cost a closure per write).
	w     writeAck
	errFn func(error) []byte
	done  func(error) // metrics: called with the write's outcome before the reply (nil: none)
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
		bw:      bufio.NewWriterSize(&deadlineWriter{nc: nc, d: s.cfg.WriteTimeout}, 64<<10),
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
	c.inflight.Add(1)
	select {
	case c.out <- b:
		return true
	case <-c.ctx.Done():
		c.inflight.Add(-1)
		return false
	}
}

// replyMsg starts a reply in the reader goroutine's own buffer; what it encodes is valid until
// the next replyMsg, so it goes out with sendNow (or is copied).
func (c *conn) replyMsg(seq uint64) *clientproto.Msg { return c.msg.Reset(seq) }

// sendNow is send for the reader goroutine: with nothing queued it writes b to the socket's
// buffer itself (flushed by flush), else it queues a copy, as b may be the reply buffer.
func (c *conn) sendNow(b []byte) bool {
	if c.ctx.Err() != nil {
		return false
	}
	if c.inflight.Load() != 0 { // the writer goroutine may hold wmu for a whole blocked write
		return c.send(append([]byte(nil), b...))
	}
	c.wmu.Lock()
	if c.inflight.Load() != 0 {
		c.wmu.Unlock()
		return c.send(append([]byte(nil), b...))
	}
	defer c.wmu.Unlock()
	if c.wfailed {
		return false
	}
	if _, err := c.bw.Write(b); err != nil {
		c.writeFailed(err)
		return false
	}
	return true
}

// flush writes out the reader's direct replies; the reader calls it before it blocks for more
// input, so that replies to pipelined requests share a write and none waits for the next request.
func (c *conn) flush() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.wfailed && c.bw.Buffered() > 0 {
		if err := c.bw.Flush(); err != nil {
			c.writeFailed(err)
		}
	}
}

// writeFailed ends the connection after a failed write; the caller holds wmu.
func (c *conn) writeFailed(err error) {
	if !c.wfailed && c.ctx.Err() == nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.s.log.Info("dropping a client that stopped reading", "client", c.nc.RemoteAddr().String(),
				"write_timeout", c.s.cfg.WriteTimeout)
		}
	}
	c.wfailed = true
	c.close()
}

// writer owns the socket's write side. Every write has WriteTimeout to go through: a client
// that stops reading fills its socket buffer, then is dropped when the deadline passes, which
// ends its streams and frees its watch queues (they cannot block anyone else meanwhile).
func (c *conn) writer() {
	defer close(c.done)
	// Drain until serve closes out, so that a last error message is written before the close.
	for b := range c.out {
		c.wmu.Lock()
		if !c.wfailed { // else keep draining so senders never block
			if _, err := c.bw.Write(b); err != nil {
				c.writeFailed(err)
			} else if len(c.out) == 0 {
				if err := c.bw.Flush(); err != nil {
					c.writeFailed(err)
				}
			}
		}
		c.inflight.Add(-1)
		c.wmu.Unlock()
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.wfailed {
		c.bw.Flush()
	}
}

// deadlineWriter gives every write to the socket between 7/8 of d and d to go through: it moves
// the deadline only once d/8 has passed since it last did, as re-arming the poller's timer for
// every reply costs more than that slack is worth.
type deadlineWriter struct {
	nc    net.Conn
	d     time.Duration
	armed time.Time // when the deadline was last set (to armed + d)
}

func (w *deadlineWriter) Write(b []byte) (int, error) {
	if now := time.Now(); now.Sub(w.armed) >= w.d/8 {
		w.nc.SetWriteDeadline(now.Add(w.d))
		w.armed = now
	}
	return w.nc.Write(b)
}

// ackWrite replies to a write once it is durable, after the replies to earlier writes. A write
// with nothing to wait for (no data dir) while none is queued is answered at once, on the
// reader goroutine: handing it to the acker would cost a goroutine switch per write.
func (c *conn) ackWrite(a ack) {
	if a.seq == 0 && len(a.more) == 0 && c.queued.Load() == 0 {
		c.reply(a, true)
		return
	}
	if a.borrowed {
		a.reply, a.borrowed = append([]byte(nil), a.reply...), false
	}
	c.queueAck(a)
}

// queueAck hands a to the acker, counted in queued. Any goroutine may call it (a stream's
// reply has no order to keep with the reader's writes): queued then never reads 0 while a
// reply the reader queued is outstanding.
func (c *conn) queueAck(a ack) {
	c.queued.Add(1)
	c.acks <- a
}

// acker replies to queued writes in order once each is durable.
func (c *conn) acker() {
	for a := range c.acks {
		c.reply(a, false)
		c.queued.Add(-1)
	}
}

// reply waits for a write's durability, hands it to the peers and answers the client; inline
// on the reader goroutine (sendNow) or on the acker.
func (c *conn) reply(a ack, inline bool) {
	// Not c.ctx: a client that hangs up must not stop its write from reaching peers.
	err := c.s.finish(context.Background(), a.seq, a.send)
	for _, p := range a.more {
		// Every part, also after a failed one: a durable part goes to the peers, one
		// that is not is kept for store.recover.
		if e := c.s.finish(context.Background(), p.seq, p.send); err == nil {
			err = e
		}
	}
	if a.done != nil {
		a.done(err)
	}
	if a.w.action != "" {
		c.s.met.request(a.w.action, "write", a.w.start, err)
	}
	switch {
	case err != nil && a.errFn != nil:
		c.send(a.errFn(err))
	case err != nil && a.w.action != "":
		c.send(errReply(a.w.seq, fmt.Errorf("%w: not durable: %v", clientproto.ErrUnavailable, err), a.w.tock))
	case inline:
		c.sendNow(a.reply)
	default:
		c.send(a.reply)
	}
}

// writeAck is what a client write's ack needs for its metrics and its error reply.
type writeAck struct {
	action    string
	start     time.Time
	seq, tock uint64
}

func (c *conn) serve() {
	log := c.s.Logger().With("client", c.nc.RemoteAddr().String())
	go c.writer()
	ackDone := make(chan struct{})
	go func() { c.acker(); close(ackDone) }()
	defer func() {
		c.cancel()
		c.wg.Wait() // streams have stopped sending
		close(c.acks)
		<-ackDone // the last replies are queued
		close(c.out)
		<-c.done
		c.nc.Close()
	}()

	c.s.mu.Lock()
	greet := clientproto.NewMsg(0).Str("node", c.s.cfg.Name).Str("origin", c.s.node.Origin()).
		Uint("tick", c.s.node.Tick()).Uint("tock", c.s.node.Tock())
	c.s.mu.Unlock()
	if c.s.cfg.Qlen > 0 {
		greet.Uint("qlen", uint64(c.s.cfg.Qlen)) // the client answers {seq: 0, qlen}
	}
	greet.Key("version")
	greet.Array(len(Version))
	for _, v := range Version {
		greet.AppendUint(v)
	}
	c.greetAuth(greet)
	c.send(greet.Bytes())

	br := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		if br.Buffered() == 0 {
			c.flush() // waiting for the next request: the replies so far go out now
		}
		if idle := c.s.cfg.IdleTimeout; idle > 0 {
			if br.Buffered() > 0 {
				c.nc.SetReadDeadline(time.Now().Add(idle)) // for the rest of a pipelined request
			} else if !c.awaitRequest(br, log) {
				return
			}
		}
		b, inBuf, err := nextMessage(br, c.s.cfg.MaxRequest, c.flush)
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
		req, err := c.parse(b, !inBuf) // b is new per message unless inBuf (ReadMessage)
		var seq uint64
		var framed bool
		if err != nil {
			seq, framed = clientproto.PeekSeq(b), isStreamAction(clientproto.PeekAction(b))
		}
		if inBuf {
			_, _ = br.Discard(len(b)) // b is buffered: cannot fail
		}
		if err != nil {
			c.refuse(seq, framed, err)
			continue
		}
		c.dispatch(req)
		if req == &c.req {
			c.req = clientproto.Request{Path: req.Path} // a big value is not kept while idle
		}
	}
}

// parse decodes a request into the reader's reused one (owned: b is never changed again).
// Only the actions answered inline, which keep nothing of the request, use it as it is; the
// others may hand it to a goroutine of their own, so they get a copy, and the next parse
// shares no path with it.
func (c *conn) parse(b []byte, owned bool) (*clientproto.Request, error) {
	if err := clientproto.ParseRequestInto(&c.req, b, owned); err != nil {
		return nil, err
	}
	switch c.req.Action {
	case clientproto.ActSetValue, clientproto.ActDeleteValue, clientproto.ActMulti, clientproto.ActGetValue:
		return &c.req, nil
	}
	q := new(clientproto.Request)
	*q, c.req = c.req, clientproto.Request{}
	return q, nil
}

// nextMessage returns the next client message. When it is all in br's buffer, as a request
// that arrived in one piece is, b is that buffer (inBuf): valid until the caller discards
// len(b) bytes, which saves copying every request. Else ReadMessage reads it into a new slice,
// after flush, as reading the rest may block.
func nextMessage(br *bufio.Reader, max int, flush func()) (b []byte, inBuf bool, err error) {
	if b, ok := bufferedMessage(br, max); ok {
		return b, true, nil
	}
	flush()
	if _, err := br.Peek(1); err != nil {
		return nil, false, err // as ReadMessage: io.EOF if the stream ended between messages
	}
	if b, ok := bufferedMessage(br, max); ok {
		return b, true, nil
	}
	b, err = clientproto.ReadMessage(br, max)
	return b, false, err
}

// bufferedMessage returns the next message if all of it is in br's buffer.
func bufferedMessage(br *bufio.Reader, max int) ([]byte, bool) {
	if p, _ := br.Peek(br.Buffered()); len(p) > 0 {
		if n, err := clientproto.ScanMessage(p); err == nil && n <= max {
			return p[:n], true
		}
	}
	return nil, false
}

// awaitRequest waits for the next request's first byte, closing the connection if none comes
// within IdleTimeout while no stream is running: a watcher may stay silent for good. The rest
// of the request must then arrive within IdleTimeout too.
func (c *conn) awaitRequest(br *bufio.Reader, log *slog.Logger) bool {
	for {
		c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
		_, err := br.Peek(1)
		var ne net.Error
		switch {
		case err == nil:
			c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
			return true
		case !errors.As(err, &ne) || !ne.Timeout() || c.ctx.Err() != nil:
			return false
		case c.nstreams() > 0:
			continue
		}
		log.Debug("closing an idle client connection", "idle_timeout", c.s.cfg.IdleTimeout)
		msg := fmt.Sprintf("%v: idle for %v, closing", clientproto.ErrLimit, c.s.cfg.IdleTimeout)
		c.send(clientproto.NewMsg(0).Str("error", msg).Str("etype", clientproto.EtypeLimit).Bytes())
		return false
	}
}

func (c *conn) nstreams() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.streams)
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, net.ErrClosed)
}

// streamTask is one running stream; a pointer, so that a stream replaced under the same seq
// does not unregister its successor when it ends.
type streamTask struct {
	ctx    context.Context
	cancel context.CancelFunc
	win    *window // flow control of a multi-message stream; nil if off
}

// stream runs fn in its own goroutine, registered under the request's seq so that "stop" can
// cancel it. Beyond MaxStreams running streams the request gets an error reply instead.
func (c *conn) stream(q *clientproto.Request, fn func(ctx context.Context)) {
	c.runStream(q, false, func(ctx context.Context, _ *streamOut) { fn(ctx) })
}

// multiStream is stream for an action whose reply is a stream of messages (get_tree, watch):
// they go out through a streamOut, flow-controlled if agreed, and a refusal is framed by start
// and end, as DistKV's server does, since DistKV's client waits for start.
func (c *conn) multiStream(q *clientproto.Request, fn func(ctx context.Context, out *streamOut)) {
	c.runStream(q, true, fn)
}

func (c *conn) runStream(q *clientproto.Request, multi bool, fn func(ctx context.Context, out *streamOut)) {
	seq := q.Seq
	ctx, cancel := context.WithCancel(c.ctx)
	t := &streamTask{ctx: ctx, cancel: cancel}
	out := &streamOut{c: c, seq: seq}
	if n := c.qlenFor(q); multi && n > 0 {
		t.win = newWindow(n)
		out.win = t.win
	}
	c.mu.Lock()
	old := c.streams[seq]
	if old == nil && len(c.streams) >= c.s.cfg.MaxStreams {
		c.mu.Unlock()
		cancel()
		err := fmt.Errorf("%w: %d streams running on this connection, the maximum; stop one first",
			clientproto.ErrLimit, c.s.cfg.MaxStreams)
		c.refuse(seq, multi, err)
		return
	}
	if old != nil {
		old.cancel()
	}
	c.streams[seq] = t
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() {
			c.mu.Lock()
			if c.streams[seq] == t {
				delete(c.streams, seq)
			}
			c.mu.Unlock()
			cancel()
		}()
		fn(ctx, out)
	}()
}

// refuse answers a request with an error; framed, between {state: start} and {state: end},
// numbered as a stream's messages when flow control is on (three fit any window).
func (c *conn) refuse(seq uint64, framed bool, err error) {
	if !framed {
		c.send(errReply(seq, err, c.s.tock()))
		return
	}
	var ws uint64
	num := func(m *clientproto.Msg) []byte {
		if c.qlen > 0 {
			ws++
			m.Uint("wseq", ws)
		}
		return m.Bytes()
	}
	c.send(num(clientproto.NewMsg(seq).Str("state", clientproto.StateStart)))
	c.send(num(errMsg(seq, err, c.s.tock())))
	c.send(num(clientproto.NewMsg(seq).Str("state", clientproto.StateEnd)))
}

// stop cancels the stream seq; false if there is none running. One already cancelled counts
// as stopped while it unregisters: its end may have reached the client before that.
func (c *conn) stop(seq uint64) bool {
	c.mu.Lock()
	t := c.streams[seq]
	c.mu.Unlock()
	if t == nil || t.ctx.Err() != nil {
		return false
	}
	t.cancel()
	return true
}

// errReply builds {seq, error, etype, tock}.
func errReply(seq uint64, err error, tock uint64) []byte { return errMsg(seq, err, tock).Bytes() }

func errMsg(seq uint64, err error, tock uint64) *clientproto.Msg {
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
	return m
}
