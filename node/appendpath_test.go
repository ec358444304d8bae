package node

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// TestAppendPathLen: AppendPath counts each element's encoding to write the ext header first;
// the count must match the encoding at every size boundary, or the path would not decode.
func TestAppendPathLen(t *testing.T) {
	huge, err := BigUint(bytes.Repeat([]byte{1}, 9))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := Float(1.5)
	els := []Element{Nil(), Bool(true), f, huge, Uint(math.MaxUint64)}
	for _, v := range []int64{0, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64,
		-1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64} {
		els = append(els, Int(v))
	}
	for _, n := range []int{0, 31, 32, 255, 256, 65535, 65536} {
		els = append(els, String(strings.Repeat("s", n)), BytesStr(strings.Repeat("b", n)))
	}
	for _, e := range els {
		if got, want := elementLen(e), len(AppendElement(nil, e)); got != want {
			t.Errorf("elementLen(%v) = %d, encoding is %d bytes", e, got, want)
		}
	}
	// Paths whose payload crosses the ext header's sizes (fixext, ext 8, ext 16, ext 32).
	for _, p := range []Path{{Int(1)}, {Int(1), Int(2)}, {String("abc")}, {String(strings.Repeat("x", 300))},
		{BytesStr(strings.Repeat("y", 70000))}, els} {
		got := AppendPath([]byte{0x90}, p)
		if want := appendPathVia([]byte{0x90}, nil, p); !bytes.Equal(got, want) {
			t.Errorf("AppendPath of %d elements differs from the payload-first encoding", len(p))
		}
		r := Reader{b: got[1:]}
		if back, err := r.Path(); err != nil || !back.Equal(p) || r.Len() != 0 {
			t.Errorf("path of %d elements does not decode: %v", len(p), err)
		}
	}
	p := Path{String("bench"), Int(12345)}
	buf := make([]byte, 0, 64)
	if a := testing.AllocsPerRun(100, func() { buf = AppendPath(buf[:0], p) }); a != 0 {
		t.Errorf("AppendPath into a buffer with room allocates %.0f times", a)
	}
}
