package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestNodeTicks: `client node ticks ORIGIN` lists the origin's ticks the entries hold, with
// --max at most that many.
func TestNodeTicks(t *testing.T) {
	s := startServer(t)
	s.ok(t, "set", "a", "1") // tick 1, superseded by tick 3 (a lone node keeps one link)
	s.ok(t, "set", "b", "2") // tick 2
	s.ok(t, "set", "a", "3") // tick 3
	var st map[string]any
	if err := json.Unmarshal([]byte(s.ok(t, "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	origin, _ := st["origin"].(string)
	if !strings.HasPrefix(origin, "t1~") {
		t.Fatalf("origin %q", origin)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "2\n3\n"},
		{[]string{"--current"}, "2\n3\n"},
		{[]string{"--max", "1"}, "2\n"},
		{[]string{"--json"}, "[2,3]\n"},
	} {
		args := append(append([]string{"node", "ticks"}, tc.args...), origin)
		if got := s.ok(t, args...); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.args, got, tc.want)
		}
	}
	if got := s.ok(t, "node", "ticks", "nobody~1"); got != "" {
		t.Errorf("unknown origin: %q", got)
	}
	if r := s.client(t, "node", "ticks"); r.code != 2 {
		t.Errorf("no ORIGIN: %s, want exit code 2", r)
	}
}

// TestNodeDrop: `client node drop NAME` sends kill_node; the server's refusals (its own
// origin, an unknown node) reach the user as errors, and a missing NAME is a usage error.
func TestNodeDrop(t *testing.T) {
	s := startServer(t)
	var st map[string]any
	if err := json.Unmarshal([]byte(s.ok(t, "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	origin, _ := st["origin"].(string)
	for name, want := range map[string]string{origin: "is this node", "nobody": "no node nobody"} {
		if r := s.client(t, "node", "drop", name); r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("drop %s: %s, want an error with %q", name, r, want)
		}
	}
	if r := s.client(t, "node", "drop"); r.code != 2 {
		t.Errorf("no NAME: %s, want exit code 2", r)
	}
}
