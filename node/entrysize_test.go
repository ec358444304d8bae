package node

import (
	"testing"
	"unsafe"
)

// An entry fits the 144-byte size class: a field more (or the name held as an Element again)
// costs every key 16 bytes.
func TestEntrySize(t *testing.T) {
	if s := unsafe.Sizeof(entry{}); s > 144 {
		t.Fatalf("entry is %d bytes", s)
	}
}
