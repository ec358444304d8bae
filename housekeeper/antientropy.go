package housekeeper

import (
	"bytes"
	"fmt"

	"github.com/distkv/distkv/node"
)

// Tree is one member's tree as narrowing reads it: the hash of the entry at a path (zero
// unless it holds a live value) and all the path's children with their subtree digests, in
// canonical order (node.DigestChildren, over the wire DigestReq).
type Tree interface {
	Digests(p node.Path) (own [2]uint64, kids []node.ChildDigest, err error)
}

// Leaf is a differing part of two trees to repair: the whole subtree at Path (no children
// on either side), or when Self only the entry at Path.
type Leaf struct {
	Path node.Path
	Self bool
}

// Narrow walks two trees down from the root, breadth first, through the subtrees whose
// digests differ, and returns the differing leaves. It compares at most maxVisits subtrees and
// returns at most maxLeaves leaves (with an error when it stopped early: what it found is
// still worth repairing, and the next pass finds the rest).
func Narrow(a, b Tree, maxVisits, maxLeaves int) ([]Leaf, error) {
	queue := []node.Path{{}}
	var leaves []Leaf
	for visits := 0; len(queue) > 0; visits++ {
		if visits >= maxVisits || len(leaves) >= maxLeaves {
			return leaves, fmt.Errorf("housekeeper: narrowing stopped after %d subtrees and %d leaves", visits, len(leaves))
		}
		p := queue[0]
		queue = queue[1:]
		ownA, kidsA, err := a.Digests(p)
		if err != nil {
			return leaves, err
		}
		ownB, kidsB, err := b.Digests(p)
		if err != nil {
			return leaves, err
		}
		if ownA != ownB {
			leaves = append(leaves, Leaf{Path: p, Self: true})
		}
		for _, d := range DiffChildren(kidsA, kidsB) {
			child := append(p.Clone(), d.Name)
			if d.Leaf {
				leaves = append(leaves, Leaf{Path: child})
			} else {
				queue = append(queue, child)
			}
		}
	}
	return leaves, nil
}

// Pairs returns the pairs of members (indexes into vs) whose trees anti-entropy compares: each
// member whose digest differs from that of the first member of its digest version (DigestRef),
// with that member. Members of different versions are never paired: their digests differ
// whatever they hold.
func Pairs(vs []Vector) [][2]int {
	var out [][2]int
	for i, v := range vs {
		if j := DigestRef(vs, i); j != i && v.Digest != vs[j].Digest {
			out = append(out, [2]int{j, i})
		}
	}
	return out
}

// DiffChildren merges two members' children lists of one path (each in canonical order, as
// node.DigestChildren returns them) and returns the children whose subtree digests differ, a
// child missing on one side counting as digest zero. Leaf is set when the child has no
// children on either side: the caller fetches its entries instead of descending.
func DiffChildren(a, b []node.ChildDigest) []node.ChildDigest {
	var out []node.ChildDigest
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var x node.ChildDigest
		switch {
		case j >= len(b) || (i < len(a) && node.Compare(a[i].Name, b[j].Name) < 0):
			x = a[i]
			i++
			if x.Digest == ([2]uint64{}) {
				continue
			}
		case i >= len(a) || node.Compare(a[i].Name, b[j].Name) > 0:
			x = b[j]
			j++
			if x.Digest == ([2]uint64{}) {
				continue
			}
		default:
			x = a[i]
			x.Leaf = a[i].Leaf && b[j].Leaf
			same := a[i].Digest == b[j].Digest
			i, j = i+1, j+1
			if same {
				continue
			}
		}
		out = append(out, x)
	}
	return out
}

// Fix is what one side of a comparison must do: load versions (by the conflict rule) and drop
// live versions whose deletes were purged elsewhere (node.DropStale).
type Fix struct {
	Load, Drop []*node.Update
}

// Reconcile compares two members' entries of a differing subtree (single-op updates, each the
// current version of one path, tombstones included) and returns what each side must do so
// that both end with the winner of every path by the conflict rule: a.Load holds b's versions
// that beat a's, b.Load the reverse. A path only one side holds goes to the other, with one
// exception: a live version the other side lacks although its purge watermark covers it. That
// side knew the tick and holds nothing newer at the path, so it purged a newer tombstone there:
// the live version is a deleted value. It is dropped from the side that holds it, never spread
// (the resurrection of a stale state). Two different contents under one version cannot be
// ordered by the conflict rule: they are returned in odd and left alone.
func Reconcile(ea, eb []*node.Update, purgeA, purgeB map[string]uint64) (a, b Fix, odd []*node.Update) {
	key := func(u *node.Update) string { return string(node.AppendPath(nil, u.Ops[0].Path)) }
	bs := make(map[string]*node.Update, len(eb))
	for _, u := range eb {
		bs[key(u)] = u
	}
	seen := make(map[string]bool, len(ea))
	for _, x := range ea {
		k := key(x)
		seen[k] = true
		y := bs[k]
		if y == nil {
			if lone(x, purgeB) {
				a.Drop = append(a.Drop, x)
			} else {
				b.Load = append(b.Load, x)
			}
			continue
		}
		switch c := node.CompareVersion(x.Tock, x.Origin, y.Tock, y.Origin); {
		case c > 0:
			b.Load = append(b.Load, x)
		case c < 0:
			a.Load = append(a.Load, y)
		case !sameContent(x, y):
			odd = append(odd, x, y)
		}
	}
	for _, y := range eb {
		if seen[key(y)] {
			continue
		}
		if lone(y, purgeA) {
			b.Drop = append(b.Drop, y)
		} else {
			a.Load = append(a.Load, y)
		}
	}
	return a, b, odd
}

// lone reports whether u, held by one side only, is a live version the other side's purge
// watermark covers.
func lone(u *node.Update, otherPurge map[string]uint64) bool {
	return !u.Ops[0].Delete && u.Tick <= otherPurge[u.Origin]
}

func sameContent(a, b *node.Update) bool {
	x, y := a.Ops[0], b.Ops[0]
	return a.Tick == b.Tick && x.Delete == y.Delete && bytes.Equal(x.Value, y.Value)
}
