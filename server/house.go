package server

import (
	"context"
	"slices"
	"time"

	"github.com/distkv/distkv/gossip"
	"github.com/distkv/distkv/gossip/wire"
	"github.com/distkv/distkv/housekeeper"
)

// houseState is what the housekeeper loop learned, for status.
type houseState struct {
	converged bool
	rounds    uint64
	// Anti-entropy (antientropy.go): differing leaves found and entries sent to repair them
	// by this node as housekeeper, and entries this node loaded or dropped from such repairs.
	divergences, repaired, loaded, dropped uint64
	// unreachable is the members this node, as housekeeper, last logged as unreachable.
	unreachable []string
}

func (c *cluster) houseStatus() houseState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.house
}

// houseLoop runs a round every HousekeepInterval, and at once after membership changes, on
// whichever node ranks first. Every member runs the loop; the others skip the round.
func (c *cluster) houseLoop() {
	t := time.NewTicker(c.s.cfg.HousekeepInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
		}
		if c.alone.Load() && c.isReady() {
			c.endAlone()
		}
		rank := c.ranking()
		if len(rank) == 0 || rank[0] != c.s.cfg.Name {
			// Every node keeps the purge guard's memory: any may be the housekeeper after a
			// restart or a split.
			c.members()
			c.mu.Lock()
			c.house.unreachable = nil // the housekeeper now logs the heal
			c.mu.Unlock()
			continue
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.HousekeepInterval+5*time.Second)
		c.round(ctx, rank)
		cancel()
	}
}

// round gathers every ranked member's vector, tells each what it misses and from whom, and
// advances the purge watermark when every member answered.
func (c *cluster) round(ctx context.Context, rank []string) {
	var peers []peerInfo
	for _, name := range rank {
		if p, found := c.peerByName(name); found && name != c.s.cfg.Name {
			peers = append(peers, p)
		}
	}
	answers := map[string]vectorAnswer{}
	for _, a := range c.askVectors(ctx, peers) {
		answers[a.peer.Name] = a
	}
	var got []housekeeper.Vector // in rank order
	for _, name := range rank {
		a, asked := answers[name]
		switch {
		case name == c.s.cfg.Name:
			got = append(got, toHK(c.localVector()))
		case !asked:
		case a.err != nil:
			c.s.log.Debug("housekeeper: no vector", "member", name, "err", a.err)
		default:
			got = append(got, toHK(a.v))
		}
	}
	reachable := len(got) == len(rank)
	// The watermark needs every member serf remembers, failed ones included: during a
	// partition neither side may purge, or old versions from the other side would come back.
	complete := reachable
	members := c.members()
	for _, name := range members {
		if !slices.Contains(rank, name) {
			complete = false // failed, or not ready yet
		}
	}
	// Beyond the forget horizon the other side is no member any more: only a majority purges.
	complete = complete && c.majority(len(members))

	byMember := map[string][]wire.Repair{}
	for _, r := range housekeeper.Plan(got) {
		byMember[r.Member] = append(byMember[r.Member], wire.Repair{Origin: r.Origin, Ticks: r.Ticks, From: r.From})
	}
	for member, rs := range byMember {
		c.tell(member, wire.MsgRepair, wire.AppendRepairs(nil, rs))
	}
	// Origins some member forgot, to every member that does not forget them yet, complete
	// round or not: a member of a network that never heard of one must ignore it before a
	// merge replays its late updates (housekeeper.Spread).
	for member, os := range housekeeper.Spread(got) {
		c.tell(member, wire.MsgForget, wire.AppendOrigins(nil, os))
	}
	// Converged: every member this housekeeper can reach holds the same state.
	converged := reachable && housekeeper.Converged(got)
	if complete {
		wm, _ := c.wm.Round(got)
		if len(wm) > 0 {
			// Sent every round: idempotent, and a member that missed it gets it again.
			body := wire.AppendWatermark(nil, wm)
			for _, name := range rank {
				c.tell(name, wire.MsgPurge, body)
			}
		}
		c.settleAndForget(got, rank, wm)
	}
	if reachable && len(byMember) == 0 && !converged {
		c.startAntiEntropy(got)
	}
	c.mu.Lock()
	c.house.rounds++
	c.house.converged = converged
	c.mu.Unlock()
	c.logSplit(members, converged)
}

// logSplit logs once that members are unreachable (a partition or failed hosts: no tombstone
// is purged until they return or are forgotten), again if that set changes, and once that the
// heal is done: every member is alive again and holds the same state.
func (c *cluster) logSplit(members []string, converged bool) {
	alive := map[string]bool{}
	for _, m := range c.g.Members() {
		if m.Status == gossip.StatusAlive {
			alive[m.Name] = true
		}
	}
	var gone []string
	for _, name := range members {
		if !alive[name] {
			gone = append(gone, name)
		}
	}
	c.mu.Lock()
	was := c.house.unreachable
	split := len(gone) > 0 && !slices.Equal(gone, was)
	healed := len(gone) == 0 && len(was) > 0 && converged
	if split || healed {
		c.house.unreachable = gone
	}
	c.mu.Unlock()
	switch {
	case split:
		c.s.log.Info("housekeeper: members unreachable (partition or failure); purges wait for them", "members", gone)
	case healed:
		c.s.log.Info("housekeeper: heal done: every member is back and the state converged", "were_unreachable", was)
	}
}

func toHK(v wire.Vector) housekeeper.Vector {
	return housekeeper.Vector{Member: v.Name, Origin: v.Origin, Known: v.Known, Highest: v.Highest, Digest: v.Digest, Purge: v.Purge,
		DigestVersion: v.DigestVersion, Tock: v.Tock, Forgotten: v.Forgotten}
}

// tell sends a one-way message to a member (or handles it here).
func (c *cluster) tell(member string, t byte, body []byte) {
	if member == c.s.cfg.Name {
		self := wire.Hello{Name: member}
		if err := c.Handle(self, t, body, nil); err != nil {
			c.s.log.Warn("housekeeper: local message", "err", err)
		}
		return
	}
	if p, ok := c.peerByName(member); ok {
		c.plane.Tell(p, t, body)
	}
}

// repair pulls what the housekeeper said this node misses. One worker does it: a housekeeper
// repeats its repairs every round, and a repair of big values can take longer than a round,
// so while the worker runs only the newest list waits for it (older ones are superseded).
func (c *cluster) repair(rs []wire.Repair) {
	c.mu.Lock()
	c.repairNext = rs
	start := !c.repairing
	c.repairing = true
	c.mu.Unlock()
	if !start {
		return
	}
	// Called from a round (in c.wg) or a peer connection (in the plane's wait group, which
	// shutdown waits for before c.wg): never after c.wg.Wait began.
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			c.mu.Lock()
			rs := c.repairNext
			c.repairNext = nil
			if len(rs) == 0 || c.ctx.Err() != nil {
				c.repairing = false
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
			for _, r := range rs {
				c.repairOne(r)
			}
		}
	}()
}

func (c *cluster) repairOne(r wire.Repair) {
	p, ok := c.peerByName(r.From)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	if err := c.puller.PullAll(ctx, p, r.Origin, r.Ticks); err != nil {
		c.s.log.Debug("repair pull failed", "origin", r.Origin, "from", r.From, "err", err)
	}
}

// purge applies a purge watermark, unless this node is behind it: then it must take a full
// state instead, or it would keep entries whose deletes were already purged everywhere.
func (c *cluster) purge(wm map[string]uint64, from string) {
	s := c.s
	if c.resyncing.Load() {
		return // the resync takes the donor's watermark with its state
	}
	s.mu.Lock()
	behind := s.node.Behind(wm)
	purged := 0
	if !behind {
		purged = s.node.Purge(wm)
	}
	s.mu.Unlock()
	if purged > 0 {
		s.log.Info("purged tombstones", "tombstones", purged, "from", from)
	}
	if behind {
		c.startResync(from)
	}
}
