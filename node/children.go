package node

import (
	"slices"

	"github.com/google/btree"
)

// children holds an entry's children in canonical order of their names (Compare), so that a
// lookup, an insert, a delete and a walk resumed at a name cost O(log n), and a walk never
// sorts. Most directories are small: they are a sorted slice (8 bytes a child), and become a
// B-tree once they hold more than smallKids children (back below smallKids/4, so that a
// directory at the boundary does not convert on every change).
type children struct {
	small []*entry
	big   *bigKids
}

// smallKids is the most children kept in a sorted slice: its inserts move at most this many
// pointers. A variable so that tests can exercise the B-tree with few children.
var smallKids = 128

// kidsDegree is the B-tree's degree: nodes hold up to 2*kidsDegree-1 children.
const kidsDegree = 32

// kidsFree recycles B-tree nodes across all directories (it has its own lock).
var kidsFree = btree.NewFreeListG[*entry](64)

// bigKids is a B-tree of children. probe is the key of lookups (only its name is set), so a
// lookup allocates nothing; like the rest of the node, it is not safe for concurrent use.
type bigKids struct {
	t     *btree.BTreeG[*entry]
	probe entry
}

func lessKid(a, b *entry) bool { return Compare(a.name, b.name) < 0 }

func (k *children) len() int {
	if k.big != nil {
		return k.big.t.Len()
	}
	return len(k.small)
}

// search returns the index in the small slice of the first child not before name.
func (k *children) search(name Element) (int, bool) {
	return slices.BinarySearchFunc(k.small, name, func(c *entry, n Element) int { return Compare(c.name, n) })
}

func (k *children) get(name Element) *entry {
	if b := k.big; b != nil {
		b.probe.name = name
		c, _ := b.t.Get(&b.probe)
		b.probe.name = Element{}
		return c
	}
	if i, ok := k.search(name); ok {
		return k.small[i]
	}
	return nil
}

// insert adds c, whose name is not a child yet.
func (k *children) insert(c *entry) {
	if k.big != nil {
		k.big.t.ReplaceOrInsert(c)
		return
	}
	i, _ := k.search(c.name)
	k.small = slices.Insert(k.small, i, c)
	if len(k.small) > smallKids {
		b := &bigKids{t: btree.NewWithFreeListG(kidsDegree, lessKid, kidsFree)}
		for _, x := range k.small {
			b.t.ReplaceOrInsert(x)
		}
		k.big, k.small = b, nil
	}
}

// remove deletes the child called name, if there is one.
func (k *children) remove(name Element) {
	if b := k.big; b != nil {
		b.probe.name = name
		b.t.Delete(&b.probe)
		b.probe.name = Element{}
		if b.t.Len() < smallKids/4 {
			s := make([]*entry, 0, b.t.Len())
			b.t.Ascend(func(c *entry) bool { s = append(s, c); return true })
			b.t.Clear(true)
			k.big, k.small = nil, s
		}
		return
	}
	if i, ok := k.search(name); ok {
		k.small = slices.Delete(k.small, i, i+1)
		if len(k.small) == 0 {
			k.small = nil
		}
	}
}

// ascend calls fn for the children in canonical order, from the first not before from
// (after from, if !inclusive; nil: from the first), until fn returns false; it returns false
// if fn stopped it. fn must not add or remove children of this entry.
func (k *children) ascend(from *Element, inclusive bool, fn func(*entry) bool) bool {
	if b := k.big; b != nil {
		ok := true
		iter := func(c *entry) bool {
			if from != nil && !inclusive && Compare(c.name, *from) == 0 {
				return true
			}
			ok = fn(c)
			return ok
		}
		if from == nil {
			b.t.Ascend(iter)
			return ok
		}
		// The pivot must not be the probe: fn may look children up meanwhile.
		b.t.AscendGreaterOrEqual(&entry{name: *from}, iter)
		return ok
	}
	i := 0
	if from != nil {
		var found bool
		if i, found = k.search(*from); found && !inclusive {
			i++
		}
	}
	for _, c := range k.small[i:] {
		if !fn(c) {
			return false
		}
	}
	return true
}
