package node

// WalkOptions bound a walk of a subtree.
type WalkOptions struct {
	MinDepth int  // relative to the walked path
	MaxDepth int  // < 0: unlimited
	Empty    bool // also visit entries that hold no value (tombstones, inner nodes)
	ChainLen int  // links per entry chain; 0: the node's default
	// After, when set, resumes a walk: only entries after this absolute path (in canonical
	// order) are visited.
	After Path
}

// Walk visits the entries of the subtree at p in canonical order (an entry before its
// children, children ordered by Compare) until fn returns false. It returns false if fn
// stopped it. The Entry's Path is absolute and owned by fn; fn must not change the node (walk
// in chunks, as the server does, to write in between). A walk resumed with After costs
// O(depth * log(children)) to reach its first entry, however large the directories.
func (n *Node) Walk(p Path, o WalkOptions, fn func(Entry) bool) bool {
	e := n.find(p)
	if e == nil {
		return true
	}
	if o.ChainLen <= 0 {
		o.ChainLen = n.cfg.ChainLen
	}
	return walk(e, p.Clone(), 0, &o, func(x *entry, p Path) bool { return fn(x.view(p.Clone(), o.ChainLen)) })
}

// walk visits e's subtree as Walk does, handing fn the entry and its path (reused: fn copies
// what it keeps). fn must not add or remove entries.
func walk(e *entry, p Path, depth int, o *WalkOptions, fn func(*entry, Path) bool) bool {
	// The root is never visited as an entry: it cannot hold a value.
	if depth >= o.MinDepth && len(p) > 0 && (e.live() || o.Empty) {
		if o.After == nil || ComparePaths(p, o.After) > 0 {
			// Everything visited from here on is after the resume point too.
			o.After = nil
			if !fn(e, p) {
				return false
			}
		}
	}
	if o.MaxDepth >= 0 && depth >= o.MaxDepth {
		return true
	}
	var from *Element
	if o.After != nil && len(o.After) > len(p) && o.After[:len(p)].Equal(p) {
		// Skip children wholly before the resume point.
		from = &o.After[len(p)]
	}
	return e.kids.ascend(from, true, func(c *entry) bool {
		return walk(c, append(p, c.name()), depth+1, o, fn)
	})
}

// Children returns the names of the children of p in canonical order.
func (n *Node) Children(p Path) []Element {
	e := n.find(p)
	if e == nil {
		return nil
	}
	var out []Element
	e.kids.ascend(nil, true, func(c *entry) bool {
		// Listed only if something live is at or below it: inner nodes kept alive by a watch,
		// or holding only tombstones, are not children a client can see.
		if c.subDigest() != (digest{}) {
			out = append(out, c.name())
		}
		return true
	})
	return out
}

// Entries visits the current version of every written entry (live or tombstone), after the
// absolute path after (nil: from the start), as single-op updates for Load, until fn returns
// false or limit entries were visited. It returns the path to resume from, or nil when done.
// Callers that must not hold the node for long walk it in chunks.
func (n *Node) Entries(after Path, limit int, fn func(*Update)) Path {
	return n.entriesFrom(n.root, Path{}, after, limit, fn)
}
