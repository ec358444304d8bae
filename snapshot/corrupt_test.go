package snapshot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/distkv/distkv/node"
)

// TestTruncateEverywhere cuts a small file at every offset: each cut must
// be reported as ErrTruncated (so also ErrCorrupt), never as a clean end.
func TestTruncateEverywhere(t *testing.T) {
	data := smallFile(t)
	if _, _, err := readBytes(data); err != nil {
		t.Fatalf("intact file: %v", err)
	}
	for n := range len(data) {
		_, _, err := readBytes(data[:n])
		if !errors.Is(err, ErrTruncated) || !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncate=%d: err = %v, want ErrTruncated\n%s", n, err, describe(data[:n]))
		}
	}
}

// TestFlipEverywhere damages every byte of a small file in several ways:
// the CRC or the decoder must notice each one.
func TestFlipEverywhere(t *testing.T) {
	data := smallFile(t)
	for i := range data {
		for _, mask := range []byte{0x01, 0x10, 0x80, 0xff} {
			bad := append([]byte(nil), data...)
			bad[i] ^= mask
			if _, _, err := readBytes(bad); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("corrupt=%d^%#02x: err = %v, want ErrCorrupt\n%s", i, mask, err, describe(bad))
			}
		}
	}
}

// TestBadFiles builds files a Writer never writes, byte by byte.
func TestBadFiles(t *testing.T) {
	entry := testUpdates(5, 1)[0].AppendMsgpack(nil)
	hdr := minimalHeader()
	withCRC := func(count uint64, crc uint32) []byte {
		return newFile().record(hdr).record(entry).record(appendTrailer(nil, trailer{count: count, crc: crc})).b
	}
	good := newFile().record(hdr).record(entry).trailer(1)
	goodCRC := binary.BigEndian.Uint32(good[len(good)-4:])
	for _, tc := range []struct {
		name      string
		data      []byte
		truncated bool // else corrupt but not truncated
	}{
		{"count too high", newFile().record(hdr).record(entry).trailer(2), false},
		{"count too low", newFile().record(hdr).record(entry).trailer(0), false},
		{"crc off by one", withCRC(1, goodCRC+1), false},
		{"wrong magic", append([]byte("DKVSNAQ"), good[7:]...), false},
		{"event log magic", append([]byte("DKVLOG\x01\x00"), good[8:]...), false},
		{"version 0", append(append([]byte(fileMagic), 0), good[8:]...), false},
		{"version 2", append(append([]byte(fileMagic), 2), good[8:]...), false},
		{"empty file", nil, true},
		{"magic only", []byte(fileMagic), true},
		{"no trailer", newFile().record(hdr).record(entry).b, true},
		{"no header", newFile().b, true},
		{"bytes after trailer", append(append([]byte(nil), good...), 0), false},
		{"record after trailer", newFileFrom(good).record(entry).b, false},
		{"empty record", newFile().record(hdr).record(nil).trailer(0), false},
		{"header not a map", newFile().record(entry).record(entry).trailer(1), false},
		{"header missing key", newFile().record(rawMap("node", node.AppendString(nil, "n"))).trailer(0), false},
		{"header key twice", newFile().record(minimalHeader("tock", node.AppendUint(nil, 2))).trailer(0), false},
		{"header cut short", newFile().record(minimalHeader()[:len(hdr)-1]).trailer(0), false},
		{"header trailing bytes", newFile().record(append(append([]byte(nil), hdr...), 0)).trailer(0), false},
		{"origin twice in known", newFile().record(minimalHeaderWith("known", rawMap("a", node.AppendArrayLen(nil, 0), "a", node.AppendArrayLen(nil, 0)))).trailer(0), false},
		{"bad range set", newFile().record(minimalHeaderWith("known", rawMap("a", node.AppendString(node.AppendArrayLen(nil, 1), "x")))).trailer(0), false},
		{"negative tock", newFile().record(minimalHeaderWith("tock", node.AppendInt(nil, -1))).trailer(0), false},
		{"nil record", newFile().record(hdr).record([]byte{0xc0}).trailer(1), false},
		{"entry trailing bytes", newFile().record(hdr).record(append(append([]byte(nil), entry...), 0)).trailer(1), false},
		{"entry tick 0", newFile().record(hdr).record((&node.Update{Origin: "o"}).AppendMsgpack(nil)).trailer(1), false},
		{"trailer missing crc", newFile().record(hdr).record(rawMap("count", node.AppendUint(nil, 0))).b, false},
		{"trailer crc too wide", newFile().record(hdr).record(rawMap("count", node.AppendUint(nil, 0), "crc", node.AppendUint(nil, 1<<32))).b, false},
		{"trailer key twice", newFile().record(hdr).trailer(0, "count", node.AppendUint(nil, 0)), false},
		{"record past the end", append(newFile().record(hdr).b, 0, 0, 1, 0, 0x94), true},
		{"short length field", append(newFile().record(hdr).b, 0, 0), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readBytes(tc.data)
			if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTruncated) != tc.truncated {
				t.Fatalf("err = %v, want ErrCorrupt with truncated=%t\n%s", err, tc.truncated, describe(tc.data))
			}
		})
	}
	if _, _, err := readBytes(good); err != nil {
		t.Fatalf("the base file of these cases is itself bad: %v", err)
	}
}

// TestErrorNamesFileAndOffset: an error says where to look.
func TestErrorNamesFileAndOffset(t *testing.T) {
	data := smallFile(t)
	first := fileHeaderSize + frameHeaderSize + int(binary.BigEndian.Uint32(data[fileHeaderSize:]))
	data[first+frameHeaderSize] = 0xc1 // the never-used msgpack byte, in entry 1
	path := filepath.Join(t.TempDir(), "bad.dks")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := readPath(path, ReaderOptions{})
	want := fmt.Sprintf("snapshot: corrupt file: %s offset %d: ", path, first)
	if err == nil || len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
		t.Fatalf("err = %v, want it to start %q", err, want)
	}
}

// TestHugeLength: a length field claiming 4 GiB (or anything the file
// cannot hold) is an error before any big allocation.
func TestHugeLength(t *testing.T) {
	data := smallFile(t)
	first := fileHeaderSize + frameHeaderSize + int(binary.BigEndian.Uint32(data[fileHeaderSize:]))
	for _, tc := range []struct {
		name      string
		at        int
		length    uint32
		truncated bool
	}{
		{"header 4 GiB", fileHeaderSize, 0xffffffff, false},
		{"entry 4 GiB", first, 0xffffffff, false},
		{"entry 64 MiB past the end", first, MaxFrame, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := append([]byte(nil), data...)
			binary.BigEndian.PutUint32(bad[tc.at:], tc.length)
			path := filepath.Join(t.TempDir(), "f.dks")
			if err := os.WriteFile(path, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, _, err := readPath(path, ReaderOptions{})
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTruncated) != tc.truncated {
				t.Fatalf("err = %v, want ErrCorrupt with truncated=%t", err, tc.truncated)
			}
			// The read buffer is 1 MiB; a 64 MiB allocation would show.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
				t.Fatalf("reading allocated %d bytes", alloc)
			}
		})
	}
}

// TestMaxFrameOption: a reader can be stricter than the default limit.
func TestMaxFrameOption(t *testing.T) {
	path := writeSnap(t, t.TempDir(), FileName(1), testHeader(), testUpdates(1, 20))
	if _, _, err := readPath(path, ReaderOptions{MaxFrame: 1 << 20}); err != nil {
		t.Fatalf("MaxFrame 1 MiB: %v", err)
	}
	_, _, err := readPath(path, ReaderOptions{MaxFrame: 16})
	if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTruncated) {
		t.Fatalf("MaxFrame 16: err = %v, want ErrCorrupt", err)
	}
}

// TestErrorsRepeat: after an error, Next keeps returning it and never
// io.EOF; Close ends the reader.
func TestErrorsRepeat(t *testing.T) {
	data := smallFile(t)
	path := filepath.Join(t.TempDir(), "f.dks")
	if err := os.WriteFile(path, data[:len(data)-3], 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var first error
	for first == nil {
		_, first = r.Next()
	}
	if _, err := r.Next(); err != first {
		t.Fatalf("Next after %v = %v", first, err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}
