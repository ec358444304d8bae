package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/distkv/distkv/gossip/wire"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server/peer"
)

// errBehind stops a pull whose peer purged tombstones this node never saw.
var errBehind = errors.New("server: behind the peer's purge watermark; resynchronising")

// Send hands updates this node originated to every ready peer and to the serf announcer. They
// are encoded once, for all the peers.
func (c *cluster) Send(us []*node.Update) {
	if ps := c.pushTo.Load(); ps != nil && len(*ps) > 0 {
		b := peer.NewBatch(us)
		for _, p := range *ps {
			c.plane.Push(p, b)
		}
	}
	c.mu.Lock()
	c.events = append(c.events, us...)
	if len(c.events) > maxInline {
		// Only the head is announced now: keep the newest, not thousands of pointers.
		last := c.events[len(c.events)-1]
		clear(c.events) // the backing array would otherwise keep the dropped ones alive
		c.events = append(c.events[:0], last)
		c.eventsOver = true
	}
	c.mu.Unlock()
}

// request and vector are the plane's, as the cluster calls them.
func (c *cluster) request(ctx context.Context, p peerInfo, typ byte, body []byte, fn func(typ byte, body []byte) (bool, error)) error {
	return c.plane.Request(ctx, p, typ, body, fn)
}

// A vector naming other origins' ticks or a watermark no honest peer could know is refused
// (node.Plausible): it would stall this node's purges.
func (c *cluster) vector(ctx context.Context, p peerInfo) (wire.Vector, error) {
	v, err := c.plane.Vector(ctx, p)
	if err != nil {
		return v, err
	}
	heads := make(map[string]uint64, len(v.Highest))
	maps.Copy(heads, v.Highest)
	for o, rs := range v.Known {
		heads[o] = max(heads[o], rs.Max())
	}
	c.s.mu.Lock()
	// This node's own head is what a restarted node learns from vectors (a data dir restored
	// from an old copy is behind its own history): never refuse it, or the node would reuse
	// ticks. A false one only holds its writes back.
	own := c.s.node.Origin()
	delete(heads, own)
	err = c.s.plausibleHeadsLocked(heads)
	if err == nil {
		purge := maps.Clone(v.Purge)
		delete(purge, own)
		err = c.s.plausibleHeadsLocked(purge)
	}
	c.s.mu.Unlock()
	if err != nil {
		c.s.log.Warn("refused a vector", "peer", p.Name, "err", err)
		return wire.Vector{}, fmt.Errorf("vector of %s: %w", p.Name, err)
	}
	return v, nil
}

// vectorAnswer is a member's answer to a Vector request.
type vectorAnswer struct {
	peer peerInfo
	v    wire.Vector
	err  error
}

// askVectors asks every peer for its vector at once; the answers are in the order of peers.
func (c *cluster) askVectors(ctx context.Context, peers []peerInfo) []vectorAnswer {
	out := make([]vectorAnswer, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.vector(ctx, p)
			out[i] = vectorAnswer{p, v, err}
		}()
	}
	wg.Wait()
	return out
}

// hello is what this node says when it dials a peer.
func (c *cluster) hello() wire.Hello {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return wire.Hello{Name: c.s.cfg.Name, Origin: c.s.node.Origin()}
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

// Handle answers one frame from a peer (peer.Handler); r is nil for a message the housekeeper
// hands to this node itself.
func (c *cluster) Handle(from wire.Hello, t byte, b []byte, r *peer.Replier) error {
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
		c.puller.Hint(from.Name)
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
		return r.Send(wire.MsgPullReply, reply.Append(nil))
	case wire.MsgVectorReq:
		v, seq := c.localVectorSeq()
		if err := c.visible(seq); err != nil {
			return err
		}
		return r.Send(wire.MsgVector, v.Append(nil))
	case wire.MsgStateReq:
		return c.sendState(r)
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
	return c.handleMore(from, t, b, r)
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
	waiting := c.alone.Load()
	var remembers []string
	if waiting {
		remembers = c.remembered()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return wire.Vector{Name: s.cfg.Name, Origin: s.node.Origin(), Known: s.node.Known(), Highest: s.node.Highest(),
		Purge: s.node.PurgeWatermark(), Digest: s.node.Digest(nil), DigestVersion: node.DigestVersion, Tock: s.node.Tock(), Ready: ready,
		Forgotten: s.node.Forgotten(), Waiting: waiting, Remembers: remembers}, s.logSeqLocked()
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
func (c *cluster) sendState(r *peer.Replier) error {
	v, seq := c.localVectorSeq()
	if err := c.visible(seq); err != nil {
		return err
	}
	if err := r.Send(wire.MsgStateHeader, v.Append(nil)); err != nil {
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
		return r.Write(wire.MsgStateChunk, buf)
	}
	for {
		var got []*node.Update
		c.s.mu.Lock()
		next := c.s.node.Entries(after, 256, func(u *node.Update) { got = append(got, u) })
		c.s.mu.Unlock()
		if err := c.visibleOwn(got); err != nil {
			return err
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
			return r.Send(wire.MsgStateEnd, nil)
		}
		after = next
	}
}
