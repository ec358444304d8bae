package clientproto

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func replyDecode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := msgpack.Unmarshal(b, &m); err != nil {
		t.Fatalf("%x: %v", b, err)
	}
	return m
}

// Bytes gives the same map however it is built and however often it is called: the first call
// of a NewMsg without a copy, later ones (after more fields) and a zero Msg's with one; and a
// result stays as it was when the message grows.
func TestMsgBytes(t *testing.T) {
	for _, fields := range []int{1, 15, 16, 70000} {
		m, z := NewMsg(7), &Msg{}
		z.Uint("seq", 7)
		for i := 1; i < fields; i++ {
			m.Uint(fmt.Sprint("k", i), uint64(i))
			z.Uint(fmt.Sprint("k", i), uint64(i))
		}
		first, again, zero := m.Bytes(), m.Bytes(), z.Bytes()
		if !bytes.Equal(first, zero) || !bytes.Equal(again, zero) {
			t.Fatalf("%d fields: NewMsg gives %x then %x, a zero Msg %x", fields, first[:8], again[:8], zero[:8])
		}
		if got := replyDecode(t, first); len(got) != fields {
			t.Fatalf("%d fields decoded as %d", fields, len(got))
		}
		kept := bytes.Clone(first)
		m.Str("more", "x")
		if got := replyDecode(t, m.Bytes()); len(got) != fields+1 || got["more"] != "x" {
			t.Fatalf("%d fields, then one more: decoded %d fields", fields, len(got))
		}
		if !bytes.Equal(first, kept) {
			t.Fatalf("%d fields: a returned message changed as the Msg grew", fields)
		}
	}
}

// Reset gives the bytes NewMsg would, reuses its buffer (no allocation per message), and lets
// go of one grown past resetKeep.
func TestMsgReset(t *testing.T) {
	var m Msg
	for i := range 3 {
		got := m.Reset(uint64(i)).Str("state", "x").Bytes()
		if want := NewMsg(uint64(i)).Str("state", "x").Bytes(); !bytes.Equal(got, want) {
			t.Fatalf("Reset(%d): %x, want %x", i, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { m.Reset(9).Str("state", "x").Uint("tock", 5).Bytes() }); n != 0 {
		t.Errorf("%v allocations per Reset message, want 0", n)
	}
	m.Reset(1).Raw("value", make([]byte, 2*resetKeep)).Bytes()
	if m.Reset(1); cap(m.buf) > resetKeep {
		t.Errorf("Reset kept a %d-byte buffer", cap(m.buf))
	}
}
