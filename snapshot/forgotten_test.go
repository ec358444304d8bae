package snapshot

import (
	"slices"
	"testing"
)

// The forgotten origins round-trip; a header without them (every file written before they
// were added) decodes with none.
func TestHeaderForgotten(t *testing.T) {
	h := Header{Node: "n", Origin: "n~2", Forgotten: []string{"n~1", "m~7"}}
	got, err := decodeHeader(h.appendMsgpack(nil))
	if err != nil || !slices.Equal(got.Forgotten, h.Forgotten) {
		t.Fatalf("forgotten: %v %v", got.Forgotten, err)
	}
	h.Forgotten = nil
	got, err = decodeHeader(h.appendMsgpack(nil))
	if err != nil || got.Forgotten != nil {
		t.Fatalf("without forgotten: %v %v", got.Forgotten, err)
	}
}
