package node

import (
	"encoding/binary"
	"math"
)

// Reader decodes msgpack from a byte slice. Every count is checked against what is left, so
// decoding a hostile slice allocates at most in proportion to its length.
type Reader struct {
	b   []byte
	off int
	// The last update origin and path read: strings equal to theirs are shared, not allocated
	// again (a batch or a snapshot holds runs of paths under one parent, from one origin).
	// Strings never change, so sharing them is safe.
	origin string
	last   Path
	// While batch (Updates), blocks the updates' structs, op lists and paths are carved from.
	batch bool
	left  int // updates of the batch not read yet, this one included: how big a block to cut
	ups   []Update
	ops   []Op
	elems []Element
}

// NewReader returns a reader over b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Reset makes r read b from its start, keeping the strings it can share (see Reader).
func (r *Reader) Reset(b []byte) { r.b, r.off = b, 0 }

// Len returns the number of unread bytes.
func (r *Reader) Len() int { return len(r.b) - r.off }

// Offset returns the number of bytes consumed.
func (r *Reader) Offset() int { return r.off }

func (r *Reader) need(n int) error {
	if n < 0 || r.Len() < n {
		return wireErr("truncated at offset %d", r.off)
	}
	return nil
}

// Peek returns the next format byte without consuming it.
func (r *Reader) Peek() (byte, error) {
	if err := r.need(1); err != nil {
		return 0, err
	}
	return r.b[r.off], nil
}

func (r *Reader) byte1() (byte, error) {
	if err := r.need(1); err != nil {
		return 0, err
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *Reader) take(n int) ([]byte, error) {
	if err := r.need(n); err != nil {
		return nil, err
	}
	s := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return s, nil
}

func (r *Reader) uintN(n int) (uint64, error) {
	s, err := r.take(n)
	if err != nil {
		return 0, err
	}
	switch n {
	case 1:
		return uint64(s[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(s)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(s)), nil
	}
	return binary.BigEndian.Uint64(s), nil
}

// IsNil consumes a nil if one is next.
func (r *Reader) IsNil() bool {
	if r.Len() > 0 && r.b[r.off] == 0xc0 {
		r.off++
		return true
	}
	return false
}

// ArrayLen reads an array header. Each element takes at least one byte, so a count larger
// than what is left is refused.
func (r *Reader) ArrayLen() (int, error) {
	c, err := r.byte1()
	if err != nil {
		return 0, err
	}
	var n uint64
	switch {
	case c&0xf0 == 0x90:
		n = uint64(c & 0x0f)
	case c == 0xdc:
		n, err = r.uintN(2)
	case c == 0xdd:
		n, err = r.uintN(4)
	default:
		return 0, wireErr("want array, got 0x%02x at offset %d", c, r.off-1)
	}
	if err != nil {
		return 0, err
	}
	if n > uint64(r.Len()) {
		return 0, wireErr("array of %d elements in %d bytes", n, r.Len())
	}
	return int(n), nil
}

// MapLen reads a map header, refusing counts larger than what is left allows.
func (r *Reader) MapLen() (int, error) {
	c, err := r.byte1()
	if err != nil {
		return 0, err
	}
	var n uint64
	switch {
	case c&0xf0 == 0x80:
		n = uint64(c & 0x0f)
	case c == 0xde:
		n, err = r.uintN(2)
	case c == 0xdf:
		n, err = r.uintN(4)
	default:
		return 0, wireErr("want map, got 0x%02x at offset %d", c, r.off-1)
	}
	if err != nil {
		return 0, err
	}
	if 2*n > uint64(r.Len()) {
		return 0, wireErr("map of %d pairs in %d bytes", n, r.Len())
	}
	return int(n), nil
}

// Uint reads a non-negative integer of any width.
func (r *Reader) Uint() (uint64, error) {
	e, err := r.Element()
	if err != nil {
		return 0, err
	}
	if e.kind != KindInt || e.huge || (!e.big && e.IntVal() < 0) {
		return 0, wireErr("want unsigned integer, got %s", e.kind)
	}
	return e.num, nil
}

// Int reads a signed integer that fits int64.
func (r *Reader) Int() (int64, error) {
	e, err := r.Element()
	if err != nil {
		return 0, err
	}
	if e.kind != KindInt || e.big || e.huge {
		return 0, wireErr("want integer, got %s", e.kind)
	}
	return e.IntVal(), nil
}

// Str reads a string (str or bin format).
func (r *Reader) Str() (string, error) {
	e, err := r.Element()
	if err != nil {
		return "", err
	}
	if e.kind != KindString && e.kind != KindBytes {
		return "", wireErr("want string, got %s", e.kind)
	}
	return e.str, nil
}

// Bool reads a boolean.
func (r *Reader) Bool() (bool, error) {
	e, err := r.Element()
	if err != nil {
		return false, err
	}
	if e.kind != KindBool {
		return false, wireErr("want bool, got %s", e.kind)
	}
	return e.BoolVal(), nil
}

// Element reads one msgpack scalar as a path element.
func (r *Reader) Element() (Element, error) { return r.elementLike(nil) }

// strLike reads a string like Str, returning like itself, not a copy, when it is equal.
func (r *Reader) strLike(like string) (string, error) {
	e, err := r.elementLike(&Element{kind: KindString, str: like})
	if err != nil {
		return "", err
	}
	if e.kind != KindString && e.kind != KindBytes {
		return "", wireErr("want string, got %s", e.kind)
	}
	return e.str, nil
}

// strElement returns an element of kind k holding s, or *like if that is the same element.
// The comparison does not allocate; only a string that differs is copied out of the input.
func strElement(k Kind, s []byte, like *Element) Element {
	if like != nil && like.kind == k && like.str == string(s) {
		return *like
	}
	return Element{kind: k, str: string(s)}
}

// elementLike reads one path element like Element; a string or bytes element equal to *like
// (if like is not nil) is returned as *like, sharing its string.
func (r *Reader) elementLike(like *Element) (Element, error) {
	c, err := r.byte1()
	if err != nil {
		return Element{}, err
	}
	switch {
	case c <= 0x7f:
		return Int(int64(c)), nil
	case c >= 0xe0:
		return Int(int64(int8(c))), nil
	case c&0xe0 == 0xa0:
		s, err := r.take(int(c & 0x1f))
		if err != nil {
			return Element{}, err
		}
		return strElement(KindString, s, like), nil
	}
	switch c {
	case 0xc0:
		return Nil(), nil
	case 0xc2, 0xc3:
		return Bool(c == 0xc3), nil
	case 0xcc, 0xcd, 0xce, 0xcf:
		v, err := r.uintN(1 << (c - 0xcc))
		return Uint(v), err
	case 0xd0, 0xd1, 0xd2, 0xd3:
		n := 1 << (c - 0xd0)
		v, err := r.uintN(n)
		shift := 64 - 8*n
		return Int(int64(v<<shift) >> shift), err
	case 0xca:
		v, err := r.uintN(4)
		if err != nil {
			return Element{}, err
		}
		return Float(float64(math.Float32frombits(uint32(v))))
	case 0xcb:
		v, err := r.uintN(8)
		if err != nil {
			return Element{}, err
		}
		return Float(math.Float64frombits(v))
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xc7, 0xc8, 0xc9:
		// An ext is an element only as DistKV's big integer (ext type 2).
		r.off--
		t, p, err := r.ExtHeaderAndPayload()
		if err != nil {
			return Element{}, err
		}
		if t != BigIntExtType {
			return Element{}, wireErr("ext type %d is not a scalar path element", t)
		}
		return BigUint(p)
	case 0xd9, 0xda, 0xdb, 0xc4, 0xc5, 0xc6:
		s, err := r.strBody(c)
		if err != nil {
			return Element{}, err
		}
		if c >= 0xd9 {
			return strElement(KindString, s, like), nil
		}
		return strElement(KindBytes, s, like), nil
	}
	return Element{}, wireErr("0x%02x at offset %d is not a scalar path element", c, r.off-1)
}

// Raw reads one complete msgpack value of any type and returns its bytes (a sub-slice of the
// input, not a copy).
func (r *Reader) Raw() ([]byte, error) {
	start := r.off
	if err := r.skip(0); err != nil {
		return nil, err
	}
	return r.b[start:r.off:r.off], nil
}

const maxDepth = 64

func (r *Reader) skip(depth int) error {
	if depth > maxDepth {
		return wireErr("nesting deeper than %d", maxDepth)
	}
	c, err := r.Peek()
	if err != nil {
		return err
	}
	switch {
	case c&0xf0 == 0x90 || c == 0xdc || c == 0xdd:
		n, err := r.ArrayLen()
		for i := 0; err == nil && i < n; i++ {
			err = r.skip(depth + 1)
		}
		return err
	case c&0xf0 == 0x80 || c == 0xde || c == 0xdf:
		n, err := r.MapLen()
		for i := 0; err == nil && i < 2*n; i++ {
			err = r.skip(depth + 1)
		}
		return err
	case c >= 0xd4 && c <= 0xd8, c >= 0xc7 && c <= 0xc9:
		_, _, err := r.ExtHeaderAndPayload()
		return err
	case c == 0xc1:
		return wireErr("never-used byte 0xc1 at offset %d", r.off)
	case c == 0xca, c == 0xcb:
		// Any float is a valid value, NaN and infinities included; only paths refuse them.
		_, err = r.floatBits()
		return err
	case c&0xe0 == 0xa0, c >= 0xd9 && c <= 0xdb, c >= 0xc4 && c <= 0xc6:
		return r.skipStr() // without copying it out, as Element would
	}
	_, err = r.Element()
	return err
}

// skipStr consumes a str or bin value.
func (r *Reader) skipStr() error {
	c, err := r.byte1()
	if err != nil {
		return err
	}
	_, err = r.strBody(c)
	return err
}

// strBody reads the bytes of the str or bin value whose first byte, c, was read.
func (r *Reader) strBody(c byte) ([]byte, error) {
	var w int
	switch c {
	case 0xd9, 0xc4:
		w = 1
	case 0xda, 0xc5:
		w = 2
	case 0xdb, 0xc6:
		w = 4
	default: // fixstr
		return r.take(int(c & 0x1f))
	}
	n, err := r.uintN(w)
	if err != nil {
		return nil, err
	}
	if n > uint64(r.Len()) {
		return nil, wireErr("string of %d bytes in %d", n, r.Len())
	}
	return r.take(int(n))
}

// floatBits reads a float32 or float64 and returns it widened to float64 bits, unchecked.
func (r *Reader) floatBits() (uint64, error) {
	c, err := r.byte1()
	if err != nil {
		return 0, err
	}
	if c == 0xca {
		v, err := r.uintN(4)
		return math.Float64bits(float64(math.Float32frombits(uint32(v)))), err
	}
	if c != 0xcb {
		return 0, wireErr("want float, got 0x%02x", c)
	}
	return r.uintN(8)
}

// ExtHeaderAndPayload reads an ext value and returns its type and payload.
func (r *Reader) ExtHeaderAndPayload() (int8, []byte, error) {
	c, err := r.byte1()
	if err != nil {
		return 0, nil, err
	}
	var n uint64
	switch c {
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		n = 1 << (c - 0xd4)
	case 0xc7, 0xc8, 0xc9:
		n, err = r.uintN(1 << (c - 0xc7))
		if err != nil {
			return 0, nil, err
		}
	default:
		return 0, nil, wireErr("want ext, got 0x%02x", c)
	}
	t, err := r.byte1()
	if err != nil {
		return 0, nil, err
	}
	if n > uint64(r.Len()) {
		return 0, nil, wireErr("ext of %d bytes in %d", n, r.Len())
	}
	p, err := r.take(int(n))
	return int8(t), p, err
}

// MaxPathLen bounds the elements of a path read from the wire: a deep path costs memory and
// lock time on every node, so a hostile one is refused before it is built.
const MaxPathLen = 1024

// Path reads a path in either wire form: ext type 3 (DistKV's codec) or an array of scalars.
func (r *Reader) Path() (Path, error) { return r.pathInto(nil) }

// PathLike is Path, with element i sharing its string with like[i] when they are equal (a
// reader of many similar paths passes the last one), where Path shares with the last path
// this reader read.
func (r *Reader) PathLike(like Path) (Path, error) {
	r.last = like
	return r.pathInto(nil)
}

// pathInto reads a path into dst's backing (its length is ignored; nil: a new slice). Element
// i shares its string with element i of the last path read when they are equal.
func (r *Reader) pathInto(dst Path) (Path, error) {
	c, err := r.Peek()
	if err != nil {
		return nil, err
	}
	like := r.last
	if c&0xf0 == 0x90 || c == 0xdc || c == 0xdd {
		n, err := r.ArrayLen()
		if err != nil {
			return nil, err
		}
		if n > MaxPathLen {
			return nil, wireErr("path of %d elements, at most %d", n, MaxPathLen)
		}
		p := dst[:0]
		if cap(p) < n {
			p = make(Path, 0, n)
		}
		for i := range n {
			// Element i of like is read before p[i] is written, so dst may be like's backing.
			e, err := r.elementLike(elemAt(like, i))
			if err != nil {
				return nil, err
			}
			p = append(p, e)
		}
		r.last = p
		return p, nil
	}
	t, payload, err := r.ExtHeaderAndPayload()
	if err != nil {
		return nil, wireErr("path: %v", err)
	}
	if t != PathExtType {
		return nil, wireErr("path: ext type %d, want %d", t, PathExtType)
	}
	sub := Reader{b: payload}
	p := dst[:0]
	if p == nil {
		p = make(Path, 0, min(len(payload), 4)) // an element takes a byte at least
	}
	for sub.Len() > 0 {
		if len(p) == MaxPathLen {
			return nil, wireErr("path of more than %d elements", MaxPathLen)
		}
		e, err := sub.elementLike(elemAt(like, len(p)))
		if err != nil {
			return nil, err
		}
		p = append(p, e)
	}
	r.last = p
	return p, nil
}

func elemAt(p Path, i int) *Element {
	if i < len(p) {
		return &p[i]
	}
	return nil
}

// ParseElement decodes a single msgpack scalar that must fill b.
func ParseElement(b []byte) (Element, error) {
	r := NewReader(b)
	e, err := r.Element()
	if err == nil && r.Len() != 0 {
		err = wireErr("%d trailing bytes after element", r.Len())
	}
	return e, err
}

// ParsePathBytes decodes a msgpack path (ext 3 or array) that must fill b.
func ParsePathBytes(b []byte) (Path, error) {
	r := NewReader(b)
	p, err := r.Path()
	if err == nil && r.Len() != 0 {
		err = wireErr("%d trailing bytes after path", r.Len())
	}
	return p, err
}

// TickMap reads a map from origin to tick, {origin: uint}.
func (r *Reader) TickMap() (map[string]uint64, error) {
	n, err := r.MapLen()
	if err != nil {
		return nil, err
	}
	m := make(map[string]uint64, min(n, 1024))
	for i := 0; i < n; i++ {
		k, err := r.Str()
		if err != nil {
			return nil, err
		}
		if m[k], err = r.Uint(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// VectorMap reads a map from origin to range set, {origin: rangeset}.
func (r *Reader) VectorMap() (map[string]RangeSet, error) {
	n, err := r.MapLen()
	if err != nil {
		return nil, err
	}
	m := make(map[string]RangeSet, min(n, 1024))
	for i := 0; i < n; i++ {
		k, err := r.Str()
		if err != nil {
			return nil, err
		}
		if m[k], err = r.RangeSet(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// StringField returns the string value of key in the msgpack map b.
func StringField(b []byte, key string) (string, bool) {
	r := NewReader(b)
	n, err := r.MapLen()
	if err != nil {
		return "", false
	}
	for i := 0; i < n; i++ {
		k, err := r.Str()
		if err != nil {
			return "", false
		}
		if k == key {
			s, err := r.Str()
			return s, err == nil
		}
		if _, err := r.Raw(); err != nil {
			return "", false
		}
	}
	return "", false
}
