package node

// DigestVersion names the entry hash the digests of this build are made with (entryHash).
// Digests of different versions cannot be compared: the version travels with them
// (docs/housekeeping.md). 1 is FNV-128a, which builds before the field had; 2 is XXH3-128.
const DigestVersion = 2

// ChildDigest is one child of a tree node with the digest of its subtree, for narrowing a
// divergence between two nodes subtree by subtree.
type ChildDigest struct {
	Name   Element
	Digest [2]uint64
	Leaf   bool // the child has no children of its own
}

// DigestChildren returns the hash of the entry at p itself (zero unless it holds a live
// value) and its children after `after` (nil: from the first) in canonical order with their
// subtree digests, at most limit of them (<= 0: no limit); more reports whether children
// were left out, to resume after the last one returned. Children whose subtree holds only
// tombstones (digest zero) are listed too: a tombstone on one side and nothing on the other
// look alike and need no repair, but a zero subtree beside a live one does.
func (n *Node) DigestChildren(p Path, after *Element, limit int) (own [2]uint64, kids []ChildDigest, more bool) {
	e := n.find(p)
	if e == nil {
		return own, nil, false
	}
	own = e.hash
	more = !e.kids.ascend(after, false, func(c *entry) bool {
		if limit > 0 && len(kids) >= limit {
			return false
		}
		kids = append(kids, ChildDigest{Name: c.name(), Digest: c.subDigest(), Leaf: c.kids.len() == 0})
		return true
	})
	return own, kids, more
}

// SubtreeEntries visits the current version of every written entry (live or tombstone) of the
// subtree at p, p itself included, after the absolute path after (nil: from the start), as
// single-op updates for Load, until limit entries were visited. It returns the path to resume
// from, or nil when done.
func (n *Node) SubtreeEntries(p Path, after Path, limit int, fn func(*Update)) Path {
	e := n.find(p)
	if e == nil {
		return nil
	}
	return n.entriesFrom(e, p.Clone(), after, limit, fn)
}

func (n *Node) entriesFrom(e *entry, p Path, after Path, limit int, fn func(*Update)) Path {
	var last *entry
	count := 0
	o := WalkOptions{MaxDepth: -1, Empty: true, After: after}
	done := walk(e, p, 0, &o, func(x *entry, p Path) bool {
		if count >= limit {
			return false
		}
		if !x.has {
			return true
		}
		fn(x.entryUpdate())
		count++
		last = x
		return true
	})
	if done || last == nil {
		return nil
	}
	return last.path()
}
