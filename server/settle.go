package server

import (
	"fmt"
	"slices"

	"github.com/distkv/distkv/gossip/wire"
	"github.com/distkv/distkv/housekeeper"
	"github.com/distkv/distkv/node"
)

// listedOrigins maps every member serf lists, whatever its status, to its origin tag: the
// housekeeper's view of which origins can still make ticks (housekeeper.Superseded).
func (c *cluster) listedOrigins() map[string]string {
	m := map[string]string{}
	for _, x := range c.g.Members() {
		m[x.Name] = x.Tags[tagOrigin]
	}
	c.s.mu.Lock()
	m[c.s.cfg.Name] = c.s.node.Origin()
	killed := c.s.killedLocked()
	c.s.mu.Unlock()
	c.markKilled(m, killed)
	return m
}

// settleAndForget runs after a complete round: it declares lost the ticks of dead origins
// that no member holds, and tells every member to forget the dead origins that are wholly
// known and purged. Both messages are idempotent, so they are sent whenever the round finds
// something to do; a member that missed one is told again next round.
func (c *cluster) settleAndForget(got []housekeeper.Vector, rank []string, wm map[string]uint64) {
	listed := c.listedOrigins()
	if lost := housekeeper.Settle(got, listed); len(lost) > 0 {
		var ss []wire.Settle
		for _, o := range sortedOrigins(lost) {
			ss = append(ss, wire.Settle{Origin: o, Ticks: lost[o]})
			c.s.log.Info("housekeeper: declaring lost ticks no member holds", "origin", o, "ticks", lost[o].String())
		}
		body := wire.AppendSettles(nil, ss)
		for _, name := range rank {
			c.tell(name, wire.MsgSettle, body)
		}
	}
	if fs := housekeeper.Forget(got, wm, listed); len(fs) > 0 {
		body := wire.AppendOrigins(nil, fs)
		c.wm.Forget(fs)
		for _, name := range rank {
			c.tell(name, wire.MsgForget, body)
		}
	}
}

func sortedOrigins(m map[string]node.RangeSet) []string {
	out := make([]string, 0, len(m))
	for o := range m {
		out = append(out, o)
	}
	slices.Sort(out)
	return out
}

// settle marks lost ticks known and logs them as known records, so that a restart keeps
// them. The ticks come from a peer: if it names one no one can have heard of
// (node.PlausibleHead), nothing is settled, or a gap would open that never fills.
func (s *Server) settle(ss []wire.Settle) error {
	s.mu.Lock()
	for _, x := range ss {
		if x.Ticks.Empty() {
			continue
		}
		if err := s.node.PlausibleHead(x.Origin, x.Ticks.Max()); err != nil {
			s.mu.Unlock()
			return fmt.Errorf("settled ticks: %w", err)
		}
	}
	counts := make([]int, len(ss))
	for i, x := range ss {
		if counts[i] = s.node.Settle(x.Origin, x.Ticks); counts[i] > 0 {
			s.logKnownLocked(x.Origin, x.Ticks)
		}
	}
	s.mu.Unlock()
	for i, x := range ss {
		if counts[i] > 0 {
			s.log.Info("settled lost ticks: no member holds them and their origin is gone", "origin", x.Origin, "ticks", x.Ticks.String(), "new", counts[i])
		}
	}
	return nil
}

// forget forgets dead origins and persists that with a snapshot.
func (c *cluster) forget(origins []string) {
	s := c.s
	s.mu.Lock()
	n := s.node.Forget(origins)
	s.commitLocked()
	s.mu.Unlock()
	if n > 0 {
		s.log.Info("forgot origins that can make no more ticks", "origins", origins, "new", n)
		s.requestSnapshot()
	}
}
