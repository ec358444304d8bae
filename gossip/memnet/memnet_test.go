package memnet

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func mustTransport(t *testing.T, n *Network, addr string) *Transport {
	t.Helper()
	tr, err := n.Transport(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown() })
	return tr
}

func TestListenDialAccept(t *testing.T) {
	n := New(1)
	a, b := n.Host("a"), n.Host("b")
	ln, err := a.Listen(":0") // the host's name fills an empty host
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); host != "a" {
		t.Errorf("Listen(:0) bound %s, want host a", ln.Addr())
	}
	if _, err := b.Listen(ln.Addr().String()); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second bind of %s = %v, want EADDRINUSE", ln.Addr(), err)
	}
	ln2, err := a.Listen(":0")
	if err != nil {
		t.Fatal(err)
	}
	if ln2.Addr().String() == ln.Addr().String() {
		t.Errorf("port 0 gave the same address twice: %s", ln.Addr())
	}
	_ = ln2.Close()

	c, err := b.Dial(context.Background(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if s.RemoteAddr().String() != c.LocalAddr().String() || s.LocalAddr().String() != ln.Addr().String() {
		t.Errorf("addresses: server sees %s->%s, client %s->%s", s.RemoteAddr(), s.LocalAddr(), c.LocalAddr(), c.RemoteAddr())
	}
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if got, err := io.ReadAll(s); string(got) != "hi" || err != nil {
		t.Errorf("ReadAll = %q, %v", got, err)
	}
	_ = s.Close()

	if _, err := b.Dial(context.Background(), "a:1"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial to nothing = %v, want ECONNREFUSED", err)
	}
}

// TestListenerClose checks that Close unblocks Accept, closes queued streams,
// frees the address and refuses later dials.
func TestListenerClose(t *testing.T) {
	n := New(1)
	ln, err := n.Host("a").Listen("a:80")
	if err != nil {
		t.Fatal(err)
	}
	queued, err := n.Host("b").Dial(context.Background(), "a:80")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan error, 1)
	go func() {
		time.Sleep(10 * time.Millisecond)
		_ = ln.Close()
		_, err := ln.Accept()
		accepted <- err
	}()
	if err := <-accepted; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
	}
	if _, err := queued.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read on a stream never accepted = %v, want EOF", err)
	}
	if _, err := n.Host("b").Dial(context.Background(), "a:80"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial after Close = %v, want ECONNREFUSED", err)
	}
	ln, err = n.Host("a").Listen("a:80")
	if err != nil {
		t.Fatalf("address not freed by Close: %v", err)
	}
	_ = ln.Close()
}

// TestPartitionCutsStreams checks both planes' stream side: open streams across
// groups are reset, dials across groups fail, and Heal allows new dials.
func TestPartitionCutsStreams(t *testing.T) {
	n := New(1)
	a, b, c := n.Host("a"), n.Host("b"), n.Host("c")
	ln, err := a.Listen("a:80")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	fromB, err := b.Dial(context.Background(), "a:80")
	if err != nil {
		t.Fatal(err)
	}
	fromC, err := c.Dial(context.Background(), "a:80")
	if err != nil {
		t.Fatal(err)
	}
	atA, _ := ln.Accept()
	_, _ = ln.Accept()

	n.Partition([]string{"a", "c"}, []string{"b"})
	if _, err := fromB.Write([]byte("x")); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("write across the partition = %v, want ECONNRESET", err)
	}
	if _, err := atA.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read at the far end = %v, want ECONNRESET", err)
	}
	if _, err := fromC.Write([]byte("x")); err != nil {
		t.Errorf("write inside a group = %v", err)
	}
	if _, err := b.Dial(context.Background(), "a:80"); !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Errorf("dial across the partition = %v, want EHOSTUNREACH", err)
	}
	// "d" is named nowhere: it is in the default group, cut off from a's group.
	if _, err := n.Host("d").Dial(context.Background(), "a:80"); !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Errorf("dial from the default group = %v, want EHOSTUNREACH", err)
	}

	n.Heal()
	again, err := b.Dial(context.Background(), "a:80")
	if err != nil {
		t.Fatalf("dial after Heal: %v", err)
	}
	_ = again.Close()
	if _, err := fromB.Write([]byte("x")); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("a reset stream must stay broken after Heal, got %v", err)
	}
	for _, c := range []net.Conn{fromB, fromC, atA} {
		_ = c.Close()
	}
}

func recvPacket(t *testing.T, tr *Transport, within time.Duration) *memberlist.Packet {
	t.Helper()
	select {
	case p := <-tr.PacketCh():
		return p
	case <-time.After(within):
		return nil
	}
}

func TestPackets(t *testing.T) {
	n := New(1)
	a := mustTransport(t, n, "10.0.0.1:7946")
	b := mustTransport(t, n, "10.0.0.2:7946")

	buf := []byte("ping")
	if _, err := a.WriteTo(buf, b.Addr()); err != nil {
		t.Fatal(err)
	}
	buf[0] = 'X' // the network must have copied the packet
	p := recvPacket(t, b, time.Second)
	if p == nil || string(p.Buf) != "ping" || p.From.String() != a.Addr() {
		t.Fatalf("got packet %+v, want ping from %s", p, a.Addr())
	}

	n.Partition([]string{"10.0.0.1"})
	if _, err := a.WriteTo([]byte("lost"), b.Addr()); err != nil {
		t.Errorf("a lost packet must still look sent, like UDP: %v", err)
	}
	if p := recvPacket(t, b, 20*time.Millisecond); p != nil {
		t.Errorf("packet crossed the partition: %q", p.Buf)
	}
	n.Heal()
	_, _ = a.WriteToAddress([]byte("back"), memberlist.Address{Addr: b.Addr(), Name: "b"})
	if p := recvPacket(t, b, time.Second); p == nil || string(p.Buf) != "back" {
		t.Errorf("no packet after Heal")
	}

	if _, err := a.WriteTo(make([]byte, maxDatagram+1), b.Addr()); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("oversized datagram = %v, want EMSGSIZE", err)
	}
	if _, err := a.WriteTo([]byte("x"), "10.9.9.9:1"); err != nil {
		t.Errorf("packet to nowhere = %v, want silent loss", err)
	}
}

// TestPacketQueueDrops checks that a full receive queue drops instead of
// blocking the sender.
func TestPacketQueueDrops(t *testing.T) {
	n := New(1)
	a := mustTransport(t, n, "10.0.0.1:1")
	b := mustTransport(t, n, "10.0.0.2:1")
	for range packetQueue + 100 {
		_, _ = a.WriteTo([]byte("x"), b.Addr())
	}
	if got := len(b.PacketCh()); got != packetQueue {
		t.Errorf("queued %d packets, want %d", got, packetQueue)
	}
}

// TestLossIsSeeded checks the loss fraction and that one seed replays the same
// drops for the same packet sequence.
func TestLossIsSeeded(t *testing.T) {
	pattern := func(seed int64) []bool {
		n := New(seed)
		a := mustTransport(t, n, "10.0.0.1:1")
		b := mustTransport(t, n, "10.0.0.2:1")
		n.SetLoss(0.3)
		var got []bool
		for range 1000 {
			_, _ = a.WriteTo([]byte("x"), b.Addr())
			select {
			case <-b.PacketCh():
				got = append(got, true)
			default:
				got = append(got, false)
			}
		}
		return got
	}
	p1, p2, p3 := pattern(7), pattern(7), pattern(8)
	delivered, same78 := 0, true
	for i := range p1 {
		if p1[i] != p2[i] {
			t.Fatalf("same seed, different fate for packet %d", i)
		}
		if p1[i] {
			delivered++
		}
		same78 = same78 && p1[i] == p3[i]
	}
	if delivered < 600 || delivered > 800 {
		t.Errorf("delivered %d of 1000 at 30%% loss", delivered)
	}
	if same78 {
		t.Errorf("seeds 7 and 8 dropped exactly the same packets")
	}
}

func TestFinalAdvertiseAddr(t *testing.T) {
	n := New(1)
	tr := mustTransport(t, n, "10.0.0.1:0")
	ip, port, err := tr.FinalAdvertiseAddr("", 0)
	if err != nil || net.JoinHostPort(ip.String(), strconv.Itoa(port)) != tr.Addr() {
		t.Errorf("FinalAdvertiseAddr = %v %d %v, want %s", ip, port, err, tr.Addr())
	}
	ip, port, err = tr.FinalAdvertiseAddr("192.168.1.1", 99)
	if err != nil || ip.String() != "192.168.1.1" || port != 99 {
		t.Errorf("explicit advertise = %v %d %v", ip, port, err)
	}
	if _, err := n.Transport("not-an-ip:1"); err == nil {
		t.Errorf("a transport on a host name must be refused (memberlist advertises IPs)")
	}
}

// TestTransportShutdown checks that Shutdown really stops everything: owned
// streams close at both ends, a dial blocked on a full backlog returns, the
// address is freed and packets stop.
func TestTransportShutdown(t *testing.T) {
	n := New(1)
	a := mustTransport(t, n, "10.0.0.1:7946")
	b := mustTransport(t, n, "10.0.0.2:7946")

	out, err := b.DialTimeout(a.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	in := <-a.StreamCh()
	// Nobody reads StreamCh now: fill the backlog so that the next dial blocks.
	for range backlog {
		if _, err := b.DialTimeout(a.Addr(), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	blocked := make(chan error, 1)
	go func() {
		_, err := b.DialTimeout(a.Addr(), time.Minute)
		blocked <- err
	}()
	time.Sleep(20 * time.Millisecond)

	start := time.Now()
	if err := a.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := <-blocked; err == nil {
		t.Errorf("dial blocked on the backlog succeeded after Shutdown")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("blocked dial took %v to return", d)
	}
	if _, err := out.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("peer of a shut-down transport reads %v, want EOF", err)
	}
	if _, err := in.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("owned stream after Shutdown reads %v, want net.ErrClosed", err)
	}
	if _, err := a.WriteTo([]byte("x"), b.Addr()); err == nil {
		t.Errorf("WriteTo after Shutdown succeeded")
	}
	if _, err := b.DialTimeout(a.Addr(), time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial after Shutdown = %v, want ECONNREFUSED", err)
	}
	if err := a.Shutdown(); err != nil {
		t.Errorf("second Shutdown = %v", err)
	}
	a2 := mustTransport(t, n, a.Addr()) // the address is free again
	_, _ = b.WriteTo([]byte("x"), a2.Addr())
	if p := recvPacket(t, a2, time.Second); p == nil {
		t.Errorf("no packet to the rebound address")
	}
	_ = out.Close()
}
