package node

import "slices"

// Forgetting an origin. Each restart without a durable log (RAM only, or an unclean stop under
// a lazy fsync policy) starts a new origin; without forgetting, the vectors, watermarks and
// per-origin state would grow by one origin per restart for ever. Once the housekeeper has
// established that an old origin can make no more ticks and every member knows all of them
// and purged its tombstones (housekeeper.Forget), every node forgets it: it drops out of
// Known, Highest, Missing, Origins and the purge watermark.
//
// What stays is a compact tombstone: the origin's name, so that a late update of it (a push or
// serf event still in flight, a peer that never heard of the forgetting) is ignored rather than
// applied as new, which could resurrect a path whose delete was purged. The live entries it
// wrote stay in the tree with their versions: the conflict rule and the digest need the
// origin's name, not its tick history.

func (n *Node) isForgotten(origin string) bool {
	return n.forgotten[origin] != nil
}

// Forget forgets the given origins, except this node's own, and returns how many it had not
// forgotten yet.
func (n *Node) Forget(origins []string) int {
	count := 0
	for _, name := range origins {
		if name == "" || name == n.cfg.Origin || n.forgotten[name] != nil {
			continue
		}
		o := n.originOf(name)
		o.forgotten = true
		n.purgeDue = true
		if n.forgotten == nil {
			n.forgotten = make(map[string]*originState)
		}
		n.forgotten[name] = o
		delete(n.origins, name)
		n.lastOrigin = nil
		delete(n.purgeWM, name)
		n.stats.Forgotten++
		count++
	}
	if count > 0 {
		n.Purge(nil) // its tombstones go: nothing of it can arrive any more
	}
	return count
}

// Forgotten returns the names of the forgotten origins, sorted.
func (n *Node) Forgotten() []string {
	s := make([]string, 0, len(n.forgotten))
	for k := range n.forgotten {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}
