package node

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/zeebo/xxh3"
)

// refEntryHash is entryHash written plainly, over one heap buffer: the inline version (stack
// buffers, one-shot or streaming by size) must give the same bits.
func refEntryHash(p Path, origin string, tick, tock uint64, value []byte) digest {
	var buf []byte
	buf = AppendPath(buf, p)
	buf = AppendString(buf, origin)
	buf = binary.BigEndian.AppendUint64(buf, tick)
	buf = binary.BigEndian.AppendUint64(buf, tock)
	h := xxh3.Hash128(append(buf, value...))
	return digest{h.Hi, h.Lo}
}

func TestEntryHashMatchesReference(t *testing.T) {
	rng := newRng(12)
	for i := range 5000 {
		p := randPath(rng, 1+i%12) // long paths overflow the stack buffers
		o := randString(rng)
		v := randValue(rng, 3)
		if i%7 == 0 {
			v = bytes.Repeat([]byte{byte(i)}, rng.IntN(1200)) // both sides of the one-shot limit
		}
		tick, tock := rng.Uint64()>>1, rng.Uint64()>>1
		if got, want := entryHash(p, o, tick, tock, v), refEntryHash(p, o, tick, tock, v); got != want {
			t.Fatalf("entryHash(%v, %q, %d, %d, %x) = %x, want %x", p, o, tick, tock, v, got, want)
		}
	}
}

// TestEntryHashGolden pins the hash: nodes compare digests, so a change of its bits must come
// with a new DigestVersion (docs/housekeeping.md), never by accident.
func TestEntryHashGolden(t *testing.T) {
	big := bytes.Repeat([]byte("v"), 1000)
	for _, c := range []struct {
		p      Path
		origin string
		tick   uint64
		tock   uint64
		value  []byte
		want   string
	}{
		{Path{String("kvload"), String("k00000001")}, "n1~1", 1, 2, memValue, "abca33084fe5a709cff4b6dba1c12e5a"},
		{Path{}, "a", 0, 0, nil, "76bfd4c3924e3f54a0e6bb9e269183e9"},
		{Path{String("x"), Int(-7), Bytes([]byte{0, 1})}, "n3~12", 1 << 40, 1<<62 + 5, AppendBinString(nil, "hello"), "9d7e67be3f39bc2a1216e8f5aea884ce"},
		{Path{String("big")}, "n2~1", 99, 100, big, "269fa73e55c6b8519b96e562b49f2d73"},
	} {
		got := entryHash(c.p, c.origin, c.tick, c.tock, c.value)
		if s := fmt.Sprintf("%016x%016x", got[0], got[1]); s != c.want {
			t.Errorf("entryHash(%v, %q, %d, %d, %d bytes) = %s, want %s", c.p, c.origin, c.tick, c.tock, len(c.value), s, c.want)
		}
	}
}

func TestEntryHashAllocs(t *testing.T) {
	p := Path{String("kvload"), String("k00000001")}
	if a := testing.AllocsPerRun(100, func() { entryHash(p, "n1~1", 1, 2, memValue) }); a != 0 {
		t.Errorf("entryHash allocates %v times", a)
	}
}

func BenchmarkEntryHash(b *testing.B) {
	p := Path{String("kvload"), String("k00000001")}
	v256 := AppendBinString(nil, string(bytes.Repeat([]byte("x"), 253)))
	for _, c := range []struct {
		name  string
		value []byte
	}{{"16B", memValue}, {"256B", v256}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				entryHash(p, "n1~1", 123456, 987654321, c.value)
			}
		})
	}
}
