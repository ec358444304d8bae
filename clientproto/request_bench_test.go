package clientproto

import (
	"testing"

	"github.com/distkv/distkv/node"
)

// BenchmarkParseSet is the request distkv bench and clientproto/client send for a set: seq,
// action, a two-element path, nchain and a 256-byte bin value; ParseOwnedRequest, as the server
// calls it.
func BenchmarkParseSet(b *testing.B) {
	msg := setTMsg()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseOwnedRequest(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseSetAllocs bounds what decoding a set costs the server: the Request, the path and
// its two strings, the value's copy (the tree keeps it); keys and the action are not
// allocated.
func TestParseSetAllocs(t *testing.T) {
	msg := setTMsg()
	allocs := testing.AllocsPerRun(100, func() {
		if q, err := ParseOwnedRequest(msg); err != nil || q.Action != ActSetValue || !q.Op.HasValue {
			t.Fatal(q, err)
		}
	})
	if allocs > 5 {
		t.Errorf("decoding a set allocates %.0f times, want at most 5", allocs)
	}
}

func setTMsg() []byte {
	return NewMsg(12345).Str("action", ActSetValue).Path("path", node.StringPath("bench", "4711")).
		Int("nchain", node.MaxChain).Raw("value", node.AppendBinString(nil, string(make([]byte, 253)))).Bytes()
}
