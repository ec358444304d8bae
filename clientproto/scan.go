package clientproto

// The bounded msgpack reader.
//
// The client protocol is a bare stream of msgpack objects with no length prefix, so the
// server must find where one object ends, and refuse it if it is too large or malformed,
// before anything decodes it: msgpack/v5 allocates from the length headers it reads, so a
// five-byte array32 or bin32 header can make it allocate gigabytes (vmihailenco/msgpack
// #376, #401; see docs/protocol.md, "Transport and framing"). ReadMessage walks the object's structure without
// decoding it, with an explicit stack instead of recursion, checks every declared length
// against the limit before reading anything for it, and grows its buffer only as bytes
// arrive.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// MaxDepth is the deepest nesting of arrays and maps a message may have. A top-level
// array or map is at depth 1; a container at depth MaxDepth+1 is malformed, even if empty.
const MaxDepth = 64

var (
	// ErrTooLarge means the message would exceed the size limit. The rest of the
	// stream cannot be found without reading the whole object, so the caller must
	// close the connection. Returned errors wrap it with the sizes.
	ErrTooLarge = errors.New("clientproto: message too large")
	// ErrMalformed means the bytes are not msgpack: the never-used byte 0xc1, or
	// arrays and maps nested deeper than MaxDepth. Returned errors wrap it with the
	// offset.
	ErrMalformed = errors.New("clientproto: malformed msgpack")
)

// ReadMessage reads exactly one msgpack object from r and returns its raw bytes, a new
// slice owned by the caller. Bytes after the object stay in r.
//
// Its allocation is bounded by the bytes actually received, never by what a header
// claims: the buffer grows as data arrives, by doubling, so its capacity is at most twice
// the bytes received plus a small constant, and never more than the object's known
// minimum size (a message that arrives in one piece is copied once into an exactly sized
// slice). Every str/bin/ext length and every array/map count is checked against max
// before anything is read for it (an array of n elements needs at least n more bytes, a
// map of n pairs at least 2n), so a header that claims 4 GiB is refused at once.
//
// Errors:
//   - io.EOF: r ended cleanly before the first byte of an object;
//   - io.ErrUnexpectedEOF: r ended inside an object;
//   - ErrTooLarge (wrapped with the sizes): the object needs more than max bytes; the
//     stream cannot be resynchronised, so the caller must close the connection;
//   - ErrMalformed (wrapped): the byte 0xc1, or nesting deeper than MaxDepth;
//   - any other error from r, unchanged.
//
// An error from r before the first byte of an object (such as a read deadline on an idle
// connection) consumes nothing, so ReadMessage may be called again; after any other error
// the position in the stream is lost and the connection must be closed.
func ReadMessage(r *bufio.Reader, max int) ([]byte, error) {
	s := msgScanner{max: scanLimit(max)}
	var out []byte
	want := 1 // bytes that must be buffered before scanning can progress
	for {
		p, err := r.Peek(want)
		if len(p) < want {
			if errors.Is(err, io.EOF) {
				if s.off == 0 && len(p) == 0 {
					return nil, io.EOF
				}
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		// Everything already buffered, at most the reader's buffer size: these
		// bytes have been received, so copying them is allocation bounded by the
		// input, not by what a header claims.
		if b := r.Buffered(); b > len(p) {
			p, _ = r.Peek(b)
		}
		n, w, err := s.scan(p)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			out = scanGrow(out, n, s.off+s.skip+s.pending)
			out = append(out, p[:n]...)
			_, _ = r.Discard(n) // n <= r.Buffered(): cannot fail
		}
		if s.done {
			return out, nil
		}
		want = w
	}
}

// ScanMessage validates the first msgpack object in b and returns its length, with the
// same rules as ReadMessage with max = len(b). It does not allocate on success.
//
// It returns io.EOF if b is empty. An object that extends past the end of b exceeds the
// limit len(b), so its error wraps both ErrTooLarge and io.ErrUnexpectedEOF (b may just
// be an incomplete prefix of the stream); malformed input gives ErrMalformed.
func ScanMessage(b []byte) (int, error) {
	s := msgScanner{max: uint64(len(b)), inBuffer: true}
	n, _, err := s.scan(b)
	if err != nil {
		return 0, err
	}
	if !s.done {
		// Unreachable with max = len(b) unless b is empty: every length is
		// checked against len(b) before it is needed.
		if len(b) == 0 {
			return 0, io.EOF
		}
		return 0, io.ErrUnexpectedEOF
	}
	return n, nil
}

// scanLimit converts a caller's max to the scanner's unsigned limit.
func scanLimit(max int) uint64 {
	if max < 0 {
		return 0
	}
	return uint64(max)
}

// scanGrow makes room for k more bytes in out. Capacity doubles so that copying stays
// linear, but never beyond limit, a lower bound of the object's final size (all
// declared lengths and counts have been checked against max), nor beyond twice what
// has been received plus a small constant.
func scanGrow(out []byte, k int, limit uint64) []byte {
	need := len(out) + k
	if cap(out) >= need {
		return out
	}
	c := max(2*cap(out), need, 256)
	if uint64(c) > limit {
		c = int(limit) // limit >= need: the bytes already scanned are part of the object
	}
	nb := make([]byte, len(out), c)
	copy(nb, out)
	return nb
}

// Kinds of msgpack formats. Every format is laid out as a header (the type byte, then
// maybe a big-endian length or count, then for ext the type byte) followed by payload
// bytes (scalars, str, bin, ext) or by elements (arrays, maps).
const (
	scanKindBytes   = iota // header, then payload bytes
	scanKindArray          // header, then count elements
	scanKindMap            // header, then 2*count elements
	scanKindInvalid        // 0xc1: never used
)

// scanFormat describes the msgpack format of one type byte.
type scanFormat struct {
	kind    uint8
	hdr     uint8 // header size, type byte included (at most 6)
	lenSize uint8 // size of the big-endian length or count right after the type byte: 0, 1, 2 or 4
	fixed   uint8 // payload size or element count implied by the type byte (when lenSize == 0)
}

// scanFormats maps every type byte to its format.
var scanFormats = func() (t [256]scanFormat) {
	set := func(lo, hi int, f scanFormat) {
		for c := lo; c <= hi; c++ {
			t[c] = f
		}
	}
	set(0x00, 0x7f, scanFormat{kind: scanKindBytes, hdr: 1}) // positive fixint
	// fixmap
	for c := 0x80; c <= 0x8f; c++ {
		t[c] = scanFormat{kind: scanKindMap, hdr: 1, fixed: uint8(c & 0x0f)}
	}
	// fixarray
	for c := 0x90; c <= 0x9f; c++ {
		t[c] = scanFormat{kind: scanKindArray, hdr: 1, fixed: uint8(c & 0x0f)}
	}
	// fixstr
	for c := 0xa0; c <= 0xbf; c++ {
		t[c] = scanFormat{kind: scanKindBytes, hdr: 1, fixed: uint8(c & 0x1f)}
	}
	scalar := func(c, size int) { t[c] = scanFormat{kind: scanKindBytes, hdr: 1, fixed: uint8(size)} }
	scalar(0xc0, 0) // nil
	t[0xc1] = scanFormat{kind: scanKindInvalid, hdr: 1}
	scalar(0xc2, 0) // false
	scalar(0xc3, 0) // true
	lenBytes := func(c, lenSize, extra int) {
		t[c] = scanFormat{kind: scanKindBytes, hdr: uint8(1 + lenSize + extra), lenSize: uint8(lenSize)}
	}
	lenBytes(0xc4, 1, 0) // bin8
	lenBytes(0xc5, 2, 0) // bin16
	lenBytes(0xc6, 4, 0) // bin32
	lenBytes(0xc7, 1, 1) // ext8: length, then the ext type
	lenBytes(0xc8, 2, 1) // ext16
	lenBytes(0xc9, 4, 1) // ext32
	scalar(0xca, 4)      // float32
	scalar(0xcb, 8)      // float64
	scalar(0xcc, 1)      // uint8
	scalar(0xcd, 2)      // uint16
	scalar(0xce, 4)      // uint32
	scalar(0xcf, 8)      // uint64
	scalar(0xd0, 1)      // int8
	scalar(0xd1, 2)      // int16
	scalar(0xd2, 4)      // int32
	scalar(0xd3, 8)      // int64
	// fixext1, 2, 4, 8, 16: the ext type, then that many data bytes.
	for i, size := range []int{1, 2, 4, 8, 16} {
		t[0xd4+i] = scanFormat{kind: scanKindBytes, hdr: 2, fixed: uint8(size)}
	}
	lenBytes(0xd9, 1, 0) // str8
	lenBytes(0xda, 2, 0) // str16
	lenBytes(0xdb, 4, 0) // str32
	t[0xdc] = scanFormat{kind: scanKindArray, hdr: 3, lenSize: 2}
	t[0xdd] = scanFormat{kind: scanKindArray, hdr: 5, lenSize: 4}
	t[0xde] = scanFormat{kind: scanKindMap, hdr: 3, lenSize: 2}
	t[0xdf] = scanFormat{kind: scanKindMap, hdr: 5, lenSize: 4}
	set(0xe0, 0xff, scanFormat{kind: scanKindBytes, hdr: 1}) // negative fixint
	return t
}()

// msgScanner walks one msgpack object incrementally. It is fed successive pieces of the
// stream and keeps, instead of a recursion, a stack of the elements each open container
// still expects.
type msgScanner struct {
	max      uint64
	inBuffer bool   // ScanMessage: the limit is the end of the buffer
	off      uint64 // bytes of the object scanned so far
	skip     uint64 // payload bytes of the current element still to pass over
	pending  uint64 // elements announced by open containers and not yet started: sum of stack
	depth    int    // open containers
	done     bool
	stack    [MaxDepth]uint64 // elements each open container still expects, innermost last
}

// scan advances over p, the next bytes of the stream, and returns how many belong to the
// object. It stops at the end of the object (s.done), on an error, at the end of p, or
// when the next header is not complete in p; want is then how many bytes, from p[n],
// must be available before scan is called again.
//
// Invariant: off + skip + pending <= max, checked before a header is accepted.
func (s *msgScanner) scan(p []byte) (n, want int, err error) {
	if s.done {
		return 0, 0, nil
	}
	// Hot state lives in locals, saved back on every return but errors (which end the scan).
	off, pending, depth := s.off, s.pending, s.depth
	if s.skip > 0 { // the payload of an element begun in an earlier piece
		if avail := uint64(len(p)); avail < s.skip {
			s.skip -= avail
			s.off += avail
			return len(p), 1, nil
		}
		n = int(s.skip)
		off += s.skip
		s.skip = 0
		for depth > 0 && s.stack[depth-1] == 0 { // close finished containers
			depth--
		}
		if depth == 0 {
			s.off, s.pending, s.depth, s.done = off, pending, depth, true
			return n, 0, nil
		}
	}
	for {
		if n == len(p) {
			s.off, s.pending, s.depth = off, pending, depth
			return n, 1, nil
		}
		f := &scanFormats[p[n]]
		if f.kind == scanKindInvalid {
			return n, 0, fmt.Errorf("%w: byte 0xc1 at offset %d", ErrMalformed, off)
		}
		if f.kind != scanKindBytes && depth == MaxDepth {
			return n, 0, fmt.Errorf("%w: arrays and maps nested deeper than %d at offset %d", ErrMalformed, MaxDepth, off)
		}
		// Bytes still needed by the rest of the enclosing containers: every element
		// not yet started takes at least one byte; this one was counted in pending.
		rest := pending
		if depth > 0 {
			rest--
		}
		size := uint64(f.fixed) // payload bytes, or elements
		if f.kind == scanKindMap {
			size *= 2
		}
		h := int(f.hdr)
		if need := off + rest + uint64(h) + size; need > s.max {
			return n, 0, s.tooLarge(need)
		}
		if len(p)-n < h {
			s.off, s.pending, s.depth = off, pending, depth
			return n, h, nil
		}
		if f.lenSize > 0 {
			size = scanUint(p[n+1 : n+1+int(f.lenSize)])
			if f.kind == scanKindMap {
				size *= 2
			}
			if need := off + rest + uint64(h) + size; need > s.max {
				return n, 0, s.tooLarge(need)
			}
		}
		// Accept the header.
		if depth > 0 {
			s.stack[depth-1]--
		}
		pending = rest
		n += h
		off += uint64(h)
		if f.kind != scanKindBytes {
			if size > 0 {
				s.stack[depth] = size
				depth++
				pending += size
				continue
			}
		} else if size > 0 {
			if avail := uint64(len(p) - n); avail < size {
				s.off, s.skip, s.pending, s.depth = off+avail, size-avail, pending, depth
				return len(p), 1, nil
			}
			n += int(size)
			off += size
		}
		// The element is complete.
		for depth > 0 && s.stack[depth-1] == 0 { // close finished containers
			depth--
		}
		if depth == 0 {
			s.off, s.pending, s.depth, s.done = off, pending, depth, true
			return n, 0, nil
		}
	}
}

// tooLarge is the error for an object that needs at least need bytes. (need cannot
// overflow: before each header off+pending <= max <= MaxInt64, and a header adds less
// than 2^34.)
func (s *msgScanner) tooLarge(need uint64) error {
	if s.inBuffer {
		return fmt.Errorf("%w: object needs at least %d bytes, only %d in buffer: %w", ErrTooLarge, need, s.max, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("%w: object needs at least %d bytes, max %d", ErrTooLarge, need, s.max)
}

// scanUint decodes a big-endian unsigned integer of 1, 2 or 4 bytes.
func scanUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}
