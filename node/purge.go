package node

// PurgeWatermark returns the purge watermark this node has heard of.
func (n *Node) PurgeWatermark() map[string]uint64 {
	m := make(map[string]uint64, len(n.purgeWM))
	for k, v := range n.purgeWM {
		m[k] = v
	}
	return m
}

// Behind reports whether this node lacks ticks below a purge watermark: tombstones it never
// saw may be gone everywhere, so it must take a full state instead of pulling ticks.
func (n *Node) Behind(wm map[string]uint64) bool {
	for origin, t := range wm {
		o := n.origins[origin]
		if o == nil {
			if t > 0 && n.forgotten[origin] == nil {
				return true
			}
			continue
		}
		if o.known.Contig() < t {
			return true
		}
	}
	return false
}

// Purge raises the purge watermark to wm and drops the tombstones at or below it. The caller
// must have checked Behind first: a node that is behind must resync, not purge. It returns
// how many tombstones went.
func (n *Node) Purge(wm map[string]uint64) int {
	for origin, t := range wm {
		if t > n.purgeWM[origin] && n.forgotten[origin] == nil {
			n.purgeWM[origin] = t
			n.purgeDue = true
		}
	}
	// The housekeeper repeats the watermark every round: without a new tombstone or a higher
	// watermark nothing can have become purgeable, and the walk of every tombstone is skipped.
	if !n.purgeDue {
		return 0
	}
	n.purgeDue = false
	purged := 0
	for e := range n.tombs {
		if e.origin.forgotten || e.tick <= n.purgeWM[e.origin.name] {
			n.drop(e)
			purged++
		}
	}
	n.stats.Purged += uint64(purged)
	return purged
}

// drop removes a tombstone from the tree; its tick stays known.
func (n *Node) drop(e *entry) {
	n.unindex(e)
	e.has, e.deleted, e.value, e.origin, e.prev = false, false, nil, nil, nil
	e.tick, e.tock = 0, 0
	delete(n.tombs, e)
	n.entries--
	e.prune()
}
