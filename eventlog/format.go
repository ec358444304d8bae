package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/distkv/distkv/eventlog/internal/crc"
)

// The constants below are part of the on-disk format and must not change.
// A different layout needs a new formatVersion, and readers of the old one.
const (
	fileMagic        = "DKVLOG"
	formatVersion    = 1
	fileHeaderSize   = 16 // magic (6) | version (1) | reserved zero (1) | segment number (8, LE)
	recordHeaderSize = 9  // CRC-32C (4, LE) | length (4, LE) | type (1)

	// Record types. Zero is never valid, so zero-filled space never parses.
	recData  byte = 1 // a caller's record
	recClose byte = 2 // clean-close trailer, empty payload, last in its segment
)

// MaxRecordLimit is the largest payload the format allows. Replay treats a
// longer length as impossible, so it may grow in a later version but never
// shrink. Config.MaxRecord cannot exceed it.
const MaxRecordLimit = 64 << 20

// Sentinel errors. Test for them with errors.Is: returned errors wrap them with
// the segment file and offset.
var (
	// ErrCorrupt marks a log that cannot be replayed without losing or
	// inventing data: a bad record followed by valid data, damage in a
	// segment older than the newest, a bad header or a missing segment.
	ErrCorrupt = errors.New("eventlog: corrupt log")
	// ErrTornTail marks an incomplete final record. Replay reports one in the
	// newest segment through ReplayInfo; in an older segment the error wraps
	// both ErrTornTail and ErrCorrupt.
	ErrTornTail = errors.New("eventlog: torn tail")
	// ErrTooLarge is returned by Append for a record above Config.MaxRecord.
	ErrTooLarge = errors.New("eventlog: record too large")
	// ErrClosed is returned by every method of a Log after Close.
	ErrClosed = errors.New("eventlog: log closed")
)

// SegmentName returns the file name of segment n. ParseSegmentName is its
// inverse; no other code makes or parses segment names.
func SegmentName(n uint64) string { return fmt.Sprintf("%016x.log", n) }

// ParseSegmentName returns the number of a segment file name, and false for
// any other name (including segment 0, which is never used).
func ParseSegmentName(name string) (uint64, bool) {
	hex, ok := strings.CutSuffix(name, ".log")
	if !ok || len(hex) != 16 {
		return 0, false
	}
	n, err := strconv.ParseUint(hex, 16, 64)
	if err != nil || n == 0 || SegmentName(n) != name {
		return 0, false // SegmentName check rejects upper-case hex
	}
	return n, true
}

func appendFileHeader(dst []byte, seg uint64) []byte {
	dst = append(dst, fileMagic...)
	dst = append(dst, formatVersion, 0)
	return binary.LittleEndian.AppendUint64(dst, seg)
}

// checkFileHeader returns why h (the first bytes of segment seg) is not a
// valid header, or "" if it is.
func checkFileHeader(h []byte, seg uint64) string {
	switch {
	case len(h) < fileHeaderSize:
		return "short file header"
	case string(h[:len(fileMagic)]) != fileMagic:
		return "bad magic"
	case h[6] != formatVersion:
		return fmt.Sprintf("unsupported format version %d", h[6])
	case h[7] != 0:
		return "bad reserved byte"
	case binary.LittleEndian.Uint64(h[8:16]) != seg:
		return fmt.Sprintf("header names segment %d", binary.LittleEndian.Uint64(h[8:16]))
	}
	return ""
}

// recordHeader returns the header of a record of type typ holding payload.
// The CRC covers everything after itself: length, type and payload.
func recordHeader(typ byte, payload []byte) [recordHeaderSize]byte {
	var h [recordHeaderSize]byte
	binary.LittleEndian.PutUint32(h[4:8], uint32(len(payload)))
	h[8] = typ
	binary.LittleEndian.PutUint32(h[0:4], crc.New(h[4:]).Update(payload).Value())
	return h
}

func appendRecord(dst []byte, typ byte, payload []byte) []byte {
	h := recordHeader(typ, payload)
	return append(append(dst, h[:]...), payload...)
}

// checkRecordHeader validates a record header before its payload is read:
// room is the number of bytes left in the file after the header, so a
// corrupt length can never make the reader allocate more than the file holds.
func checkRecordHeader(h []byte, room int64) (typ byte, n int, reason string) {
	typ = h[8]
	length := binary.LittleEndian.Uint32(h[4:8])
	switch {
	case typ != recData && typ != recClose:
		return 0, 0, fmt.Sprintf("invalid record type %d", typ)
	case length > MaxRecordLimit:
		return 0, 0, fmt.Sprintf("impossible record length %d", length)
	case int64(length) > room:
		return 0, 0, fmt.Sprintf("record length %d runs past the end of the file", length)
	}
	return typ, int(length), ""
}

func checksumOK(h []byte, payload []byte) bool {
	return binary.LittleEndian.Uint32(h[0:4]) == crc.New(h[4:recordHeaderSize]).Update(payload).Value()
}

// scanBudget bounds the bytes findRecord checksums, so that a long stretch
// of garbage cannot make Replay run for minutes. A variable for tests.
var scanBudget = 1 << 30

// findRecord returns the offset in b of the first position holding a
// complete valid record, or -1. Replay uses it to tell a torn tail (nothing
// valid follows the bad record) from corruption (something does). If the
// scan runs out of budget it returns -2: undecided, which Replay treats as
// corruption rather than risk dropping data.
func findRecord(b []byte) int {
	budget := scanBudget
	for p := 0; p+recordHeaderSize <= len(b); p++ {
		h := b[p : p+recordHeaderSize]
		_, n, reason := checkRecordHeader(h, int64(len(b)-p-recordHeaderSize))
		if reason != "" {
			continue
		}
		if budget -= n; budget < 0 {
			return -2
		}
		if checksumOK(h, b[p+recordHeaderSize:p+recordHeaderSize+n]) {
			return p
		}
	}
	return -1
}

func corruptf(path string, off int64, format string, args ...any) error {
	return fmt.Errorf("%w: %s offset %d: %s", ErrCorrupt, path, off, fmt.Sprintf(format, args...))
}
