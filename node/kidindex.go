package node

import (
	"hash/maphash"
	"math/bits"
)

// kidIndex finds a big directory's children by name. It is an open-addressing hash table
// (linear probing) of the children themselves: a slot is the child's pointer and one byte of
// its name's hash, 9 bytes, where a map from Element to child spends 41 (the 32-byte key, the
// pointer and a control byte) on a copy of the name the child already holds. A probe reads
// the byte first, so that it dereferences a child only when the byte matches (1 in 128 of the
// other children). Deletion shifts the following run back instead of leaving tombstones.
type kidIndex struct {
	tags  []uint8 // 0: empty slot; else 0x80 | the hash's top 7 bits
	slots []*entry
	n     int
}

var kidSeed = maphash.MakeSeed()

// hashName hashes an element; equal elements (==) hash alike.
func hashName(e Element) uint64 {
	h := maphash.String(kidSeed, e.str)
	x := e.num ^ uint64(e.kind)<<56 ^ b2u(e.big)<<61 ^ b2u(e.huge)<<62
	return h ^ (x * 0x9e3779b97f4a7c15) ^ (x >> 29)
}

func kidTag(h uint64) uint8 { return uint8(h>>57) | 0x80 }

// grow makes room for at least n children without a resize. The table is kept at most 3/4
// full, so that probe runs stay short.
func (x *kidIndex) grow(n int) {
	if size := tableFor(n); size > len(x.slots) {
		x.rehash(size)
	}
}

// tableFor returns the table size for n children: a power of two, at most 3/4 full.
func tableFor(n int) int {
	if n <= 6 {
		return 8
	}
	return 1 << bits.Len(uint(n*4/3))
}

// rehash moves the children into a table of size slots.
func (x *kidIndex) rehash(size int) {
	old := x.slots
	x.tags, x.slots, x.n = make([]uint8, size), make([]*entry, size), 0
	for _, c := range old {
		if c != nil {
			x.insert(c)
		}
	}
}

func (x *kidIndex) get(name Element) *entry {
	if i := x.find(name); i >= 0 {
		return x.slots[i]
	}
	return nil
}

// find returns the slot of the child called name, or -1.
func (x *kidIndex) find(name Element) int {
	if x.n == 0 {
		return -1
	}
	h := hashName(name)
	mask := uint64(len(x.slots) - 1)
	tag := kidTag(h)
	for i := h & mask; ; i = (i + 1) & mask {
		switch t := x.tags[i]; {
		case t == 0:
			return -1
		case t == tag && x.slots[i].name() == name:
			return int(i)
		}
	}
}

// insert adds c, whose name is not in the index.
func (x *kidIndex) insert(c *entry) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.grow(x.n + 1)
	}
	h := hashName(c.name())
	mask := uint64(len(x.slots) - 1)
	i := h & mask
	for x.tags[i] != 0 {
		i = (i + 1) & mask
	}
	x.tags[i], x.slots[i] = kidTag(h), c
	x.n++
}

// remove deletes the child called name and returns it (nil if there is none).
func (x *kidIndex) remove(name Element) *entry {
	f := x.find(name)
	if f < 0 {
		return nil
	}
	i, mask := uint64(f), uint64(len(x.slots)-1)
	c := x.slots[i]
	// Backward shift: move each later member of the run whose home slot is not between the
	// hole and it into the hole, until the run ends.
	for j := (i + 1) & mask; x.tags[j] != 0; j = (j + 1) & mask {
		home := hashName(x.slots[j].name()) & mask
		if (j-home)&mask >= (j-i)&mask {
			x.tags[i], x.slots[i] = x.tags[j], x.slots[j]
			i = j
		}
	}
	x.tags[i], x.slots[i] = 0, nil
	x.n--
	if len(x.slots) > 64 && x.n*8 < len(x.slots) { // a directory that shrank hands back the table
		x.rehash(tableFor(x.n))
	}
	return c
}
