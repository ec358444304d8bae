package snapshot

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestFileNameRoundTrip(t *testing.T) {
	for _, seq := range []uint64{0, 1, 0xabc, 1 << 40, math.MaxUint64} {
		name := FileName(seq)
		if got, ok := ParseFileName(name); !ok || got != seq {
			t.Errorf("ParseFileName(FileName(%d) = %q) = %d, %t", seq, name, got, ok)
		}
	}
	for _, name := range []string{
		"", "snap-.dks", "snap-0000000000000001", "snap-0000000000000001.dks.tmp",
		"snap-000000000000000A.dks", "snap-00000000000000001.dks", "snap-000000000000001.dks",
		"Snap-0000000000000001.dks", "0000000000000001.log", "snap-+000000000000001.dks",
	} {
		if seq, ok := ParseFileName(name); ok {
			t.Errorf("ParseFileName(%q) = %d, true; want false", name, seq)
		}
	}
}

func TestListAndPrune(t *testing.T) {
	dir := t.TempDir()
	for _, seq := range []uint64{9, 3, 0x10, 4, 1} {
		writeSnap(t, dir, FileName(seq), Header{}, nil)
	}
	// Not snapshots: a temporary file, a directory with a snapshot's name,
	// and other files.
	for _, name := range []string{FileName(2) + ".tmp", "notes.txt", "0000000000000001.log"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, FileName(100)), 0o755); err != nil {
		t.Fatal(err)
	}
	seqs, err := List(dir)
	if err != nil || !slices.Equal(seqs, []uint64{1, 3, 4, 9, 0x10}) {
		t.Fatalf("List = %v, %v", seqs, err)
	}
	if err := Prune(dir, 0); err == nil {
		t.Fatal("Prune(keep 0) succeeded")
	}
	if err := Prune(dir, 2); err != nil {
		t.Fatal(err)
	}
	if seqs, _ := List(dir); !slices.Equal(seqs, []uint64{9, 0x10}) {
		t.Fatalf("after Prune(2) List = %v, want [9 16]", seqs)
	}
	want := []string{"0000000000000001.log", "notes.txt", FileName(9), FileName(0x10), FileName(100)}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after Prune the directory holds %v, want %v (stale .tmp gone, other files kept)", got, want)
	}
	if err := Prune(dir, 5); err != nil {
		t.Fatal(err)
	}
	if seqs, _ := List(dir); len(seqs) != 2 {
		t.Fatalf("Prune keeping more than there are removed some: %v", seqs)
	}
	if _, err := List(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("List of a missing directory succeeded")
	}
}

// TestNewestSkipsCorrupt: a damaged newest snapshot is passed over, with
// its error reported, in favour of the older valid one.
func TestNewestSkipsCorrupt(t *testing.T) {
	dir := t.TempDir()
	h1, h2 := testHeader(), testHeader()
	h1.LogSegment, h2.LogSegment = 10, 20
	writeSnap(t, dir, FileName(1), h1, testUpdates(1, 50))
	want := writeSnap(t, dir, FileName(2), h2, testUpdates(2, 50))
	flipped := writeSnap(t, dir, FileName(3), testHeader(), testUpdates(3, 50))
	truncated := writeSnap(t, dir, FileName(4), testHeader(), testUpdates(4, 50))
	damage(t, flipped, func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b })
	damage(t, truncated, func(b []byte) []byte { return b[:len(b)-1] })

	path, h, skipped, err := Newest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if path != want || h.LogSegment != 20 {
		t.Fatalf("Newest = %s (log segment %d), want %s", path, h.LogSegment, want)
	}
	if len(skipped) != 2 || !errors.Is(skipped[0], ErrTruncated) || !strings.Contains(skipped[0].Error(), truncated) ||
		!errors.Is(skipped[1], ErrCorrupt) || !strings.Contains(skipped[1].Error(), flipped) {
		t.Fatalf("skipped = %v, want the truncated then the flipped file's errors", skipped)
	}

	for _, seq := range []uint64{1, 2} {
		damage(t, filepath.Join(dir, FileName(seq)), func(b []byte) []byte { return b[:10] })
	}
	if _, _, skipped, err := Newest(dir); !errors.Is(err, ErrNoSnapshot) || len(skipped) != 4 {
		t.Fatalf("all damaged: Newest = %v with %d skipped, want ErrNoSnapshot and 4", err, len(skipped))
	}
	if _, _, _, err := Newest(t.TempDir()); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("empty directory: Newest = %v, want ErrNoSnapshot", err)
	}
	if _, _, _, err := Newest(filepath.Join(dir, "missing")); err == nil || errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("missing directory: Newest = %v, want the read error", err)
	}
}

func damage(t testing.TB, path string, f func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(b), 0o644); err != nil {
		t.Fatal(err)
	}
}
