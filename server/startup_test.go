package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/gossip/memnet"
)

// A node whose client port is taken stops with the reason, and the Shutdown that follows (as
// the CLI always calls it) does not close the store a second time.
func TestClientPortTakenWithDataDir(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s, err := New(Config{Name: "taken", DataDir: t.TempDir(), ClientAddr: l.Addr().String(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(context.Background())
	if err == nil || errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "client port") {
		t.Fatalf("Run = %v, want the client port's error", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown after a failed Run: %v", err)
	}
}

// The replicator is set while the store's recovery loop may already read it: with the log
// failing from the start, recover (every second) finds it writable again at 1 s, during the
// join, and reads s.repl; Run sets it when the join gives up (1.2 s, tried at 0.7 and 1.5 s),
// before the loop's next round could order the two. Run with -race.
func TestReplicatorSetWhileRecovering(t *testing.T) {
	nw := memnet.New(1)
	h := nw.Host("10.0.8.1")
	tr, err := h.Transport("10.0.8.1:7946")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Name: "rec", DataDir: t.TempDir(), ClientAddr: "127.0.0.1:0",
		GossipAddr: "10.0.8.1:7946", PeerAddr: "10.0.8.1:7000", Join: []string{"10.0.8.2:7946"},
		JoinTimeout: 1200 * time.Millisecond, Network: h, Transport: tr, Profile: "test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.logErr = errors.New("test: the log failed before the start")
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	deadline := time.Now().Add(30 * time.Second)
	for s.Addr() == nil {
		select {
		case err := <-done:
			t.Fatalf("Run: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the node did not open its client port")
		}
	}
	for {
		s.mu.Lock()
		err := s.logErr
		s.mu.Unlock()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the store did not recover")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Run = %v, want ErrClosed", err)
	}
}
