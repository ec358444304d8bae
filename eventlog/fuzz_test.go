package eventlog

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
)

var writeCorpus = flag.Bool("write-corpus", false, "rewrite testdata/fuzz/FuzzReplay from fuzzSeeds")

// fuzzSeeds are valid and broken segment-1 files.
func fuzzSeeds() map[string][]byte {
	valid, offs := segFile(1, "alpha", "", strings.Repeat("b", 300))
	closed := appendRecord(slices.Clone(valid), recClose, nil)
	badCRC := slices.Clone(valid)
	badCRC[offs[1]] ^= 1
	hugeLen := slices.Clone(valid)
	copy(hugeLen[offs[1]+4:], []byte{0xff, 0xff, 0xff, 0x7f})
	longLen := slices.Clone(valid) // under MaxRecordLimit, past the end of the file
	copy(longLen[offs[1]+4:], []byte{0, 0, 0, 2})
	return map[string][]byte{
		"valid":       valid,
		"closed":      closed,
		"torn":        closed[:len(closed)-3],
		"zero-tail":   slices.Concat(valid, make([]byte, 64)),
		"bad-crc":     badCRC,
		"huge-length": hugeLen,
		"long-length": longLen,
		"header-only": appendFileHeader(nil, 1),
		"short":       valid[:7],
		"empty":       {},
	}
}

func TestWriteFuzzCorpus(t *testing.T) {
	if !*writeCorpus {
		t.Skip("run with -write-corpus to regenerate testdata/fuzz/FuzzReplay")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzReplay")
	for name, data := range fuzzSeeds() {
		for _, older := range []bool{false, true} {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nbool(%t)\n", data, older)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%t", name, older)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// heapAllocs returns the bytes allocated so far. Unlike ReadMemStats it does
// not stop the world, which made each fuzz run take milliseconds.
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// FuzzReplay replays arbitrary bytes as segment 1, either the newest
// segment or followed by a valid segment 2. Replay must not panic, must not
// allocate beyond the file's size, may only fail with ErrCorrupt, and what
// it accepts must re-encode to exactly the bytes it consumed.
func FuzzReplay(f *testing.F) {
	for _, data := range fuzzSeeds() {
		f.Add(data, false)
		f.Add(data, true)
	}
	dir := f.TempDir() // shared: runs of the target are sequential
	f.Fuzz(func(t *testing.T, data []byte, older bool) {
		if err := os.WriteFile(segmentPath(dir, 1), data, 0o644); err != nil {
			t.Fatal(err)
		}
		seg2 := segmentPath(dir, 2)
		if older {
			if err := os.WriteFile(seg2, appendFileHeader(nil, 2), 0o644); err != nil {
				t.Fatal(err)
			}
		} else if err := os.Remove(seg2); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		var recs [][]byte
		before := heapAllocs()
		info, err := Replay(dir, 0, func(rec []byte) error {
			recs = append(recs, rec)
			return nil
		})
		if alloc := heapAllocs() - before; alloc > uint64(4*len(data))+1<<20 {
			t.Fatalf("Replay of %d bytes allocated %d bytes", len(data), alloc)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Replay = %v, want nil or ErrCorrupt", err)
			}
			return
		}
		end := len(data)
		if info.TornTail {
			if older {
				t.Fatalf("torn tail %+v in a valid newest segment", info)
			}
			end = int(info.TornOffset)
		}
		var enc []byte
		if end > 0 {
			enc = appendFileHeader(nil, 1)
			for _, r := range recs {
				enc = appendRecord(enc, recData, r)
			}
		}
		withTrailer := appendRecord(slices.Clone(enc), recClose, nil)
		switch {
		case bytes.Equal(enc, data[:end]) && (older || !info.CleanClose):
		case bytes.Equal(withTrailer, data[:end]) && (older || info.CleanClose || info.TornTail):
		default:
			t.Fatalf("Replay accepted %d records, %+v, that do not re-encode to the first %d bytes", len(recs), info, end)
		}
	})
}
