package server

import (
	"fmt"
	"os"
	"testing"
)

// A snapshot is due after SnapshotEvery records and, once one exists, after as many log bytes
// as it holds: a large tree is not rewritten every SnapshotEvery records.
func TestSnapshotSpacedBySize(t *testing.T) {
	st := &store{s: &Server{cfg: Config{SnapshotEvery: 10}}}
	due := func(size int) int {
		for i := 1; ; i++ {
			if st.snapshotDue(size) {
				return i
			}
			if i > 1000 {
				t.Fatal("no snapshot due after 1000 records")
			}
		}
	}
	if n := due(100); n != 10 { // no snapshot yet: the record floor alone
		t.Fatalf("first snapshot due after %d records, want 10", n)
	}
	st.snapSize.Store(5000)
	if n := due(100); n != 50 {
		t.Fatalf("after a 5000-byte snapshot, due after %d records of 100 bytes, want 50", n)
	}
	st.snapSize.Store(100)
	if n := due(100); n != 10 {
		t.Fatalf("after a 100-byte snapshot, due after %d records, want the floor of 10", n)
	}
}

// The store knows the newest snapshot's size after writing one and after a restart.
func TestSnapshotSizeTracked(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Name: "d1", DataDir: dir, Fsync: "never", SnapshotEvery: 1 << 20}
	s, stop := runServer(t, cfg)
	for i := range 100 {
		write(t, s, fmt.Sprint(i), int64(i))
	}
	path, err := s.store.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.store.snapSize.Load(); got != fi.Size() || got == 0 {
		t.Fatalf("snapSize %d after writing a %d-byte snapshot", got, fi.Size())
	}
	stop()
	s2, stop2 := runServer(t, cfg)
	defer stop2()
	if got := s2.store.snapSize.Load(); got != fi.Size() {
		t.Fatalf("snapSize %d after a restart, want the newest snapshot's %d bytes", got, fi.Size())
	}
}
