package clientproto

import (
	"testing"
	"unsafe"

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

// BenchmarkParseSetInto is BenchmarkParseSet as the server's reader parses: into its reused
// request, the path sharing the last request's equal strings.
func BenchmarkParseSetInto(b *testing.B) {
	msg := setTMsg()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	var q Request
	for b.Loop() {
		if err := ParseRequestInto(&q, msg, true); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseSetIntoAllocs: parsed into a reused request after one with the same directory, a
// set allocates only its path, its key's string and its value's copy.
func TestParseSetIntoAllocs(t *testing.T) {
	msg := setTMsg()
	var q Request
	allocs := testing.AllocsPerRun(100, func() {
		if err := ParseRequestInto(&q, msg, true); err != nil || q.Action != ActSetValue || !q.Op.HasValue {
			t.Fatal(q, err)
		}
	})
	if allocs > 3 {
		t.Errorf("decoding a set into a reused request allocates %.0f times, want at most 3", allocs)
	}
}

// TestParseRequestInto: a reused request keeps nothing of the one before but the strings its
// path shares with it, and only where the elements are equal.
func TestParseRequestInto(t *testing.T) {
	var q Request
	first := NewMsg(1).Str("action", ActSetValue).Path("path", node.StringPath("dir", "a")).Int("nchain", 2).
		Raw("value", node.AppendInt(nil, 1)).Bytes()
	if err := ParseRequestInto(&q, first, false); err != nil {
		t.Fatal(err)
	}
	p1 := q.Path
	second := NewMsg(2).Str("action", ActGetValue).Path("path", node.StringPath("dir", "b")).Bytes()
	if err := ParseRequestInto(&q, second, false); err != nil {
		t.Fatal(err)
	}
	if q.Seq != 2 || q.Action != ActGetValue || q.HasNChain || q.Op.HasValue || q.MaxDepth != -1 {
		t.Errorf("second request = %+v", q)
	}
	if !q.Path.Equal(node.StringPath("dir", "b")) || !p1.Equal(node.StringPath("dir", "a")) {
		t.Fatalf("paths %v, %v", p1, q.Path)
	}
	s1, s2 := p1[0].StrVal(), q.Path[0].StrVal()
	if unsafe.StringData(s1) != unsafe.StringData(s2) {
		t.Error("equal first elements do not share their string")
	}
	if bad := []byte{0x81, 0xa3, 's', 'e', 'q'}; ParseRequestInto(&q, bad, false) == nil {
		t.Error("a truncated request parsed")
	}
}
