package main

import (
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// TestConnLimitFlags checks that --max-conns-per-host holds on the real binary: over it the CLI
// gets the server's reason and exit 3, and a freed slot lets it in again.
func TestConnLimitFlags(t *testing.T) {
	addr := freePort(t)
	p := startProc(t, t.TempDir(), testEnv(), io.Discard, "server", "--client-addr", addr, "--name", "t1",
		"--max-conns-per-host", "3", "--max-streams", "4", "--write-timeout", "5s", "--idle-timeout", "1m")
	waitListening(t, p, addr)
	t.Cleanup(func() {
		if code := p.stop(t, syscall.SIGTERM); code != 0 {
			t.Errorf("server exit code %d after SIGTERM; stderr:\n%s", code, p.stderr)
		}
	})
	var held []net.Conn
	for range 3 {
		nc := dialAdmitted(t, addr)
		defer nc.Close()
		held = append(held, nc)
	}
	r := runCLI(t, "", "client", "--addr", addr, "set", "x", "1")
	if r.code != exitConn || !strings.Contains(r.stderr, "3 client connections open from 127.0.0.1") {
		t.Fatalf("over the per-host cap: %s", r)
	}
	held[0].Close()
	deadline := time.Now().Add(cmdDeadline)
	for runCLI(t, "", "client", "--addr", addr, "set", "x", "1").code != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("a freed slot is not given back; stderr:\n%s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(p.stderr.String(), "refusing client connections") {
		t.Errorf("the refusal is not logged; stderr:\n%s", p.stderr)
	}
	for _, bad := range [][]string{{"--max-conns", "0"}, {"--max-streams", "-1"}, {"--write-timeout", "0s"}, {"--tls-cert", "x"}, {"--tls-client-ca", "x"}} {
		if r := runCLI(t, "", append([]string{"server", "--client-addr", "127.0.0.1:0"}, bad...)...); r.code != exitUsage {
			t.Errorf("server %v: %s", bad, r)
		}
	}
}

// dialAdmitted opens a connection the server admitted: its first message is the greeting, not
// a refusal. waitListening's probe holds a slot until the server sees it closed, so a refusal
// meanwhile is retried.
func dialAdmitted(t *testing.T, addr string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(cmdDeadline)
	for {
		nc, err := net.DialTimeout("tcp", addr, cmdDeadline)
		if err != nil {
			t.Fatal(err)
		}
		nc.SetReadDeadline(deadline)
		var m map[string]any
		if err := msgpack.NewDecoder(nc).Decode(&m); err != nil {
			nc.Close()
			t.Fatalf("first message: %v", err)
		}
		nc.SetReadDeadline(time.Time{})
		if m["error"] == nil {
			return nc
		}
		nc.Close()
		if time.Now().After(deadline) {
			t.Fatalf("still refused after %v: %v", cmdDeadline, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
