package snapshot

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReader reads arbitrary bytes as a snapshot file. Reading must never
// panic, every error must be corruption (the file itself is readable), and
// io.EOF must mean the whole file was read and Verify agrees. Committed
// seeds live in testdata/fuzz/FuzzReader.
func FuzzReader(f *testing.F) {
	valid := smallFile(f)
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(valid[:len(valid)-1])
	flipped := append([]byte(nil), valid...)
	flipped[len(flipped)/3] ^= 0x08
	f.Add(flipped)
	f.Add(newFile().record(minimalHeader("future", []byte{0x91, 0xc0})).trailer(0))
	f.Add([]byte(fileMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f.dks")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Open(path)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			}
			return
		}
		defer r.Close()
		var n uint64
		for {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Next: %v, want ErrCorrupt", err)
				}
				return
			}
			n++
		}
		if r.Offset() != int64(len(data)) {
			t.Fatalf("io.EOF at offset %d of %d bytes", r.Offset(), len(data))
		}
		if _, vn, err := Verify(path); err != nil || vn != n {
			t.Fatalf("Verify = %d, %v; the reader saw %d entries", vn, err, n)
		}
	})
}
