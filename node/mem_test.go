package node

import (
	"fmt"
	"runtime"
	"testing"
)

// memKeys is how many entries the memory benchmarks hold (issue 12: 1M small keys).
const memKeys = 1 << 20

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// memValue is a 16-byte msgpack bin value, as `distkv bench --value-size 16` writes.
var memValue = AppendBinString(nil, "0123456789abcdef")

// memPaths are the keys kvload.kNNNNNNNN under one parent, built before the baseline so that
// only what the node keeps of them counts (the node shares the elements' strings).
func memPaths() []Path {
	ps := make([]Path, memKeys)
	for i := range ps {
		ps[i] = Path{String("kvload"), String(fmt.Sprintf("k%08d", i))}
	}
	return ps
}

// reportPerEntry reports the heap the node grew by, per entry, as "B/entry". keep is what
// the baseline held that must not be collected before the measure (the paths: the node copies
// their elements, so they would otherwise go and be taken off the node's figure).
func reportPerEntry(b *testing.B, before uint64, n *Node, per int, keep any) {
	after := heapInUse()
	b.ReportMetric(float64(after-before)/float64(per), "B/entry")
	runtime.KeepAlive(n)
	runtime.KeepAlive(keep)
}

// BenchmarkMemLive: the heap a live entry costs, written locally one key per update (the
// server's path for a client set), values freshly allocated as the client decoder makes them.
func BenchmarkMemLive(b *testing.B) {
	for range b.N {
		ps := memPaths()
		before := heapInUse()
		n := New(Config{Origin: "n1~1"})
		ch := make([]Change, 1)
		for _, p := range ps {
			ch[0] = Change{Path: p, Value: append([]byte(nil), memValue...)}
			if _, _, err := n.Write(ch); err != nil {
				b.Fatal(err)
			}
			n.Ready()
		}
		reportPerEntry(b, before, n, memKeys, ps)
	}
}

// BenchmarkMemReplica: the same keys applied from a peer's decoded updates (log replay and
// replication), each with a one-link chain.
func BenchmarkMemReplica(b *testing.B) {
	for range b.N {
		ps := memPaths()
		before := heapInUse()
		n := New(Config{Origin: "n2~1"})
		for i, p := range ps {
			u := &Update{Origin: "n1~1", Tick: uint64(i + 1), Tock: uint64(i + 1)}
			u.Ops = []Op{{Path: p, Value: append([]byte(nil), memValue...), Chain: Chain{{Origin: "n3~1", Tick: 1}}}}
			n.Apply(u)
			n.Ready()
		}
		reportPerEntry(b, before, n, memKeys, ps)
	}
}

// BenchmarkMemTombstone: what a tombstone costs over a live entry's cost: every key written,
// then deleted.
func BenchmarkMemTombstone(b *testing.B) {
	for range b.N {
		ps := memPaths()
		before := heapInUse()
		n := New(Config{Origin: "n1~1"})
		ch := make([]Change, 1)
		for _, del := range []bool{false, true} {
			for _, p := range ps {
				ch[0] = Change{Path: p, Delete: del}
				if !del {
					ch[0].Value = append([]byte(nil), memValue...)
				}
				if _, _, err := n.Write(ch); err != nil {
					b.Fatal(err)
				}
				n.Ready()
			}
		}
		reportPerEntry(b, before, n, memKeys, ps)
	}
}

// BenchmarkMemKnownRange: what a range of an origin's known ticks costs: every other tick
// known, so each tick makes a range of its own.
func BenchmarkMemKnownRange(b *testing.B) {
	for range b.N {
		before := heapInUse()
		n := New(Config{Origin: "n1~1"})
		var rs RangeSet
		for i := range memKeys {
			rs.Add(uint64(2*i + 1))
		}
		n.MarkKnown("n2~1", rs)
		rs = RangeSet{}
		reportPerEntry(b, before, n, memKeys, nil)
	}
}
