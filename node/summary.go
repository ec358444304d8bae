package node

// LoadSummary completes a state loaded entry by entry (a snapshot, or a donor's state
// transfer) with the summary that came with it: the known ticks and heads, the clock (so that
// later writes order after every tombstone the source ever purged), and the purge watermark.
func (n *Node) LoadSummary(known map[string]RangeSet, highest map[string]uint64, tock uint64, purge map[string]uint64) {
	for o, rs := range known {
		n.MarkKnown(o, rs)
	}
	for o, t := range highest {
		n.SeeHead(o, t)
	}
	n.SeeTock(tock)
	n.Purge(purge)
}
