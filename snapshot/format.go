package snapshot

import (
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	"github.com/distkv/distkv/node"
)

// The constants below are part of the on-disk format and must not change.
// A different layout needs a new formatVersion, and readers of the old one.
const (
	fileMagic       = "DKVSNAP"
	formatVersion   = 1
	fileHeaderSize  = 8 // magic (7) | version (1)
	frameHeaderSize = 4 // payload length, big-endian uint32

	// Trailer keys. Header keys are in header.go.
	keyCount = "count"
	keyCRC   = "crc"
)

// MaxFrame is the largest record payload a Writer writes and, by default,
// the largest a Reader accepts. It bounds what one corrupt length field can
// make a reader allocate.
const MaxFrame = 64 << 20

// crcTable is CRC-32C (Castagnoli), part of the format: CPUs compute it in
// hardware, and it is what the event log uses.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Sentinel errors. Test for them with errors.Is: returned errors wrap them
// with the file and the offset of the record at fault.
var (
	// ErrCorrupt marks a file that is not a complete, intact snapshot.
	ErrCorrupt = errors.New("snapshot: corrupt file")
	// ErrTruncated marks a file that ends before its trailer (a crash
	// before Commit's fsync, or a copy cut short). It wraps ErrCorrupt.
	ErrTruncated error = &childError{"snapshot: truncated file", ErrCorrupt}
	// ErrNoSnapshot is returned by Newest when no snapshot in the
	// directory verifies.
	ErrNoSnapshot = errors.New("snapshot: no valid snapshot")
)

// childError is a sentinel that is also its parent for errors.Is.
type childError struct {
	msg    string
	parent error
}

func (e *childError) Error() string { return e.msg }
func (e *childError) Unwrap() error { return e.parent }

// FileName returns the file name of snapshot seq. ParseFileName is its
// inverse; no other code makes or parses snapshot names.
func FileName(seq uint64) string { return fmt.Sprintf("snap-%016x.dks", seq) }

// ParseFileName returns the seq of a snapshot file name, and false for any
// other name, temporary files included.
func ParseFileName(name string) (seq uint64, ok bool) {
	hex, ok1 := strings.CutPrefix(name, "snap-")
	hex, ok2 := strings.CutSuffix(hex, ".dks")
	if !ok1 || !ok2 || len(hex) != 16 {
		return 0, false
	}
	seq, err := strconv.ParseUint(hex, 16, 64)
	if err != nil || FileName(seq) != name { // rejects upper-case hex
		return 0, false
	}
	return seq, true
}

// tmpSuffix marks a snapshot being written. Readers never look at such files.
const tmpSuffix = ".tmp"

// recordKind tells an entry (a msgpack array) from the trailer (a map) by the
// first byte of a payload.
type recordKind int

const (
	kindInvalid recordKind = iota
	kindEntry
	kindMap
)

func kindOf(c byte) recordKind {
	switch {
	case c&0xf0 == 0x90 || c == 0xdc || c == 0xdd:
		return kindEntry
	case c&0xf0 == 0x80 || c == 0xde || c == 0xdf:
		return kindMap
	}
	return kindInvalid
}

// trailer is the last record: what the reader must have seen.
type trailer struct {
	count uint64
	crc   uint32
}

func appendTrailer(b []byte, t trailer) []byte {
	b = node.AppendMapLen(b, 2)
	b = node.AppendUint(node.AppendString(b, keyCount), t.count)
	return node.AppendUint(node.AppendString(b, keyCRC), uint64(t.crc))
}

func decodeTrailer(p []byte) (trailer, error) {
	var t trailer
	var crc uint64
	seen, err := readFields(node.NewReader(p), []string{keyCount, keyCRC}, func(r *node.Reader, i int) (err error) {
		if i == 0 {
			t.count, err = r.Uint()
		} else {
			crc, err = r.Uint()
		}
		return err
	})
	switch {
	case err != nil:
		return t, fmt.Errorf("trailer: %w", err)
	case seen != 3:
		return t, errors.New("trailer: missing count or crc")
	case crc > 0xffffffff:
		return t, fmt.Errorf("trailer: crc %d out of range", crc)
	}
	t.crc = uint32(crc)
	return t, nil
}

// readFields decodes a map whose payload must fill r, with string keys. For
// a key in keys, field(r, its index) reads the value; other keys are
// skipped, so later versions can add keys. It returns a bit per key seen
// and refuses a key seen twice.
func readFields(r *node.Reader, keys []string, field func(r *node.Reader, i int) error) (seen uint64, err error) {
	n, err := r.MapLen()
	if err != nil {
		return 0, err
	}
	for range n {
		k, err := r.Str()
		if err != nil {
			return 0, err
		}
		i := indexOf(keys, k)
		if i < 0 {
			if _, err := r.Raw(); err != nil {
				return 0, err
			}
			continue
		}
		if seen&(1<<i) != 0 {
			return 0, fmt.Errorf("key %q twice", k)
		}
		seen |= 1 << i
		if err := field(r, i); err != nil {
			return 0, fmt.Errorf("%s: %w", k, err)
		}
	}
	if r.Len() != 0 {
		return 0, fmt.Errorf("%d bytes after the map", r.Len())
	}
	return seen, nil
}

func indexOf(keys []string, k string) int {
	for i, key := range keys {
		if key == k {
			return i
		}
	}
	return -1
}
