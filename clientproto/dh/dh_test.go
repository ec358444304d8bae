package dh

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
)

func TestAgreeSealOpen(t *testing.T) {
	a, err := NewKey(1024)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewKey(1024)
	ka, err := a.Shared(b.Public())
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := b.Shared(a.Public())
	if ka != kb {
		t.Fatal("the two sides agree on different keys")
	}
	box, err := SealPassword(ka, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(kb, box)
	if want := sha256.Sum256([]byte("pw")); err != nil || !bytes.Equal(got, want[:]) {
		t.Fatalf("Open: %x, %v", got, err)
	}
	box[len(box)-1] ^= 1
	if _, err := Open(kb, box); !errors.Is(err, ErrOpen) {
		t.Fatalf("tampered box: %v", err)
	}
	c, _ := NewKey(1024)
	kc, _ := c.Shared(a.Public())
	box[len(box)-1] ^= 1
	if _, err := Open(kc, box); !errors.Is(err, ErrOpen) {
		t.Fatalf("another key: %v", err)
	}
}

func TestBadPublicKeys(t *testing.T) {
	k, _ := NewKey(256)
	pm1 := new([256]byte)
	for i := range pm1 {
		pm1[i] = 0xff
	}
	for _, pub := range [][]byte{nil, {1}, group14.Bytes(), pm1[:]} {
		if _, err := k.Shared(pub); !errors.Is(err, ErrBadKey) {
			t.Errorf("Shared(%x...): %v, want ErrBadKey", pub[:min(len(pub), 4)], err)
		}
	}
}
