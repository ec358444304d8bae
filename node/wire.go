package node

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// A small hand-written msgpack codec for the node's own types (paths, updates, range sets).
// It appends to byte slices, never reflects, and its reader checks every length and count
// against the bytes that are really left, so hostile input cannot make it allocate.

// ErrWire reports bytes that do not decode as the expected msgpack structure.
var ErrWire = errors.New("node: malformed msgpack")

func wireErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrWire}, a...)...)
}

// AppendNil and friends append msgpack encodings to b.
func AppendNil(b []byte) []byte { return append(b, 0xc0) }

func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 0xc3)
	}
	return append(b, 0xc2)
}

func AppendUint(b []byte, v uint64) []byte {
	switch {
	case v < 128:
		return append(b, byte(v))
	case v <= math.MaxUint8:
		return append(b, 0xcc, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
}

func AppendInt(b []byte, v int64) []byte {
	if v >= 0 {
		return AppendUint(b, uint64(v))
	}
	switch {
	case v >= -32:
		return append(b, byte(v))
	case v >= math.MinInt8:
		return append(b, 0xd0, byte(v))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
}

func AppendFloat(b []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(f))
}

func AppendString(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

func AppendBinString(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n <= math.MaxUint8:
		b = append(b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xc5), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
	}
	return append(b, s...)
}

func AppendArrayLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
}

func AppendMapLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdf), uint32(n))
}

// AppendExtHeader appends the header of an ext value of type typ with n payload bytes.
func AppendExtHeader(b []byte, typ int8, n int) []byte {
	switch n {
	case 1:
		return append(b, 0xd4, byte(typ))
	case 2:
		return append(b, 0xd5, byte(typ))
	case 4:
		return append(b, 0xd6, byte(typ))
	case 8:
		return append(b, 0xd7, byte(typ))
	case 16:
		return append(b, 0xd8, byte(typ))
	}
	switch {
	case n <= math.MaxUint8:
		return append(b, 0xc7, byte(n), byte(typ))
	case n <= math.MaxUint16:
		return append(binary.BigEndian.AppendUint16(append(b, 0xc8), uint16(n)), byte(typ))
	}
	return append(binary.BigEndian.AppendUint32(append(b, 0xc9), uint32(n)), byte(typ))
}

func appendElement(b *bytes.Buffer, e Element) { b.Write(AppendElement(nil, e)) }

// AppendElement appends the msgpack encoding of e (the smallest encoding of its value).
func AppendElement(b []byte, e Element) []byte {
	switch e.kind {
	case KindBool:
		return AppendBool(b, e.BoolVal())
	case KindInt:
		if e.huge {
			return append(AppendExtHeader(b, BigIntExtType, len(e.str)), e.str...)
		}
		if e.big {
			return AppendUint(b, e.num)
		}
		return AppendInt(b, e.IntVal())
	case KindFloat:
		return AppendFloat(b, e.FloatVal())
	case KindString:
		return AppendString(b, e.str)
	case KindBytes:
		return AppendBinString(b, e.str)
	}
	return AppendNil(b)
}

// PathExtType is the msgpack extension type of a path, as in DistKV.
const PathExtType = 3

// AppendPath appends p as msgpack ext type 3 whose payload is the concatenated element encodings.
// The payload's length is counted first, so that it is encoded in place, not in a scratch slice.
func AppendPath(b []byte, p Path) []byte {
	n := 0
	for _, e := range p {
		n += elementLen(e)
	}
	b = AppendExtHeader(b, PathExtType, n)
	for _, e := range p {
		b = AppendElement(b, e)
	}
	return b
}

// elementLen is the length of AppendElement's encoding of e.
func elementLen(e Element) int {
	switch e.kind {
	case KindBool:
		return 1
	case KindInt:
		switch {
		case e.huge:
			return extHeaderLen(len(e.str)) + len(e.str)
		case e.big:
			return 9
		}
		return intLen(e.IntVal())
	case KindFloat:
		return 9
	case KindString:
		return strHeaderLen(len(e.str)) + len(e.str)
	case KindBytes:
		return binHeaderLen(len(e.str)) + len(e.str)
	}
	return 1
}

func intLen(v int64) int {
	switch {
	case v >= -32 && v < 128:
		return 1
	case v >= math.MinInt8 && v <= math.MaxUint8:
		return 2
	case v >= math.MinInt16 && v <= math.MaxUint16:
		return 3
	case v >= math.MinInt32 && v <= math.MaxUint32:
		return 5
	}
	return 9
}

func strHeaderLen(n int) int {
	switch {
	case n < 32:
		return 1
	case n <= math.MaxUint8:
		return 2
	case n <= math.MaxUint16:
		return 3
	}
	return 5
}

func binHeaderLen(n int) int {
	switch {
	case n <= math.MaxUint8:
		return 2
	case n <= math.MaxUint16:
		return 3
	}
	return 5
}

func extHeaderLen(n int) int {
	switch {
	case n == 1 || n == 2 || n == 4 || n == 8 || n == 16:
		return 2
	case n <= math.MaxUint8:
		return 3
	case n <= math.MaxUint16:
		return 4
	}
	return 6
}

// appendPathVia is AppendPath encoding the payload into scratch's backing first (the header
// before it depends on its length), so that a caller with a stack buffer allocates nothing.
func appendPathVia(b, scratch []byte, p Path) []byte {
	payload := scratch[:0]
	for _, e := range p {
		payload = AppendElement(payload, e)
	}
	return append(AppendExtHeader(b, PathExtType, len(payload)), payload...)
}
