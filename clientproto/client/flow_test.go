package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/node"
)

// The Go client agrees on the server's window and acks what its caller takes: a caller that
// pauses inside a long walk holds at most qlen-1 replies, and gets every entry in order after.
func TestClientFlowControl(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, startServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q := client.Qlen(c)
	if q != 10 {
		t.Fatalf("qlen %d, want 10 (the server's default)", q)
	}
	const n = 300
	st := fillAndWalk(ctx, t, c, n)
	readInOrder(ctx, t, st, n, func(i int) {
		if i == 50 {
			// A pause: the server fills the window and stops; nothing more piles up here.
			time.Sleep(300 * time.Millisecond)
			if b := client.Buffered(st); b > int(q)-1 {
				t.Fatalf("%d replies buffered while paused, the window is %d", b, q)
			}
		}
	})
}

// fillAndWalk writes f/0 .. f/n-1 and starts a walk of f.
func fillAndWalk(ctx context.Context, t *testing.T, c *client.Client, n int) *client.Stream {
	t.Helper()
	for i := range n {
		if _, err := c.Set(ctx, node.Path{node.String("f"), node.Int(int64(i))}, node.AppendInt(nil, int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	st, err := c.Tree(ctx, node.StringPath("f"), client.TreeOptions{MinDepth: 1})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// readInOrder reads st to its end, checking it holds f/0 .. f/n-1 in order; each is called
// after entry i.
func readInOrder(ctx context.Context, t *testing.T, st *client.Stream, n int, each func(i int)) {
	t.Helper()
	for i := 0; ; i++ {
		e, err := st.Next(ctx)
		if errors.Is(err, client.ErrEnd) {
			if i != n {
				t.Fatalf("%d entries, want %d", i, n)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.Path[1] != node.Int(int64(i)) {
			t.Fatalf("entry %d: %v", i, e.Path)
		}
		each(i)
	}
}

// WithoutFlowControl leaves the greeting's window unanswered: the server then does not window
// the connection's streams, and a paused reader gets more than a window's worth queued.
func TestClientWithoutFlowControl(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, startServer(t), client.WithoutFlowControl())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if q := client.Qlen(c); q != 0 {
		t.Fatalf("qlen %d, want 0 (none agreed)", q)
	}
	const n = 100
	st := fillAndWalk(ctx, t, c, n)
	deadline := time.Now().Add(30 * time.Second)
	for client.Buffered(st) < 20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if b := client.Buffered(st); b < 20 {
		t.Fatalf("%d replies buffered for a reader that takes none: the stream is still windowed", b)
	}
	readInOrder(ctx, t, st, n, func(int) {})
}
