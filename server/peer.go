package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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
	// ctx ends when the stream is closed or the cluster shuts down: it cuts short a dial
	// and closes the connection, so a push to an unreachable peer never holds up a shutdown.
	ctx    context.Context
	cancel context.CancelFunc
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
	ps = &peerStream{c: c, info: p, q: make(chan []*node.Update, 4096)}
	ps.ctx, ps.cancel = context.WithCancel(c.ctx)
	c.peers[p.Name] = ps
	c.wg.Add(1)
	go func() { defer c.wg.Done(); ps.run() }()
	return ps
}

func (ps *peerStream) close() { ps.cancel() }

func (ps *peerStream) push(us []*node.Update) {
	select {
	case ps.q <- us:
	default: // dropped: the peer's gap detection and the housekeeper fetch it
	}
}

func (ps *peerStream) run() {
	var conn net.Conn
	var bw *bufio.Writer
	stop := func() bool { return true }
	defer func() {
		if conn != nil {
			stop()
			conn.Close()
		}
	}()
	var buf []byte
	// The receiver closes a stream idle for PeerIdleTimeout; close it first, at half of it,
	// so that no batch is written into a connection the peer is closing.
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	defer idle.Stop()
	for {
		var batch []*node.Update
		select {
		case batch = <-ps.q:
		case <-idle.C:
			if conn != nil {
				stop()
				conn.Close()
				conn = nil
			}
			continue
		case <-ps.ctx.Done():
			return
		}
		buf = wire.AppendUpdates(buf[:0], ps.collect(batch))
		if conn == nil {
			var err error
			if conn, bw, err = ps.c.dial(ps.ctx, ps.info); err != nil {
				ps.c.s.log.Debug("push: cannot reach peer", "peer", ps.info.Name, "err", err)
				conn = nil
				continue // dropped; repair catches up
			}
			cn := conn
			stop = context.AfterFunc(ps.ctx, func() { cn.Close() })
		}
		conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		err := gossip.WriteFrame(bw, wire.MsgPush, buf)
		if err == nil {
			err = bw.Flush()
		}
		if err != nil {
			ps.c.s.log.Debug("push failed", "peer", ps.info.Name, "err", err)
			stop()
			conn.Close()
			conn = nil
			continue
		}
		idle.Reset(ps.c.s.cfg.PeerIdleTimeout / 2)
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

// dial opens a data-plane connection to a peer and says hello; ctx cuts the dial short.
func (c *cluster) dial(ctx context.Context, p peerInfo) (net.Conn, *bufio.Writer, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
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
	conn, bw, err := c.dial(ctx, p)
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
		if err := checkPullReply(r, origin, ticks); err != nil {
			c.s.log.Warn("refused a pull reply", "peer", p.Name, "err", err)
			return false, err
		}
		if err := c.s.applyRemote(r.Updates, r.Origin, r.Superseded); err != nil {
			c.s.log.Warn("refused a pull reply", "peer", p.Name, "err", err)
			return false, err
		}
		return false, nil
	})
}

// checkPullReply refuses a reply that holds what was not asked: an honest peer serves only
// ticks of the origin pulled, and only those asked for.
func checkPullReply(r wire.PullReply, origin string, ticks node.RangeSet) error {
	if r.Origin != origin {
		return fmt.Errorf("%w: reply for origin %q to a pull of %q", node.ErrImplausible, r.Origin, origin)
	}
	for _, u := range r.Updates {
		if u.Origin != origin || !ticks.Contains(u.Tick) {
			return fmt.Errorf("%w: reply holds %s/%d, not asked for", node.ErrImplausible, u.Origin, u.Tick)
		}
	}
	if extra := r.Superseded.Minus(ticks); !extra.Empty() {
		return fmt.Errorf("%w: reply marks ticks %s superseded, not asked for", node.ErrImplausible, extra)
	}
	return nil
}

// refusedLogEvery rate-limits the log line about connections refused over MaxPeerConns.
const refusedLogEvery = 10 * time.Second

// acceptPeers serves the data plane, at most MaxPeerConns connections at a time: one more is
// closed at once, so a flood of connections costs a file descriptor for a moment each.
func (c *cluster) acceptPeers() {
	slots := make(chan struct{}, c.s.cfg.MaxPeerConns)
	var refused int
	var lastLog time.Time
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
		select {
		case slots <- struct{}{}:
		default:
			conn.Close()
			if refused++; time.Since(lastLog) >= refusedLogEvery {
				c.s.log.Warn("peer connections over the cap; closing new ones", "max", c.s.cfg.MaxPeerConns,
					"refused", refused, "last from", conn.RemoteAddr().String())
				refused, lastLog = 0, time.Now()
			}
			continue
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer func() { <-slots }()
			c.servePeer(conn)
		}()
	}
}

func (c *cluster) servePeer(conn net.Conn) {
	defer conn.Close()
	stop := context.AfterFunc(c.ctx, func() { conn.Close() })
	defer stop()
	br := bufio.NewReaderSize(conn, 64<<10)
	bw := bufio.NewWriterSize(conn, 64<<10)
	// A connection that says nothing holds a slot: Hello must come soon, frames after it
	// within the idle timeout (pushers close their idle streams before it).
	conn.SetReadDeadline(time.Now().Add(c.s.cfg.PeerHelloTimeout))
	t, b, err := gossip.ReadFrame(br, c.s.cfg.MaxPeerFrame, nil)
	if err != nil || t != wire.MsgHello {
		c.s.log.Debug("peer connection without hello", "from", conn.RemoteAddr().String(), "type", t, "err", err)
		return
	}
	hello, err := wire.DecodeHello(b)
	if err != nil {
		return
	}
	for {
		conn.SetReadDeadline(time.Now().Add(c.s.cfg.PeerIdleTimeout))
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
		if err := s.applyRemote(us, "", node.RangeSet{}); err != nil {
			return err
		}
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
		seq := s.logSeqLocked()
		own := p.Origin == s.node.Origin()
		s.mu.Unlock()
		if own { // a peer may hold another origin's ticks only once that origin made them durable
			if err := c.visible(seq); err != nil {
				return err
			}
		}
		reply := wire.PullReply{Origin: p.Origin, Updates: ups, Superseded: sup, Purge: wm}
		return flushFrame(bw, wire.MsgPullReply, reply.Append(nil))
	case wire.MsgVectorReq:
		v, seq := c.localVectorSeq()
		if err := c.visible(seq); err != nil {
			return err
		}
		return flushFrame(bw, wire.MsgVector, v.Append(nil))
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
		s.mu.Lock()
		err = s.plausibleHeadsLocked(wm)
		s.mu.Unlock()
		if err != nil {
			return fmt.Errorf("purge watermark: %w", err)
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

// localVector summarises this node's state, for this node's own use.
func (c *cluster) localVector() wire.Vector {
	v, _ := c.localVectorSeq()
	return v
}

// localVectorSeq summarises this node's state and returns the log sequence number to wait
// for before the summary may leave the node (Server.visible).
func (c *cluster) localVectorSeq() (wire.Vector, uint64) {
	s := c.s
	c.mu.Lock()
	ready := c.ready
	c.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	return wire.Vector{Name: s.cfg.Name, Origin: s.node.Origin(), Known: s.node.Known(), Highest: s.node.Highest(),
		Purge: s.node.PurgeWatermark(), Digest: s.node.Digest(nil), Tock: s.node.Tock(), Ready: ready,
		Forgotten: s.node.Forgotten()}, s.logSeqLocked()
}

// visibleOwn waits, before us leave the node, until those of them this node originated are
// durable. The log position is read after us were: it covers every update they hold.
func (c *cluster) visibleOwn(us []*node.Update) error {
	c.s.mu.Lock()
	own, seq := c.s.node.Origin(), c.s.logSeqLocked()
	c.s.mu.Unlock()
	for _, u := range us {
		if u.Origin == own {
			return c.visible(seq)
		}
	}
	return nil
}

// visible bounds Server.visible for a reply to a peer.
func (c *cluster) visible(seq uint64) error {
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	return c.s.visible(ctx, seq)
}

// frameBudget is how many bytes of updates one frame may carry: half the frame cap, so that
// the encoding's overhead never pushes a frame over it.
func (c *cluster) frameBudget() int { return c.s.cfg.MaxPeerFrame / 2 }

// sendState streams this node's full state: the vector first, then every entry in frames of
// at most frameBudget bytes, each few entries taken under the lock for a moment. Entries
// changed meanwhile are sent newer than the vector says, which the receiver's conflict rule
// handles.
func (c *cluster) sendState(bw *bufio.Writer) error {
	v, seq := c.localVectorSeq()
	if err := c.visible(seq); err != nil {
		return err
	}
	if err := flushFrame(bw, wire.MsgStateHeader, v.Append(nil)); err != nil {
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
		own := false
		next := c.s.node.Entries(after, 256, func(u *node.Update) {
			got = append(got, u)
			own = own || u.Origin == c.s.node.Origin()
		})
		seq := c.s.logSeqLocked()
		c.s.mu.Unlock()
		if own { // only this node's own versions can be newer than what the log holds
			if err := c.visible(seq); err != nil {
				return err
			}
		}
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
