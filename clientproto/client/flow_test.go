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
	for i := range n {
		if _, err := c.Set(ctx, node.Path{node.String("f"), node.Int(int64(i))}, node.AppendInt(nil, int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	st, err := c.Tree(ctx, node.StringPath("f"), client.TreeOptions{MinDepth: 1})
	if err != nil {
		t.Fatal(err)
	}
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
		if i == 50 {
			// A pause: the server fills the window and stops; nothing more piles up here.
			time.Sleep(300 * time.Millisecond)
			if b := client.Buffered(st); b > int(q)-1 {
				t.Fatalf("%d replies buffered while paused, the window is %d", b, q)
			}
		}
	}
}
