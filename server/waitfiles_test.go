package server

import (
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distkv/distkv/node"
)

// The wait's records round-trip; every damaged form is an error (never a panic, never a value).
func TestWaitRecordCodec(t *testing.T) {
	for _, v := range []uint64{0, 1, 12345, node.MaxPlausible} {
		for _, name := range []string{tockFile, waitingFile} {
			line := encodeWaitRecord(name, v)
			if len(line) > maxWaitRecord {
				t.Errorf("%q is longer than %d bytes", line, maxWaitRecord)
			}
			got, err := decodeWaitRecord(name, []byte(line))
			if err != nil || got != v {
				t.Errorf("decode(%q) = %d, %v; want %d", line, got, err, v)
			}
		}
	}
	signed := func(body string) string { // a line with a good checksum
		return fmt.Sprintf("%s %08x\n", body, crc32.Checksum([]byte(body), crc32c))
	}
	good := encodeWaitRecord(tockFile, 77)
	flip := []byte(good)
	flip[len(tockFile)+3] ^= 0x01 // a digit of the value: "77" becomes "67"
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "truncated"},
		{"truncated", good[:len(good)-3], "truncated"},
		{"no newline", strings.TrimSuffix(good, "\n"), "truncated"},
		{"flipped bit", string(flip), "checksum"},
		{"wrong version", strings.Replace(good, "tock 1 ", "tock 2 ", 1), "version"},
		{"wrong file", encodeWaitRecord(waitingFile, 77), "not a tock record"},
		{"extra field", "tock 1 77 9 00000000\n", "not a tock record"},
		{"bad checksum", "tock 1 77 xyz\n", "bad checksum"},
		{"short checksum", "tock 1 77 1234\n", "bad checksum"},
		{"implausible", encodeWaitRecord(tockFile, node.MaxPlausible+1), "bad tock"},
		{"not a number", signed("tock 1 x"), "bad tock"},
		{"negative", signed("tock 1 -1"), "bad tock"},
		{"overflow", signed("tock 1 99999999999999999999"), "bad tock"},
		{"signed version", signed("tock 2 77"), "version"},
		{"signed but not mine", signed("waiting 1 77"), "not a tock record"},
		{"too long", good + strings.Repeat(" ", maxWaitRecord), "more than"},
		{"garbage", "\x00\xff\x00\n", "not a tock record"},
	} {
		if v, err := decodeWaitRecord(tockFile, []byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: decode(%q) = %d, %v; want an error saying %q", tc.name, tc.in, v, err, tc.want)
		}
	}
}

// A start raises the restored clock to DIR/tock, takes DIR/waiting back, and refuses a damaged
// one, naming it. A server without a cluster never marks a wait of its own.
func TestWaitFilesAtStart(t *testing.T) {
	dir := t.TempDir()
	if err := writeFileSync(dir, tockFile, encodeWaitRecord(tockFile, 5000)); err != nil {
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

	if err := writeFileSync(dir, waitingFile, encodeWaitRecord(waitingFile, 3)); err != nil {
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
		if err := os.WriteFile(filepath.Join(bad, name), []byte(name+" 1 12"), 0o644); err != nil {
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
