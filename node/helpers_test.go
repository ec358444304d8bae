package node

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Shared generators and helpers for the node tests. Every generator takes a seeded
// *rand.Rand so that a failure reproduces from its seed.

func newRng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) }

// mustFloat is Float for values known to be finite.
func mustFloat(f float64) Element {
	e, err := Float(f)
	if err != nil {
		panic(err)
	}
	return e
}

// Interesting strings for path elements: every character the string form treats specially,
// empty strings, words that look like typed elements, non-ASCII and control bytes.
var elemStrings = []string{
	"", "a", "b", "probe", ".", ":", " ", "_", "::", "..", "a.b", "a:b", "a b", ":t", "t", "f", "n", "e",
	"x1f", ":.", ":_", "._:", "42", "-7", "1.5", "True", "None", "'q'", "é", "日本", "\x00", "\n", "\x7f",
	"\xff\xfe", "trailing.", ".leading", "a..b", "end:",
}

func randString(rng *rand.Rand) string {
	if rng.IntN(3) > 0 {
		return elemStrings[rng.IntN(len(elemStrings))]
	}
	const alphabet = "ab.: _xyz09\x01\x80é"
	n := rng.IntN(8)
	var b []byte
	for i := 0; i < n; i++ {
		b = append(b, alphabet[rng.IntN(len(alphabet))])
	}
	return string(b)
}

var elemInts = []int64{0, 1, -1, 5, 42, -7, -32, -33, 127, 128, -128, -129, 255, 256, 32767, -32768, 65535, 65536,
	math.MaxInt32, math.MinInt32, math.MaxUint32, math.MaxInt64, math.MinInt64}

var elemFloats = []float64{0, 1, -1, 1.5, -1.5, 0.1, 100, 1e20, 1e21, 1e-7, 5e-324, math.MaxFloat64,
	-math.MaxFloat64, math.SmallestNonzeroFloat64, 123456.0, 1.0 / 3, math.Pi, 2.5e-5, 1e100}

// randElement returns an element of any kind, favouring boundary values.
func randElement(rng *rand.Rand) Element {
	switch rng.IntN(9) {
	case 0:
		return Nil()
	case 1:
		return Bool(rng.IntN(2) == 0)
	case 2:
		return Int(elemInts[rng.IntN(len(elemInts))])
	case 3:
		if rng.IntN(2) == 0 {
			return Int(int64(rng.Uint64()))
		}
		if rng.IntN(3) == 0 {
			// 2^64 and more (DistKV's ext type 2), 9 to 17 bytes of magnitude
			mag := make([]byte, 9+rng.IntN(9))
			for i := range mag {
				mag[i] = byte(rng.Uint32())
			}
			mag[0] |= 1
			e, _ := BigUint(mag)
			return e
		}
		return Uint(math.MaxInt64 + 1 + rng.Uint64N(math.MaxInt64))
	case 4:
		if rng.IntN(2) == 0 {
			return mustFloat(elemFloats[rng.IntN(len(elemFloats))])
		}
		for {
			f := math.Float64frombits(rng.Uint64())
			if e, err := Float(f); err == nil {
				return e
			}
		}
	case 5, 6:
		return String(randString(rng))
	case 7:
		return BytesStr(randString(rng)) // printable or not
	}
	b := make([]byte, rng.IntN(6))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return Bytes(b)
}

func randPath(rng *rand.Rand, maxLen int) Path {
	p := make(Path, rng.IntN(maxLen+1))
	for i := range p {
		p[i] = randElement(rng)
	}
	return p
}

// randValue returns the msgpack encoding of a random value (nested arrays and maps, every
// scalar format, ext values). Floats are finite.
func randValue(rng *rand.Rand, depth int) []byte {
	return appendRandValue(nil, rng, depth)
}

func appendRandValue(b []byte, rng *rand.Rand, depth int) []byte {
	k := rng.IntN(12)
	if depth <= 0 && k >= 9 {
		k = rng.IntN(9)
	}
	switch k {
	case 0:
		return AppendNil(b)
	case 1:
		return AppendBool(b, rng.IntN(2) == 0)
	case 2:
		return AppendInt(b, elemInts[rng.IntN(len(elemInts))])
	case 3:
		return AppendUint(b, rng.Uint64())
	case 4:
		return AppendFloat(b, elemFloats[rng.IntN(len(elemFloats))])
	case 5: // float32
		return append(b, 0xca, 0x3f, 0xc0, 0x00, 0x00) // 1.5
	case 6:
		return AppendString(b, randString(rng))
	case 7:
		return AppendBinString(b, randString(rng))
	case 8:
		p := make([]byte, rng.IntN(20))
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		return append(AppendExtHeader(b, int8(rng.IntN(256)-128), len(p)), p...)
	case 9:
		n := rng.IntN(4)
		b = AppendArrayLen(b, n)
		for i := 0; i < n; i++ {
			b = appendRandValue(b, rng, depth-1)
		}
		return b
	case 10:
		n := rng.IntN(4)
		b = AppendMapLen(b, n)
		for i := 0; i < n; i++ {
			b = AppendString(b, fmt.Sprint("k", i))
			b = appendRandValue(b, rng, depth-1)
		}
		return b
	}
	// a long string, to exercise str8/str16 headers
	return AppendString(b, string(bytes.Repeat([]byte("x"), rng.IntN(300))))
}

func randChain(rng *rand.Rand) Chain {
	n := rng.IntN(4)
	if n == 0 {
		return nil
	}
	c := make(Chain, n)
	for i := range c {
		c[i] = Link{Origin: fmt.Sprintf("o%d~%d", i, 1+rng.IntN(3)), Tick: 1 + rng.Uint64N(1<<40)}
	}
	return c
}

// randUpdate returns a random update as it would come off the wire (values of deletes are nil).
func randUpdate(rng *rand.Rand) *Update {
	u := &Update{
		Origin: []string{"a~1", "node-b~7", "é~2", "x"}[rng.IntN(4)],
		Tick:   1 + rng.Uint64N(1<<20),
		Tock:   rng.Uint64N(1 << 40),
		Ops:    make([]Op, rng.IntN(4)),
	}
	if rng.IntN(8) == 0 { // the whole 63-bit tick space
		u.Tick = 1 + rng.Uint64N(MaxTick)
		u.Tock = rng.Uint64N(MaxTick)
	}
	for i := range u.Ops {
		op := &u.Ops[i]
		op.Path = append(Path{randElement(rng)}, randPath(rng, 3)...) // ops never write the root
		if rng.IntN(4) == 0 {
			op.Delete = true
		} else {
			op.Value = randValue(rng, 3)
		}
		op.Chain = randChain(rng)
	}
	return u
}

// enc is the msgpack encoding of an int, for values in tests.
func enc(i int64) []byte { return AppendInt(nil, i) }

// sp builds a path from its string form or fails the test.
func sp(t testing.TB, s string) Path {
	t.Helper()
	p, err := ParsePath(s)
	if err != nil {
		t.Fatalf("ParsePath(%q): %v", s, err)
	}
	return p
}

// write performs one unconditional write and returns its update.
func write(t testing.TB, n *Node, p Path, v []byte) *Update {
	t.Helper()
	_, u, err := n.Write([]Change{{Path: p, Value: v}})
	if err != nil {
		t.Fatalf("Write %s: %v", p, err)
	}
	return u
}

// del deletes p and returns the update (nil when nothing was deleted).
func del(t testing.TB, n *Node, p Path) *Update {
	t.Helper()
	_, u, err := n.Write([]Change{{Path: p, Delete: true}})
	if err != nil {
		t.Fatalf("Delete %s: %v", p, err)
	}
	return u
}

// walkAll returns every entry of the tree, with Empty as given.
func walkAll(n *Node, empty bool) []Entry {
	var out []Entry
	n.Walk(Path{}, WalkOptions{MaxDepth: -1, Empty: empty}, func(e Entry) bool { out = append(out, e); return true })
	return out
}

func pathsOf(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Path.String()
	}
	return out
}

// single is a one-op update.
func single(origin string, tick, tock uint64, p Path, v []byte, chain Chain) *Update {
	op := Op{Path: p, Value: v, Chain: chain}
	if v == nil {
		op.Delete = true
	}
	return &Update{Origin: origin, Tick: tick, Tock: tock, Ops: []Op{op}}
}

func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := slices.Insert(slices.Clone(p), i, n-1)
			out = append(out, q)
		}
	}
	return out
}
