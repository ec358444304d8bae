package node

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Kind is the type of a path element. The order of the constants is the canonical order of
// elements of different kinds; it is part of the get_tree output order and must not change.
type Kind uint8

const (
	KindNil Kind = iota
	KindBool
	KindInt // int64, uint64 above MaxInt64 (Element.IsUint), 2^64 and more (Element.IsHuge)
	KindFloat
	KindString
	KindBytes
)

func (k Kind) String() string {
	return [...]string{"nil", "bool", "int", "float", "string", "bytes"}[k]
}

// Element is one msgpack scalar of a path. It is comparable, so it can be a map key.
type Element struct {
	kind Kind
	big  bool   // KindInt holding a uint64 above MaxInt64
	huge bool   // KindInt of 2^64 or more: str holds its magnitude (bigint.go)
	num  uint64 // bool (0/1), int64 bits, uint64, or float64 bits
	str  string // string or bytes; a huge integer's big-endian magnitude
}

// ErrBadElement reports an element that cannot be part of a path.
var ErrBadElement = errors.New("node: bad path element")

func Nil() Element              { return Element{} }
func Bool(b bool) Element       { e := Element{kind: KindBool}; e.num = b2u(b); return e }
func Int(i int64) Element       { return Element{kind: KindInt, num: uint64(i)} }
func String(s string) Element   { return Element{kind: KindString, str: s} }
func Bytes(b []byte) Element    { return Element{kind: KindBytes, str: string(b)} }
func BytesStr(s string) Element { return Element{kind: KindBytes, str: s} }

// Uint returns an integer element; values up to MaxInt64 are the same element as Int.
func Uint(u uint64) Element {
	if u <= math.MaxInt64 {
		return Int(int64(u))
	}
	return Element{kind: KindInt, big: true, num: u}
}

// Float returns a float element. NaN and infinities are refused: they have no order or no
// stable string form. -0 is stored as 0 so that the two are one element.
func Float(f float64) (Element, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Element{}, fmt.Errorf("%w: float %v", ErrBadElement, f)
	}
	if f == 0 {
		f = 0
	}
	return Element{kind: KindFloat, num: math.Float64bits(f)}, nil
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func (e Element) Kind() Kind        { return e.kind }
func (e Element) BoolVal() bool     { return e.num != 0 }
func (e Element) IntVal() int64     { return int64(e.num) }
func (e Element) IsUint() bool      { return e.big }
func (e Element) UintVal() uint64   { return e.num }
func (e Element) FloatVal() float64 { return math.Float64frombits(e.num) }
func (e Element) StrVal() string    { return e.str }

// Value returns the element as a plain Go value: nil, bool, int64, uint64, *big.Int (2^64 and
// more), float64, string or []byte.
func (e Element) Value() any {
	switch e.kind {
	case KindBool:
		return e.BoolVal()
	case KindInt:
		if e.huge {
			return e.BigVal()
		}
		if e.big {
			return e.num
		}
		return e.IntVal()
	case KindFloat:
		return e.FloatVal()
	case KindString:
		return e.str
	case KindBytes:
		return []byte(e.str)
	}
	return nil
}

// Compare orders elements canonically: by kind, then by value.
func Compare(a, b Element) int {
	if a.kind != b.kind {
		return cmp.Compare(a.kind, b.kind)
	}
	switch a.kind {
	case KindBool:
		return cmp.Compare(a.num, b.num)
	case KindInt:
		// Numeric order: huge (2^64 and more) above uint64 above int64.
		switch {
		case a.huge && b.huge:
			return compareHuge(a.str, b.str)
		case a.huge:
			return 1
		case b.huge:
			return -1
		case a.big && b.big:
			return cmp.Compare(a.num, b.num)
		case a.big:
			return 1
		case b.big:
			return -1
		}
		return cmp.Compare(int64(a.num), int64(b.num))
	case KindFloat:
		return cmp.Compare(a.FloatVal(), b.FloatVal())
	case KindString, KindBytes:
		return strings.Compare(a.str, b.str)
	}
	return 0
}

// Path is a list of elements addressing an entry. The empty path is the root.
type Path []Element

// ComparePaths orders paths element by element; a prefix sorts first.
func ComparePaths(a, b Path) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// Equal reports whether two paths are the same.
func (p Path) Equal(q Path) bool {
	if len(p) != len(q) {
		return false
	}
	for i := range p {
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

// HasPrefix reports whether q is a prefix of p.
func (p Path) HasPrefix(q Path) bool {
	return len(q) <= len(p) && p[:len(q)].Equal(q)
}

// Append returns a new path with the elements added; p is not modified.
func (p Path) Append(e ...Element) Path {
	r := make(Path, 0, len(p)+len(e))
	return append(append(r, p...), e...)
}

// Clone returns a copy that shares no memory with p.
func (p Path) Clone() Path { return append(Path(nil), p...) }

// Key returns the path's canonical binary encoding as a string, usable as a map key and equal
// for equal paths.
func (p Path) Key() string {
	var b bytes.Buffer
	for _, e := range p {
		appendElement(&b, e)
	}
	return b.String()
}

// StringPath builds a path of string elements.
func StringPath(elems ...string) Path {
	p := make(Path, len(elems))
	for i, s := range elems {
		p[i] = String(s)
	}
	return p
}
