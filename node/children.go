package node

import (
	"slices"

	"github.com/google/btree"
)

// children holds an entry's children in canonical order of their names (Compare), so that an
// insert, a delete and a walk resumed at a name cost O(log n), and a walk never sorts. It is
// one pointer, nil for a leaf (most entries), so that a leaf does not pay for a directory's
// fields. Most directories are small: they are a sorted slice (8 bytes a child, looked up by
// binary search). Above smallKids children they become a B-tree of the children (about 18
// bytes a child) with a hash index of them for lookups (kidIndex, 12-24 bytes a child): a
// lookup in a B-tree of a million children follows some 25 pointers to entries that are
// rarely in the CPU cache, the index about two. A directory goes back to a slice below
// smallKids/4 children, so that one at the boundary does not convert on every change.
type children struct {
	p *kidSet
}

type kidSet struct {
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
	index kidIndex
}

// lessKid orders children for the B-tree. Most names are strings: those compare without
// building the Elements (a B-tree insert compares some 20 names in a big directory).
func lessKid(a, b *entry) bool {
	if a.nameKind == KindString && b.nameKind == KindString {
		return a.nameStr < b.nameStr
	}
	return Compare(a.name(), b.name()) < 0
}

func (k *children) len() int {
	switch {
	case k.p == nil:
		return 0
	case k.p.big != nil:
		return k.p.big.index.n
	}
	return len(k.p.small)
}

// search returns the index in the small slice of the first child not before name.
func (s *kidSet) search(name Element) (int, bool) {
	return slices.BinarySearchFunc(s.small, name, func(c *entry, n Element) int { return Compare(c.name(), n) })
}

func (k *children) get(name Element) *entry {
	s := k.p
	if s == nil {
		return nil
	}
	if s.big != nil {
		return s.big.index.get(name)
	}
	if i, ok := s.search(name); ok {
		return s.small[i]
	}
	return nil
}

// insert adds c, whose name is not a child yet.
func (k *children) insert(c *entry) {
	if k.p == nil {
		k.p = &kidSet{}
	}
	s := k.p
	if b := s.big; b != nil {
		b.t.ReplaceOrInsert(c)
		b.index.insert(c)
		return
	}
	i, _ := s.search(c.name())
	s.small = slices.Insert(s.small, i, c)
	if len(s.small) > smallKids {
		b := &bigKids{t: btree.NewWithFreeListG(kidsDegree, lessKid, kidsFree)}
		b.index.grow(len(s.small))
		for _, x := range s.small {
			b.t.ReplaceOrInsert(x)
			b.index.insert(x)
		}
		s.big, s.small = b, nil
	}
}

// remove deletes the child called name, if there is one.
func (k *children) remove(name Element) {
	s := k.p
	if s == nil {
		return
	}
	if b := s.big; b != nil {
		c := b.index.remove(name)
		if c == nil {
			return
		}
		b.t.Delete(c)
		if b.index.n < smallKids/4 {
			small := make([]*entry, 0, b.index.n)
			b.t.Ascend(func(c *entry) bool { small = append(small, c); return true })
			b.t.Clear(true)
			s.big, s.small = nil, small
		}
		return
	}
	if i, ok := s.search(name); ok {
		s.small = slices.Delete(s.small, i, i+1)
		if len(s.small) == 0 {
			k.p = nil
		}
	}
}

// ascend calls fn for the children in canonical order, from the first not before from
// (after from, if !inclusive; nil: from the first), until fn returns false; it returns false
// if fn stopped it. fn must not add or remove children of this entry.
func (k *children) ascend(from *Element, inclusive bool, fn func(*entry) bool) bool {
	s := k.p
	if s == nil {
		return true
	}
	if b := s.big; b != nil {
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
		pivot := b.index.get(*from)
		if pivot == nil {
			pivot = newEntry(*from, nil)
		} else if !inclusive {
			skip = pivot
		}
		b.t.AscendGreaterOrEqual(pivot, iter)
		return ok
	}
	i := 0
	if from != nil {
		var found bool
		if i, found = s.search(*from); found && !inclusive {
			i++
		}
	}
	for _, c := range s.small[i:] {
		if !fn(c) {
			return false
		}
	}
	return true
}
