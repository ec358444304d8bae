package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/distkv/distkv/node"
)

// gapDelay is how long a gap may stand before it is pulled: pushes and serf events race, so
// tick t+2 often arrives a moment before t+1. Milliseconds, not a housekeeping round.
const gapDelay = 20 * time.Millisecond

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
	touched := map[string]bool{}
	for _, u := range us {
		s.node.Apply(u)
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
		c.puller.want(gaps)
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
		c.puller.want(gaps)
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

// puller fetches missing ticks soon after they are noticed: from the origin's own node if it
// is up, else from the peer that last sent us something, else from any ready peer, trying the
// next one when a peer did not know the ticks.
type puller struct {
	c        *cluster
	mu       sync.Mutex
	due      map[string]time.Time // origin -> when to pull
	tries    map[string]int       // origin -> attempts so far, to rotate sources
	lastHint string
	wake     chan struct{}
}

func newPuller(c *cluster) *puller {
	return &puller{c: c, due: map[string]time.Time{}, tries: map[string]int{}, wake: make(chan struct{}, 1)}
}

func (p *puller) hint(member string) {
	p.mu.Lock()
	p.lastHint = member
	p.mu.Unlock()
}

// want schedules pulls for gaps.
func (p *puller) want(gaps map[string]node.RangeSet) {
	p.mu.Lock()
	now := time.Now()
	for o := range gaps {
		if _, ok := p.due[o]; !ok {
			p.due[o] = now.Add(gapDelay)
		}
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *puller) run(stop <-chan struct{}) {
	t := time.NewTicker(gapDelay)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		case <-p.wake:
		}
		p.once()
	}
}

func (p *puller) once() {
	now := time.Now()
	p.mu.Lock()
	var ready []string
	for o, at := range p.due {
		if !now.Before(at) {
			ready = append(ready, o)
		}
	}
	hint := p.lastHint
	p.mu.Unlock()
	for _, o := range ready {
		s := p.c.s
		s.mu.Lock()
		miss := s.node.MissingOf(o)
		s.mu.Unlock()
		if miss.Empty() {
			p.mu.Lock()
			delete(p.due, o)
			delete(p.tries, o)
			p.mu.Unlock()
			continue
		}
		src, ok := p.source(o, hint)
		// A reply is capped in bytes: keep pulling from this source while it makes progress.
		for ok && !miss.Empty() {
			ctx, cancel := context.WithTimeout(p.c.ctx, 10*time.Second)
			err := p.c.pullFrom(ctx, src, o, miss)
			cancel()
			if err != nil {
				s.log.Debug("pull failed", "origin", o, "from", src.Name, "err", err)
				break
			}
			s.mu.Lock()
			left := miss.Intersect(s.node.MissingOf(o))
			s.mu.Unlock()
			if left.Len() >= miss.Len() {
				break
			}
			miss = left
		}
		p.mu.Lock()
		p.tries[o]++
		// Back off while the gap stays: the housekeeper also repairs it.
		p.due[o] = time.Now().Add(min(time.Duration(p.tries[o])*gapDelay*5, 2*time.Second))
		p.mu.Unlock()
	}
}

// source picks the peer to pull an origin's ticks from.
func (p *puller) source(origin, hint string) (peerInfo, bool) {
	peers := p.c.others(true)
	if len(peers) == 0 {
		return peerInfo{}, false
	}
	p.mu.Lock()
	try := p.tries[origin]
	p.mu.Unlock()
	var first []peerInfo
	for _, x := range peers {
		if x.Name == originMember(origin) {
			first = append(first, x)
		}
	}
	for _, x := range peers {
		if x.Name == hint && x.Name != originMember(origin) {
			first = append(first, x)
		}
	}
	for _, x := range peers {
		if x.Name != hint && x.Name != originMember(origin) {
			first = append(first, x)
		}
	}
	return first[try%len(first)], true
}
