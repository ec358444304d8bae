package snapshot

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/distkv/distkv/node"
)

func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestCommitIsAtomic(t *testing.T) {
	dir := t.TempDir()
	name := FileName(5)
	w, err := Create(dir, name, testHeader())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, u := range testUpdates(2, 3000) { // more than the write buffer holds
		if err := w.Add(u); err != nil {
			t.Fatal(err)
		}
	}
	if w.Count() != 3000 {
		t.Fatalf("Count() = %d, want 3000", w.Count())
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{name + ".tmp"}) {
		t.Fatalf("before Commit the directory holds %v, want only the temporary file", got)
	}
	if seqs, err := List(dir); err != nil || len(seqs) != 0 {
		t.Fatalf("List before Commit = %v, %v; want none", seqs, err)
	}
	if _, _, _, err := Newest(dir); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("Newest before Commit: %v, want ErrNoSnapshot", err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{name}) {
		t.Fatalf("after Commit the directory holds %v, want only %s", got, name)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort after Commit = %v, want a no-op", err)
	}
	if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
		t.Fatalf("Abort after Commit touched the snapshot: %v", err)
	}
	if err := w.Add(testUpdates(1, 1)[0]); err == nil {
		t.Fatal("Add after Commit succeeded")
	}
	if err := w.Commit(); err == nil {
		t.Fatal("second Commit succeeded")
	}
}

func TestAbortRemovesTemp(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, FileName(1), testHeader())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add(testUpdates(1, 1)[0]); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); len(got) != 0 {
		t.Fatalf("after Abort the directory holds %v", got)
	}
	if err := w.Commit(); err == nil {
		t.Fatal("Commit after Abort succeeded")
	}
}

// TestCrashBeforeCommit: a writer that never commits (the process died)
// leaves a temporary file that Newest ignores and a later Prune removes.
func TestCrashBeforeCommit(t *testing.T) {
	dir := t.TempDir()
	old := writeSnap(t, dir, FileName(1), testHeader(), testUpdates(1, 10))
	w, err := Create(dir, FileName(2), testHeader())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range testUpdates(2, 5000) {
		if err := w.Add(u); err != nil {
			t.Fatal(err)
		}
	}
	// The crash: part of the file reached the disk, nothing else happens.
	path, _, skipped, err := Newest(dir)
	if err != nil || path != old || len(skipped) != 0 {
		t.Fatalf("Newest = %s, %v, %v; want %s with nothing skipped", path, skipped, err, old)
	}
	if err := Prune(dir, 1); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); !slices.Contains(got, FileName(2)+".tmp") {
		t.Fatalf("Prune removed the temporary file of a newer seq, which may be a writer at work: %v", got)
	}
	writeSnap(t, dir, FileName(3), testHeader(), nil)
	if err := Prune(dir, 2); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{FileName(1), FileName(3)}) {
		t.Fatalf("after a newer commit and Prune the directory holds %v, want the stale .tmp gone", got)
	}
}

// faultFS fails one step of a commit.
type faultFS struct {
	osFS
	syncErr, renameErr, dirSyncErr error
}

func (f *faultFS) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	fl, err := f.osFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if flag&os.O_CREATE != 0 {
		return &faultFile{fl, f.syncErr}, nil
	}
	return &faultFile{fl, f.dirSyncErr}, nil
}

func (f *faultFS) Rename(oldpath, newpath string) error {
	if f.renameErr != nil {
		return f.renameErr
	}
	return f.osFS.Rename(oldpath, newpath)
}

type faultFile struct {
	file
	syncErr error
}

func (f *faultFile) Sync() error {
	if f.syncErr != nil {
		return f.syncErr
	}
	return f.file.Sync()
}

func TestCommitFailureLeavesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   *faultFS
	}{
		{"fsync", &faultFS{syncErr: syscall.EIO}},
		{"rename", &faultFS{renameErr: syscall.EXDEV}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w, err := create(tc.fs, dir, FileName(1), testHeader())
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Add(testUpdates(1, 1)[0]); err != nil {
				t.Fatal(err)
			}
			err = w.Commit()
			if !errors.Is(err, syscall.EIO) && !errors.Is(err, syscall.EXDEV) {
				t.Fatalf("Commit = %v, want the injected error", err)
			}
			if got := dirNames(t, dir); len(got) != 0 {
				t.Fatalf("a failed Commit left %v", got)
			}
		})
	}
	t.Run("dir fsync", func(t *testing.T) {
		dir := t.TempDir()
		w, err := create(&faultFS{dirSyncErr: syscall.EIO}, dir, FileName(1), testHeader())
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); !errors.Is(err, syscall.EIO) {
			t.Fatalf("Commit = %v, want the directory fsync's error", err)
		}
	})
}

func TestCreateRefusesNames(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"", ".", "..", "a/b", "../x", FileName(1) + ".tmp"} {
		if w, err := Create(dir, name, Header{}); err == nil {
			w.Abort()
			t.Errorf("Create(%q) succeeded", name)
		}
	}
	if _, err := Create(filepath.Join(dir, "missing"), FileName(1), Header{}); err == nil {
		t.Error("Create in a missing directory succeeded")
	}
}

// TestAddRefusesUnreadable: Add refuses what a Reader would refuse, writes
// nothing, and the writer stays usable.
func TestAddRefusesUnreadable(t *testing.T) {
	good := testUpdates(1, 1)[0]
	longChain := make(node.Chain, node.MaxChain+1)
	for i := range longChain {
		longChain[i] = node.Link{Origin: "o", Tick: 1}
	}
	bad := map[string]*node.Update{
		"nil":         nil,
		"no origin":   {Tick: 1},
		"tick 0":      {Origin: "o"},
		"long chain":  {Origin: "o", Tick: 1, Ops: []node.Op{{Path: node.StringPath("a"), Value: []byte{1}, Chain: longChain}}},
		"two values":  {Origin: "o", Tick: 1, Ops: []node.Op{{Path: node.StringPath("a"), Value: []byte{1, 2}}}},
		"cut value":   {Origin: "o", Tick: 1, Ops: []node.Op{{Path: node.StringPath("a"), Value: []byte{0xa5, 'x'}}}},
		"empty value": {Origin: "o", Tick: 1, Ops: []node.Op{{Path: node.StringPath("a"), Value: []byte{}}}},
		"too large":   {Origin: "o", Tick: 1, Ops: []node.Op{{Path: node.StringPath("a"), Value: node.AppendBinString(nil, strings.Repeat("x", MaxFrame))}}},
	}
	dir := t.TempDir()
	w, err := Create(dir, FileName(1), Header{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for name, u := range bad {
		if err := w.Add(u); err == nil {
			t.Errorf("Add(%s) succeeded", name)
		}
	}
	if err := w.Add(good); err != nil {
		t.Fatalf("Add after refusals: %v", err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, n, err := Verify(filepath.Join(dir, FileName(1))); err != nil || n != 1 {
		t.Fatalf("Verify = %d, %v; want the one good entry", n, err)
	}
}
