package server

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/distkv/distkv/gossip/wire"
	"github.com/distkv/distkv/housekeeper"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server/peer"
)

// Anti-entropy by digest (docs/housekeeping.md). When every member knows the same ticks but
// root digests differ, the housekeeper narrows the difference down subtree by subtree with
// DigestReq, fetches both sides' entries (tombstones included) of the differing leaves with
// EntriesReq, and sends each side, as Load, the versions of the other that win by the conflict
// rule. The work of one pass is bounded; what is left shows up as a difference next round.
const (
	aeMaxVisits   = 1 << 16 // subtrees compared per pass
	aeMaxLeaves   = 1 << 12 // differing subtrees repaired per pass
	aeMaxChildren = 1 << 20 // children of one directory read per pass (in pages)
	aeMaxEntries  = 1 << 16 // entries of one differing subtree fetched
	aePageEntries = 64      // entries per Entries reply
	aeMaxLogged   = 4096    // divergences remembered so that each is logged once
)

// aeSide is one member of a comparison: this node, or a peer asked over the data plane.
type aeSide struct {
	c     *cluster
	name  string
	peer  peerInfo
	local bool
	purge map[string]uint64 // its purge watermark at the round
	// version is the entry hash of its digests: it is asked for digests of that version and
	// compared only with a side of the same.
	version uint64
}

func (c *cluster) side(v housekeeper.Vector) (aeSide, bool) {
	sd := aeSide{c: c, name: v.Member, purge: v.Purge, version: v.DigestVersion}
	if v.Member == c.s.cfg.Name {
		sd.local = true
		return sd, true
	}
	p, ok := c.peerByName(v.Member)
	sd.peer = p
	return sd, ok
}

// digests returns the own hash of p and all its children with their digests, read in pages.
func (sd aeSide) digests(ctx context.Context, p node.Path) ([2]uint64, []node.ChildDigest, error) {
	q := wire.DigestReq{Path: p, Version: sd.version}
	var own [2]uint64
	var all []node.ChildDigest
	for {
		var d wire.DigestReply
		if sd.local {
			d = sd.c.digestReply(q)
		} else {
			err := sd.c.request(ctx, sd.peer, wire.MsgDigestReq, q.Append(nil), func(t byte, b []byte) (bool, error) {
				if t != wire.MsgDigestReply {
					return false, fmt.Errorf("peer %s answered %d to a digest request", sd.name, t)
				}
				var err error
				d, err = wire.DecodeDigestReply(b)
				return false, err
			})
			if err != nil {
				return own, nil, err
			}
			if d.Version != sd.version { // restarted with another build since its vector
				return own, nil, fmt.Errorf("%s: digests of version %d, want %d", sd.name, d.Version, sd.version)
			}
		}
		own = d.Own
		all = append(all, d.Children...)
		if !d.More || len(d.Children) == 0 {
			return own, all, nil
		}
		if len(all) >= aeMaxChildren {
			return own, nil, fmt.Errorf("%s: more than %d children at %s", sd.name, aeMaxChildren, p)
		}
		q.After, q.HasAfter = d.Children[len(d.Children)-1].Name, true
	}
}

// entries returns every entry of the subtree at p, p included, tombstones too.
func (sd aeSide) entries(ctx context.Context, p node.Path) ([]*node.Update, error) {
	q := wire.EntriesReq{Path: p}
	var all []*node.Update
	for {
		var e wire.Entries
		if sd.local {
			e = sd.c.entriesReply(q)
		} else {
			err := sd.c.request(ctx, sd.peer, wire.MsgEntriesReq, q.Append(nil), func(t byte, b []byte) (bool, error) {
				if t != wire.MsgEntries {
					return false, fmt.Errorf("peer %s answered %d to an entries request", sd.name, t)
				}
				var err error
				e, err = wire.DecodeEntries(b)
				return false, err
			})
			if err != nil {
				return nil, err
			}
		}
		all = append(all, e.Updates...)
		if e.Next == nil {
			return all, nil
		}
		if len(all) >= aeMaxEntries {
			return nil, fmt.Errorf("%s: more than %d entries under %s", sd.name, aeMaxEntries, p)
		}
		q.After = e.Next
	}
}

// aeTree reads one side's digests for housekeeper.Narrow.
type aeTree struct {
	ctx context.Context
	sd  aeSide
}

func (t aeTree) Digests(p node.Path) ([2]uint64, []node.ChildDigest, error) {
	if err := t.ctx.Err(); err != nil {
		return [2]uint64{}, nil, err
	}
	return t.sd.digests(t.ctx, p)
}

// apply sends the side its fix: versions to load, live versions to drop.
func (sd aeSide) apply(f housekeeper.Fix) {
	sd.send(wire.MsgLoad, f.Load)
	sd.send(wire.MsgDrop, f.Drop)
}

func (sd aeSide) send(t byte, us []*node.Update) {
	if len(us) == 0 {
		return
	}
	if sd.local {
		if err := sd.c.fixEntries(t, us); err != nil {
			sd.c.s.log.Warn("housekeeper: refused a peer's entries", "err", err)
		}
		return
	}
	budget := sd.c.frameBudget()
	for len(us) > 0 {
		n, size := 0, 0
		for n < len(us) && (n == 0 || size+us[n].Size() <= budget) {
			size += us[n].Size()
			n++
		}
		sd.c.tell(sd.name, t, wire.AppendUpdates(nil, us[:n]))
		us = us[n:]
	}
}

// digestReply answers a DigestReq from this node's tree.
func (c *cluster) digestReply(q wire.DigestReq) wire.DigestReply {
	var after *node.Element
	if q.HasAfter {
		after = &q.After
	}
	c.s.mu.Lock()
	own, kids, more := c.s.node.DigestChildren(q.Path, after, wire.MaxDigestChildren)
	c.s.mu.Unlock()
	return wire.DigestReply{Own: own, Children: kids, More: more, Version: node.DigestVersion}
}

// entriesReply answers an EntriesReq with one page, bounded by count and by the frame budget.
func (c *cluster) entriesReply(q wire.EntriesReq) wire.Entries {
	var out wire.Entries
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	after, size := q.After, 0
	for len(out.Updates) < aePageEntries && size < c.frameBudget()/2 {
		var got *node.Update
		next := c.s.node.SubtreeEntries(q.Path, after, 1, func(u *node.Update) { got = u })
		if got != nil {
			out.Updates = append(out.Updates, got)
			size += got.Size()
		}
		if next == nil {
			return out
		}
		after = next
	}
	out.Next = after
	return out
}

// fixEntries carries out the housekeeper's repair: MsgLoad entries are loaded by the conflict
// rule, MsgDrop versions dropped. Neither logs (the ticks are known already), so the repaired
// tree is persisted by a snapshot. Entries to load come from a peer: if one is implausible
// (node.Plausible: a tock that would exhaust the clock, a tick no one made) none is loaded.
func (c *cluster) fixEntries(t byte, us []*node.Update) error {
	s := c.s
	s.mu.Lock()
	if t == wire.MsgLoad {
		for _, u := range us {
			if err := s.node.Plausible(u); err != nil {
				s.mu.Unlock()
				return fmt.Errorf("anti-entropy entries: %w", err)
			}
		}
	}
	before := s.node.Digest(nil)
	dropped := 0
	for _, u := range us {
		if t == wire.MsgDrop {
			if s.node.DropStale(u.Ops[0].Path, u.Origin, u.Tick, u.Tock) {
				dropped++
			}
		} else {
			s.node.Load(u)
		}
	}
	changed := s.node.Digest(nil) != before
	s.commitLocked()
	s.mu.Unlock()
	c.mu.Lock()
	if t == wire.MsgDrop {
		c.house.dropped += uint64(dropped)
	} else {
		c.house.loaded += uint64(len(us))
	}
	c.mu.Unlock()
	if changed {
		s.requestSnapshot()
	}
	return nil
}

// startAntiEntropy starts one pass (at most one at a time) comparing the members
// housekeeper.Pairs names (those of one digest version whose digests differ), when all know
// the same ticks.
func (c *cluster) startAntiEntropy(got []housekeeper.Vector) {
	if len(got) < 2 || !sameKnown(got) || !c.antiEntropy.CompareAndSwap(false, true) {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.antiEntropy.Store(false)
		ctx, cancel := context.WithTimeout(c.ctx, 2*time.Minute)
		defer cancel()
		for _, pair := range housekeeper.Pairs(got) {
			ref, ok := c.side(got[pair[0]])
			if !ok {
				continue
			}
			other, ok := c.side(got[pair[1]])
			if !ok {
				continue
			}
			if err := c.reconcile(ctx, ref, other); err != nil {
				c.s.log.Info("anti-entropy pass ended early", "a", ref.name, "b", other.name, "err", err)
			}
		}
	}()
}

func sameKnown(vs []housekeeper.Vector) bool {
	for _, v := range vs[1:] {
		if len(v.Known) != len(vs[0].Known) {
			return false
		}
		for o, rs := range vs[0].Known {
			if !rs.Equal(v.Known[o]) {
				return false
			}
		}
	}
	return true
}

// reconcile narrows the difference between a and b and repairs it.
func (c *cluster) reconcile(ctx context.Context, a, b aeSide) error {
	leaves, err := housekeeper.Narrow(aeTree{ctx, a}, aeTree{ctx, b}, aeMaxVisits, aeMaxLeaves)
	if err != nil && len(leaves) == 0 {
		return err
	}
	for _, l := range leaves {
		if err := c.repairLeaf(ctx, a, b, l); err != nil {
			return err
		}
	}
	return err
}

// repairLeaf fetches both sides' entries of a differing leaf and sends each side the
// versions of the other that win by the conflict rule.
func (c *cluster) repairLeaf(ctx context.Context, a, b aeSide, l housekeeper.Leaf) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ea, err := a.entries(ctx, l.Path)
	if err != nil {
		return err
	}
	eb, err := b.entries(ctx, l.Path)
	if err != nil {
		return err
	}
	if l.Self {
		ea, eb = only(ea, l.Path), only(eb, l.Path)
	}
	// The sides' watermarks are those of the round that started the pass; a purge announced
	// since (this very round's, too: it is sent before the pass starts) may have removed a
	// tombstone either side held. Without it, that side's absence would read as a missing
	// entry and the deleted value would be loaded back. Every watermark announced holds for
	// every member, and this node applied those it announced or was told: its own covers them.
	c.s.mu.Lock()
	own := c.s.node.PurgeWatermark()
	c.s.mu.Unlock()
	fa, fb, odd := housekeeper.Reconcile(ea, eb, atLeast(a.purge, own), atLeast(b.purge, own))
	fixes := len(fa.Load) + len(fa.Drop) + len(fb.Load) + len(fb.Drop)
	if fixes+len(odd) == 0 {
		return nil // changed meanwhile
	}
	a.apply(fa)
	b.apply(fb)
	c.mu.Lock()
	c.house.divergences++
	c.house.repaired += uint64(fixes)
	key := fmt.Sprintf("%s %s %s", a.name, b.name, l.Path)
	first := !c.aeLogged[key]
	if first && len(c.aeLogged) < aeMaxLogged {
		c.aeLogged[key] = true
	}
	c.mu.Unlock()
	if first {
		c.s.log.Warn("housekeeper: members know the same ticks but their trees differ; repairing by the conflict rule",
			"a", a.name, "b", b.name, "path", l.Path.String(), "load_a", len(fa.Load), "load_b", len(fb.Load),
			"drop_a", len(fa.Drop), "drop_b", len(fb.Drop), "unrepairable", len(odd))
	}
	return nil
}

// atLeast returns the per-origin maximum of two watermarks.
func atLeast(a, b map[string]uint64) map[string]uint64 {
	if len(b) == 0 {
		return a
	}
	out := maps.Clone(b)
	for o, t := range a {
		out[o] = max(out[o], t)
	}
	return out
}

// only keeps the entry at p.
func only(us []*node.Update, p node.Path) []*node.Update {
	for _, u := range us {
		if u.Ops[0].Path.Equal(p) {
			return []*node.Update{u}
		}
	}
	return nil
}

// handleMore serves the message types added after the first version of the data plane;
// Handle passes them on.
func (c *cluster) handleMore(from wire.Hello, t byte, b []byte, r *peer.Replier) error {
	switch t {
	case wire.MsgSettle:
		ss, err := wire.DecodeSettles(b)
		if err != nil {
			return err
		}
		return c.s.settle(ss)
	case wire.MsgForget:
		os, err := wire.DecodeOrigins(b)
		if err != nil {
			return err
		}
		c.forget(os)
		return nil
	case wire.MsgDigestReq:
		q, err := wire.DecodeDigestReq(b)
		if err != nil {
			return err
		}
		if q.Version != node.DigestVersion {
			// A member of another build compares digests of its own hash: these would differ
			// everywhere. Refused without closing the connection; its pass ends here.
			return r.Send(wire.MsgError, fmt.Appendf(nil, "digests of version %d asked, this node makes version %d", q.Version, node.DigestVersion))
		}
		return r.Send(wire.MsgDigestReply, c.digestReply(q).Append(nil))
	case wire.MsgEntriesReq:
		q, err := wire.DecodeEntriesReq(b)
		if err != nil {
			return err
		}
		out := c.entriesReply(q)
		if err := c.visibleOwn(out.Updates); err != nil {
			return err
		}
		return r.Send(wire.MsgEntries, out.Append(nil))
	case wire.MsgLoad, wire.MsgDrop:
		us, err := wire.DecodeUpdates(b)
		if err != nil {
			return err
		}
		for _, u := range us {
			if len(u.Ops) != 1 {
				return fmt.Errorf("an entry of %d ops", len(u.Ops))
			}
		}
		return c.fixEntries(t, us)
	}
	return fmt.Errorf("unknown message type %d from %s", t, from.Name)
}
