package server

import (
	"fmt"
	"testing"

	"github.com/distkv/distkv/gossip/wire"
	"github.com/distkv/distkv/node"
)

// benchValue256 is a 256-byte msgpack value, as distkv bench writes.
var benchValue256 = node.AppendString(nil, string(make([]byte, 253)))

// BenchmarkServerWrite is a client write below the protocol on a RAM-only node: apply under
// the lock, commit, the updates to send (no peers here).
func BenchmarkServerWrite(b *testing.B) {
	s := ptStart(b, Config{}).S
	paths := make([]node.Path, 10000)
	for i := range paths {
		paths[i] = node.StringPath("bench", fmt.Sprint(i))
	}
	ch := make([]node.Change, 1)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		ch[0] = node.Change{Path: paths[i%len(paths)], Value: benchValue256}
		i++
		if _, seq, send, _, err := s.Write(ch); err != nil || seq != 0 || len(send) != 1 {
			b.Fatal(seq, len(send), err)
		}
	}
}

// BenchmarkPeerApply is a replica taking a push frame: decode 16 updates of a peer (256-byte
// values over 10000 paths) and apply them, as cluster.Handle does for MsgPush.
func BenchmarkPeerApply(b *testing.B) {
	s := ptStart(b, Config{}).S
	const perFrame = 16
	us := make([]*node.Update, perFrame)
	tick := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for j := range us {
			tick++
			us[j] = &node.Update{Origin: "peer~1", Tick: tick, Tock: tick, Ops: []node.Op{{
				Path: node.StringPath("bench", fmt.Sprint(tick%10000)), Value: benchValue256}}}
		}
		body := wire.AppendUpdates(nil, us)
		b.StartTimer()
		got, err := wire.DecodeUpdates(body)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.applyRemote(got, "", node.RangeSet{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perFrame), "ns/update")
}
