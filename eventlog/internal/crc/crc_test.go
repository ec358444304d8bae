package crc

import "testing"

func TestKnownValue(t *testing.T) {
	// The CRC-32C check value from the Castagnoli paper / RFC 3720.
	if got := New([]byte("123456789")).Value(); got != 0xe3069283 {
		t.Fatalf("crc32c(123456789) = %#x, want 0xe3069283", got)
	}
	if got := New([]byte("1234")).Update([]byte("56789")).Value(); got != 0xe3069283 {
		t.Fatalf("incremental crc = %#x, want 0xe3069283", got)
	}
}
