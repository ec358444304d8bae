package node

// A settled tick is one the network declared lost: announced (by a head or a chain) but held
// by no live node, its origin gone for good (housekeeper.Settle). It wrote nothing anyone has,
// so every node marks it known by applying a settlement: an update of that origin and tick
// with no ops and tock 0. No origin makes such an update (a local update's tock is the clock
// plus one, so at least 1), which tells it apart; it goes through Apply like any update, so
// it is logged, replayed after a restart, and a duplicate costs nothing.

// Settlement returns the settlement of tick t of origin.
func Settlement(origin string, t uint64) *Update { return &Update{Origin: origin, Tick: t} }

// IsSettlement reports whether u is a settlement.
func (u *Update) IsSettlement() bool { return u.Tock == 0 && len(u.Ops) == 0 }

// Settle marks the ticks rs of origin known as lost, through logged settlements, and returns
// how many were not known yet. It refuses this node's own origin: its ticks are never lost
// while it runs.
func (n *Node) Settle(origin string, rs RangeSet) int {
	if origin == "" || origin == n.cfg.Origin || n.isForgotten(origin) {
		return 0
	}
	count := 0
	o := n.originOf(origin)
	for _, r := range rs.Minus(o.known).Ranges() {
		for t := r.Start; t < r.End && t <= MaxTick; t++ {
			if n.Apply(Settlement(origin, t)) {
				count++
			}
		}
	}
	return count
}
