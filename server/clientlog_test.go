package server

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// readLog decodes a client log file's records.
func readLog(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := msgpack.NewDecoder(bytes.NewReader(b))
	var out []map[string]any
	for {
		v, err := ptDecodeAny(d, 0)
		if err != nil {
			return out
		}
		m, _ := v.(map[string]any)
		out = append(out, m)
	}
}

// TestClientLog: log writes DistKV's stream (a state record, the entries with fetch, then
// every change) into the client log directory; a second log replaces the first once ready;
// log without path stops it; the meta area is not logged.
func TestClientLog(t *testing.T) {
	dir := t.TempDir()
	s := ptStart(t, Config{ClientLogDir: dir})
	c := s.dial(t)
	ptSet(c, ptA("a"), 1)
	if r := c.ok(ptM{"action": "log", "path": "one", "fetch": true}); r["result"] != true {
		t.Fatalf("log: %v", r)
	}
	ptSet(c, ptA("b", "c"), 2)
	c.ok(ptM{"action": "set_internal", "path": ptA("secret"), "value": 9})
	c.ok(ptM{"action": "delete_value", "path": ptA("a")})
	c.ok(ptM{"action": "log", "path": "two"}) // stops "one" once "two" is ready
	ptSet(c, ptA("d"), 4)
	c.ok(ptM{"action": "log"}) // stops "two"
	ptSet(c, ptA("e"), 5)      // logged nowhere
	one := readLog(t, filepath.Join(dir, "one"))
	if len(one) != 4 || one[0]["known"] == nil {
		t.Fatalf("log one: %v", one)
	}
	want := []string{"map[depth:0 path:[a] value:1]", "map[depth:0 path:[b c] value:2]", "map[depth:0 path:[a]]"}
	for i, w := range want {
		r := one[i+1]
		got := fmt.Sprint(map[string]any{"depth": r["depth"], "path": r["path"], "value": r["value"]})
		if r["value"] == nil {
			got = fmt.Sprint(map[string]any{"depth": r["depth"], "path": r["path"]})
		}
		if got != w || r["tock"] == nil {
			t.Errorf("log one record %d: %v, want %s", i+1, r, w)
		}
	}
	if one[1]["chain"] == nil || one[2]["node"] != c.Greeting["origin"] || one[3]["tick"] == nil {
		t.Errorf("log one: chain of the state entry, node and tick of the changes: %v", one)
	}
	two := readLog(t, filepath.Join(dir, "two"))
	if len(two) != 2 || fmt.Sprint(two[1]["path"]) != "[d]" {
		t.Errorf("log two: %v, want the state and d", two)
	}
}

// TestClientLogRefused: no log directory, a name that is not a plain file name, an existing
// file, a rooted client: all refused, and nothing is written outside the directory.
func TestClientLogRefused(t *testing.T) {
	ptStart(t, Config{}).dial(t).callErr(ptM{"action": "log", "path": "x"}, "request")
	dir := t.TempDir()
	c := ptStart(t, Config{ClientLogDir: filepath.Join(dir, "logs")}).dial(t)
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../escape", "a/b", "/tmp/abs", ".", "..", ""} {
		c.callErr(ptM{"action": "log", "path": name}, "request")
	}
	if _, err := os.Stat(filepath.Join(dir, "escape")); err == nil {
		t.Error("a log was written outside the directory")
	}
	if err := os.WriteFile(filepath.Join(dir, "logs", "old"), []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.callErr(ptM{"action": "log", "path": "old"}, "request")
	if b, _ := os.ReadFile(filepath.Join(dir, "logs", "old")); string(b) != "keep" {
		t.Errorf("an existing file was replaced: %q", b)
	}
	c.ok(ptM{"action": "root", "path": ptA("sub")})
	c.callErr(ptM{"action": "log", "path": "new"}, "auth")
	time.Sleep(10 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(dir, "logs", "new")); err == nil {
		t.Error("a rooted client started a log")
	}
	saved := filepath.Join(dir, "saved.dks")
	c.callErr(ptM{"action": "save", "path": saved}, "auth")
	if _, err := os.Stat(saved); err == nil {
		t.Error("a rooted client saved the whole tree")
	}
}
