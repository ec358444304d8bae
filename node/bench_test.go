package node

import (
	"bytes"
	"fmt"
	"testing"
)

const benchPaths = 10000

func benchPathList() []Path {
	ps := make([]Path, benchPaths)
	for i := range ps {
		ps[i] = Path{String("bench"), String(fmt.Sprintf("dir%02d", i%100)), Int(int64(i))}
	}
	return ps
}

// benchValue is a 256-byte msgpack value (a bin 8 of 254 bytes).
var benchValue = AppendBinString(nil, string(bytes.Repeat([]byte{0x5a}, 254)))

// BenchmarkWrite: single-op writes of a 256-byte value over 10k paths (replacing existing
// versions after the first round), effects drained as the server would.
func BenchmarkWrite(b *testing.B) {
	if len(benchValue) != 256 {
		b.Fatalf("value is %d bytes", len(benchValue))
	}
	ps := benchPathList()
	n := New(Config{Origin: "bench~1"})
	ch := make([]Change, 1)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchValue)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ch[0] = Change{Path: ps[i%benchPaths], Value: benchValue}
		if _, _, err := n.Write(ch); err != nil {
			b.Fatal(err)
		}
		n.Ready()
	}
}

// BenchmarkApply: remote single-op updates from 4 origins over 10k paths.
func BenchmarkApply(b *testing.B) {
	ps := benchPathList()
	origins := []string{"a~1", "b~1", "c~1", "d~1"}
	ups := make([]*Update, b.N)
	for i := range ups {
		o := i % len(origins)
		ups[i] = single(origins[o], uint64(i/len(origins)+1), uint64(i+1), ps[i%benchPaths], benchValue, nil)
	}
	n := New(Config{Origin: "bench~1"})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n.Apply(ups[i])
		if i%64 == 0 {
			n.Ready()
		}
	}
}

// BenchmarkLookup: lookups of existing entries in a tree of 10k paths.
func BenchmarkLookup(b *testing.B) {
	ps := benchPathList()
	n := New(Config{Origin: "bench~1"})
	for _, p := range ps {
		if _, _, err := n.Write([]Change{{Path: p, Value: benchValue}}); err != nil {
			b.Fatal(err)
		}
	}
	n.Ready()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := n.Lookup(ps[i%benchPaths]); !ok {
			b.Fatal("missing")
		}
	}
}

// BenchmarkDecodeUpdate: decoding a single-op update with a 3-element path, a 2-link chain
// and a 256-byte value.
func BenchmarkDecodeUpdate(b *testing.B) {
	u := single("node-a~3", 123456, 987654, Path{String("bench"), String("dir07"), Int(4242)}, benchValue, Chain{{"node-a~3", 123400}, {"node-b~1", 77}})
	buf := u.AppendMsgpack(nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeUpdate(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlausible: the check a server makes of every remote update before Apply, on a
// single-op update with a 2-link chain (it must not allocate when the update is plausible).
func BenchmarkPlausible(b *testing.B) {
	n := New(Config{Origin: "bench~1"})
	n.SeeHead("node-a~3", 123456)
	n.SeeHead("node-b~1", 77)
	n.SeeTock(987654)
	u := single("node-a~3", 123457, 987655, Path{String("bench"), String("dir07"), Int(4242)}, benchValue, Chain{{"node-a~3", 123400}, {"node-b~1", 77}})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := n.Plausible(u); err != nil {
			b.Fatal(err)
		}
	}
}
