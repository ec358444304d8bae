package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSave: `client save PATH` makes the server write a snapshot there; a second save to the
// same PATH fails and leaves the file.
func TestSave(t *testing.T) {
	s := startServer(t)
	s.ok(t, "set", "a", "1")
	s.ok(t, "set", "b", "2")
	file := filepath.Join(t.TempDir(), "out.dks")
	if got := s.ok(t, "save", file); got != "saved 2 entries to "+file+"\n" {
		t.Errorf("save printed %q", got)
	}
	st, err := os.Stat(file)
	if err != nil || st.Size() == 0 {
		t.Fatalf("saved file: %v, %v", st, err)
	}
	if r := s.client(t, "save", file); r.code == 0 || !strings.Contains(r.stderr, "exists") {
		t.Errorf("save over an existing file: %s", r)
	}
	if r := s.client(t, "save"); r.code != 2 {
		t.Errorf("save without PATH: %s, want exit code 2", r)
	}
}
