package eventlog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
)

// ReplayInfo describes what Replay read.
type ReplayInfo struct {
	Segments    int    // segment files read
	Records     int    // data records passed to fn
	TornTail    bool   // the newest segment ends with an incomplete record or zeros
	ZeroTail    bool   // that tail is only zeros: preallocated space a crash left, no record lost
	TornSegment uint64 // the torn segment's number,
	TornOffset  int64  // and the offset of its first byte not replayed
	CleanClose  bool   // the newest segment ends with the clean-close trailer
	LastSegment uint64 // the newest segment read; 0 if none
}

// Replay reads the segments numbered from `from` on (0: all of them) in
// order and calls fn with each record's payload, which fn may keep. It stops
// at the first error from fn and returns it, wrapped.
//
// A bad record in the newest segment with nothing valid after it (a torn or
// zero-filled tail) ends the replay: Replay returns nil and reports it in
// ReplayInfo; call TruncateTorn before Open. Any other damage, a segment
// missing between two others, or a missing `from` segment returns an error
// wrapping ErrCorrupt that names the file and offset; fn has then already
// seen the records before it. A missing dir is an empty log.
func Replay(dir string, from uint64, fn func(rec []byte) error) (ReplayInfo, error) {
	var info ReplayInfo
	all, err := listSegments(OSFS{}, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return info, nil
	}
	if err != nil {
		return info, fmt.Errorf("eventlog: replay: %w", err)
	}
	first, _ := slices.BinarySearch(all, from)
	segs := all[first:]
	for i, n := range segs {
		want := from
		if i > 0 {
			want = segs[i-1] + 1
		}
		if (i > 0 || from > 0) && n != want {
			return info, fmt.Errorf("%w: %s is missing", ErrCorrupt, segmentPath(dir, want))
		}
		newest := i == len(segs)-1
		res, err := replaySegment(segmentPath(dir, n), n, newest, fn)
		info.Segments++
		info.Records += res.records
		info.LastSegment = n
		if err != nil {
			return info, err
		}
		if newest {
			info.CleanClose = res.clean
			if res.tornOff >= 0 {
				info.TornTail, info.TornSegment, info.TornOffset = true, n, res.tornOff
				info.ZeroTail = res.zero
			}
		}
	}
	return info, nil
}

type segResult struct {
	records int
	clean   bool  // ends with the close trailer
	tornOff int64 // offset of the torn tail, or -1
	zero    bool  // the torn tail is only zeros
}

// tornError is damage in an older segment that looks like a torn tail; it
// matches both ErrCorrupt (through the wrapped error) and ErrTornTail.
type tornError struct{ err error }

func (e tornError) Error() string        { return e.err.Error() }
func (e tornError) Unwrap() error        { return e.err }
func (e tornError) Is(target error) bool { return target == ErrTornTail }

func replaySegment(path string, num uint64, newest bool, fn func([]byte) error) (segResult, error) {
	res := segResult{tornOff: -1}
	f, err := os.Open(path)
	if err != nil {
		return res, fmt.Errorf("eventlog: replay: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return res, fmt.Errorf("eventlog: replay: %w", err)
	}
	size := st.Size()
	br := bufio.NewReaderSize(f, int(min(size, 64<<10)))
	readErr := func(off int64, err error) error {
		return fmt.Errorf("eventlog: read %s offset %d: %w", path, off, err)
	}

	// bad decides what an unparsable record (or header) at off means: if a
	// valid record follows, data after the damage would be lost, so it is
	// corruption; otherwise it is a torn tail, allowed only in the newest
	// segment.
	bad := func(off int64, reason string) (segResult, error) {
		tail := make([]byte, max(size-off, 0))
		if _, err := f.ReadAt(tail, off); err != nil && len(tail) > 0 {
			return res, readErr(off, err)
		}
		rest := tail[min(1, len(tail)):]
		switch p := findRecord(rest); {
		case p >= 0:
			return res, corruptf(path, off, "%s; a valid record follows at offset %d", reason, off+1+int64(p))
		case p == -2:
			return res, corruptf(path, off, "%s; too much unreadable data after it to call it a torn tail", reason)
		}
		if !newest {
			return res, tornError{corruptf(path, off, "%s; torn tail in a segment older than the newest", reason)}
		}
		res.clean = false
		res.tornOff = off
		res.zero = !slices.ContainsFunc(tail, func(b byte) bool { return b != 0 })
		return res, nil
	}

	hdr := make([]byte, min(size, fileHeaderSize))
	if _, err := io.ReadFull(br, hdr); err != nil {
		return res, readErr(0, err)
	}
	if reason := checkFileHeader(hdr, num); reason != "" {
		if tornHeader(hdr, num) {
			return bad(0, reason)
		}
		return res, corruptf(path, 0, "%s", reason)
	}
	var h [recordHeaderSize]byte
	for off := int64(fileHeaderSize); off < size; {
		if size-off < recordHeaderSize {
			return bad(off, "short record header")
		}
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return res, readErr(off, err)
		}
		typ, n, reason := checkRecordHeader(h[:], size-off-recordHeaderSize)
		if reason != "" {
			return bad(off, reason)
		}
		payload := make([]byte, n) // fresh: fn may keep it
		if _, err := io.ReadFull(br, payload); err != nil {
			return res, readErr(off, err)
		}
		if !checksumOK(h[:], payload) {
			return bad(off, "checksum mismatch")
		}
		if res.clean {
			return res, corruptf(path, off, "record after the clean-close trailer")
		}
		if typ == recClose {
			res.clean = true
		} else {
			res.records++
			if err := fn(payload); err != nil {
				return res, fmt.Errorf("eventlog: replay %s offset %d: %w", path, off, err)
			}
		}
		off += recordHeaderSize + int64(n)
	}
	return res, nil
}

// tornHeader reports whether h is a prefix of segment seg's header followed
// by zeros: a header whose write did not complete before a crash.
func tornHeader(h []byte, seg uint64) bool {
	want := appendFileHeader(nil, seg)
	i := 0
	for i < len(h) && h[i] == want[i] {
		i++
	}
	for ; i < len(h); i++ {
		if h[i] != 0 {
			return false
		}
	}
	return true
}

// TruncateTorn cuts the torn tail Replay reported off the newest segment (or
// removes the segment if not even its header is whole), so the next Replay
// reads it cleanly once newer segments exist. Call it before Open.
func TruncateTorn(dir string, info ReplayInfo) error {
	if !info.TornTail {
		return nil
	}
	segs, err := listSegments(OSFS{}, dir)
	if err != nil {
		return fmt.Errorf("eventlog: truncate torn tail: %w", err)
	}
	if len(segs) == 0 || segs[len(segs)-1] != info.TornSegment {
		return fmt.Errorf("eventlog: truncate torn tail: segment %d is not the newest in %s", info.TornSegment, dir)
	}
	path := segmentPath(dir, info.TornSegment)
	if info.TornOffset < fileHeaderSize {
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("eventlog: truncate torn tail: %w", err)
		}
		return syncDir(OSFS{}, dir)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("eventlog: truncate torn tail: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.Size() < info.TornOffset {
		return fmt.Errorf("eventlog: truncate torn tail: %s is shorter than offset %d (%v)", path, info.TornOffset, err)
	}
	if err := f.Truncate(info.TornOffset); err != nil {
		return fmt.Errorf("eventlog: truncate torn tail: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("eventlog: truncate torn tail: %w", err)
	}
	return f.Close()
}
