package housekeeper

import (
	"bytes"

	"github.com/distkv/distkv/node"
)

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

// Reconcile compares two members' entries of a differing subtree (single-op updates, each the
// current version of one path, tombstones included) and returns what each side must load so
// that both end with the winner of every path by the conflict rule: toA holds b's versions
// that beat a's, toB the reverse. A path only one side holds goes to the other, with one
// exception, returned in odd and sent to no one: a live version the other side lacks
// although its purge watermark covers it. That side knew the tick and purged something newer
// at the path (a tombstone), so the live version is a deleted value that must not come back.
// Two different contents under one version are odd too: the conflict rule cannot order them.
func Reconcile(ea, eb []*node.Update, purgeA, purgeB map[string]uint64) (toA, toB, odd []*node.Update) {
	key := func(u *node.Update) string { return string(node.AppendPath(nil, u.Ops[0].Path)) }
	bs := make(map[string]*node.Update, len(eb))
	for _, u := range eb {
		bs[key(u)] = u
	}
	seen := make(map[string]bool, len(ea))
	for _, a := range ea {
		k := key(a)
		seen[k] = true
		b := bs[k]
		if b == nil {
			if lone(a, purgeB) {
				odd = append(odd, a)
			} else {
				toB = append(toB, a)
			}
			continue
		}
		switch c := cmpVersion(a, b); {
		case c > 0:
			toB = append(toB, a)
		case c < 0:
			toA = append(toA, b)
		case !sameContent(a, b):
			odd = append(odd, a, b)
		}
	}
	for _, b := range eb {
		if seen[key(b)] {
			continue
		}
		if lone(b, purgeA) {
			odd = append(odd, b)
		} else {
			toA = append(toA, b)
		}
	}
	return toA, toB, odd
}

// lone reports whether u, held by one side only, is a live version the other side's purge
// watermark covers.
func lone(u *node.Update, otherPurge map[string]uint64) bool {
	return !u.Ops[0].Delete && u.Tick <= otherPurge[u.Origin]
}

func cmpVersion(a, b *node.Update) int {
	switch {
	case a.Tock != b.Tock:
		if a.Tock < b.Tock {
			return -1
		}
		return 1
	case a.Origin < b.Origin:
		return -1
	case a.Origin > b.Origin:
		return 1
	}
	return 0
}

func sameContent(a, b *node.Update) bool {
	x, y := a.Ops[0], b.Ops[0]
	return a.Tick == b.Tick && x.Delete == y.Delete && bytes.Equal(x.Value, y.Value)
}
