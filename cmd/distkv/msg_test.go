package main

import (
	"io"
	"os"
	"testing"
	"time"
)

// TestMsg: `client msg monitor TOPIC` prints what `client msg send TOPIC VALUE` sends to that
// topic, and nothing sent to another.
func TestMsg(t *testing.T) {
	s := startServer(t)
	pr, pw := io.Pipe()
	p := startProc(t, t.TempDir(), testEnv(), pw, "client", "--addr", s.addr, "msg", "monitor", "home.door")
	lr := newLineReader(pr)
	t.Cleanup(func() { pw.Close() })

	// The monitor's start is not visible from outside: send until the first message shows.
	deadline := time.After(60 * time.Second)
	for first := ""; first == ""; {
		s.ok(t, "msg", "send", "home", "not for home.door")
		s.ok(t, "msg", "send", "home.door", "{open: true}")
		select {
		case first = <-lr.lines:
			if first != "{open: true}" {
				t.Fatalf("monitor printed %q, want {open: true}", first)
			}
		case <-time.After(500 * time.Millisecond):
		case <-deadline:
			t.Fatal("the monitor printed nothing")
		}
	}
	if r := s.client(t, "msg", "send", "home.door"); r.code != 2 {
		t.Errorf("send without VALUE: %s, want exit code 2", r)
	}
	if code := p.stop(t, os.Interrupt); code != 0 {
		t.Errorf("monitor exit code %d after SIGINT; stderr: %s", code, p.stderr)
	}
}
