package node

// DropStale removes the live entry at p if its current version is (origin, tick, tock): the
// anti-entropy repair of a value whose delete the other members applied and purged, which this
// node kept although it knows the delete's tick (housekeeper.Reconcile). The tick stays known;
// watchers see the entry go. It returns whether the entry was removed.
func (n *Node) DropStale(p Path, origin string, tick, tock uint64) bool {
	e := n.find(p)
	if e == nil || !e.live() || e.origin == nil || e.origin.name != origin || e.tick != tick || e.tock != tock {
		return false
	}
	n.unindex(e)
	n.live--
	n.entries--
	e.setHash(digest{})
	e.has, e.deleted, e.value, e.origin, e.prev = false, false, nil, nil, nil
	e.tick, e.tock = 0, 0
	n.notify(e, p)
	e.prune()
	return true
}
