package gossip

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/distkv/distkv/gossip/memnet"
)

var _ Network = (*memnet.Host)(nil) // memnet's hosts serve as the data plane in tests

// frame is one frame to write in a test.
type frame = struct {
	typ  byte
	body []byte
}

// frames encodes fs as WriteFrame writes them.
func frames(t testing.TB, fs ...frame) []byte {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	for _, f := range fs {
		if err := WriteFrame(w, f.typ, f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestFrameRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789"), 30_000) // 300 KB: read in growing chunks
	in := []frame{{1, []byte("hello")}, {2, nil}, {255, big}, {7, []byte{0}}}
	raw := frames(t, in...)
	if got := binary.BigEndian.Uint32(raw[:4]); got != 5 || raw[4] != 1 || string(raw[5:10]) != "hello" {
		t.Fatalf("wire layout: % x", raw[:10])
	}
	r := bufio.NewReader(bytes.NewReader(raw))
	for i, want := range in {
		typ, body, err := ReadFrame(r, len(big), nil)
		if err != nil || typ != want.typ || !bytes.Equal(body, want.body) {
			t.Fatalf("frame %d: type %d, %d bytes, %v; want type %d, %d bytes", i, typ, len(body), err, want.typ, len(want.body))
		}
	}
	if _, _, err := ReadFrame(r, 100, nil); err != io.EOF {
		t.Errorf("after the last frame: %v, want io.EOF", err)
	}
}

// TestReadFrameReusesBuffer checks that a large enough buf is used, so a
// reader loop does not allocate per frame.
func TestReadFrameReusesBuffer(t *testing.T) {
	raw := frames(t, frame{3, []byte("abc")})
	buf := make([]byte, 0, 64)
	_, body, err := ReadFrame(bufio.NewReader(bytes.NewReader(raw)), 64, buf)
	if err != nil || &body[0] != &buf[:1][0] {
		t.Fatalf("body does not alias buf (err %v)", err)
	}
	r := bytes.NewReader(raw)
	br := bufio.NewReader(r)
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(raw)
		br.Reset(r)
		if _, _, err := ReadFrame(br, 64, buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ReadFrame with a big enough buf allocates %v times", allocs)
	}
}

// allocated returns about how many bytes f allocates (the whole process's
// allocations during f, so with some noise).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestReadFrameTooLarge(t *testing.T) {
	hdr := []byte{0xff, 0xff, 0xff, 0xff} // 4 GiB, and nothing follows
	var err error
	r := bufio.NewReader(bytes.NewReader(hdr))
	n := allocated(func() { _, _, err = ReadFrame(r, 1<<20, nil) })
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("4 GiB header with a 1 MiB limit: %v, want ErrFrameTooLarge", err)
	}
	// The error message costs a few hundred bytes; the margin absorbs
	// whatever other goroutines allocate meanwhile. Nothing near 1 MiB.
	if n > 64<<10 {
		t.Errorf("rejecting a too-large header allocated %d bytes", n)
	}
	raw := frames(t, frame{1, make([]byte, 101)})
	if _, _, err := ReadFrame(bufio.NewReader(bytes.NewReader(raw)), 100, nil); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("101-byte body with limit 100: %v", err)
	}
	if _, _, err := ReadFrame(bufio.NewReader(bytes.NewReader(raw)), 101, nil); err != nil {
		t.Errorf("101-byte body with limit 101: %v", err)
	}
}

// TestReadFrameLyingHeader checks that a header announcing the maximum with a
// few bytes behind it costs about what arrived, not the maximum.
func TestReadFrameLyingHeader(t *testing.T) {
	raw := []byte{0, 0xf0, 0, 0, 9, 'x', 'y'} // 15 MiB announced, 2 bytes sent
	var err error
	r := bufio.NewReader(bytes.NewReader(raw))
	n := allocated(func() { _, _, err = ReadFrame(r, 16<<20, nil) })
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("lying header: %v, want io.ErrUnexpectedEOF", err)
	}
	if n > 2*readChunk {
		t.Errorf("a lying 15 MiB header allocated %d bytes", n)
	}
}

func TestReadFrameShort(t *testing.T) {
	raw := frames(t, frame{4, []byte("body")})
	for cut := 1; cut < len(raw); cut++ {
		_, _, err := ReadFrame(bufio.NewReader(bytes.NewReader(raw[:cut])), 100, nil)
		if err != io.ErrUnexpectedEOF {
			t.Errorf("frame cut after %d of %d bytes: %v, want io.ErrUnexpectedEOF", cut, len(raw), err)
		}
	}
}

// exchange writes two frames from a dialled stream and reads them at the
// accepted end.
func exchange(t *testing.T, nw Network, listenAddr string) {
	ln, err := nw.Listen(listenAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	got := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err
			return
		}
		defer func() { _ = c.Close() }()
		r := bufio.NewReader(c)
		for _, want := range []string{"one", "two"} {
			if _, body, err := ReadFrame(r, 16, nil); err != nil || string(body) != want {
				got <- errors.Join(err, errors.New("got "+string(body)+", want "+want))
				return
			}
		}
		got <- nil
	}()
	c, err := nw.Dial(context.Background(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	w := bufio.NewWriter(c)
	_ = WriteFrame(w, 1, []byte("one"))
	_ = WriteFrame(w, 1, []byte("two"))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

func TestNetworks(t *testing.T) {
	t.Run("TCP", func(t *testing.T) { exchange(t, TCP{}, "127.0.0.1:0") })
	t.Run("memnet", func(t *testing.T) {
		n := memnet.New(1)
		exchange(t, n.Host("10.0.0.1"), "10.0.0.1:0")
	})
}

// FuzzReadFrame feeds arbitrary streams to ReadFrame: it must never read a body
// over the limit, fail only in the documented ways, and give back frames that
// re-encode to exactly the bytes consumed.
func FuzzReadFrame(f *testing.F) {
	f.Add(frames(f, frame{1, []byte("hello")}, frame{2, nil}))
	f.Add([]byte{})
	f.Add([]byte{0, 0})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 9})
	f.Add([]byte{0, 0, 0, 3, 1, 'a'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Add(frames(f, frame{0, make([]byte, 64)}))
	f.Add(frames(f, frame{0, make([]byte, 65)}))
	const limit = 64
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		buf := make([]byte, 0, 16) // sometimes big enough, sometimes not
		for {
			typ, body, err := ReadFrame(r, limit, buf)
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			if len(body) > limit {
				t.Fatalf("body of %d bytes over the limit %d", len(body), limit)
			}
			if err := WriteFrame(w, typ, body); err != nil {
				t.Fatal(err)
			}
		}
		_ = w.Flush()
		if !bytes.HasPrefix(data, out.Bytes()) {
			t.Fatalf("re-encoded frames differ from the input they came from")
		}
	})
}
