package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/distkv/distkv/gossip"
	"github.com/distkv/distkv/gossip/wire"
	"github.com/distkv/distkv/node"
)

// errBehind stops a pull whose peer purged tombstones this node never saw.
var errBehind = errors.New("server: behind the peer's purge watermark; resynchronising")

// pushBatchBytes bounds one push frame; a single larger update still goes alone.
const pushBatchBytes = 1 << 20

// peerStream pushes this node's new updates to one peer over a persistent connection. A full
// queue drops batches rather than slowing writers: the peer's gap detection and the
// housekeeper fetch what a push missed.
type peerStream struct {
	c    *cluster
	info peerInfo
	q    chan []*node.Update
	done chan struct{}
	once sync.Once
}

func (c *cluster) stream(p peerInfo) *peerStream {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := c.peers[p.Name]
	if ps != nil && ps.info.Peer == p.Peer {
		return ps
	}
	if ps != nil {
		ps.close()
	}
	ps = &peerStream{c: c, info: p, q: make(chan []*node.Update, 4096), done: make(chan struct{})}
	c.peers[p.Name] = ps
	c.wg.Add(1)
	go func() { defer c.wg.Done(); ps.run() }()
	return ps
}

func (ps *peerStream) close() { ps.once.Do(func() { close(ps.done) }) }

func (ps *peerStream) push(us []*node.Update) {
	select {
	case ps.q <- us:
	default: // dropped: the peer's gap detection and the housekeeper fetch it
	}
}

func (ps *peerStream) run() {
	var conn net.Conn
	var bw *bufio.Writer
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	var buf []byte
	for {
		var batch []*node.Update
		select {
		case batch = <-ps.q:
		case <-ps.done:
			return
		}
		buf = wire.AppendUpdates(buf[:0], ps.collect(batch))
		if conn == nil {
			var err error
			if conn, bw, err = ps.c.dial(ps.info); err != nil {
				ps.c.s.log.Debug("push: cannot reach peer", "peer", ps.info.Name, "err", err)
				conn = nil
				continue // dropped; repair catches up
			}
		}
		conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		err := gossip.WriteFrame(bw, wire.MsgPush, buf)
		if err == nil {
			err = bw.Flush()
		}
		if err != nil {
			ps.c.s.log.Debug("push failed", "peer", ps.info.Name, "err", err)
			conn.Close()
			conn = nil
		}
	}
}

// collect adds whatever else is queued to batch, up to the frame budget.
func (ps *peerStream) collect(batch []*node.Update) []*node.Update {
	size := 0
	for _, u := range batch {
		size += u.Size()
	}
	for size < pushBatchBytes {
		select {
		case more := <-ps.q:
			batch = append(batch, more...)
			for _, u := range more {
				size += u.Size()
			}
		default:
			return batch
		}
	}
	return batch
}

// dial opens a data-plane connection to a peer and says hello.
func (c *cluster) dial(p peerInfo) (net.Conn, *bufio.Writer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := c.s.cfg.Network.Dial(ctx, p.Peer)
	if err != nil {
		return nil, nil, err
	}
	bw := bufio.NewWriterSize(conn, 64<<10)
	c.s.mu.Lock()
	h := wire.Hello{Name: c.s.cfg.Name, Origin: c.s.node.Origin()}
	c.s.mu.Unlock()
	if err := gossip.WriteFrame(bw, wire.MsgHello, h.Append(nil)); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, bw, nil
}

// Send hands updates this node originated to every ready peer and to the serf announcer.
func (c *cluster) Send(us []*node.Update) {
	if ps := c.pushTo.Load(); ps != nil {
		for _, p := range *ps {
			c.stream(p).push(us)
		}
	}
	c.mu.Lock()
	c.events = append(c.events, us...)
	c.mu.Unlock()
}

// request opens a connection, sends one request frame and calls fn for each reply frame until
// fn returns false.
func (c *cluster) request(ctx context.Context, p peerInfo, typ byte, body []byte, fn func(typ byte, body []byte) (bool, error)) error {
	conn, bw, err := c.dial(p)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := gossip.WriteFrame(bw, typ, body); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	for {
		t, b, err := gossip.ReadFrame(br, c.s.cfg.MaxPeerFrame, nil)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if t == wire.MsgError {
			return fmt.Errorf("peer %s: %s", p.Name, b)
		}
		more, err := fn(t, b)
		if err != nil || !more {
			return err
		}
	}
}

// vector asks a peer for its state summary.
func (c *cluster) vector(ctx context.Context, p peerInfo) (wire.Vector, error) {
	var v wire.Vector
	err := c.request(ctx, p, wire.MsgVectorReq, nil, func(t byte, b []byte) (bool, error) {
		if t != wire.MsgVector {
			return false, fmt.Errorf("peer %s answered %d to a vector request", p.Name, t)
		}
		var err error
		v, err = wire.DecodeVector(b)
		return false, err
	})
	return v, err
}

// pullFrom fetches ticks of an origin from a peer and applies them.
func (c *cluster) pullFrom(ctx context.Context, p peerInfo, origin string, ticks node.RangeSet) error {
	body := wire.Pull{Origin: origin, Ticks: ticks}.Append(nil)
	return c.request(ctx, p, wire.MsgPull, body, func(t byte, b []byte) (bool, error) {
		if t != wire.MsgPullReply {
			return false, fmt.Errorf("peer %s answered %d to a pull", p.Name, t)
		}
		r, err := wire.DecodePullReply(b)
		if err != nil {
			return false, err
		}
		c.s.mu.Lock()
		behind := c.s.node.Behind(r.Purge)
		c.s.mu.Unlock()
		if behind {
			// Its superseded ticks may be deletes it purged, which this node never saw:
			// marking them known would keep the deleted values for good.
			c.startResync(p.Name)
			return false, errBehind
		}
		c.s.applyRemote(r.Updates, r.Origin, r.Superseded)
		return false, nil
	})
}

// fetchState takes a peer's full state into the server's node: its vector first, then its
// entries, each loaded by the conflict rule, so updates arriving meanwhile are kept.
func (c *cluster) fetchState(ctx context.Context, p peerInfo) error {
	with := func(fn func(*node.Node)) {
		c.s.mu.Lock()
		fn(c.s.node)
		c.s.commitLocked()
		c.s.mu.Unlock()
	}
	if err := c.fetchStateInto(ctx, p, with); err != nil {
		return err
	}
	c.s.stateLoaded()
	return nil
}

// fetchStateInto streams a peer's state into whatever node with hands out.
func (c *cluster) fetchStateInto(ctx context.Context, p peerInfo, with func(func(*node.Node))) error {
	var hdr wire.Vector
	count := 0
	err := c.request(ctx, p, wire.MsgStateReq, nil, func(t byte, b []byte) (bool, error) {
		switch t {
		case wire.MsgStateHeader:
			var err error
			hdr, err = wire.DecodeVector(b)
			return true, err
		case wire.MsgStateChunk:
			us, err := wire.DecodeUpdates(b)
			if err != nil {
				return false, err
			}
			with(func(n *node.Node) {
				for _, u := range us {
					n.Load(u)
				}
			})
			count += len(us)
			return true, nil
		case wire.MsgStateEnd:
			return false, nil
		}
		return false, fmt.Errorf("peer %s answered %d to a state request", p.Name, t)
	})
	if err != nil {
		return err
	}
	with(func(n *node.Node) {
		n.Forget(hdr.Forgotten) // before the rest, which would bring the origins back as known
		for o, rs := range hdr.Known {
			n.MarkKnown(o, rs)
		}
		for o, t := range hdr.Highest {
			n.SeeHead(o, t)
		}
		// After every tombstone the donor ever purged: this node's writes must order after them.
		n.SeeTock(hdr.Tock)
		n.Purge(hdr.Purge)
	})
	c.s.log.Info("took the network's state", "donor", p.Name, "entries", count)
	return nil
}

// acceptPeers serves the data plane.
func (c *cluster) acceptPeers() {
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			select {
			case <-c.stop:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		c.wg.Add(1)
		go func() { defer c.wg.Done(); c.servePeer(conn) }()
	}
}

func (c *cluster) servePeer(conn net.Conn) {
	defer conn.Close()
	stop := context.AfterFunc(c.ctx, func() { conn.Close() })
	defer stop()
	br := bufio.NewReaderSize(conn, 64<<10)
	bw := bufio.NewWriterSize(conn, 64<<10)
	t, b, err := gossip.ReadFrame(br, c.s.cfg.MaxPeerFrame, nil)
	if err != nil || t != wire.MsgHello {
		return
	}
	hello, err := wire.DecodeHello(b)
	if err != nil {
		return
	}
	for {
		t, b, err := gossip.ReadFrame(br, c.s.cfg.MaxPeerFrame, nil)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.s.log.Debug("peer connection", "peer", hello.Name, "err", err)
			}
			return
		}
		if err := c.handle(hello, t, b, bw); err != nil {
			c.s.log.Warn("bad message from peer; closing its connection", "peer", hello.Name, "type", t, "err", err)
			gossip.WriteFrame(bw, wire.MsgError, []byte(err.Error()))
			bw.Flush()
			return
		}
	}
}

func (c *cluster) handle(from wire.Hello, t byte, b []byte, bw *bufio.Writer) error {
	s := c.s
	switch t {
	case wire.MsgPush:
		us, err := wire.DecodeUpdates(b)
		if err != nil {
			return err
		}
		s.applyRemote(us, "", node.RangeSet{})
		c.puller.hint(from.Name)
		return nil
	case wire.MsgPull:
		p, err := wire.DecodePull(b)
		if err != nil {
			return err
		}
		s.mu.Lock()
		ups, sup := s.node.Serve(p.Origin, p.Ticks, 4096, c.frameBudget())
		wm := s.node.PurgeWatermark() // under the same lock: it covers exactly what Serve saw
		s.mu.Unlock()
		reply := wire.PullReply{Origin: p.Origin, Updates: ups, Superseded: sup, Purge: wm}
		return flushFrame(bw, wire.MsgPullReply, reply.Append(nil))
	case wire.MsgVectorReq:
		return flushFrame(bw, wire.MsgVector, c.localVector().Append(nil))
	case wire.MsgStateReq:
		return c.sendState(bw)
	case wire.MsgRepair:
		rs, err := wire.DecodeRepairs(b)
		if err != nil {
			return err
		}
		c.repair(rs)
		return nil
	case wire.MsgPurge:
		wm, err := wire.DecodeWatermark(b)
		if err != nil {
			return err
		}
		c.purge(wm, from.Name)
		return nil
	}
	return c.handleMore(from, t, b, bw)
}

func flushFrame(bw *bufio.Writer, t byte, body []byte) error {
	if err := gossip.WriteFrame(bw, t, body); err != nil {
		return err
	}
	return bw.Flush()
}

// localVector summarises this node's state.
func (c *cluster) localVector() wire.Vector {
	s := c.s
	c.mu.Lock()
	ready := c.ready
	c.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	return wire.Vector{Name: s.cfg.Name, Origin: s.node.Origin(), Known: s.node.Known(), Highest: s.node.Highest(),
		Purge: s.node.PurgeWatermark(), Digest: s.node.Digest(nil), Tock: s.node.Tock(), Ready: ready,
		Forgotten: s.node.Forgotten()}
}

// frameBudget is how many bytes of updates one frame may carry: half the frame cap, so that
// the encoding's overhead never pushes a frame over it.
func (c *cluster) frameBudget() int { return c.s.cfg.MaxPeerFrame / 2 }

// sendState streams this node's full state: the vector first, then every entry in frames of
// at most frameBudget bytes, each few entries taken under the lock for a moment. Entries
// changed meanwhile are sent newer than the vector says, which the receiver's conflict rule
// handles.
func (c *cluster) sendState(bw *bufio.Writer) error {
	if err := flushFrame(bw, wire.MsgStateHeader, c.localVector().Append(nil)); err != nil {
		return err
	}
	var after node.Path
	var batch []*node.Update
	var buf []byte
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		buf = wire.AppendUpdates(buf[:0], batch)
		batch, size = batch[:0], 0
		return gossip.WriteFrame(bw, wire.MsgStateChunk, buf)
	}
	for {
		var got []*node.Update
		c.s.mu.Lock()
		next := c.s.node.Entries(after, 256, func(u *node.Update) { got = append(got, u) })
		c.s.mu.Unlock()
		for _, u := range got {
			if size+u.Size() > c.frameBudget() {
				if err := flush(); err != nil {
					return err
				}
			}
			batch = append(batch, u)
			size += u.Size()
		}
		if next == nil {
			if err := flush(); err != nil {
				return err
			}
			return flushFrame(bw, wire.MsgStateEnd, nil)
		}
		after = next
	}
}
