package node

// A settled tick is one the network declared lost: announced (by a head or a chain) but held
// by no live node, its origin gone for good (housekeeper.Settle). It wrote nothing anyone has,
// so every node only marks it known. That is one range whatever the number of ticks, and the
// caller logs it as such (server: a known record), so a restart keeps it.

// Settle marks the ticks rs of origin known as lost and returns how many were not known yet.
// It refuses this node's own origin (its ticks are never lost while it runs) and forgotten
// origins. Nothing goes to Effects: the caller logs the settled ticks.
func (n *Node) Settle(origin string, rs RangeSet) int {
	if origin == "" || origin == n.cfg.Origin || n.isForgotten(origin) {
		return 0
	}
	lost := rs.Intersect(Upto(MaxTick)).Minus(n.originOf(origin).known)
	n.MarkKnown(origin, lost)
	n.stats.Settled += lost.Len()
	return int(lost.Len())
}
