package eventlog

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// segFile returns segment num holding recs, and the offset of each record.
func segFile(num uint64, recs ...string) ([]byte, []int) {
	b := appendFileHeader(nil, num)
	var offs []int
	for _, r := range recs {
		offs = append(offs, len(b))
		b = appendRecord(b, recData, []byte(r))
	}
	return b, offs
}

// writeSegs replaces the segment files in dir with segs[0] as segment 1,
// segs[1] as segment 2 and so on.
func writeSegs(t *testing.T, dir string, segs ...[]byte) {
	t.Helper()
	old, _ := listSegments(OSFS{}, dir)
	for _, n := range old {
		os.Remove(segmentPath(dir, n))
	}
	for i, b := range segs {
		if err := os.WriteFile(segmentPath(dir, uint64(i+1)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var (
	olderRecs  = []string{"r0", "r1-some-longer-payload", "r2"}
	newestRecs = []string{"r3", "r4 in the middle", "r5", "r6 is the last record"}
	allRecs    = slices.Concat(olderRecs, newestRecs)
)

// TestTornTailEveryOffset cuts the last record of the newest segment at each
// of its offsets: everything before it survives, the tail is reported, and
// TruncateTorn makes the log clean.
func TestTornTailEveryOffset(t *testing.T) {
	dir := t.TempDir()
	seg1, _ := segFile(1, olderRecs...)
	seg2, offs := segFile(2, newestRecs...)
	last := offs[len(offs)-1]
	for cut := last + 1; cut < len(seg2); cut++ { // cut at last itself is a clean end
		writeSegs(t, dir, seg1, seg2[:cut])
		got, info, err := replayAll(t, dir, 0)
		want := ReplayInfo{Segments: 2, Records: len(allRecs) - 1, TornTail: true, TornSegment: 2, TornOffset: int64(last), LastSegment: 2}
		if err != nil || info != want || !slices.Equal(got, allRecs[:len(allRecs)-1]) {
			t.Fatalf("cut at %d: Replay = %q, %+v, %v; want all but the last, torn at %d", cut, got, info, err, last)
		}
		if err := TruncateTorn(dir, info); err != nil {
			t.Fatal(err)
		}
		if got, info := mustReplay(t, dir, 0); info.TornTail || len(got) != len(allRecs)-1 {
			t.Fatalf("cut at %d: after TruncateTorn: %d records, %+v", cut, len(got), info)
		}
	}
	writeSegs(t, dir, seg1, seg2)
	if got, info := mustReplay(t, dir, 0); info.TornTail || !slices.Equal(got, allRecs) {
		t.Fatalf("uncut: %q, %+v", got, info)
	}
}

// TestTornHeaderEveryOffset cuts a newest segment inside its header:
// torn at 0, and TruncateTorn removes the file.
func TestTornHeaderEveryOffset(t *testing.T) {
	dir := t.TempDir()
	seg1, _ := segFile(1, olderRecs...)
	seg2, _ := segFile(2)
	for cut := range fileHeaderSize {
		writeSegs(t, dir, seg1, seg2[:cut])
		got, info := mustReplay(t, dir, 0)
		if !info.TornTail || info.TornSegment != 2 || info.TornOffset != 0 || !slices.Equal(got, olderRecs) {
			t.Fatalf("cut at %d: %q, %+v", cut, got, info)
		}
		if err := TruncateTorn(dir, info); err != nil {
			t.Fatal(err)
		}
		if segs, _ := listSegments(OSFS{}, dir); !slices.Equal(segs, []uint64{1}) {
			t.Fatalf("cut at %d: segments after TruncateTorn = %v, want [1]", cut, segs)
		}
	}
}

// TestTornOlderSegmentIsCorrupt: the same cuts in an older segment fail.
func TestTornOlderSegmentIsCorrupt(t *testing.T) {
	dir := t.TempDir()
	seg1, offs := segFile(1, olderRecs...)
	seg2, _ := segFile(2, newestRecs...)
	for cut := offs[len(offs)-1] + 1; cut < len(seg1); cut++ {
		writeSegs(t, dir, seg1[:cut], seg2)
		_, _, err := replayAll(t, dir, 0)
		if !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrTornTail) || !strings.Contains(err.Error(), SegmentName(1)) {
			t.Fatalf("cut at %d: Replay = %v; want ErrCorrupt and ErrTornTail naming segment 1", cut, err)
		}
		if err := TruncateTorn(dir, ReplayInfo{TornTail: true, TornSegment: 1, TornOffset: int64(cut)}); err == nil {
			t.Fatal("TruncateTorn cut a segment older than the newest")
		}
	}
}

func TestZeroFilledTail(t *testing.T) {
	dir := t.TempDir()
	seg1, _ := segFile(1, olderRecs...)
	seg2, _ := segFile(2, newestRecs...)
	for _, n := range []int{1, 8, 9, 10, 100, 4096} {
		zeros := make([]byte, n)
		writeSegs(t, dir, seg1, slices.Concat(seg2, zeros))
		got, info := mustReplay(t, dir, 0)
		if !info.TornTail || info.TornOffset != int64(len(seg2)) || !slices.Equal(got, allRecs) {
			t.Fatalf("%d zeros: %q, %+v", n, got, info)
		}
		writeSegs(t, dir, slices.Concat(seg1, zeros), seg2)
		if _, _, err := replayAll(t, dir, 0); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%d zeros in the older segment: %v, want ErrCorrupt", n, err)
		}
	}
}

// TestFlippedByte flips every byte of a record, one at a time. Followed by a
// valid record, or in an older segment, it is corruption reported at the
// record's offset; as the newest segment's last record it is a torn tail.
func TestFlippedByte(t *testing.T) {
	dir := t.TempDir()
	seg1, offs1 := segFile(1, olderRecs...)
	seg2, offs2 := segFile(2, newestRecs...)
	flip := func(b []byte, i int, mask byte) []byte {
		b = slices.Clone(b)
		b[i] ^= mask
		return b
	}
	for _, mask := range []byte{0x01, 0x80, 0xff} {
		for i := offs2[1]; i < offs2[2]; i++ { // r4, in the middle of the newest
			writeSegs(t, dir, seg1, flip(seg2, i, mask))
			_, _, err := replayAll(t, dir, 0)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("%s offset %d:", SegmentName(2), offs2[1])) {
				t.Fatalf("byte %d ^ %#x: Replay = %v; want ErrCorrupt at %s offset %d", i, mask, err, SegmentName(2), offs2[1])
			}
		}
		for i := offs1[2]; i < len(seg1); i++ { // r2, last of the older segment
			writeSegs(t, dir, flip(seg1, i, mask), seg2)
			if _, _, err := replayAll(t, dir, 0); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("older segment byte %d ^ %#x: Replay = %v, want ErrCorrupt", i, mask, err)
			}
		}
		for i := offs2[3]; i < len(seg2); i++ {
			writeSegs(t, dir, seg1, flip(seg2, i, mask))
			if _, info, err := replayAll(t, dir, 0); err != nil || !info.TornTail || info.TornOffset != int64(offs2[3]) {
				t.Fatalf("last record byte %d ^ %#x: %+v, %v; want torn tail", i, mask, info, err)
			}
		}
		for i := range fileHeaderSize {
			writeSegs(t, dir, seg1, flip(seg2, i, mask))
			if _, _, err := replayAll(t, dir, 0); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("header byte %d ^ %#x: Replay = %v, want ErrCorrupt", i, mask, err)
			}
		}
	}
}

func TestReplayStopsOnCallbackError(t *testing.T) {
	dir := t.TempDir()
	seg1, _ := segFile(1, olderRecs...)
	writeSegs(t, dir, seg1)
	stop := errors.New("stop")
	n := 0
	_, err := Replay(dir, 0, func([]byte) error {
		if n++; n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Fatalf("Replay = %v after %d calls; want the callback's error after 2", err, n)
	}
}

func TestReplayMissingDir(t *testing.T) {
	got, info := mustReplay(t, t.TempDir()+"/nope", 0)
	if len(got) != 0 || info != (ReplayInfo{}) {
		t.Fatalf("Replay(missing dir) = %q, %+v", got, info)
	}
}

func TestSegmentNames(t *testing.T) {
	for _, n := range []uint64{1, 0xabc, 1<<64 - 1} {
		if got, ok := ParseSegmentName(SegmentName(n)); !ok || got != n {
			t.Errorf("ParseSegmentName(SegmentName(%d)) = %d, %t", n, got, ok)
		}
	}
	for _, bad := range []string{"0000000000000000.log", "000000000000000A.log", "1.log", "0000000000000001.snap", "000000000000001.log", "x000000000000001.log"} {
		if n, ok := ParseSegmentName(bad); ok {
			t.Errorf("ParseSegmentName(%q) = %d, true", bad, n)
		}
	}
}

// TestScanBudget: when telling a torn tail from corruption would take too
// long, Replay calls it corruption rather than drop data.
func TestScanBudget(t *testing.T) {
	dir := t.TempDir()
	seg, _ := segFile(1, "good")
	for range 20 { // well-formed headers, bad checksums: each costs a checksum
		seg = appendRecord(seg, recData, []byte("0123456789"))
		seg[len(seg)-19] ^= 0xff
	}
	writeSegs(t, dir, seg)
	if _, info := mustReplay(t, dir, 0); !info.TornTail {
		t.Fatalf("info = %+v, want a torn tail", info)
	}
	defer func(b int) { scanBudget = b }(scanBudget)
	scanBudget = 50
	if _, _, err := replayAll(t, dir, 0); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "too much") {
		t.Fatalf("Replay with a small scan budget = %v, want ErrCorrupt", err)
	}
}
