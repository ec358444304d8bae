package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distkv/distkv/node"
)

// The data directory's number files (origin, tock, waiting) round-trip; every damaged form
// is an error naming the file (never a panic, never a value).
func TestUintFile(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []uint64{0, 1, 12345, node.MaxPlausible} {
		if err := writeUintFile(dir, tockFile, v); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := readUintFile(dir, tockFile, node.MaxPlausible); err != nil || !ok || got != v {
			t.Errorf("read back %d: %d, %v, %v", v, got, ok, err)
		}
	}
	if _, ok, err := readUintFile(dir, "absent", 1); ok || err != nil {
		t.Errorf("an absent file: ok %v, err %v; want neither", ok, err)
	}
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"torn", "12 3"},
		{"not a number", "x\n"},
		{"negative", "-1\n"},
		{"overflow", "99999999999999999999\n"},
		{"implausible", fmt.Sprintf("%d\n", uint64(node.MaxPlausible)+1)},
		{"too long", "1" + strings.Repeat(" ", maxUintFile)},
		{"old format", "tock 1 77 2eab6c2f\n"},
		{"garbage", "\x00\xff\x00\n"},
	} {
		if err := os.WriteFile(filepath.Join(dir, tockFile), []byte(tc.in), 0o644); err != nil {
			t.Fatal(err)
		}
		v, ok, err := readUintFile(dir, tockFile, node.MaxPlausible)
		if err == nil || ok || !strings.Contains(err.Error(), filepath.Join(dir, tockFile)) {
			t.Errorf("%s: read(%q) = %d, %v, %v; want an error naming the file", tc.name, tc.in, v, ok, err)
		}
	}
}

// FuzzUintFile: whatever a number file holds, the parse is a number up to the bound that
// writes back as itself, or an error.
func FuzzUintFile(f *testing.F) {
	for _, seed := range []string{"5000\n", "0", " 12 \n", "12 3", "-1", "99999999999999999999", "tock 1 77 2eab6c2f\n", ""} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseUintFile(b, node.MaxPlausible)
		if err != nil {
			return
		}
		if v > node.MaxPlausible {
			t.Fatalf("%q parsed as %d, above the bound", b, v)
		}
		if w, err := parseUintFile(fmt.Appendf(nil, "%d\n", v), node.MaxPlausible); err != nil || w != v {
			t.Fatalf("%q parsed as %d, which reads back as %d, %v", b, v, w, err)
		}
	})
}

// A start raises the restored clock to DIR/tock, takes DIR/waiting back, and refuses a damaged
// one, naming it. A server without a cluster never marks a wait of its own.
func TestWaitFilesAtStart(t *testing.T) {
	dir := t.TempDir()
	if err := writeUintFile(dir, tockFile, 5000); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Name: "w1", DataDir: dir}
	s, stop := runServer(t, cfg)
	write(t, s, "a", 1)
	s.Node(func(n *node.Node) {
		if n.Tock() <= 5000 {
			t.Errorf("tock %d after a write on a floor of 5000", n.Tock())
		}
	})
	if s.store.marked.Load() {
		t.Error("a new data dir starts marked as waiting")
	}
	stop()

	if err := writeUintFile(dir, waitingFile, 3); err != nil {
		t.Fatal(err)
	}
	s, stop = runServer(t, cfg)
	if !s.store.marked.Load() {
		t.Error("DIR/waiting not taken back at the start")
	}
	stop()

	for _, name := range []string{tockFile, waitingFile} {
		bad := t.TempDir()
		if err := os.CopyFS(bad, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(bad, lockFile))
		if err := os.WriteFile(filepath.Join(bad, name), []byte("12 3"), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := New(Config{Name: "w1", DataDir: bad, ClientAddr: "127.0.0.1:0"})
		if err == nil {
			err = s.Run(t.Context())
		}
		if err == nil || !strings.Contains(err.Error(), filepath.Join(bad, name)) || errors.Is(err, os.ErrNotExist) {
			t.Errorf("a start with a torn %s: %v; want an error naming it", name, err)
		}
	}
}
