package node

import (
	"fmt"
	"testing"

	"github.com/distkv/distkv/internal/alloctest"
)

// TestUpdatesBlocksSizedByBatch: a pushed frame of single-op updates is decoded into blocks
// sized by the updates it holds, not by how many ops its bytes could hold (a block lives as
// long as any of its items, so the unused part is garbage carried along).
func TestUpdatesBlocksSizedByBatch(t *testing.T) {
	const n = 16
	us := make([]*Update, n)
	for i := range us {
		us[i] = &Update{Origin: "peer~1", Tick: uint64(i + 1), Tock: uint64(i + 1),
			Ops: []Op{{Path: StringPath("bench", fmt.Sprint(1000+i)), Value: memValue}}}
	}
	b := AppendArrayLen(nil, n)
	for _, u := range us {
		b = u.AppendMsgpack(b)
	}
	var err error
	got := alloctest.Bytes(func() { _, err = NewReader(b).Updates(0) })
	if err != nil {
		t.Fatal(err)
	}
	// Per update: its share of the Update and op blocks, two elements, a value and a name.
	if limit := uint64(n * 300); got > limit {
		t.Errorf("decoding %d updates (%d bytes) allocated %d bytes, want at most %d", n, len(b), got, limit)
	}
	t.Logf("%d updates, %d bytes in, %d bytes allocated", n, len(b), got)
}
