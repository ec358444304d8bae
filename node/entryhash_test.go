package node

import (
	"encoding/binary"
	"hash/fnv"
	"testing"
)

// oldEntryHash is entryHash as it was through hash/fnv: digests are compared across nodes, so
// the inline version must give the same bits.
func oldEntryHash(p Path, origin string, tick, tock uint64, value []byte) digest {
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

func TestEntryHashMatchesFNV(t *testing.T) {
	rng := newRng(12)
	for i := range 5000 {
		p := randPath(rng, 1+i%12) // long paths overflow the stack buffers
		o := randString(rng)
		v := randValue(rng, 3)
		tick, tock := rng.Uint64()>>1, rng.Uint64()>>1
		if got, want := entryHash(p, o, tick, tock, v), oldEntryHash(p, o, tick, tock, v); got != want {
			t.Fatalf("entryHash(%v, %q, %d, %d, %x) = %x, want %x", p, o, tick, tock, v, got, want)
		}
	}
}

func TestEntryHashAllocs(t *testing.T) {
	p := Path{String("kvload"), String("k00000001")}
	if a := testing.AllocsPerRun(100, func() { entryHash(p, "n1~1", 1, 2, memValue) }); a != 0 {
		t.Errorf("entryHash allocates %v times", a)
	}
}
