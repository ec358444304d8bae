package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestLogStartStop: `client log start NAME` makes the server write its change log into its
// --client-log-dir, `log stop` ends it; a name that is not plain is refused.
func TestLogStartStop(t *testing.T) {
	dir := t.TempDir()
	addr := freePort(t)
	p := startProc(t, t.TempDir(), testEnv(), io.Discard, "server", "--client-addr", addr, "--name", "t1", "--client-log-dir", dir)
	waitListening(t, p, addr)
	s := &testServer{addr: addr, p: p}
	t.Cleanup(func() {
		if code := p.stop(t, syscall.SIGTERM); code != 0 {
			t.Errorf("server exit code %d; stderr:\n%s", code, p.stderr)
		}
	})
	s.ok(t, "set", "before", `"b"`)
	s.ok(t, "log", "start", "changes")
	s.ok(t, "set", "during", `"d"`)
	s.ok(t, "log", "stop")
	s.ok(t, "set", "after", `"a"`)
	b, err := os.ReadFile(filepath.Join(dir, "changes"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "before") || !strings.Contains(string(b), "during") || strings.Contains(string(b), "after") {
		t.Errorf("log file %q: want before (fetched) and during, not after", b)
	}
	if r := s.client(t, "log", "start", "../out"); r.code == 0 || !strings.Contains(r.stderr, "plain file name") {
		t.Errorf("log start ../out: %s", r)
	}
	if r := s.client(t, "log", "start"); r.code != 2 {
		t.Errorf("no NAME: %s, want exit code 2", r)
	}
}
