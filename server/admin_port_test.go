package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
)

// TestAdminPortTaken: with AdminBestEffort (the CLI's default address) a taken admin port
// leaves the node serving without it; an address given explicitly must open.
func TestAdminPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	s := ptStart(t, Config{AdminAddr: taken.Addr().String(), AdminBestEffort: true})
	if a := s.S.AdminAddr(); a != nil {
		t.Errorf("admin port open on %v", a)
	}
	s.dial(t) // the client port serves

	strict, err := New(Config{Name: "t", ClientAddr: "127.0.0.1:0", AdminAddr: taken.Addr().String(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	err = strict.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "admin port") {
		t.Fatalf("Run with a taken explicit admin port: %v, want an admin port error", err)
	}
	strict.Shutdown(context.Background())
}
