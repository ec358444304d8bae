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
