package node

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// Canonical re-encodes a msgpack value so that equal values have equal bytes: integers and
// strings in their smallest form, float32 widened to float64, map pairs sorted by the
// canonical bytes of their keys, ext payloads kept as they are.
func Canonical(b []byte) ([]byte, error) {
	r := NewReader(b)
	out, err := r.canonical(nil, 0)
	if err == nil && r.Len() != 0 {
		err = wireErr("%d trailing bytes", r.Len())
	}
	return out, err
}

func (r *Reader) canonical(out []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, wireErr("nesting deeper than %d", maxDepth)
	}
	c, err := r.Peek()
	if err != nil {
		return nil, err
	}
	switch {
	case c&0xf0 == 0x90 || c == 0xdc || c == 0xdd:
		n, err := r.ArrayLen()
		if err != nil {
			return nil, err
		}
		out = AppendArrayLen(out, n)
		for i := 0; i < n; i++ {
			if out, err = r.canonical(out, depth+1); err != nil {
				return nil, err
			}
		}
		return out, nil
	case c&0xf0 == 0x80 || c == 0xde || c == 0xdf:
		n, err := r.MapLen()
		if err != nil {
			return nil, err
		}
		type pair struct{ k, v []byte }
		pairs := make([]pair, n)
		for i := range pairs {
			if pairs[i].k, err = r.canonical(nil, depth+1); err != nil {
				return nil, err
			}
			if pairs[i].v, err = r.canonical(nil, depth+1); err != nil {
				return nil, err
			}
		}
		slices.SortFunc(pairs, func(a, b pair) int { return bytes.Compare(a.k, b.k) })
		out = AppendMapLen(out, n)
		for _, p := range pairs {
			out = append(append(out, p.k...), p.v...)
		}
		return out, nil
	case c >= 0xd4 && c <= 0xd8, c >= 0xc7 && c <= 0xc9:
		t, p, err := r.ExtHeaderAndPayload()
		if err != nil {
			return nil, err
		}
		if t == BigIntExtType {
			// DistKV decodes it as an integer: equal to the same number in any form.
			if e, err := BigUint(p); err == nil {
				return AppendElement(out, e), nil
			}
		}
		return append(AppendExtHeader(out, t, len(p)), p...), nil
	case c == 0xca, c == 0xcb:
		bits, err := r.floatBits()
		if err != nil {
			return nil, err
		}
		if bits == 1<<63 {
			bits = 0 // -0.0 equals 0.0, as in Python and Go
		}
		return binary.BigEndian.AppendUint64(append(out, 0xcb), bits), nil
	}
	e, err := r.Element()
	if err != nil {
		return nil, err
	}
	return AppendElement(out, e), nil
}
