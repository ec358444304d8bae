package clientproto

import (
	"testing"

	"github.com/distkv/distkv/node"
)

// BenchmarkParseSet is the request distkv bench and clientproto/client send for a set: seq,
// action, a two-element path, nchain and a 256-byte bin value; ParseOwnedRequest, as the server
// calls it.
func BenchmarkParseSet(b *testing.B) {
	m := NewMsg(12345).Str("action", ActSetValue).Path("path", node.StringPath("bench", "4711")).
		Int("nchain", node.MaxChain).Raw("value", node.AppendBinString(nil, string(make([]byte, 253))))
	msg := m.Bytes()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseOwnedRequest(msg); err != nil {
			b.Fatal(err)
		}
	}
}
