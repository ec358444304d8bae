package memnet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/nettest"
)

// TestConnConformance runs x/net's net.Conn conformance suite over a dialled
// memnet stream.
func TestConnConformance(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		n := New(1)
		ln, err := n.Host("a").Listen("10.0.0.1:80")
		if err != nil {
			return nil, nil, nil, err
		}
		c1, err = n.Host("b").Dial(context.Background(), "10.0.0.1:80")
		if err != nil {
			return nil, nil, nil, err
		}
		c2, err = ln.Accept()
		if err != nil {
			return nil, nil, nil, err
		}
		return c1, c2, func() { _ = c1.Close(); _ = c2.Close(); _ = ln.Close() }, nil
	})
}

// TestPipeBuffers checks that a write completes without a reader up to the
// buffer size, as small TCP writes do, and blocks beyond it.
func TestPipeBuffers(t *testing.T) {
	a, b := newPipe("a:1", "b:1")
	defer func() { _ = a.Close(); _ = b.Close() }()
	if n, err := a.Write(make([]byte, pipeBuffer)); n != pipeBuffer || err != nil {
		t.Fatalf("Write(buffer size) = %d, %v", n, err)
	}
	_ = a.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
	n, err := a.Write([]byte{1})
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write on a full pipe = %d, %v; want a timeout", n, err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("timeout error %v is not a net.Error with Timeout()", err)
	}
	if got, err := io.ReadFull(b, make([]byte, pipeBuffer)); got != pipeBuffer || err != nil {
		t.Fatalf("ReadFull = %d, %v", got, err)
	}
}

// TestPipeClose checks the close semantics: the peer drains, then sees EOF;
// writing to a closed peer fails; the closer's own calls fail with ErrClosed.
func TestPipeClose(t *testing.T) {
	a, b := newPipe("a:1", "b:1")
	if _, err := a.Write([]byte("tail")); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close = %v, want net.ErrClosed", err)
	}
	got, err := io.ReadAll(b)
	if string(got) != "tail" || err != nil {
		t.Errorf("peer ReadAll = %q, %v; want the tail then EOF", got, err)
	}
	if _, err := b.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("write to closed peer = %v, want EPIPE", err)
	}
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after own Close = %v, want net.ErrClosed", err)
	}
	_ = b.Close()
}

// TestPipeReset checks that a reset breaks blocked and later calls at both
// ends, discarding buffered bytes as a TCP reset does.
func TestPipeReset(t *testing.T) {
	a, b := newPipe("a:1", "b:1")
	defer func() { _ = a.Close(); _ = b.Close() }()
	if _, err := a.Write([]byte("lost")); err != nil {
		t.Fatal(err)
	}
	blocked := make(chan error, 1)
	go func() {
		_, err := a.Read(make([]byte, 1))
		blocked <- err
	}()
	time.Sleep(10 * time.Millisecond)
	a.reset()
	if err := <-blocked; !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("blocked Read after reset = %v, want ECONNRESET", err)
	}
	if _, err := b.Read(make([]byte, 4)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("peer Read after reset = %v, want ECONNRESET", err)
	}
	if _, err := b.Write([]byte("x")); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("peer Write after reset = %v, want ECONNRESET", err)
	}
}

// TestPipeLargeTransfer pushes more than the buffer through with a concurrent
// reader, exercising wrap-around and backpressure.
func TestPipeLargeTransfer(t *testing.T) {
	a, b := newPipe("a:1", "b:1")
	want := bytes.Repeat([]byte("0123456789abcdef"), 50_000) // 800 KB
	go func() {
		_, _ = a.Write(want)
		_ = a.Close()
	}()
	var got bytes.Buffer
	buf := make([]byte, 3000) // odd size: reads do not align with writes
	for {
		n, err := b.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("transfer corrupted: got %d bytes, want %d", got.Len(), len(want))
	}
	_ = b.Close()
}

// TestPipeWriteCompletesBeforePeerClose checks that a Write whose bytes were
// all taken reports success even if the reader closes right after reading
// them (memberlist's push/pull reader does exactly that).
func TestPipeWriteCompletesBeforePeerClose(t *testing.T) {
	msg := make([]byte, 1000)
	for range 300 {
		a, b := newPipe("a:1", "b:1")
		go func() {
			_, _ = io.ReadFull(b, make([]byte, len(msg)))
			_ = b.Close()
		}()
		if n, err := a.Write(msg); n != len(msg) || err != nil {
			t.Fatalf("Write = %d, %v; want all bytes and no error", n, err)
		}
		_ = a.Close()
	}
}
