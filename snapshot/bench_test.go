package snapshot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/distkv/distkv/node"
)

// benchUpdates returns n single-op entries with 256-byte values, the shape
// of a typical snapshot.
func benchUpdates(n int) []*node.Update {
	us := make([]*node.Update, n)
	val := make([]byte, 256)
	for i := range us {
		for j := range val {
			val[j] = byte(i + j)
		}
		us[i] = &node.Update{Origin: "n1~1", Tick: uint64(i + 1), Tock: uint64(i + 1), Ops: []node.Op{{
			Path:  node.Path{node.String("bench"), node.String(fmt.Sprintf("key-%08d", i))},
			Value: node.AppendBinString(nil, string(val)),
			Chain: node.Chain{{Origin: "n2~1", Tick: uint64(i)}},
		}}}
	}
	return us
}

func BenchmarkWrite(b *testing.B) {
	us := benchUpdates(100_000)
	dir := b.TempDir()
	var size int64
	for i := 0; b.Loop(); i++ {
		w, err := Create(dir, FileName(uint64(i)), testHeader())
		if err != nil {
			b.Fatal(err)
		}
		for _, u := range us {
			if err := w.Add(u); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Commit(); err != nil {
			b.Fatal(err)
		}
		if size == 0 {
			st, err := os.Stat(dir + "/" + FileName(uint64(i)))
			if err != nil {
				b.Fatal(err)
			}
			size = st.Size()
			b.SetBytes(size)
		}
		if err := os.Remove(dir + "/" + FileName(uint64(i))); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	path := writeSnap(b, b.TempDir(), FileName(1), testHeader(), benchUpdates(100_000))
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	for b.Loop() {
		r, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		r.Close()
		if n != 100_000 {
			b.Fatalf("read %d entries", n)
		}
	}
}
