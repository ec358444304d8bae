package server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/distkv/distkv/clientproto"
)

// nextMessage takes a request that is all buffered from the buffer itself, and one that is
// not, or is too large, from ReadMessage, with its errors; it flushes only before it may block.
func TestNextMessage(t *testing.T) {
	flushes := 0
	flush := func() { flushes++ }
	m1 := clientproto.NewMsg(1).Str("action", "get_value").Bytes()
	m2 := clientproto.NewMsg(2).Str("action", "get_tock").Bytes()
	br := bufio.NewReader(bytes.NewReader(append(append([]byte(nil), m1...), m2...)))
	b, inBuf, err := nextMessage(br, 1<<20, flush)
	if err != nil || !inBuf || !bytes.Equal(b, m1) {
		t.Fatalf("first: % x, in buffer %v, %v", b, inBuf, err)
	}
	br.Discard(len(b))
	if b, inBuf, err = nextMessage(br, 1<<20, flush); err != nil || !inBuf || !bytes.Equal(b, m2) {
		t.Fatalf("second: % x, in buffer %v, %v", b, inBuf, err)
	}
	if flushes != 1 {
		t.Fatalf("%d flushes for two messages, the second already buffered: want 1 (before the first read)", flushes)
	}
	br.Discard(len(b))
	if _, _, err = nextMessage(br, 1<<20, flush); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
	if flushes != 2 {
		t.Fatalf("%d flushes: want 2, the last before waiting for a message that never came", flushes)
	}

	// One byte per read: only ReadMessage sees it whole.
	br = bufio.NewReader(iotest.OneByteReader(bytes.NewReader(m1)))
	if b, inBuf, err = nextMessage(br, 1<<20, flush); err != nil || inBuf || !bytes.Equal(b, m1) {
		t.Fatalf("split: % x, in buffer %v, %v", b, inBuf, err)
	}

	// Larger than max: ReadMessage's error.
	br = bufio.NewReader(bytes.NewReader(m1))
	if _, _, err = nextMessage(br, len(m1)-1, flush); !errors.Is(err, clientproto.ErrTooLarge) {
		t.Fatalf("too large: %v, want ErrTooLarge", err)
	}
}
