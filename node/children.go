package node

import (
	"slices"

	"github.com/google/btree"
)

// children holds an entry's children in canonical order of their names (Compare), so that an
// insert, a delete and a walk resumed at a name cost O(log n), and a walk never sorts. Most
// directories are small: they are a sorted slice (8 bytes a child, looked up by binary
// search). Above smallKids children they become a B-tree of the children (about 18 bytes a
// child) with a map from name to child for lookups: a lookup in a B-tree of a million children
// follows some 25 pointers to entries that are rarely in the CPU cache, the map about two.
// A directory goes back to a slice below smallKids/4 children, so that one at the boundary
// does not convert on every change.
type children struct {
	small []*entry
	big   *bigKids
}

// smallKids is the most children kept in a sorted slice: its inserts move at most this many
// pointers and its lookups compare at most log2 of it names. A variable so that tests can
// exercise the B-tree with few children.
var smallKids = 64

// kidsDegree is the B-tree's degree: nodes hold up to 2*kidsDegree-1 children.
const kidsDegree = 32

// kidsFree recycles B-tree nodes across all directories (it has its own lock).
var kidsFree = btree.NewFreeListG[*entry](64)

type bigKids struct {
	t     *btree.BTreeG[*entry]
	index map[Element]*entry
}

func lessKid(a, b *entry) bool { return Compare(a.name, b.name) < 0 }

func (k *children) len() int {
	if k.big != nil {
		return len(k.big.index)
	}
	return len(k.small)
}

// search returns the index in the small slice of the first child not before name.
func (k *children) search(name Element) (int, bool) {
	return slices.BinarySearchFunc(k.small, name, func(c *entry, n Element) int { return Compare(c.name, n) })
}

func (k *children) get(name Element) *entry {
	if k.big != nil {
		return k.big.index[name]
	}
	if i, ok := k.search(name); ok {
		return k.small[i]
	}
	return nil
}

// insert adds c, whose name is not a child yet.
func (k *children) insert(c *entry) {
	if b := k.big; b != nil {
		b.t.ReplaceOrInsert(c)
		b.index[c.name] = c
		return
	}
	i, _ := k.search(c.name)
	k.small = slices.Insert(k.small, i, c)
	if len(k.small) > smallKids {
		b := &bigKids{t: btree.NewWithFreeListG(kidsDegree, lessKid, kidsFree), index: make(map[Element]*entry, len(k.small))}
		for _, x := range k.small {
			b.t.ReplaceOrInsert(x)
			b.index[x.name] = x
		}
		k.big, k.small = b, nil
	}
}

// remove deletes the child called name, if there is one.
func (k *children) remove(name Element) {
	if b := k.big; b != nil {
		c := b.index[name]
		if c == nil {
			return
		}
		b.t.Delete(c)
		delete(b.index, name)
		if len(b.index) < smallKids/4 {
			s := make([]*entry, 0, len(b.index))
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
		var skip *entry // the child called from, when it is excluded
		iter := func(c *entry) bool {
			if c == skip {
				return true
			}
			ok = fn(c)
			return ok
		}
		if from == nil {
			b.t.Ascend(iter)
			return ok
		}
		pivot := b.index[*from]
		if pivot == nil {
			pivot = &entry{name: *from}
		} else if !inclusive {
			skip = pivot
		}
		b.t.AscendGreaterOrEqual(pivot, iter)
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
