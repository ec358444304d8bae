package peer

import (
	"bufio"
	"context"
	"net"
	"runtime"
	"time"

	"github.com/distkv/distkv/gossip/wire"
	"github.com/distkv/distkv/node"
)

// pushBatchBytes bounds one push frame; a single larger update still goes alone.
const pushBatchBytes = 1 << 20

// pushQueue is how many batches a push stream holds before it drops new ones.
const pushQueue = 4096

// Batch is updates encoded once for every peer's push stream: the wire form of each update,
// back to back, as they follow the array header in a Push body.
type Batch struct {
	n    int
	body []byte
}

// NewBatch encodes updates for Push. A Batch is passed by value: only its body is allocated.
func NewBatch(us []*node.Update) Batch {
	size := 0
	for _, u := range us {
		size += u.Size() // about the wire size: at most one more allocation
	}
	b := Batch{n: len(us), body: make([]byte, 0, size)}
	for _, u := range us {
		b.body = u.AppendMsgpack(b.body)
	}
	return b
}

// stream pushes this node's new updates to one peer over a persistent connection. A full
// queue drops batches rather than slowing writers: the peer's gap detection and the
// housekeeper fetch what a push missed.
type stream struct {
	p    *Plane
	info Info
	q    chan Batch
	more []Batch // collect's scratch, emptied after each frame
	// ctx ends when the stream is dropped or the plane closes: it cuts short a dial and
	// closes the connection, so a push to an unreachable peer never holds up a shutdown.
	ctx    context.Context
	cancel context.CancelFunc
}

// Push queues a batch for a peer's push stream, starting the stream (or restarting it, if the
// peer's address changed) as needed. It never blocks. The batch is shared: it is never changed.
func (p *Plane) Push(to Info, b Batch) {
	if s := p.stream(to); s != nil {
		select {
		case s.q <- b:
		default: // dropped: the peer's gap detection and the housekeeper fetch it
		}
	}
}

// Drop ends the push stream to a member (it failed or left).
func (p *Plane) Drop(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.streams[name]; s != nil {
		s.cancel()
		delete(p.streams, name)
	}
}

func (p *Plane) stream(to Info) *stream {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	s := p.streams[to.Name]
	if s != nil && s.info.Peer == to.Peer {
		return s
	}
	if s != nil {
		s.cancel()
	}
	s = &stream{p: p, info: to, q: make(chan Batch, pushQueue)}
	s.ctx, s.cancel = context.WithCancel(p.ctx)
	p.streams[to.Name] = s
	p.wg.Add(1)
	go func() { defer p.wg.Done(); s.run() }()
	return s
}

func (s *stream) run() {
	var conn net.Conn
	var bw *bufio.Writer
	stop := func() bool { return true }
	hangUp := func() {
		stop()
		conn.Close()
		conn = nil
	}
	defer func() {
		if conn != nil {
			hangUp()
		}
	}()
	var buf []byte
	// The receiver closes a stream idle for IdleTimeout; close it first, at half of it, so
	// that no batch is written into a connection the peer is closing.
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	defer idle.Stop()
	log := s.p.cfg.Logger
	for {
		var batch Batch
		select {
		case batch = <-s.q:
		case <-idle.C:
			if conn != nil {
				hangUp()
			}
			continue
		case <-s.ctx.Done():
			return
		}
		// Let the writers that are runnable queue their batches first: under load a frame
		// then carries many writes, at the cost of one scheduler pass.
		runtime.Gosched()
		buf = s.collect(buf[:0], batch)
		if conn == nil {
			var err error
			if conn, bw, err = s.p.dial(s.ctx, s.info); err != nil {
				log.Debug("push: cannot reach peer", "peer", s.info.Name, "err", err)
				conn = nil
				continue // dropped; repair catches up
			}
			cn := conn
			stop = context.AfterFunc(s.ctx, func() { cn.Close() })
		}
		conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		err := s.p.writeFrame(bw, wire.MsgPush, buf)
		if err == nil {
			err = bw.Flush()
		}
		if err != nil {
			log.Debug("push failed", "peer", s.info.Name, "err", err)
			hangUp()
			continue
		}
		idle.Reset(s.p.cfg.IdleTimeout / 2)
	}
}

// collect appends a Push body to buf: batch and whatever else is queued, up to the frame
// budget.
func (s *stream) collect(buf []byte, batch Batch) []byte {
	n, size := batch.n, len(batch.body)
	more := append(s.more[:0], batch)
	for size < pushBatchBytes {
		select {
		case b := <-s.q:
			more = append(more, b)
			n += b.n
			size += len(b.body)
			continue
		default:
		}
		break
	}
	buf = node.AppendArrayLen(buf, n)
	for _, b := range more {
		buf = append(buf, b.body...)
	}
	clear(more) // the bodies are in buf: the scratch must not keep them alive
	s.more = more[:0]
	return buf
}
