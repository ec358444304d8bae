package clientproto

import (
	"testing"

	"github.com/distkv/distkv/node"
)

// PeekSeq and PeekAction find their field in a request that does not parse, and give up
// (0, "") on one that is not a map or is cut short before the field.
func TestPeekFields(t *testing.T) {
	b := NewMsg(7).Key("path").AppendRaw([]byte{0xc1}).Str("action", "get_tree").Bytes()
	if got := PeekSeq(b); got != 7 {
		t.Errorf("PeekSeq = %d, want 7", got)
	}
	if got := PeekAction(b); got != "" {
		t.Errorf("PeekAction behind a malformed value = %q, want \"\"", got)
	}
	b = NewMsg(9).Str("action", "watch").Key("path").AppendRaw([]byte{0xc1}).Bytes()
	if PeekSeq(b) != 9 || PeekAction(b) != "watch" {
		t.Errorf("PeekSeq, PeekAction = %d, %q, want 9, watch", PeekSeq(b), PeekAction(b))
	}
	if v, ok := RawField(b, "action"); !ok || string(v) != string(node.AppendString(nil, "watch")) {
		t.Errorf("RawField(action) = %x, %v", v, ok)
	}
	if _, ok := RawField(b, "nothere"); ok {
		t.Error("RawField found a missing key")
	}
	for _, bad := range [][]byte{nil, {0x93, 1, 2, 3}, NewMsg(0).Str("seq", "x").Bytes()} {
		if PeekSeq(bad) != 0 || PeekAction(bad) != "" {
			t.Errorf("%x: PeekSeq %d, PeekAction %q, want 0, \"\"", bad, PeekSeq(bad), PeekAction(bad))
		}
	}
}
