package eventlog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRoundTripAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, Config{Dir: dir, SegmentSize: 256})
	rnd := rand.New(rand.NewPCG(1, 2))
	var want []string
	var last uint64
	if l.Last() != 0 {
		t.Fatalf("Last() = %d before any append", l.Last())
	}
	for i := range 300 {
		rec := fmt.Sprintf("%d:%s", i, strings.Repeat("x", rnd.IntN(120)))
		if i == 150 {
			rec = "" // empty records are records too
		}
		seq := appendWait(t, l, rec)
		if seq != last+1 || l.Last() != seq {
			t.Fatalf("record %d: seq %d after %d, Last() = %d", i, seq, last, l.Last())
		}
		last = seq
		want = append(want, rec)
	}
	segs := l.Segments()
	if len(segs) < 20 {
		t.Fatalf("Segments() = %v, want many with SegmentSize 256", segs)
	}
	for i, n := range segs {
		if n != uint64(i+1) {
			t.Fatalf("Segments() = %v, want 1..%d", segs, len(segs))
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got, info := mustReplay(t, dir, 0)
	if !slices.Equal(got, want) {
		t.Fatalf("replayed %d records, want %d in append order", len(got), len(want))
	}
	wantInfo := ReplayInfo{Segments: len(segs), Records: len(want), CleanClose: true, LastSegment: segs[len(segs)-1]}
	if info != wantInfo {
		t.Fatalf("info = %+v, want %+v", info, wantInfo)
	}
}

func TestRotateRemoveBeforeReplayFrom(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, Config{Dir: dir})
	appendWait(t, l, "a1")
	appendWait(t, l, "a2")
	if n, err := l.Rotate(); n != 2 || err != nil {
		t.Fatalf("Rotate() = %d, %v; want 2", n, err)
	}
	appendWait(t, l, "b1")
	n, err := l.Rotate()
	if n != 3 || err != nil {
		t.Fatalf("Rotate() = %d, %v; want 3", n, err)
	}
	appendWait(t, l, "c1")
	if got, _ := mustReplay(t, dir, 2); !slices.Equal(got, []string{"b1", "c1"}) {
		t.Fatalf("Replay(from 2) = %q", got)
	}
	if err := l.RemoveBefore(n); err != nil {
		t.Fatal(err)
	}
	if err := l.RemoveBefore(1000); err != nil { // never the current segment
		t.Fatal(err)
	}
	if segs := l.Segments(); !slices.Equal(segs, []uint64{3}) {
		t.Fatalf("Segments() = %v, want [3]", segs)
	}
	for _, gone := range []uint64{1, 2} {
		if _, err := os.Stat(segmentPath(dir, gone)); !os.IsNotExist(err) {
			t.Fatalf("segment %d still there: %v", gone, err)
		}
	}
	appendWait(t, l, "c2")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, from := range []uint64{0, 3} {
		got, info := mustReplay(t, dir, from)
		if !slices.Equal(got, []string{"c1", "c2"}) || !info.CleanClose || info.Segments != 1 {
			t.Fatalf("Replay(from %d) = %q, %+v", from, got, info)
		}
	}
	if _, _, err := replayAll(t, dir, 2); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Replay(from removed segment 2) = %v, want ErrCorrupt", err)
	}
	if got, info := mustReplay(t, dir, 4); len(got) != 0 || info.Segments != 0 {
		t.Fatalf("Replay(from 4) = %q, %+v; want nothing", got, info)
	}
}

func TestReopenAndCleanClose(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, Config{Dir: dir})
	appendWait(t, l, "a")
	appendWait(t, l, "b")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got, info := mustReplay(t, dir, 0); !slices.Equal(got, []string{"a", "b"}) || !info.CleanClose || info.LastSegment != 1 {
		t.Fatalf("after Close: %q, %+v", got, info)
	}

	l = openLog(t, Config{Dir: dir})
	if segs := l.Segments(); !slices.Equal(segs, []uint64{1, 2}) {
		t.Fatalf("reopened Segments() = %v, want [1 2]: a new segment", segs)
	}
	appendWait(t, l, "c")
	// What a crash now leaves: everything, but no trailer, and the zeros SyncAlways
	// preallocates: a zero tail, which TruncateTorn cuts.
	crash := copyDir(t, dir)
	got, info := mustReplay(t, crash, 0)
	if !slices.Equal(got, []string{"a", "b", "c"}) || info.CleanClose || !info.TornTail || !info.ZeroTail {
		t.Fatalf("crash image: %q, %+v", got, info)
	}
	if err := TruncateTorn(crash, info); err != nil {
		t.Fatal(err)
	}
	if got, info := mustReplay(t, crash, 0); !slices.Equal(got, []string{"a", "b", "c"}) || info.TornTail {
		t.Fatalf("crash image after TruncateTorn: %q, %+v", got, info)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got, info = mustReplay(t, dir, 0)
	if !slices.Equal(got, []string{"a", "b", "c"}) || !info.CleanClose || info.Segments != 2 || info.Records != 3 {
		t.Fatalf("after second Close: %q, %+v", got, info)
	}
}

func TestAppendWaitErrors(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, Config{Dir: dir, MaxRecord: 10})
	if _, err := l.Append(make([]byte, 11)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append(11 bytes) = %v, want ErrTooLarge", err)
	}
	seq := appendWait(t, l, "0123456789")
	ctx := context.Background()
	for _, bad := range []uint64{0, seq + 1} {
		if err := l.Wait(ctx, bad); err == nil {
			t.Fatalf("Wait(%d) = nil for a record never appended", bad)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(ctx, seq); err != nil {
		t.Fatalf("Wait after Close = %v, want nil", err)
	}
	_, appendErr := l.Append(nil)
	_, rotateErr := l.Rotate()
	for name, err := range map[string]error{
		"Close": l.Close(), "Append": appendErr, "Rotate": rotateErr,
		"Sync": l.Sync(), "RemoveBefore": l.RemoveBefore(1),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]Config{
		"no dir":       {},
		"bad policy":   {Dir: t.TempDir(), Sync: SyncPolicy(9)},
		"huge records": {Dir: t.TempDir(), MaxRecord: MaxRecordLimit + 1},
		"dir is file":  {Dir: file},
	} {
		if l, err := Open(cfg); err == nil {
			l.Close()
			t.Errorf("%s: Open succeeded", name)
		}
	}
}

func TestParseSyncPolicy(t *testing.T) {
	for _, p := range []SyncPolicy{SyncAlways, SyncInterval, SyncNever} {
		if got, err := ParseSyncPolicy(p.String()); got != p || err != nil {
			t.Errorf("ParseSyncPolicy(%q) = %v, %v", p.String(), got, err)
		}
	}
	if _, err := ParseSyncPolicy("sometimes"); err == nil {
		t.Error("ParseSyncPolicy(sometimes) succeeded")
	}
	if s := SyncPolicy(7).String(); s != "SyncPolicy(7)" {
		t.Errorf("String() = %q", s)
	}
}

// TestSyncPolicies counts fsyncs of segment files: Wait implies one under
// SyncAlways and none otherwise; Sync always forces one.
func TestSyncPolicies(t *testing.T) {
	for _, p := range []SyncPolicy{SyncAlways, SyncInterval, SyncNever} {
		t.Run(p.String(), func(t *testing.T) {
			fsys := &faultFS{}
			l := openLog(t, Config{Dir: t.TempDir(), Sync: p, SyncInterval: time.Hour, FS: fsys})
			before := fsys.fileSyncs()
			appendWait(t, l, "x")
			want := 0
			if p == SyncAlways {
				want = 1
			}
			if got := fsys.fileSyncs() - before; got != want {
				t.Fatalf("fsyncs for Append+Wait = %d, want %d", got, want)
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			if got := fsys.fileSyncs() - before; got != 1 {
				t.Fatalf("fsyncs after Sync = %d, want 1", got)
			}
		})
	}
}

func TestWaitHonoursContext(t *testing.T) {
	fsys := &faultFS{}
	l := openLog(t, Config{Dir: t.TempDir(), FS: fsys})
	release := fsys.blockWrites()
	seq, err := l.Append([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx, seq); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait(cancelled) = %v, want context.Canceled", err)
	}
	release()
	if err := l.Wait(context.Background(), seq); err != nil {
		t.Fatal(err)
	}
}

// TestAppendBlocksWhenBacklogFull: with the writer stuck, Append stops
// queueing at the limit instead of growing memory, and resumes after.
func TestAppendBlocksWhenBacklogFull(t *testing.T) {
	dir := t.TempDir()
	fsys := &faultFS{}
	l := openLog(t, Config{Dir: dir, FS: fsys})
	l.mu.Lock()
	l.limit = 100
	l.mu.Unlock()
	release := fsys.blockWrites()
	rec := strings.Repeat("r", 50)
	var seqs []uint64
	add := func() {
		seq, err := l.Append([]byte(rec))
		if err != nil {
			t.Error(err)
		}
		seqs = append(seqs, seq)
	}
	add()
	<-fsys.writeBlocked // the writer holds record 1 and waits for the disk
	add()               // 59 bytes queued: fits
	done := make(chan struct{})
	go func() { defer close(done); add() }() // 118 bytes would not
	for {
		l.mu.Lock()
		blocked := l.blocked
		l.mu.Unlock()
		if blocked == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	release()
	<-done
	for _, seq := range seqs {
		if err := l.Wait(context.Background(), seq); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := mustReplay(t, dir, 0); len(got) != 3 {
		t.Fatalf("replayed %d records, want 3", len(got))
	}
}

// TestConcurrentAppendWait runs many writers under group commit (and -race):
// every record is on disk once, in sequence-number order.
func TestConcurrentAppendWait(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, Config{Dir: dir, Sync: SyncAlways, SegmentSize: 16 << 10})
	const writers, each = 16, 150
	type rec struct {
		seq uint64
		s   string
	}
	results := make([][]rec, writers)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				s := fmt.Sprintf("w%02d-%04d", g, i)
				seq, err := l.Append([]byte(s))
				if err == nil {
					err = l.Wait(context.Background(), seq)
				}
				if err != nil {
					t.Error(err)
					return
				}
				results[g] = append(results[g], rec{seq, s})
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	all := slices.Concat(results...)
	slices.SortFunc(all, func(a, b rec) int { return int(a.seq) - int(b.seq) })
	want := make([]string, len(all))
	for i, r := range all {
		if r.seq != uint64(i+1) {
			t.Fatalf("sequence numbers are not 1..%d: %d at %d", len(all), r.seq, i)
		}
		want[i] = r.s
	}
	got, info := mustReplay(t, dir, 0)
	if !slices.Equal(got, want) {
		t.Fatalf("replayed %d records; want %d in sequence order", len(got), len(want))
	}
	if !info.CleanClose || info.Segments < 2 {
		t.Fatalf("info = %+v", info)
	}
}

// TestPreallocate: under SyncAlways a batch goes into zero-filled space the
// segment already holds, so its fsync need not commit a new file size; the
// space is cut off again when the segment rolls and at Close, and a crash
// leaves it as a zero tail.
func TestPreallocate(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, Config{Dir: dir, SegmentSize: 4 << 10})
	path := segmentPath(dir, 1)
	size := fileSize(t, path)
	if size != fileHeaderSize+4<<10 {
		t.Fatalf("new segment is %d bytes, want its header and 4 KiB of zeros", size)
	}
	appendWait(t, l, "a")
	if got := fileSize(t, path); got != size {
		t.Fatalf("segment grew from %d to %d bytes for one small batch: not written into preallocated space", size, got)
	}
	var want []string
	want = append(want, "a")
	for i := 0; len(l.Segments()) < 3; i++ {
		want = append(want, fmt.Sprintf("r%d-%s", i, strings.Repeat("x", 500)))
		appendWait(t, l, want[len(want)-1])
		segs := l.Segments()
		p := segmentPath(dir, segs[len(segs)-1])
		if end, size := dataEnd(t, p), fileSize(t, p); end < 4<<10 && size-end < 2<<10 {
			t.Fatalf("segment %d: %d bytes of zeros ahead of its records, want at least half a chunk", segs[len(segs)-1], size-end)
		}
	}
	segs := l.Segments()
	for _, n := range segs[:len(segs)-1] {
		p := segmentPath(dir, n)
		if end, size := dataEnd(t, p), fileSize(t, p); end != size {
			t.Fatalf("rolled segment %d is %d bytes, its records end at %d: preallocated space left", n, size, end)
		}
	}
	got, info := mustReplay(t, copyDir(t, dir), 0)
	if !slices.Equal(got, want) || !info.ZeroTail || info.TornSegment != segs[len(segs)-1] {
		t.Fatalf("crash image: %d records, %+v; want %d and a zero tail in the newest segment", len(got), info, len(want))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got, info = mustReplay(t, dir, 0)
	if !slices.Equal(got, want) || !info.CleanClose || info.TornTail {
		t.Fatalf("after Close: %d records, %+v; want %d, clean", len(got), info, len(want))
	}
}

// TestObserve: every batch written is reported once, with its records and bytes.
func TestObserve(t *testing.T) {
	var mu sync.Mutex
	var recs, bytes, batches int
	l := openLog(t, Config{Dir: t.TempDir(), Observe: func(b BatchStats) {
		mu.Lock()
		defer mu.Unlock()
		if b.Gather < 0 || b.Write < 0 || b.Err != nil {
			t.Errorf("batch %+v", b)
		}
		recs, bytes, batches = recs+b.Records, bytes+b.Bytes, batches+1
	}})
	want := 0
	var payloads []string
	for i := range 50 {
		payloads = append(payloads, fmt.Sprintf("rec-%d", i))
		want += recordHeaderSize + len(payloads[i])
	}
	if _, errs := appendAll(l, payloads); slices.ContainsFunc(errs, func(e error) bool { return e != nil }) {
		t.Fatal(errs)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if recs != 50 || bytes != want || batches == 0 {
		t.Fatalf("observed %d records, %d bytes in %d batches; want 50 and %d", recs, bytes, batches, want)
	}
}

// dsFS counts the fsyncs and fdatasyncs of segment files.
type dsFS struct {
	OSFS
	mu         sync.Mutex
	full, data int
}

type dsFile struct {
	File
	fs *dsFS
}

func (fsys *dsFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := fsys.OSFS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return dsFile{f, fsys}, nil
}

func (f dsFile) count(n *int) {
	f.fs.mu.Lock()
	*n++
	f.fs.mu.Unlock()
}

func (f dsFile) Sync() error     { f.count(&f.fs.full); return f.File.Sync() }
func (f dsFile) DataSync() error { f.count(&f.fs.data); return DataSync(f.File) }

// TestBatchesDataSync: a batch is made durable with fdatasync where the FS has it (no inode
// timestamps to commit); a new segment is fsynced in full.
func TestBatchesDataSync(t *testing.T) {
	fsys := &dsFS{}
	l := openLog(t, Config{Dir: t.TempDir(), FS: fsys})
	for i := range 3 {
		appendWait(t, l, fmt.Sprint("r", i))
	}
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	if fsys.data != 3 || fsys.full != 1 {
		t.Fatalf("%d fdatasyncs and %d fsyncs, want 3 (the batches) and 1 (the new segment)", fsys.data, fsys.full)
	}
}
