package snapshot

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/distkv/distkv/node"
)

// readBuffer matches the writer's: a snapshot is read front to back once.
const readBuffer = 1 << 20

// ReaderOptions tunes a Reader. The zero value is the default.
type ReaderOptions struct {
	// MaxFrame caps a record's length; a longer length is corruption,
	// reported before anything is allocated. 0 (or less) means MaxFrame
	// (64 MiB).
	MaxFrame int
}

// Reader reads a snapshot front to back, checking everything. It is not
// safe for concurrent use.
type Reader struct {
	path      string    // for error messages
	c         io.Closer // the file; nil once closed
	br        *bufio.Reader
	size, off int64
	maxFrame  int64
	crc       uint32 // of every byte read so far
	h         Header
	count     uint64      // entry records read
	buf       []byte      // the last record's payload, reused
	dec       node.Reader // decodes entries, sharing strings from one to the next
	err       error       // sticky: io.EOF after a verified trailer, or the first error
}

// Open opens the snapshot at path and reads and checks its file header and
// header record.
func Open(path string) (*Reader, error) { return OpenWith(path, ReaderOptions{}) }

// OpenWith is Open with options.
func OpenWith(path string, o ReaderOptions) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	r, err := newReader(path, f, st.Size(), o)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.c = f
	return r, nil
}

// newReader reads a snapshot of size bytes from rd; path names it in errors.
// Tests use it to read from memory.
func newReader(path string, rd io.Reader, size int64, o ReaderOptions) (*Reader, error) {
	// A small file gets a small buffer: Newest and the tests open many.
	r := &Reader{path: path, br: bufio.NewReaderSize(rd, int(min(readBuffer, size))), size: size, maxFrame: MaxFrame}
	if o.MaxFrame > 0 {
		r.maxFrame = int64(o.MaxFrame)
	}
	if err := r.readHeader(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Reader) readHeader() error {
	var fh [fileHeaderSize]byte
	n, err := io.ReadFull(r.br, fh[:])
	m := min(n, len(fileMagic)) // a short file may still hold a prefix of the magic
	switch {
	case string(fh[:m]) != fileMagic[:m]:
		return r.corrupt(0, nil, "bad magic %q", fh[:m])
	case n == fileHeaderSize && fh[len(fileMagic)] != formatVersion:
		return r.corrupt(0, nil, "unsupported format version %d", fh[len(fileMagic)])
	case err != nil:
		return r.readErr(0, err, "file header")
	}
	r.crc = crc32.Update(0, crcTable, fh[:])
	r.off = fileHeaderSize
	p, err := r.readRecord()
	if err != nil {
		return err
	}
	if kindOf(p[0]) != kindMap {
		return r.corrupt(fileHeaderSize, nil, "first record is not the header (a map)")
	}
	if r.h, err = decodeHeader(p); err != nil {
		return r.corrupt(fileHeaderSize, err, "")
	}
	return nil
}

// Header returns the snapshot's header. The Reader does not use its maps
// again, so the caller may keep and change them.
func (r *Reader) Header() Header { return r.h }

// Offset returns how many bytes of the file have been read and checked, for
// a progress display; Size is the total.
func (r *Reader) Offset() int64 { return r.off }

// Size returns the size of the file when it was opened.
func (r *Reader) Size() int64 { return r.size }

// Next returns the next entry. After the last one it reads the trailer and
// returns io.EOF, but only once the entry count and the CRC of the whole
// file matched and nothing followed. Any other end is an error wrapping
// ErrCorrupt (ErrTruncated if the file ends early) or an I/O error; errors,
// like io.EOF, repeat on every later call.
func (r *Reader) Next() (*node.Update, error) {
	u := &node.Update{}
	if err := r.NextInto(u); err != nil {
		return nil, err
	}
	return u, nil
}

// NextInto is Next decoding into u, reusing u's op list and paths (node.Reader.UpdateInto):
// for a restore into a node that keeps neither (Node.Load), it saves three allocations an
// entry.
func (r *Reader) NextInto(u *node.Update) error {
	if r.err != nil {
		return r.err
	}
	err := r.next(u)
	if err != nil {
		r.err = err
	}
	return err
}

func (r *Reader) next(u *node.Update) error {
	start, crcBefore := r.off, r.crc
	p, err := r.readRecord()
	if err != nil {
		return err
	}
	switch kindOf(p[0]) {
	case kindEntry:
		if err := r.dec.DecodeUpdateInto(p, u); err != nil {
			return r.corrupt(start, err, "entry %d", r.count+1)
		}
		r.count++
		return nil
	case kindMap:
		t, err := decodeTrailer(p)
		switch {
		case err != nil:
			return r.corrupt(start, err, "")
		case t.count != r.count:
			return r.corrupt(start, nil, "trailer counts %d entries, the file holds %d", t.count, r.count)
		case t.crc != crcBefore:
			return r.corrupt(start, nil, "checksum mismatch: trailer says %08x, the file sums to %08x", t.crc, crcBefore)
		case r.off != r.size:
			return r.corrupt(r.off, nil, "%d bytes after the trailer", r.size-r.off)
		}
		return io.EOF
	}
	return r.corrupt(start, nil, "record starts with 0x%02x: neither an entry (array) nor the trailer (map)", p[0])
}

// readRecord reads the record at r.off and returns its payload (valid until
// the next call). It checks the length against the limit and against the
// bytes left in the file before allocating.
func (r *Reader) readRecord() ([]byte, error) {
	start := r.off
	var lb [frameHeaderSize]byte
	if _, err := io.ReadFull(r.br, lb[:]); err != nil {
		return nil, r.readErr(start, err, "record length")
	}
	n := int64(binary.BigEndian.Uint32(lb[:]))
	switch left := r.size - start - frameHeaderSize; {
	case n == 0:
		return nil, r.corrupt(start, nil, "empty record")
	case n > r.maxFrame:
		return nil, r.corrupt(start, nil, "impossible record length %d (limit %d)", n, r.maxFrame)
	case n > left:
		return nil, r.truncated(start, "record of %d bytes, %d left in the file", n, left)
	}
	if int64(cap(r.buf)) < n {
		r.buf = make([]byte, n)
	}
	p := r.buf[:n]
	if _, err := io.ReadFull(r.br, p); err != nil {
		return nil, r.readErr(start, err, "record payload")
	}
	r.crc = crc32.Update(crc32.Update(r.crc, crcTable, lb[:]), crcTable, p)
	r.off += frameHeaderSize + n
	return p, nil
}

// Close closes the file.
func (r *Reader) Close() error {
	if r.c == nil {
		return nil
	}
	err := r.c.Close()
	r.c = nil
	if r.err == nil {
		r.err = errors.New("snapshot: reader closed")
	}
	return err
}

// readErr reports an error reading at off: the end of the file is
// truncation, anything else an I/O error.
func (r *Reader) readErr(off int64, err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return r.truncated(off, "file ends in the %s", what)
	}
	return fmt.Errorf("snapshot: %s offset %d: %w", r.path, off, err)
}

func (r *Reader) truncated(off int64, format string, args ...any) error {
	return fmt.Errorf("%w: %s offset %d: %s", ErrTruncated, r.path, off, fmt.Sprintf(format, args...))
}

// corrupt reports damage in the record at off. A cause (a decoding error) is
// wrapped too, so errors.Is finds node.ErrWire.
func (r *Reader) corrupt(off int64, cause error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	switch {
	case cause == nil:
		return fmt.Errorf("%w: %s offset %d: %s", ErrCorrupt, r.path, off, msg)
	case msg == "":
		return fmt.Errorf("%w: %s offset %d: %w", ErrCorrupt, r.path, off, cause)
	}
	return fmt.Errorf("%w: %s offset %d: %s: %w", ErrCorrupt, r.path, off, msg, cause)
}

// Verify reads the whole snapshot at path and returns its header and entry
// count, or the first error.
func Verify(path string) (Header, uint64, error) {
	r, err := Open(path)
	if err != nil {
		return Header{}, 0, err
	}
	defer r.Close()
	for {
		if _, err := r.Next(); errors.Is(err, io.EOF) {
			return r.h, r.count, nil
		} else if err != nil {
			return Header{}, 0, err
		}
	}
}
