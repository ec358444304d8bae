package server

import (
	"fmt"

	"github.com/distkv/distkv/node"
)

// applyRemote applies updates from a peer (a push, a pull reply, a serf event), marks the
// ticks a pull reply reported superseded, logs, and notes gaps. If any of it is implausible
// (node.Plausible) it applies nothing and says why: the caller refuses the whole message.
func (s *Server) applyRemote(us []*node.Update, supOrigin string, sup node.RangeSet) error {
	s.mu.Lock()
	for _, u := range us {
		if err := s.node.Plausible(u); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	if supOrigin != "" && !sup.Empty() {
		if err := s.node.PlausibleHead(supOrigin, sup.Max()); err != nil {
			s.mu.Unlock()
			return fmt.Errorf("superseded ticks: %w", err)
		}
	}
	s.node.ApplyBatch(us)
	touched := map[string]bool{}
	for _, u := range us {
		touched[u.Origin] = true
	}
	s.commitLocked()
	if supOrigin != "" && !sup.Empty() {
		s.node.MarkKnown(supOrigin, sup)
		s.logKnownLocked(supOrigin, sup)
		touched[supOrigin] = true
	}
	gaps := s.gapsLocked(touched)
	s.mu.Unlock()
	if c := s.cluster; c != nil && len(gaps) > 0 {
		c.puller.Want(gaps)
	}
	return nil
}

// seeHeads records head announcements and notes gaps; if any head is implausible it records
// none and says why.
func (s *Server) seeHeads(heads map[string]uint64) error {
	s.mu.Lock()
	if err := s.plausibleHeadsLocked(heads); err != nil {
		s.mu.Unlock()
		return err
	}
	touched := map[string]bool{}
	for o, t := range heads {
		s.node.SeeHead(o, t)
		touched[o] = true
	}
	gaps := s.gapsLocked(touched)
	s.mu.Unlock()
	if c := s.cluster; c != nil && len(gaps) > 0 {
		c.puller.Want(gaps)
	}
	return nil
}

// plausibleHeadsLocked checks every tick of a head announcement or purge watermark.
func (s *Server) plausibleHeadsLocked(heads map[string]uint64) error {
	for o, t := range heads {
		if t == 0 {
			continue // a watermark may name an origin with nothing purged
		}
		if err := s.node.PlausibleHead(o, t); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) gapsLocked(origins map[string]bool) map[string]node.RangeSet {
	var gaps map[string]node.RangeSet
	for o := range origins {
		if s.node.Gapless(o) {
			continue // the common case: no range arithmetic on every applied batch
		}
		if miss := s.node.MissingOf(o); !miss.Empty() {
			if gaps == nil {
				gaps = map[string]node.RangeSet{}
			}
			gaps[o] = miss
		}
	}
	return gaps
}

// missingOf returns an origin's missing ticks.
func (c *cluster) missingOf(origin string) node.RangeSet {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.s.node.MissingOf(origin)
}

func (c *cluster) knownOf(origin string) node.RangeSet {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.s.node.KnownOf(origin)
}
