package server

import (
	"context"
	"fmt"
	"time"

	"github.com/distkv/distkv/gossip/wire"
	"github.com/distkv/distkv/node"
)

// State transfers: a node that joins empty, restarts behind the purge watermark, or hears a
// watermark above what it knows takes a donor's whole state. One procedure serves all three
// (takeState), so that none of them can keep a value whose delete the network already purged:
//
//  1. the donor's state is loaded into a fresh node built on the side, while the old one keeps
//     running (it may apply pushes and serf events meanwhile, serf's replay buffer included);
//  2. under the lock, the old node's entries whose (origin, tick) the donor does not know are
//     loaded into the fresh node by the conflict rule: this node's own writes the donor has not
//     seen, and updates that arrived during the transfer. Everything the donor knows comes only
//     from the donor: a stale value the old node still holds, or a replayed serf event, carries
//     a tick the donor knows, so it is dropped with the old node;
//  3. the old node's known ticks and heads beyond the donor's are kept, so no tick is reused;
//  4. the fresh node replaces the old one, and a snapshot makes the new state durable before
//     the caller goes on (docs/replication.md, "Joining").

// catchUp brings a starting node up to date with the network before it serves clients. It
// returns once it took what it needs from a ready peer, or learned its own history from an
// alive but unready one, or knows it is alone (no alive member besides itself).
func (c *cluster) catchUp(ctx context.Context) error {
	donor, ok := c.waitDonor(ctx)
	if !ok {
		return c.learnOwnHistory(ctx)
	}
	v, err := c.vector(ctx, donor)
	if err != nil {
		return err
	}
	c.heard(v)
	took, err := c.takeStateIf(ctx, donor, v, func(n *node.Node) bool {
		return (n.Len() == 0 && len(n.Known()) == 0) || n.Behind(v.Purge)
	})
	if err != nil {
		return fmt.Errorf("state transfer from %s: %w", donor.Name, err)
	}
	if took {
		// Writes made meanwhile: learn the donor's heads again.
		if v, err = c.vector(ctx, donor); err != nil {
			return err
		}
	}
	if err := c.pullMissing(ctx, donor, v); err != nil {
		return err
	}
	c.s.mu.Lock()
	own := c.s.node.MissingOf(c.s.node.Origin())
	c.s.mu.Unlock()
	if !own.Empty() {
		return fmt.Errorf("own ticks %s are still missing; writes wait for the housekeeper", own)
	}
	c.s.log.Info("caught up with the network", "donor", donor.Name, "took_state", took)
	return nil
}

// donorWait bounds how long a starting node waits for a ready peer while alive members exist
// but none is ready (a whole network restarting): then it learns its own history from the
// unready ones and starts, and the housekeeper reconciles the rest.
func (c *cluster) donorWait() time.Duration { return min(c.s.cfg.JoinTimeout, 10*time.Second) }

// waitDonor returns the first ready member of the ranking, waiting while alive members exist
// but none is ready yet. It reports false when there is no ready member to take state from.
func (c *cluster) waitDonor(ctx context.Context) (peerInfo, bool) {
	deadline := time.Now().Add(c.donorWait())
	for {
		if p, ok := c.donor(); ok {
			return p, true
		}
		if len(c.others(false)) == 0 || time.Now().After(deadline) {
			return peerInfo{}, false
		}
		select {
		case <-ctx.Done():
			return peerInfo{}, false
		case <-c.ctx.Done():
			return peerInfo{}, false
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// donor returns the first ready member of the housekeeping ranking other than this node,
// preferring one that is not waiting to hear from the network (alone.go).
func (c *cluster) donor() (peerInfo, bool) {
	peers := c.others(true)
	if len(peers) == 0 {
		return peerInfo{}, false
	}
	var waiting *peerInfo
	for _, name := range c.ranking() {
		for i, p := range peers {
			if p.Name != name {
				continue
			}
			if sure(wire.Vector{Ready: p.Ready, Waiting: p.Waiting}) { // as its tags say
				return p, true
			}
			if waiting == nil {
				waiting = &peers[i]
			}
		}
	}
	if waiting != nil {
		return *waiting, true
	}
	return peers[0], true
}

// learnOwnHistory asks every alive member (none of them ready) for its vector, so that a node
// restarting with them learns its own highest tick and pulls what it lost of its own history
// before it writes again.
func (c *cluster) learnOwnHistory(ctx context.Context) error {
	peers := c.others(false)
	if len(peers) == 0 {
		return nil // this node is the network, or it is cut off from it (decideWait)
	}
	heard := 0
	for _, p := range peers {
		if err := c.learnFrom(ctx, p); err != nil {
			c.s.log.Debug("catch-up: no vector", "member", p.Name, "err", err)
			continue
		}
		heard++
	}
	if heard == 0 {
		return fmt.Errorf("none of %d alive members answered", len(peers))
	}
	return nil
}

// learnFrom asks p for its vector, records it for the wait (alone.go) and learns from it.
func (c *cluster) learnFrom(ctx context.Context, p peerInfo) error {
	v, err := c.vector(ctx, p)
	if err != nil {
		return err
	}
	c.heard(v)
	c.learnVector(ctx, p, v)
	return nil
}

// learnVector learns p's tock and this node's own highest tick from v, and pulls what it lost
// of its own history (a failed pull is left to the puller).
func (c *cluster) learnVector(ctx context.Context, p peerInfo, v wire.Vector) {
	c.s.mu.Lock()
	own := c.s.node.Origin()
	c.s.node.SeeHead(own, v.Highest[own])
	c.s.node.SeeTock(v.Tock)
	miss := c.s.node.MissingOf(own)
	c.s.mu.Unlock()
	if !miss.Empty() {
		if err := c.puller.PullAll(ctx, p, own, miss); err != nil {
			c.s.log.Debug("pulling own ticks", "member", p.Name, "err", err)
		}
	}
}

// pullMissing learns a vector's heads and tock and pulls every tick still missing from p, in
// as many replies as it takes (each is capped).
func (c *cluster) pullMissing(ctx context.Context, p peerInfo, v wire.Vector) error {
	c.s.mu.Lock()
	for o, t := range v.Highest {
		c.s.node.SeeHead(o, t)
	}
	c.s.node.SeeTock(v.Tock)
	missing := c.s.node.Missing()
	c.s.mu.Unlock()
	for o, ticks := range missing {
		if err := c.puller.PullAll(ctx, p, o, ticks); err != nil {
			return err
		}
	}
	return nil
}

// takeStateIf takes p's state by the procedure above if need, evaluated on the current node
// once no other transfer runs, says so. It reports whether it took it.
func (c *cluster) takeStateIf(ctx context.Context, p peerInfo, v wire.Vector, need func(*node.Node) bool) (bool, error) {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	c.s.mu.Lock()
	yes := need(c.s.node)
	c.s.mu.Unlock()
	if !yes {
		return false, nil
	}
	return true, c.takeStateLocked(ctx, p)
}

// takeStateLocked runs the procedure; the caller holds c.stateMu.
func (c *cluster) takeStateLocked(ctx context.Context, p peerInfo) error {
	s := c.s
	s.mu.Lock()
	fresh := node.New(node.Config{Origin: s.node.Origin()})
	s.mu.Unlock()
	if err := c.fetchStateInto(ctx, p, fresh); err != nil {
		return err
	}
	s.mu.Lock()
	old := s.node
	carried := carryOver(old, fresh)
	s.node = fresh
	watched, entries := len(s.watches) > 0, fresh.Len()
	s.endWatchesLocked("the node took the network's state; watch again")
	s.mu.Unlock()
	s.log.Info("took the network's state", "donor", p.Name, "entries", entries, "kept", carried, "watches_ended", watched)
	s.persistState()
	return nil
}

// carryOver loads into fresh the entries of old whose version the donor (whose state fresh
// holds) does not know, and keeps old's forgotten origins, known ticks, heads, clock and
// counters. It returns how many entries it carried. Both nodes are locked by the caller.
func carryOver(old, fresh *node.Node) int {
	known := fresh.Known()
	forgotten := map[string]bool{} // the donor knew all of them: nothing to carry
	for _, o := range fresh.Forgotten() {
		forgotten[o] = true
	}
	// The origins old forgot stay forgotten, whatever the donor heard of them (a donor of
	// another network never did): their live entries are carried below, but a late update of
	// theirs (a serf event replayed at a merge, a push in flight) must stay ignored, or it
	// brings back a value whose delete was purged. Forgotten first, so that loading their
	// entries does not bring them back as known origins.
	fresh.Forget(old.Forgotten())
	carried := 0
	for after := node.Path(nil); ; {
		after = old.Entries(after, 1<<30, func(u *node.Update) {
			if forgotten[u.Origin] {
				return
			}
			if rs, ok := known[u.Origin]; !ok || !rs.Contains(u.Tick) {
				fresh.Load(u)
				carried++
			}
		})
		if after == nil {
			break
		}
	}
	for o, rs := range old.Known() {
		if !forgotten[o] {
			fresh.MarkKnown(o, rs.Minus(known[o]))
		}
	}
	for o, t := range old.Highest() {
		fresh.SeeHead(o, t) // the own origin's head above all: never reuse a tick
	}
	fresh.SeeTock(old.Tock())
	fresh.Ready()
	fresh.CarryStats(old.Stats())
	return carried
}

// persistState makes a state that was not built from the event log durable: a snapshot,
// written before the caller goes on, so that a restart finds it instead of looking behind.
// A failure is not fatal: the old snapshot plus the log still restore a state that catches up
// (it looks behind, so it takes the network's state again).
func (s *Server) persistState() {
	if s.store == nil {
		return
	}
	if _, err := s.store.snapshot(); err != nil {
		s.log.Error("snapshot after a state transfer failed", "err", err)
	}
}

// fetchStateInto streams a peer's state into fresh, a node no one else holds yet: its vector
// first, then its entries (each the current version of one path, tombstones included), loaded
// by the conflict rule, then the vector's known ticks, heads, clock and watermark. Nothing of
// it is logged or watched (fresh's effects are dropped): the caller's snapshot persists it.
func (c *cluster) fetchStateInto(ctx context.Context, p peerInfo, fresh *node.Node) error {
	var hdr wire.Vector
	var horizon node.Horizon
	count := 0
	err := c.request(ctx, p, wire.MsgStateReq, nil, func(t byte, b []byte) (bool, error) {
		switch t {
		case wire.MsgStateHeader:
			var err error
			if hdr, err = wire.DecodeVector(b); err != nil {
				return false, err
			}
			// The donor's word for where the network is: the chunks are checked against it.
			horizon, err = node.HorizonOf(hdr.Known, hdr.Highest, hdr.Tock)
			if err != nil {
				c.s.log.Warn("refused a state transfer", "peer", p.Name, "err", err)
			}
			return err == nil, err
		case wire.MsgStateChunk:
			us, err := wire.DecodeUpdates(b)
			if err != nil {
				return false, err
			}
			for _, u := range us {
				if err := fresh.PlausibleWithin(u, horizon); err != nil {
					c.s.log.Warn("refused a state transfer", "peer", p.Name, "err", err)
					return false, err
				}
			}
			for _, u := range us {
				fresh.Load(u)
			}
			fresh.Ready()
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
	fresh.Forget(hdr.Forgotten) // before the rest, which would bring the origins back as known
	fresh.LoadSummary(hdr.Known, hdr.Highest, hdr.Tock, hdr.Purge)
	fresh.Ready()
	c.s.log.Debug("state transfer done", "donor", p.Name, "entries", count)
	return nil
}

// startResync runs one resync at a time, in the background: the node heard a purge watermark
// above what it knows.
func (c *cluster) startResync(from string) {
	if !c.resyncing.CompareAndSwap(false, true) {
		return
	}
	c.s.log.Warn("behind the purge watermark: resynchronising from a peer", "from", from)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.resyncing.Store(false)
		c.resync(from)
	}()
}

// resync takes a donor's state while the node keeps serving, unless another transfer made it
// unnecessary meanwhile.
func (c *cluster) resync(donorName string) {
	p, ok := c.peerByName(donorName)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Minute)
	defer cancel()
	v, err := c.vector(ctx, p)
	if err != nil {
		if c.ctx.Err() == nil {
			c.s.log.Error("resync failed; keeping the old state", "err", err)
		}
		return
	}
	took, err := c.takeStateIf(ctx, p, v, func(n *node.Node) bool { return n.Behind(v.Purge) })
	if err != nil {
		if c.ctx.Err() == nil { // not cut short by a shutdown
			c.s.log.Error("resync failed; keeping the old state", "err", err)
		}
		return
	}
	if took {
		c.s.log.Info("resynchronised with the network", "donor", donorName)
	}
}

// requestSnapshot asks for a snapshot soon, for a change that is not in the event log (a
// repair by anti-entropy, forgotten origins).
func (s *Server) requestSnapshot() {
	if s.store != nil {
		s.store.requestSnapshot()
	}
}
