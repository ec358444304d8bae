package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/gossip"
	"github.com/distkv/distkv/gossip/memnet"
	"github.com/distkv/distkv/gossip/wire"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server"
)

// sdDeadline bounds a shutdown in these tests: generous (the machine is shared), and far
// below "never".
const sdDeadline = 20 * time.Second

// sdLog is a server log kept in memory, to check that a shutdown logs no error.
type sdLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *sdLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *sdLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// sdDonor is a fake ready member: serf with the tags of a ready node, and a data plane that
// answers a vector request and a state request as far as stall says, then stops answering
// (a donor gone unreachable mid-way), holding the connection open until the client drops it.
type sdDonor struct {
	g       *gossip.Gossip
	ln      net.Listener
	stalled chan struct{} // closed when a request was left hanging
	once    sync.Once
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn // closed at cleanup, so that a server that never hangs up fails the test, not the run
}

const (
	stallVector = iota // never answer the vector request: the catch-up hangs
	stallState         // answer the vector, send a state header and one chunk, then hang
)

func newSDDonor(t *testing.T, nw *memnet.Network, stall int) *sdDonor {
	t.Helper()
	const host = "10.0.9.1"
	h := nw.Host(host)
	ln, err := h.Listen(host + ":7000")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := h.Transport(host + ":7946")
	if err != nil {
		t.Fatal(err)
	}
	g, err := gossip.New(gossip.Config{Name: "donor", BindAddr: host + ":7946", Transport: tr, Profile: gossip.ProfileTest,
		Logger: slog.New(slog.NewTextHandler(&sdLog{}, nil)),
		Tags:   map[string]string{"peer": host + ":7000", "client": "", "ready": "1", "origin": "donor~1"}})
	if err != nil {
		t.Fatal(err)
	}
	d := &sdDonor{g: g, ln: ln, stalled: make(chan struct{})}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			d.mu.Lock()
			d.conns = append(d.conns, conn)
			d.mu.Unlock()
			d.wg.Add(1)
			go func() { defer d.wg.Done(); d.serve(conn, stall) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		g.Shutdown()
		d.mu.Lock()
		for _, c := range d.conns {
			c.Close()
		}
		d.mu.Unlock()
		d.wg.Wait()
	})
	return d
}

func (d *sdDonor) serve(conn net.Conn, stall int) {
	defer conn.Close()
	br, bw := bufio.NewReader(conn), bufio.NewWriter(conn)
	hang := func() {
		d.once.Do(func() { close(d.stalled) })
		for { // until the client closes the connection
			if _, _, err := gossip.ReadFrame(br, 1<<20, nil); err != nil {
				return
			}
		}
	}
	if t, _, err := gossip.ReadFrame(br, 1<<20, nil); err != nil || t != wire.MsgHello {
		return
	}
	t, _, err := gossip.ReadFrame(br, 1<<20, nil)
	if err != nil {
		return
	}
	v := wire.Vector{Name: "donor", Origin: "donor~1", Highest: map[string]uint64{"donor~1": 2}, Tock: 2, Ready: true}
	switch {
	case t == wire.MsgVectorReq && stall == stallState:
		gossip.WriteFrame(bw, wire.MsgVector, v.Append(nil))
		bw.Flush()
	case t == wire.MsgStateReq:
		gossip.WriteFrame(bw, wire.MsgStateHeader, v.Append(nil))
		u := &node.Update{Origin: "donor~1", Tick: 1, Tock: 1, Ops: []node.Op{{Path: node.StringPath("a"), Value: node.AppendInt(nil, 1)}}}
		gossip.WriteFrame(bw, wire.MsgStateChunk, wire.AppendUpdates(nil, []*node.Update{u}))
		bw.Flush()
		hang()
	default:
		hang()
	}
}

// testShutdownWhileStarting starts a node joining the donor, waits until its start hangs on
// the donor, shuts it down, and checks that Shutdown and Run return promptly, Run with
// ErrClosed, and that nothing was logged at error level.
func testShutdownWhileStarting(t *testing.T, stall int, dataDir string) {
	nw := memnet.New(1)
	d := newSDDonor(t, nw, stall)
	const host = "10.0.9.2"
	h := nw.Host(host)
	tr, err := h.Transport(host + ":7946")
	if err != nil {
		t.Fatal(err)
	}
	log := &sdLog{}
	s, err := server.New(server.Config{Name: "starting", ClientAddr: "127.0.0.1:0", DataDir: dataDir,
		GossipAddr: host + ":7946", PeerAddr: host + ":7000", Join: []string{"10.0.9.1:7946"},
		Network: h, Transport: tr, Profile: gossip.ProfileTest, Logger: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	select {
	case <-d.stalled:
	case err := <-done:
		t.Fatalf("Run returned %v before its start reached the donor\n%s", err, log)
	case <-time.After(sdDeadline):
		t.Fatalf("the start did not reach the donor within %v\n%s", sdDeadline, log)
	}
	time.Sleep(100 * time.Millisecond) // well inside the hanging request
	ctx, cancel := context.WithTimeout(context.Background(), sdDeadline)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown while starting: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, server.ErrClosed) {
			t.Errorf("Run returned %v, want ErrClosed", err)
		}
	case <-time.After(sdDeadline):
		t.Fatalf("Run did not return within %v of Shutdown\n%s", sdDeadline, log)
	}
	if s.Addr() != nil {
		t.Errorf("the client port was opened although the start was cut short")
	}
	for _, line := range strings.Split(log.String(), "\n") {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("logged during the shutdown: %s", line)
		}
	}
}

// TestShutdownMidCatchUp: a node whose donor stopped answering in the middle of the catch-up
// still shuts down at once.
func TestShutdownMidCatchUp(t *testing.T) {
	testShutdownWhileStarting(t, stallVector, "")
}

// TestShutdownMidStateTransfer: a node taking a donor's state, which stalls after the first
// chunk, still shuts down at once, and closes its data directory cleanly.
func TestShutdownMidStateTransfer(t *testing.T) {
	testShutdownWhileStarting(t, stallState, t.TempDir())
}
