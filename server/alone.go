package server

import (
	"context"
	"fmt"
	"time"

	"github.com/distkv/distkv/clientproto"
)

// A node that starts alone (it reaches no other member) although its data directory remembers
// other members may have left the network gracefully: the others then purged tombstones
// without it, and its clock knows nothing of their deletes. A write on that clock would order
// below a purged delete and undo it when the sides meet, since the tombstone that should win
// is gone. So such a node serves reads but refuses writes (notready) until a ready member
// answers its Vector request (it learns the network's clock and its own highest tick), or
// until it remembers no other member (ForgetAfter passed: it is the network). A node that
// crashed did not leave: the others count it as failed, so they purge nothing it has not seen
// (for ForgetAfter), and it takes writes at once. A RAM-only node cannot tell and starts
// writing at once (docs/housekeeping.md).

// errAlone is the refusal while the wait lasts.
var errAlone = fmt.Errorf("%w: started alone; waiting to hear from the members it remembers", clientproto.ErrNotReady)

// remembersOthers reports whether the purge guard remembers a member other than this node.
func (c *cluster) remembersOthers() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name := range c.seen {
		if name != c.s.cfg.Name {
			return true
		}
	}
	return false
}

// startAlone is called by a starting node that found no other alive member.
func (c *cluster) startAlone() {
	if c.s.store == nil || !c.s.stoppedClean || !c.remembersOthers() {
		return // RAM only, a crash (the others held the watermark for it), or a new network
	}
	c.alone.Store(true)
	c.s.log.Warn("started alone but remembers other members: refusing writes until one answers")
}

// endAlone ends the wait once a ready member answers, or once no other member is remembered.
// The house loop calls it every round while the wait lasts.
func (c *cluster) endAlone() {
	p, ok := c.donor()
	if !ok {
		if !c.remembersOthers() { // the house loop's members() forgets those away for ForgetAfter
			c.alone.Store(false)
			c.s.log.Warn("remembers no other member any more: taking writes as the whole network")
		}
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	if err := c.learnFrom(ctx, p); err != nil {
		c.s.log.Debug("alone: no vector", "member", p.Name, "err", err)
		return
	}
	c.alone.Store(false)
	c.s.log.Info("heard from the network: taking writes", "member", p.Name)
}
