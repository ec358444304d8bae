package secure

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/gossip"
	"github.com/hashicorp/memberlist"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func ring(t *testing.T, primary []byte, others ...[]byte) *memberlist.Keyring {
	t.Helper()
	kr, err := memberlist.NewKeyring(others, primary)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := ln.Accept(); ch <- res{c, err} }()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { a.Close(); r.c.Close() })
	return a, r.c
}

// tap records what is written through it once capture is on, instead of sending it.
type tap struct {
	net.Conn
	mu      sync.Mutex
	capture bool
	out     [][]byte
}

func (p *tap) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.capture {
		p.out = append(p.out, append([]byte(nil), b...))
		return len(b), nil
	}
	return p.Conn.Write(b)
}

// session returns a handshaken client Conn writing through a tap on one end, and the server Conn
// on the other end.
func session(t *testing.T, ck, sk KeySource) (*Conn, *tap, *Conn, net.Conn) {
	t.Helper()
	a, b := tcpPair(t)
	cn, sn := Wrap(nil, ck), Wrap(nil, sk)
	tp := &tap{Conn: a}
	c := &Conn{Conn: tp, nw: cn, client: true}
	s := &Conn{Conn: b, nw: sn}
	errc := make(chan error, 1)
	go func() { errc <- s.Handshake() }()
	if err := c.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, tp, s, a
}

func readAllErr(c net.Conn) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	return io.ReadAll(c)
}

func TestRoundTrip(t *testing.T) {
	k := ring(t, key(1))
	c, _, s, _ := session(t, k, k)
	big := bytes.Repeat([]byte("distkv"), 3*MaxRecord/6+100) // several records
	go func() {
		c.Write([]byte("hello "))
		c.Write(big)
		c.Close()
	}()
	got, err := readAllErr(s)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if want := append([]byte("hello "), big...); !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d", len(got), len(want))
	}
	// The other direction.
	c2, _, s2, _ := session(t, k, k)
	go func() { s2.Write([]byte("back")); s2.Close() }()
	if got, err := readAllErr(c2); err != nil || string(got) != "back" {
		t.Fatalf("client read %q, %v", got, err)
	}
}

func bufioWriter(w io.Writer) *bufio.Writer { return bufio.NewWriter(w) }

func TestNetworkDialAccept(t *testing.T) {
	kr := ring(t, key(1))
	nw := Wrap(gossip.TCP{}, kr)
	ln, err := nw.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	c, err := nw.Dial(context.Background(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("ping"))
	buf := make([]byte, 4)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo %q, %v", buf, err)
	}
}

// A dialer with another key fails, and so does the acceptor: neither reads data.
func TestWrongKey(t *testing.T) {
	a, b := tcpPair(t)
	c := &Conn{Conn: a, nw: Wrap(nil, ring(t, key(1))), client: true}
	s := &Conn{Conn: b, nw: Wrap(nil, ring(t, key(2)))}
	errc := make(chan error, 1)
	go func() { _, err := s.Read(make([]byte, 1)); errc <- err }()
	if err := c.Handshake(); !errors.Is(err, ErrHandshake) {
		t.Fatalf("client: %v, want ErrHandshake", err)
	}
	if err := <-errc; !errors.Is(err, ErrHandshake) {
		t.Fatalf("server: %v, want ErrHandshake", err)
	}
}

// Any installed key is accepted; the dialer uses its primary.
func TestSecondaryKeyAccepted(t *testing.T) {
	c, _, s, _ := session(t, ring(t, key(1)), ring(t, key(2), key(1)))
	go func() { c.Write([]byte("x")); c.Close() }()
	if got, err := readAllErr(s); err != nil || string(got) != "x" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// A plaintext peer sending a valid-looking frame fails the handshake; Read returns no data.
func TestPlaintextRefused(t *testing.T) {
	a, b := tcpPair(t)
	s := &Conn{Conn: b, nw: Wrap(nil, ring(t, key(1)))}
	go func() {
		bw := bufioWriter(a)
		gossip.WriteFrame(bw, 1, bytes.Repeat([]byte{0x90}, 200))
		bw.Flush()
	}()
	n, err := s.Read(make([]byte, 1024))
	if n != 0 || !errors.Is(err, ErrHandshake) {
		t.Fatalf("read %d bytes, %v; want 0, ErrHandshake", n, err)
	}
	// And a dialer to something that is not a secure peer fails too.
	a2, b2 := tcpPair(t)
	go func() { io.Copy(io.Discard, b2) }()
	go func() { b2.Write(bytes.Repeat([]byte{0}, shelloLen)) }()
	c := &Conn{Conn: a2, nw: Wrap(nil, ring(t, key(1))), client: true}
	if err := c.Handshake(); !errors.Is(err, ErrHandshake) {
		t.Fatalf("dialer: %v, want ErrHandshake", err)
	}
}

// flip flips one byte of the nth write of a side's handshake.
type flip struct {
	net.Conn
	write, at int
	n         int
}

func (f *flip) Write(b []byte) (int, error) {
	f.n++
	if f.n == f.write && f.at < len(b) {
		b = append([]byte(nil), b...)
		b[f.at] ^= 0x40
	}
	return f.Conn.Write(b)
}

// A byte changed anywhere in the handshake makes it fail on both sides.
func TestTamperedHandshake(t *testing.T) {
	k := ring(t, key(1))
	cases := []struct {
		client bool
		write  int
		at     int
	}{
		{true, 1, 0}, {true, 1, 5}, {true, 1, 20}, {true, 1, helloLen - 1}, // client hello
		{false, 1, 30}, {false, 1, helloLen - 1}, {false, 1, shelloLen - 1}, // server hello
		{true, 2, 3}, // finish
	}
	for _, tc := range cases {
		a, b := tcpPair(t)
		var ca, sb net.Conn = a, b
		if tc.client {
			ca = &flip{Conn: a, write: tc.write, at: tc.at}
		} else {
			sb = &flip{Conn: b, write: tc.write, at: tc.at}
		}
		c := &Conn{Conn: ca, nw: Wrap(nil, k), client: true}
		s := &Conn{Conn: sb, nw: Wrap(nil, k)}
		errc := make(chan error, 1)
		go func() { errc <- s.Handshake() }()
		cerr := c.Handshake()
		serr := <-errc
		if serr == nil {
			t.Errorf("%+v: server accepted a tampered handshake (client: %v)", tc, cerr)
		}
		if cerr == nil && !(tc.client && tc.write == 2) {
			t.Errorf("%+v: client accepted a tampered handshake", tc)
		}
	}
}

// capture writes msgs through the client while its tap captures the records.
func capture(c *Conn, tp *tap, msgs ...string) [][]byte {
	tp.mu.Lock()
	tp.capture = true
	tp.mu.Unlock()
	for _, m := range msgs {
		c.Write([]byte(m))
	}
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.capture = false
	out := tp.out
	tp.out = nil
	return out
}

func expectRecordErr(t *testing.T, s *Conn, want string) {
	t.Helper()
	got, err := readAllErr(s)
	if string(got) != want || !errors.Is(err, ErrRecord) {
		t.Fatalf("read %q, %v; want %q then ErrRecord", got, err, want)
	}
}

func TestTamperedRecord(t *testing.T) {
	k := ring(t, key(1))
	for _, at := range []int{0, 3, 4, 5, 8, 20} {
		c, tp, s, raw := session(t, k, k)
		recs := capture(c, tp, "some data")
		r := recs[0]
		r[at%len(r)] ^= 1
		raw.Write(r)
		raw.Close() // a longer length field would otherwise wait for more bytes
		expectRecordErr(t, s, "")
	}
}

func TestReplayedRecord(t *testing.T) {
	k := ring(t, key(1))
	c, tp, s, raw := session(t, k, k)
	recs := capture(c, tp, "once")
	raw.Write(recs[0])
	raw.Write(recs[0])
	expectRecordErr(t, s, "once")
}

func TestReorderedRecords(t *testing.T) {
	k := ring(t, key(1))
	c, tp, s, raw := session(t, k, k)
	recs := capture(c, tp, "first", "second")
	raw.Write(recs[1])
	raw.Write(recs[0])
	expectRecordErr(t, s, "")
}

func TestDroppedRecord(t *testing.T) {
	k := ring(t, key(1))
	c, tp, s, raw := session(t, k, k)
	recs := capture(c, tp, "first", "second", "third")
	raw.Write(recs[0])
	raw.Write(recs[2])
	expectRecordErr(t, s, "first")
}

// A stream cut without the close record is an error, not a clean EOF; a cut inside a record too.
func TestTruncatedStream(t *testing.T) {
	k := ring(t, key(1))
	c, tp, s, raw := session(t, k, k)
	recs := capture(c, tp, "whole", "cut")
	raw.Write(recs[0])
	raw.Write(recs[1][:len(recs[1])-3])
	raw.Close()
	expectRecordErr(t, s, "whole")

	c2, tp2, s2, raw2 := session(t, k, k)
	recs = capture(c2, tp2, "whole")
	raw2.Write(recs[0])
	raw2.Close()
	expectRecordErr(t, s2, "whole")
}

func TestOversizedRecordRefused(t *testing.T) {
	k := ring(t, key(1))
	_, _, s, raw := session(t, k, k)
	hdr := []byte{0xff, 0xff, 0xff, 0xff, recData}
	raw.Write(hdr)
	expectRecordErr(t, s, "")
}

// Removing the key a connection was made with closes it within the check interval.
func TestRemovedKeyClosesConn(t *testing.T) {
	kr := ring(t, key(1))
	nw := Wrap(gossip.TCP{}, kr)
	nw.CheckInterval = 10 * time.Millisecond
	ln, err := nw.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(io.Discard, c)
		served <- err
	}()
	c, err := nw.Dial(context.Background(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("before")); err != nil {
		t.Fatal(err)
	}
	// Rotate: key 2 becomes primary, key 1 goes. Both ends share the keyring here.
	if err := kr.AddKey(key(2)); err != nil {
		t.Fatal(err)
	}
	if err := kr.UseKey(key(2)); err != nil {
		t.Fatal(err)
	}
	if err := kr.RemoveKey(key(1)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = c.Read(make([]byte, 1))
	t.Logf("read: %v", err)
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("dialer read after the key's removal: %v, want the connection closed", err)
	}
	select {
	case err := <-served:
		if err == nil {
			t.Fatal("acceptor saw a clean end; want an error")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("acceptor's connection still open after the key's removal")
	}
}

// A peer that connects and says nothing does not hold up Accept: it returns at once, and the
// next peer's handshake completes while the first one's is still pending.
func TestSlowHandshakerDoesNotBlockAccept(t *testing.T) {
	kr := ring(t, key(1))
	nw := Wrap(gossip.TCP{}, kr)
	nw.HandshakeTimeout = time.Hour // the silent peer stays pending for the whole test
	ln, err := nw.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	accepted := make(chan net.Conn, 2)
	go func() {
		for range 2 {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dialed := make(chan error, 1)
	go func() {
		c, err := nw.Dial(context.Background(), ln.Addr().String())
		if err == nil {
			c.Write([]byte("ok"))
			c.Close()
		}
		dialed <- err
	}()
	var conns []net.Conn
	for len(conns) < 2 {
		select {
		case c := <-accepted:
			defer c.Close()
			conns = append(conns, c)
		case <-time.After(30 * time.Second):
			t.Fatalf("accepted %d connections: the silent peer holds up Accept", len(conns))
		}
	}
	if got, err := readAllErr(conns[1]); err != nil || string(got) != "ok" {
		t.Fatalf("second peer: %q, %v", got, err)
	}
	if err := <-dialed; err != nil {
		t.Fatal(err)
	}
}

// A handshake that does not complete within the timeout fails.
func TestHandshakeTimeout(t *testing.T) {
	a, b := tcpPair(t)
	defer a.Close()
	nw := Wrap(nil, ring(t, key(1)))
	nw.HandshakeTimeout = 100 * time.Millisecond
	s := &Conn{Conn: b, nw: nw}
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, ErrHandshake) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("silent peer: %v, want a handshake timeout", err)
	}
}

// TestRecordsDoNotAllocate: sealing and opening a record reuse the Conn's buffers.
func TestRecordsDoNotAllocate(t *testing.T) {
	k := ring(t, key(1))
	c, _, s, _ := session(t, k, k)
	msg, buf := make([]byte, 200), make([]byte, 200)
	roundTrip := func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(s, buf); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip() // the buffers grow once
	if allocs := testing.AllocsPerRun(100, roundTrip); allocs != 0 {
		t.Errorf("a record written and read allocates %v times", allocs)
	}
}
