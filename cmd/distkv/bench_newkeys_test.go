package main

import (
	"strings"
	"testing"

	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server/servertest"
)

// bench --new-keys writes every value to a key of its own under bench, also across runs.
func TestBenchNewKeys(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 1})
	addr := c.Node(0).Addr().String()
	for range 2 {
		var out, errb strings.Builder
		code := run([]string{"distkv", "bench", "--addr", addr, "--new-keys", "--clients", "4", "--count", "150",
			"--value-size", "16"}, strings.NewReader(""), &out, &errb)
		if code != 0 {
			t.Fatalf("bench --new-keys: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
		}
	}
	var kids int
	c.Node(0).Node(func(n *node.Node) { kids = len(n.Children(node.StringPath("bench"))) })
	if kids != 300 {
		t.Fatalf("bench holds %d keys after two runs of 150 writes to new keys, want 300", kids)
	}
	var out, errb strings.Builder
	if code := run([]string{"distkv", "bench", "--addr", addr, "--new-keys", "--op", "get"}, strings.NewReader(""), &out, &errb); code == 0 {
		t.Fatal("bench --new-keys --op get was accepted")
	}
}
