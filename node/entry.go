package node

import (
	"encoding/binary"

	"github.com/zeebo/xxh3"
)

// entry is one node of the tree. An entry that was never written (has == false) only holds
// children or watches; it is removed once it holds neither.
type entry struct {
	// The name, an Element held field by field (see name), so that its kind and flags share a
	// word with has and deleted: as an Element, its 5 bytes of padding and the entry's 6 would
	// take the entry from the 144-byte size class to the 160-byte one.
	nameStr  string
	nameNum  uint64
	nameKind Kind
	nameBig  bool
	nameHuge bool
	has      bool // written at least once: a value or a tombstone
	deleted  bool

	parent *entry
	kids   children
	value  []byte
	origin *originState
	tick   uint64
	tock   uint64
	prev   Chain  // chain of the version this one replaced (the op's chain)
	hash   digest // of this entry when live, else zero
	x      *rare  // nil for most entries
}

func newEntry(name Element, parent *entry) *entry {
	return &entry{nameStr: name.str, nameNum: name.num, nameKind: name.kind, nameBig: name.big, nameHuge: name.huge, parent: parent}
}

// name returns the entry's name in its parent.
func (e *entry) name() Element {
	return Element{kind: e.nameKind, big: e.nameBig, huge: e.nameHuge, num: e.nameNum, str: e.nameStr}
}

// rare holds what few entries need, so that the common entry (a leaf with no watch, the only
// entry of its update) stays small.
type rare struct {
	same    *entry // next entry written by the same (origin, tick), for multi-op updates
	watches []*watch
	// sub is the XOR of the hashes of the live entries of the subtree, this one included, once
	// inner: an entry below was live. Until then the subtree digest is the entry's own hash.
	sub   digest
	inner bool
}

// ext returns e's rare fields, adding them.
func (e *entry) ext() *rare {
	if e.x == nil {
		e.x = &rare{}
	}
	return e.x
}

// trim drops the rare fields once none is in use.
func (e *entry) trim() {
	if x := e.x; x != nil && x.same == nil && len(x.watches) == 0 && !x.inner {
		e.x = nil
	}
}

// subDigest is the XOR of the hashes of the live entries of e's subtree, e included.
func (e *entry) subDigest() digest {
	if e.x != nil && e.x.inner {
		return e.x.sub
	}
	return e.hash
}

func (e *entry) same() *entry {
	if e.x == nil {
		return nil
	}
	return e.x.same
}

func (e *entry) setSame(s *entry) {
	if s != nil {
		e.ext().same = s
	} else if e.x != nil {
		e.x.same = nil
		e.trim()
	}
}

func (e *entry) watches() []*watch {
	if e.x == nil {
		return nil
	}
	return e.x.watches
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
		p[n] = x.name()
	}
	return p
}

func (e *entry) child(name Element, create bool) *entry {
	if c := e.kids.get(name); c != nil || !create {
		return c
	}
	c := newEntry(name, e)
	e.kids.insert(c)
	return c
}

// prune removes e and its ancestors while they hold nothing.
func (e *entry) prune() {
	for x := e; x.parent != nil && !x.has && x.kids.len() == 0 && len(x.watches()) == 0; x = x.parent {
		x.parent.kids.remove(x.name())
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
	if e.x != nil && e.x.inner {
		e.x.sub.xor(delta)
	}
	for x := e.parent; x != nil; x = x.parent {
		r := x.ext()
		if !r.inner {
			r.sub, r.inner = x.hash, true // no entry below contributed before this one
		}
		r.sub.xor(delta)
	}
}

// entryHash hashes what identifies a live entry's content on every node alike: XXH3-128 of
// the path's, origin's and ticks' encoding and the value (hash version DigestVersion). It runs
// on every write and load, so it encodes into a stack buffer and, when the value fits there
// too, hashes in one call; the streaming hasher gives the same bits for a longer value.
func entryHash(p Path, origin string, tick, tock uint64, value []byte) digest {
	var pb, hb [512]byte
	buf := appendPathVia(hb[:0], pb[:0], p)
	buf = AppendString(buf, origin)
	buf = binary.BigEndian.AppendUint64(buf, tick)
	buf = binary.BigEndian.AppendUint64(buf, tock)
	var h xxh3.Uint128
	if len(buf)+len(value) <= len(hb) {
		h = xxh3.Hash128(append(buf, value...))
	} else {
		var x xxh3.Hasher
		x.Write(buf)
		x.Write(value)
		h = x.Sum128()
	}
	return digest{h.Hi, h.Lo}
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
func (e *entry) view(p Path, chainLen int) Entry { return e.viewInto(p, chainLen, nil) }

// viewInto is view with the chain in room's backing if it fits.
func (e *entry) viewInto(p Path, chainLen int, room Chain) Entry {
	v := Entry{Path: p, HasData: e.has, Deleted: e.deleted, Tick: e.tick, Tock: e.tock}
	if e.origin != nil {
		v.Origin = e.origin.name
		v.Chain = extendInto(room, e.head(), e.prev, chainLen)
	}
	if e.live() {
		v.Value = e.value
	}
	return v
}
