package server

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/gossip/wire"
)

// A node whose last run stopped gracefully left the network: the others then purged tombstones
// without it, and its clock knows nothing of their deletes. A write on that clock would order
// below a purged delete and undo it when the sides meet, since the tombstone that should win
// is gone. So such a node, unless it hears at start from a member that is sure of the
// network's clock, waits: it serves reads but refuses writes (notready) and advertises the
// wait (tag "wait", Vector.Waiting). A member is sure when it is ready and not waiting: it ran
// through, or it crashed (the others counted it failed and purged nothing it had not seen, for
// ForgetAfter). A waiting member is not: its clock may be as old as this node's, so a node
// that starts and hears only waiting members (a fresh one that took their state, too) waits
// with them. The wait ends when
//
//   - a sure member answers a Vector request: its clock is above every delete purged while
//     this node was away;
//   - every member that any waiting member it reaches remembers is back and waiting too (a
//     whole network restarted): no one else can have purged, and the group learns the highest
//     clock among them before it writes;
//   - or it remembers no other member (ForgetAfter passed: it is the network).
//
// A crash while the node waited leaves its clock as stale as it was: the marker DIR/waiting,
// on disk from the start of a run after a graceful stop (or from the wait's start) until the
// wait ends, makes such a node wait again by the same rules. And the clock the wait ends on
// is kept in DIR/tock before the node takes writes, as the floor of every later start: a crash
// before its next writes are durable would otherwise bring the stale clock back, with no
// marker left to say so (waitfiles.go).
//
// A RAM-only node cannot tell how it stopped: alone, it starts writing at once
// (docs/housekeeping.md, "Restarting alone").

// errAlone is the refusal while the wait lasts.
var errAlone = fmt.Errorf("%w: waiting to hear from the network: its members may have purged deletes this node never saw", clientproto.ErrNotReady)

// heard records a vector learned during catch-up, for decideWait.
func (c *cluster) heard(v wire.Vector) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.heardSure = c.heardSure || sure(v)
	c.heardWaiting = c.heardWaiting || v.Waiting
}

// sure reports whether the member that answered v is sure of the network's clock: ready and
// not waiting.
func sure(v wire.Vector) bool { return v.Ready && !v.Waiting }

// decideWait is called once catch-up is done, before the node advertises itself ready. A
// node with a data directory that waits has DIR/waiting on disk first, and one that does not
// records the clock it learned before it takes writes (recordWait).
func (c *cluster) decideWait() error {
	s := c.s
	c.mu.Lock()
	heardSure, waiting := c.heardSure, c.heardWaiting
	c.mu.Unlock()
	// The others held the watermark for a member that crashed, unless it crashed while it
	// waited (DIR/waiting): then its clock is the one it waited on.
	crashed := s.store != nil && !s.stoppedClean && !s.store.marked.Load()
	switch {
	case heardSure || crashed:
	case s.store != nil && c.rememberedAtStart:
		s.log.Warn("restarted after a graceful stop, or a crash while waiting, without hearing from a member sure of the network's clock: refusing writes until one answers")
		return c.startWaiting()
	case waiting:
		s.log.Warn("caught up only from members that are waiting themselves: refusing writes with them")
		return c.startWaiting()
	}
	// Taking writes: a new network, a RAM-only node alone, or a clock that is good.
	if s.store != nil && (heardSure || s.store.marked.Load()) {
		return c.recordWait()
	}
	return nil
}

// startWaiting begins the wait, durably first.
func (c *cluster) startWaiting() error {
	if st := c.s.store; st != nil {
		if err := st.markWait(c.s.tock()); err != nil {
			return err
		}
	}
	c.alone.Store(true)
	return nil
}

// recordWait makes the end of a wait durable (store.endWait) with the clock the node learned;
// a RAM-only node has nothing to record.
func (c *cluster) recordWait() error {
	if c.s.store == nil {
		return nil
	}
	return c.s.store.endWait(c.s.tock())
}

func (c *cluster) isReady() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ready
}

// remembered returns the other members the purge guard remembers.
func (c *cluster) remembered() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for name := range c.seen {
		if name != c.s.cfg.Name {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// endAlone ends the wait by the rules above. The house loop calls it every round while the
// wait lasts.
func (c *cluster) endAlone() {
	c.members() // remembers the alive members (a fresh node's memory starts empty), forgets those away for ForgetAfter
	if len(c.remembered()) == 0 {
		c.stopWaiting("remembers no other member any more: taking writes as the whole network")
		return
	}
	// The house loop waits for this: a member that does not answer must not hold it up for
	// longer than a round.
	ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.HousekeepInterval+5*time.Second)
	defer cancel()
	var group []waitingPeer
	undecided := false
	for _, a := range c.askVectors(ctx, c.others(false)) {
		p, v := a.peer, a.v
		if a.err != nil {
			c.s.log.Debug("waiting: no vector", "member", p.Name, "err", a.err)
			undecided = true
			continue
		}
		switch {
		case sure(v):
			c.learnVector(ctx, p, v)
			c.stopWaiting("heard from the network: taking writes", "member", p.Name)
			return
		case v.Waiting:
			group = append(group, waitingPeer{p, v})
		default:
			undecided = true // still starting: it may yet be sure
		}
	}
	if undecided || !c.wholeNetwork(group) {
		return
	}
	for _, w := range group {
		c.learnVector(ctx, w.peer, w.v)
	}
	c.stopWaiting("every member remembered is back and waiting: taking writes together", "members", len(group)+1)
}

// waitingPeer is a waiting member and the vector it answered.
type waitingPeer struct {
	peer peerInfo
	v    wire.Vector
}

// wholeNetwork reports whether this node and the waiting members of group include every
// member that any of them remembers.
func (c *cluster) wholeNetwork(group []waitingPeer) bool {
	in := map[string]bool{c.s.cfg.Name: true}
	for _, w := range group {
		in[w.v.Name] = true
	}
	for _, name := range c.remembered() {
		if !in[name] {
			return false
		}
	}
	for _, w := range group {
		for _, name := range w.v.Remembers {
			if !in[name] {
				return false
			}
		}
	}
	return true
}

// stopWaiting takes writes again, once the end of the wait is durable (recordWait), and
// advertises that the wait is over. If it cannot be recorded, the wait goes on and the next
// round tries again.
func (c *cluster) stopWaiting(msg string, args ...any) {
	if err := c.recordWait(); err != nil {
		c.s.log.Error("cannot record the end of the wait: still refusing writes", "err", err)
		return
	}
	c.alone.Store(false)
	c.s.log.Warn(msg, args...)
	if err := c.g.SetTags(c.tags("1")); err != nil {
		c.s.log.Warn("setting tags", "err", err)
	}
}
