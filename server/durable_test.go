package server

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
)

// runServer starts a server on cfg and returns it with a stop function.
func runServer(t *testing.T, cfg Config) (*Server, func()) {
	t.Helper()
	cfg.ClientAddr = "127.0.0.1:0"
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	for s.Addr() == nil {
		select {
		case err := <-done:
			t.Fatal(err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return s, func() {
		s.Shutdown(context.Background())
		<-done
	}
}

func write(t *testing.T, s *Server, path string, v int64) {
	t.Helper()
	_, seq, send, _, err := s.Write([]node.Change{{Path: node.StringPath("d", path), Value: node.AppendInt(nil, v)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.finish(context.Background(), seq, send); err != nil {
		t.Fatal(err)
	}
}

func state(s *Server) (dump []node.Entry, origin string, tick uint64) {
	s.Node(func(n *node.Node) {
		n.Walk(nil, node.WalkOptions{MaxDepth: -1}, func(e node.Entry) bool { dump = append(dump, e); return true })
		origin, tick = n.Origin(), n.Tick()
	})
	return
}

func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Name: "d1", DataDir: dir, Fsync: "always", SnapshotEvery: 50}
	s, stop := runServer(t, cfg)
	for i := 0; i < 180; i++ { // several snapshots, then a log tail
		write(t, s, fmt.Sprint(i%40), int64(i))
	}
	s.Write([]node.Change{{Path: node.StringPath("d", "3"), Delete: true}})
	time.Sleep(100 * time.Millisecond) // let a requested snapshot run; correctness does not depend on it
	want, origin, tick := state(s)
	stop()

	s2, stop2 := runServer(t, cfg)
	defer stop2()
	got, origin2, tick2 := state(s2)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after restart the tree differs: %d vs %d entries", len(got), len(want))
	}
	if origin2 != origin || tick2 != tick {
		t.Fatalf("clean restart changed identity: %s/%d -> %s/%d", origin, tick, origin2, tick2)
	}
	write(t, s2, "new", 1)
	if _, _, t3 := state(s2); t3 != tick+1 {
		t.Fatalf("next tick %d, want %d", t3, tick+1)
	}
}

func TestDataDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	_, stop := runServer(t, Config{Name: "d1", DataDir: dir})
	defer stop()
	s, err := New(Config{Name: "d2", DataDir: dir, ClientAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err == nil {
		t.Fatal("a second server opened a data dir in use")
	}
}
