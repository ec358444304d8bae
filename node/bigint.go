package node

import (
	"fmt"
	"math/big"
	"strings"
)

// BigIntExtType is the msgpack extension type DistKV's codec gives an integer of 2^64 or
// more: the payload is its magnitude, big-endian, in the fewest bytes.
const BigIntExtType = 2

// MaxBigIntBytes bounds a big integer element (2048 bits): its decimal form costs time
// quadratic in its length, and no real key needs more.
const MaxBigIntBytes = 256

// BigUint returns the integer element whose big-endian magnitude is mag. Values below 2^64 are
// the same element as Uint; leading zero bytes do not count.
func BigUint(mag []byte) (Element, error) {
	for len(mag) > 0 && mag[0] == 0 {
		mag = mag[1:]
	}
	if len(mag) > MaxBigIntBytes {
		return Element{}, fmt.Errorf("%w: integer of %d bytes, at most %d", ErrBadElement, len(mag), MaxBigIntBytes)
	}
	if len(mag) <= 8 {
		var u uint64
		for _, c := range mag {
			u = u<<8 | uint64(c)
		}
		return Uint(u), nil
	}
	return Element{kind: KindInt, huge: true, str: string(mag)}, nil
}

// IsHuge reports an integer of 2^64 or more; IntVal and UintVal do not hold it, BigVal does.
func (e Element) IsHuge() bool { return e.huge }

// BigVal returns an integer element's value, whatever its size; nil for other kinds.
func (e Element) BigVal() *big.Int {
	switch {
	case e.kind != KindInt:
		return nil
	case e.huge:
		return new(big.Int).SetBytes([]byte(e.str))
	case e.big:
		return new(big.Int).SetUint64(e.num)
	}
	return big.NewInt(e.IntVal())
}

// compareHuge orders two huge integers: their magnitudes have no leading zeros, so the longer
// is the larger, and equal lengths compare bytewise.
func compareHuge(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// bigElement converts a parsed integer to an element, refusing negatives below int64.
func bigElement(n *big.Int, s string) (Element, error) {
	if n.IsInt64() {
		return Int(n.Int64()), nil
	}
	if n.Sign() < 0 {
		return Element{}, fmt.Errorf("integer %s is below -2^63", s)
	}
	return BigUint(n.Bytes())
}
