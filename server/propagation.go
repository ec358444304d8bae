package server

import (
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/distkv/distkv/node"
)

// Propagation delay, sampled (docs/operations.md, Metrics). The update wire form is hashed and
// logged, so it carries no time. Instead each origin samples one of its ticks now and then and
// announces, in a serf event of its own, when it wrote it by its wall clock: (origin, tick,
// unix nanoseconds). Every receiver remembers when it applied each of the last applyMemory
// remote ticks of each origin; the delay observed is its apply time minus the origin's write
// time, at once if the tick was applied before the beacon came, or when it is applied. It
// includes the clock offset between the two hosts (NTP keeps it to milliseconds), and is
// clamped at 0. Older servers ignore the event (unknown serf event names are skipped).
const (
	eventClock = "c" // a propagation beacon: origin, tick, unix nanoseconds

	// beaconEvery paces the beacons: at most one per node per interval, and only after a write,
	// so that they take a small share of serf's event budget.
	beaconEvery = 2 * time.Second
	// applyMemory is how many apply times per origin a receiver keeps.
	applyMemory = 4096
	// maxPending bounds the beacons waiting for their tick.
	maxPending = 64
	// idleOrigin is how long an origin's apply times are kept after its last update: origins
	// of past incarnations stop writing, and their memory goes.
	idleOrigin = 10 * time.Minute
)

// propagation holds one node's apply times and pending beacons.
type propagation struct {
	m       *metrics
	mu      sync.Mutex
	applied map[string]*appliedRing // remote origin -> recent apply times
	pending map[string][]beacon     // remote origin -> beacons whose tick is not applied yet
	// own is the newest own tick written since the last beacon, and when.
	own     beacon
	ownSent uint64
}

type beacon struct {
	origin string
	tick   uint64
	wall   int64 // unix nanoseconds
}

type appliedRing struct {
	ticks [applyMemory]uint64
	at    [applyMemory]int64
	next  int
}

func (r *appliedRing) find(tick uint64) (int64, bool) {
	for i := range r.ticks {
		if r.ticks[i] == tick && tick != 0 {
			return r.at[i], true
		}
	}
	return 0, false
}

func newPropagation(m *metrics) *propagation {
	return &propagation{m: m, applied: map[string]*appliedRing{}, pending: map[string][]beacon{}}
}

// committed notes the updates the node just took (commitLocked's Effects.Log): own ones are
// candidates for the next beacon, remote ones get their apply time.
func (p *propagation) committed(self string, us []*node.Update) {
	if len(us) == 0 {
		return
	}
	now := time.Now().UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, u := range us {
		if u.Origin == self {
			p.own = beacon{origin: self, tick: u.Tick, wall: now}
			continue
		}
		r := p.applied[u.Origin]
		if r == nil {
			r = &appliedRing{}
			p.applied[u.Origin] = r
		}
		r.ticks[r.next], r.at[r.next] = u.Tick, now
		r.next = (r.next + 1) % applyMemory
		if bs := p.pending[u.Origin]; len(bs) > 0 {
			kept := bs[:0]
			for _, b := range bs {
				if b.tick == u.Tick {
					p.observe(b, now)
				} else {
					kept = append(kept, b)
				}
			}
			p.pending[u.Origin] = kept
		}
	}
}

// next returns the beacon to send, if an own tick was written since the last one, and drops
// the apply times of origins idle for idleOrigin.
func (p *propagation) next() ([]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := time.Now().Add(-idleOrigin).UnixNano()
	for o, r := range p.applied {
		if r.at[(r.next+applyMemory-1)%applyMemory] < old {
			delete(p.applied, o)
			delete(p.pending, o)
		}
	}
	if p.own.tick == 0 || p.own.tick == p.ownSent {
		return nil, false
	}
	p.ownSent = p.own.tick
	b := binary.AppendUvarint(nil, p.own.tick)
	b = binary.AppendVarint(b, p.own.wall)
	return append(b, p.own.origin...), true
}

func decodeBeacon(b []byte) (beacon, error) {
	tick, n := binary.Uvarint(b)
	if n <= 0 || tick == 0 {
		return beacon{}, errors.New("bad beacon tick")
	}
	wall, m := binary.Varint(b[n:])
	if m <= 0 || len(b) == n+m {
		return beacon{}, errors.New("bad beacon")
	}
	return beacon{origin: string(b[n+m:]), tick: tick, wall: wall}, nil
}

// heard takes another origin's beacon; known is the node's known ticks of that origin. A
// waiting beacon whose tick became known without being applied here (superseded ticks of a
// pull, a settlement, a state transfer) would never be observed and would hold its place in
// pending: it is skipped.
func (p *propagation) heard(b beacon, known node.RangeSet) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.applied[b.origin]; r != nil {
		if at, ok := r.find(b.tick); ok {
			p.observe(b, at)
			return
		}
	}
	if bs := p.pending[b.origin]; len(bs) > 0 {
		kept := bs[:0]
		for _, w := range bs {
			if known.Contains(w.tick) {
				p.m.propSkip.Inc()
			} else {
				kept = append(kept, w)
			}
		}
		p.pending[b.origin] = kept
	}
	if known.Contains(b.tick) {
		p.m.propSkip.Inc() // applied too long ago, or by a state transfer
		return
	}
	if len(p.pending[b.origin]) >= maxPending {
		p.m.propSkip.Inc()
		return
	}
	p.pending[b.origin] = append(p.pending[b.origin], b)
}

func (p *propagation) observe(b beacon, at int64) {
	d := max(time.Duration(at-b.wall), 0)
	p.m.prop.WithLabelValues(b.origin).Observe(d.Seconds())
}

// beaconLoop sends this node's beacons.
func (c *cluster) beaconLoop() {
	t := time.NewTicker(beaconEvery)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			if b, ok := c.s.prop.next(); ok {
				c.sendEvent(eventClock, b)
			}
		}
	}
}

// onBeacon takes a beacon from serf.
func (c *cluster) onBeacon(payload []byte) {
	b, err := decodeBeacon(payload)
	if err != nil {
		c.s.log.Debug("bad beacon event", "err", err)
		return
	}
	c.s.mu.Lock()
	if b.origin == c.s.node.Origin() {
		c.s.mu.Unlock()
		return // serf hands a node its own events too
	}
	known := c.s.node.KnownOf(b.origin)
	c.s.mu.Unlock()
	c.s.prop.heard(b, known)
}
