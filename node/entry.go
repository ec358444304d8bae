package node

import (
	"encoding/binary"
	"hash/fnv"
)

// entry is one node of the tree. An entry that was never written (has == false) only holds
// children or watches; it is removed once it holds neither.
type entry struct {
	name   Element
	parent *entry
	kids   children

	has     bool // written at least once: a value or a tombstone
	deleted bool
	value   []byte
	origin  *originState
	tick    uint64
	tock    uint64
	prev    Chain  // chain of the version this one replaced (the op's chain)
	same    *entry // next entry written by the same (origin, tick), for multi-op updates

	hash    digest // of this entry when live, else zero
	sub     digest // XOR of the hashes of the live entries of the subtree, this one included
	watches []*watch
}

// digest is a 128-bit XOR-combinable hash.
type digest [2]uint64

func (d *digest) xor(o digest) { d[0] ^= o[0]; d[1] ^= o[1] }

func (e *entry) live() bool { return e.has && !e.deleted }

func (e *entry) head() Link {
	if e.origin == nil {
		return Link{}
	}
	return Link{Origin: e.origin.name, Tick: e.tick}
}

// path rebuilds the entry's path by walking up to the root.
func (e *entry) path() Path {
	n := 0
	for x := e; x.parent != nil; x = x.parent {
		n++
	}
	p := make(Path, n)
	for x := e; x.parent != nil; x = x.parent {
		n--
		p[n] = x.name
	}
	return p
}

func (e *entry) child(name Element, create bool) *entry {
	if c := e.kids.get(name); c != nil || !create {
		return c
	}
	c := &entry{name: name, parent: e}
	e.kids.insert(c)
	return c
}

// prune removes e and its ancestors while they hold nothing.
func (e *entry) prune() {
	for x := e; x.parent != nil && !x.has && x.kids.len() == 0 && len(x.watches) == 0; x = x.parent {
		x.parent.kids.remove(x.name)
	}
}

// setHash replaces the entry's own hash and fixes the subtree digests up to the root.
func (e *entry) setHash(h digest) {
	delta := e.hash
	delta.xor(h)
	if delta == (digest{}) {
		return
	}
	e.hash = h
	for x := e; x != nil; x = x.parent {
		x.sub.xor(delta)
	}
}

// entryHash hashes what identifies a live entry's content on every node alike.
func entryHash(p Path, origin string, tick, tock uint64, value []byte) digest {
	h := fnv.New128a()
	var buf []byte
	buf = AppendPath(buf, p)
	buf = AppendString(buf, origin)
	buf = binary.BigEndian.AppendUint64(buf, tick)
	buf = binary.BigEndian.AppendUint64(buf, tock)
	h.Write(buf)
	h.Write(value)
	var s [16]byte
	sum := h.Sum(s[:0])
	return digest{binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:])}
}

// Entry is a read-only view of one entry, safe to keep after the node changes.
type Entry struct {
	Path    Path
	Value   []byte // raw msgpack; nil for a tombstone or an entry never written
	Deleted bool
	Origin  string
	Tick    uint64
	Tock    uint64
	Chain   Chain // the full chain: this version's link first
	HasData bool  // written at least once
}

// view copies e out. Values are shared: they are never modified in place.
func (e *entry) view(p Path, chainLen int) Entry {
	v := Entry{Path: p, HasData: e.has, Deleted: e.deleted, Tick: e.tick, Tock: e.tock}
	if e.origin != nil {
		v.Origin = e.origin.name
		v.Chain = extend(e.head(), e.prev, chainLen)
	}
	if e.live() {
		v.Value = e.value
	}
	return v
}
