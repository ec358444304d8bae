package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/distkv/distkv/gossip"
	"github.com/distkv/distkv/gossip/wire"
	"github.com/distkv/distkv/node"
)

// Serf user event names. Part of the protocol between servers.
const (
	eventUpdates = "u" // a batch of small updates, wire.AppendUpdates
	eventHeads   = "h" // heads: {origin: tick}, wire.AppendWatermark's form
)

// announceEvery paces serf events: gossip carries a few dozen events per second for the
// whole network before it drops them (serf-memberlist-notes.md), so each node sends at most
// one per interval, holding as many small updates as fit, or else just its head.
const announceEvery = 200 * time.Millisecond

// idleHead re-announces a node's head once it has been idle this long, so that the loss of
// its last update (the tail) shows up everywhere as a gap.
const idleHead = time.Second

// eventLoop drains serf's events and sends this node's announcements.
func (c *cluster) eventLoop() {
	tick := time.NewTicker(announceEvery)
	defer tick.Stop()
	var lastWrite time.Time
	var announced uint64
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.g.Stopped():
			if c.ctx.Err() == nil {
				// serf stopped on its own: it does so when another member claims this node's
				// name. Serving on alone would silently stop replication: stop instead.
				c.s.fail(fmt.Errorf("server: gossip stopped unexpectedly; is another member named %q?", c.s.cfg.Name))
			}
			return
		case ev, ok := <-c.g.Events():
			if !ok {
				return
			}
			c.onEvent(ev)
		case now := <-tick.C:
			c.mu.Lock()
			pending, over := c.events, c.eventsOver
			c.events, c.eventsOver = nil, false
			c.mu.Unlock()
			if len(pending) > 0 {
				lastWrite = now
				c.announce(pending, over)
				announced = pending[len(pending)-1].Tick
				continue
			}
			c.s.mu.Lock()
			head, origin := c.s.node.Tick(), c.s.node.Origin()
			c.s.mu.Unlock()
			if head > 0 && !lastWrite.IsZero() && now.Sub(lastWrite) > idleHead && announced == head {
				c.sendEvent(eventHeads, wire.AppendWatermark(nil, map[string]uint64{origin: head}))
				lastWrite = time.Time{} // once per idle period
			}
		}
	}
}

// maxInline bounds the updates an event can hold inline: each takes more than a byte, and no
// event payload reaches this size (gossip.MaxEventPayload).
const maxInline = 2048

// announce sends pending updates inline if they all fit one event, else the head only; over
// says more were pending than the newest one kept.
func (c *cluster) announce(us []*node.Update, over bool) {
	if !over {
		if b, ok := inlineUpdates(us, c.g.MaxEventPayload(eventUpdates)); ok {
			c.sendEvent(eventUpdates, b)
			return
		}
	}
	last := us[len(us)-1]
	c.sendEvent(eventHeads, wire.AppendWatermark(nil, map[string]uint64{last.Origin: last.Tick}))
}

// inlineUpdates returns wire.AppendUpdates(nil, us) if it fits budget. Under load thousands of
// updates are pending and only the head goes out: it stops encoding as soon as they overflow.
func inlineUpdates(us []*node.Update, budget int) ([]byte, bool) {
	if len(us) > budget {
		return nil, false // every update takes more than a byte
	}
	hdr := len(node.AppendArrayLen(nil, len(us)))
	var body []byte
	for _, u := range us {
		if body = u.AppendMsgpack(body); hdr+len(body) > budget {
			return nil, false
		}
	}
	return append(node.AppendArrayLen(make([]byte, 0, hdr+len(body)), len(us)), body...), true
}

func (c *cluster) sendEvent(name string, payload []byte) {
	if err := c.g.UserEvent(name, payload); err != nil {
		c.s.log.Debug("serf event not sent", "name", name, "err", err)
	}
}

func (c *cluster) onEvent(ev gossip.Event) {
	switch e := ev.(type) {
	case gossip.UserEvent:
		switch e.Name {
		case eventUpdates:
			us, err := wire.DecodeUpdates(e.Payload)
			if err != nil {
				c.s.log.Warn("bad update event", "err", err)
				return
			}
			if err := c.s.applyRemote(us, "", node.RangeSet{}); err != nil {
				c.s.log.Warn("refused an update event", "ltime", e.LTime, "err", err)
			}
		case eventHeads:
			heads, err := wire.DecodeWatermark(e.Payload)
			if err != nil {
				c.s.log.Warn("bad heads event", "err", err)
				return
			}
			if err := c.s.seeHeads(heads); err != nil {
				c.s.log.Warn("refused a heads event", "ltime", e.LTime, "err", err)
			}
		case eventMsg:
			if err := c.s.onMsgEvent(e.Payload); err != nil {
				c.s.log.Warn("bad message event", "err", err)
			}
		case eventClock:
			c.onBeacon(e.Payload)
		}
	case gossip.MemberEvent:
		c.logMembers(e)
		c.refreshPeers()
		switch e.Kind {
		case gossip.MemberJoin, gossip.MemberUpdate:
			// A join may be a healed partition, an update a node turning ready: reconcile now.
			c.kickHouse()
		case gossip.MemberFailed, gossip.MemberLeave, gossip.MemberReap:
			if e.Kind == gossip.MemberLeave {
				c.left(len(e.Members))
			}
			for _, m := range e.Members {
				c.plane.Drop(m.Name)
			}
		}
	}
}

// logMembers logs a membership change of another member once, at info: serf reports each
// change once. A tag change (a member turning ready, a new origin) is routine: debug.
func (c *cluster) logMembers(e gossip.MemberEvent) {
	level, msg := slog.LevelInfo, ""
	switch e.Kind {
	case gossip.MemberJoin:
		msg = "member joined"
	case gossip.MemberLeave:
		msg = "member left"
	case gossip.MemberFailed:
		msg = "member failed"
	case gossip.MemberReap:
		msg = "member forgotten"
	default:
		level, msg = slog.LevelDebug, "member updated"
	}
	for _, m := range e.Members {
		if m.Name != c.s.cfg.Name {
			c.s.log.Log(context.Background(), level, msg, "member", m.Name, "addr", m.Addr)
		}
	}
}
