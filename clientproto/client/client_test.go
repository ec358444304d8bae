package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server"
)

func startServer(t *testing.T) string {
	t.Helper()
	s, err := server.New(server.Config{Name: "t", ClientAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s.Addr().String()
}

func TestSetGetWatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, startServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := node.StringPath("a", "b")
	if _, err := c.Get(ctx, p); !errors.Is(err, clientproto.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	w, err := c.Watch(ctx, node.StringPath("a"), client.WatchOptions{Fetch: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Next(ctx); !errors.Is(err, client.ErrUptodate) {
		t.Fatalf("want uptodate, got %v", err)
	}
	r, err := c.SetValue(ctx, p, "hello")
	if err != nil || !r.Changed {
		t.Fatalf("set: %v %+v", err, r)
	}
	v, err := c.Get(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if err := v.Decode(&s); err != nil || s != "hello" {
		t.Fatalf("got %q %v", s, err)
	}
	e, err := w.Next(ctx)
	if err != nil || !e.Path.Equal(p) {
		t.Fatalf("watch event %+v %v", e, err)
	}
	if _, err := c.SetValue(ctx, p, "x", client.IfAbsent()); !errors.Is(err, clientproto.ErrChain) {
		t.Fatalf("want chain error, got %v", err)
	}
	if _, err := c.SetValue(ctx, p, "y", client.IfChain(v.Chain[0])); err != nil {
		t.Fatalf("conditional set: %v", err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
