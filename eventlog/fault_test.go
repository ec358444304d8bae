package eventlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// faultFS is the OS file system with switchable faults.
type faultFS struct {
	OSFS
	mu           sync.Mutex
	full         bool           // Write stores half its bytes, then fails with ENOSPC
	syncErr      error          // fsync of a segment fails with it
	truncErr     error          // Truncate fails with it
	createErr    error          // creating a segment fails with it
	block        chan struct{}  // Write waits until it is closed
	writeBlocked chan struct{}  // gets a token when a Write starts waiting
	syncTurn     chan error     // if set, a segment fsync waits for a value from it and returns it (nil: it runs)
	syncWaiting  chan struct{}  // gets a token whenever a segment fsync starts waiting for its turn
	syncEach     []chan error   // if set, the n-th segment fsync from now waits on syncEach[n] instead
	syncN        int            // segment fsyncs that took their syncEach channel
	syncs        int            // successful fsyncs of segment files
	syncsOf      map[string]int // the same by file name
}

func (fsys *faultFS) set(f func()) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	f()
}

func (fsys *faultFS) fileSyncs() int {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	return fsys.syncs
}

// blockWrites makes every Write wait until release is called.
func (fsys *faultFS) blockWrites() (release func()) {
	ch := make(chan struct{})
	fsys.set(func() { fsys.block, fsys.writeBlocked = ch, make(chan struct{}, 1) })
	return func() {
		fsys.set(func() { fsys.block = nil })
		close(ch)
	}
}

func (fsys *faultFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	seg := strings.HasSuffix(name, ".log")
	fsys.mu.Lock()
	err := fsys.createErr
	fsys.mu.Unlock()
	if seg && flag&os.O_CREATE != 0 && err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	f, err := fsys.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: f, fs: fsys, seg: seg, name: filepath.Base(name)}, nil
}

type faultFile struct {
	File
	fs   *faultFS
	seg  bool
	name string
}

func (f *faultFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	block, blocked, full := f.fs.block, f.fs.writeBlocked, f.fs.full
	f.fs.mu.Unlock()
	if block != nil {
		select {
		case blocked <- struct{}{}:
		default:
		}
		<-block
	}
	if full {
		n, _ := f.File.Write(p[:len(p)/2]) // a partial write, as a real full disk does
		return n, syscall.ENOSPC
	}
	return f.File.Write(p)
}

func (f *faultFile) Sync() error {
	f.fs.mu.Lock()
	turn, waiting := f.fs.syncTurn, f.fs.syncWaiting
	if f.seg && f.fs.syncN < len(f.fs.syncEach) {
		turn = f.fs.syncEach[f.fs.syncN]
		f.fs.syncN++
	}
	f.fs.mu.Unlock()
	if f.seg && turn != nil {
		waiting <- struct{}{}
		if err := <-turn; err != nil {
			return err
		}
	}
	if f.seg {
		f.fs.mu.Lock()
		err := f.fs.syncErr
		if err == nil {
			f.fs.syncs++
			if f.fs.syncsOf == nil {
				f.fs.syncsOf = map[string]int{}
			}
			f.fs.syncsOf[f.name]++
		}
		f.fs.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return f.File.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	err := f.fs.truncErr
	f.fs.mu.Unlock()
	if err != nil {
		return err
	}
	return f.File.Truncate(size)
}

// appendAll appends recs from one goroutine each and returns their seqs and
// Wait errors.
func appendAll(l *Log, recs []string) ([]uint64, []error) {
	seqs, errs := make([]uint64, len(recs)), make([]error, len(recs))
	var wg sync.WaitGroup
	for i, rec := range recs {
		wg.Go(func() {
			seqs[i], errs[i] = l.Append([]byte(rec))
			if errs[i] == nil {
				errs[i] = l.Wait(context.Background(), seqs[i])
			}
		})
	}
	wg.Wait()
	return seqs, errs
}

func TestDiskFull(t *testing.T) {
	for _, truncErr := range []error{nil, syscall.EIO} {
		t.Run(fmt.Sprintf("truncate error %v", truncErr), func(t *testing.T) {
			dir := t.TempDir()
			fsys := &faultFS{}
			l := openLog(t, Config{Dir: dir, FS: fsys})
			var acked []string
			for i := range 5 {
				acked = append(acked, fmt.Sprintf("a%d", i))
				appendWait(t, l, acked[i])
			}
			path := segmentPath(dir, 1)
			good := dataEnd(t, path)

			fsys.set(func() { fsys.full, fsys.truncErr = true, truncErr })
			seqs, errs := appendAll(l, []string{"b0", "b1", "b2", "b3", "b4", "b5"})
			// While the cut fails, later batches fail on it rather than write.
			isFault := func(err error) bool {
				return errors.Is(err, syscall.ENOSPC) || truncErr != nil && errors.Is(err, truncErr)
			}
			for i, err := range errs {
				if !isFault(err) || !strings.Contains(err.Error(), SegmentName(1)) {
					t.Fatalf("b%d: Wait = %v, want ENOSPC naming the segment", i, err)
				}
			}
			size := dataEnd(t, path)
			if truncErr == nil && size != good {
				t.Fatalf("segment is %d bytes after the failed writes, want %d: half a record left", size, good)
			}
			if truncErr != nil && size == good {
				t.Fatalf("fault injection did not leave a partial write")
			}

			fsys.set(func() { fsys.full, fsys.truncErr = false, nil })
			for i := range 5 {
				acked = append(acked, fmt.Sprintf("c%d", i))
				appendWait(t, l, acked[len(acked)-1])
			}
			for _, seq := range seqs { // failed records stay failed
				if err := l.Wait(context.Background(), seq); !isFault(err) {
					t.Fatalf("late Wait(%d) = %v, want ENOSPC", seq, err)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			got, info := mustReplay(t, dir, 0)
			if !slices.Equal(got, acked) || !info.CleanClose || info.TornTail {
				t.Fatalf("replay = %q, %+v; want exactly %q, clean", got, info, acked)
			}
		})
	}
}

func TestFsyncFailure(t *testing.T) {
	dir := t.TempDir()
	fsys := &faultFS{}
	l := openLog(t, Config{Dir: dir, FS: fsys})
	appendWait(t, l, "a")
	good := dataEnd(t, segmentPath(dir, 1))
	fsys.set(func() { fsys.syncErr = syscall.EIO })
	if _, errs := appendAll(l, []string{"b0", "b1"}); !errors.Is(errs[0], syscall.EIO) || !errors.Is(errs[1], syscall.EIO) {
		t.Fatalf("Wait errors = %v, want EIO", errs)
	}
	if size := dataEnd(t, segmentPath(dir, 1)); size != good {
		t.Fatalf("segment is %d bytes, want %d: an unsynced batch was kept", size, good)
	}
	fsys.set(func() { fsys.syncErr = nil })
	appendWait(t, l, "c")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := mustReplay(t, dir, 0); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("replay = %q, want [a c]", got)
	}
}

// TestFsyncFailureWithFailedCut: when the failed batches cannot be cut off at once either, the
// retry before the next write cuts them off, not just what lies past them.
func TestFsyncFailureWithFailedCut(t *testing.T) {
	dir := t.TempDir()
	fsys := &faultFS{}
	l := openLog(t, Config{Dir: dir, FS: fsys})
	appendWait(t, l, "a")
	fsys.set(func() { fsys.syncErr, fsys.truncErr = syscall.EIO, syscall.EIO })
	if _, errs := appendAll(l, []string{"b0", "b1"}); !errors.Is(errs[0], syscall.EIO) || !errors.Is(errs[1], syscall.EIO) {
		t.Fatalf("Wait errors = %v, want EIO", errs)
	}
	fsys.set(func() { fsys.syncErr, fsys.truncErr = nil, nil })
	appendWait(t, l, "c")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := mustReplay(t, dir, 0); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("replay = %q, want [a c]: records whose writers heard EIO came back", got)
	}
}

func TestRotateOnFullDisk(t *testing.T) {
	dir := t.TempDir()
	fsys := &faultFS{}
	l := openLog(t, Config{Dir: dir, FS: fsys})
	appendWait(t, l, "a")
	fsys.set(func() { fsys.full = true })
	if _, err := l.Rotate(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Rotate on a full disk = %v, want ENOSPC", err)
	}
	if _, err := os.Stat(segmentPath(dir, 2)); !os.IsNotExist(err) || !slices.Equal(l.Segments(), []uint64{1}) {
		t.Fatalf("failed Rotate left segment 2 (%v) or changed Segments() = %v", err, l.Segments())
	}
	fsys.set(func() { fsys.full = false })
	appendWait(t, l, "b")
	if n, err := l.Rotate(); n != 2 || err != nil {
		t.Fatalf("Rotate() = %d, %v; want 2", n, err)
	}
	appendWait(t, l, "c")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got, info := mustReplay(t, dir, 0); !slices.Equal(got, []string{"a", "b", "c"}) || info.Segments != 2 {
		t.Fatalf("replay = %q, %+v", got, info)
	}
}

// TestRollFailureKeepsWriting: when no new segment can be made, records
// still go to the current one.
func TestRollFailureKeepsWriting(t *testing.T) {
	dir := t.TempDir()
	fsys := &faultFS{}
	// SegmentSize 1: roll before every batch, so "a" goes to segment 2.
	l := openLog(t, Config{Dir: dir, FS: fsys, SegmentSize: 1})
	appendWait(t, l, "a")
	fsys.set(func() { fsys.createErr = syscall.EMFILE })
	appendWait(t, l, "b")
	appendWait(t, l, "c")
	if segs := l.Segments(); !slices.Equal(segs, []uint64{1, 2}) {
		t.Fatalf("Segments() = %v while creation fails, want [1 2]", segs)
	}
	fsys.set(func() { fsys.createErr = nil })
	appendWait(t, l, "d")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got, info := mustReplay(t, dir, 0)
	if !slices.Equal(got, []string{"a", "b", "c", "d"}) || info.Segments != 3 || !info.CleanClose {
		t.Fatalf("replay = %q, %+v", got, info)
	}
}

// TestCloseOnFullDisk: a Close that cannot write everything reports it and
// does not claim a clean close.
func TestCloseOnFullDisk(t *testing.T) {
	dir := t.TempDir()
	fsys := &faultFS{}
	l := openLog(t, Config{Dir: dir, FS: fsys})
	appendWait(t, l, "a")
	fsys.set(func() { fsys.full = true })
	seq, err := l.Append([]byte("b"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Close = %v, want ENOSPC", err)
	}
	if err := l.Wait(context.Background(), seq); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Wait = %v, want ENOSPC", err)
	}
	got, info := mustReplay(t, dir, 0)
	if !slices.Equal(got, []string{"a"}) || info.CleanClose || info.TornTail {
		t.Fatalf("replay = %q, %+v; want [a], not clean, not torn", got, info)
	}
}

// TestSyncErrorUnderInterval: an fsync failure is Sync's error; the records
// were only promised to the OS, so they stay and their waiters succeed.
func TestSyncErrorUnderInterval(t *testing.T) {
	dir := t.TempDir()
	fsys := &faultFS{}
	l := openLog(t, Config{Dir: dir, FS: fsys, Sync: SyncInterval, SyncInterval: time.Hour})
	fsys.set(func() { fsys.syncErr = syscall.EIO })
	appendWait(t, l, "a")
	if err := l.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync = %v, want EIO", err)
	}
	seq, err := l.Append([]byte("b"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync with a pending record = %v, want EIO", err)
	}
	if err := l.Wait(context.Background(), seq); err != nil {
		t.Fatalf("Wait = %v, want nil: the record was written", err)
	}
	fsys.set(func() { fsys.syncErr = nil })
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := mustReplay(t, dir, 0); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("replay = %q", got)
	}
}

// TestRollSyncsOldSegment: whatever the policy, a segment is fsynced before
// a newer one exists, so only the newest can have a torn tail.
func TestRollSyncsOldSegment(t *testing.T) {
	fsys := &faultFS{}
	l := openLog(t, Config{Dir: t.TempDir(), FS: fsys, Sync: SyncNever})
	syncsOf := func(n uint64) int {
		fsys.mu.Lock()
		defer fsys.mu.Unlock()
		return fsys.syncsOf[SegmentName(n)]
	}
	appendWait(t, l, "a")
	if got := syncsOf(1); got != 1 {
		t.Fatalf("segment 1 fsynced %d times after Open and a write, want 1 (its header)", got)
	}
	if _, err := l.Rotate(); err != nil {
		t.Fatal(err)
	}
	if got := syncsOf(1); got != 2 {
		t.Fatalf("segment 1 fsynced %d times after Rotate, want 2", got)
	}
}

// gateSyncs makes every segment fsync wait for its turn (see syncTurn).
func (fsys *faultFS) gateSyncs() (turn chan error, waiting chan struct{}) {
	turn, waiting = make(chan error), make(chan struct{}, 16)
	fsys.set(func() { fsys.syncTurn, fsys.syncWaiting = turn, waiting })
	return turn, waiting
}

// TestPipelinedFsyncs: under SyncAlways the next batch is written and its fsync started while
// the one before is still running, up to maxSyncs; a record is complete only once an fsync that
// began after its write returned.
func TestPipelinedFsyncs(t *testing.T) {
	dir := t.TempDir()
	fsys := &faultFS{}
	l := openLog(t, Config{Dir: dir, FS: fsys})
	turn, waiting := fsys.gateSyncs()
	var seqs []uint64
	for i := range maxSyncs + 1 {
		seq, err := l.Append([]byte(fmt.Sprint("r", i)))
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
		if i < maxSyncs {
			<-waiting // its fsync started while the ones before still wait
		}
	}
	select {
	case <-waiting:
		t.Fatalf("more than %d fsyncs in flight", maxSyncs)
	case <-time.After(50 * time.Millisecond):
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	if err := l.Wait(ctx, seqs[0]); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait before any fsync returned = %v, want it still waiting", err)
	}
	cancel()
	turn <- nil // the first: r0 is durable
	if err := l.Wait(context.Background(), seqs[0]); err != nil {
		t.Fatal(err)
	}
	turn <- nil
	<-waiting // r2's batch starts once a slot is free
	turn <- nil
	for _, seq := range seqs {
		if err := l.Wait(context.Background(), seq); err != nil {
			t.Fatal(err)
		}
	}
	fsys.set(func() { fsys.syncTurn = nil })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := mustReplay(t, dir, 0); !slices.Equal(got, []string{"r0", "r1", "r2"}) {
		t.Fatalf("replay = %q", got)
	}
}

// TestPipelinedFsyncFailure: when one of the fsyncs in flight fails, every batch not complete
// fails, also one whose own fsync then succeeds, and the segment is cut back before them.
func TestPipelinedFsyncFailure(t *testing.T) {
	dir := t.TempDir()
	fsys := &faultFS{}
	l := openLog(t, Config{Dir: dir, FS: fsys})
	appendWait(t, l, "a")
	good := dataEnd(t, segmentPath(dir, 1))
	turn, waiting := fsys.gateSyncs()
	seqs := appendGated(t, l, waiting)
	turn <- syscall.EIO // one fails, the other succeeds
	turn <- nil
	checkBatchesFailed(t, l, dir, seqs, good, func() { fsys.set(func() { fsys.syncTurn = nil }) })
}

// TestPipelinedFsyncsCompleteInOrder: a later fsync that succeeds first does not complete the
// batch of an earlier one still in flight: that one fails, and so both batches fail (a
// descriptor opened after a failed write-back would not have reported it).
func TestPipelinedFsyncsCompleteInOrder(t *testing.T) {
	dir := t.TempDir()
	fsys := &faultFS{}
	l := openLog(t, Config{Dir: dir, FS: fsys})
	appendWait(t, l, "a")
	good := dataEnd(t, segmentPath(dir, 1))
	first, second, waiting := make(chan error), make(chan error), make(chan struct{}, 16)
	fsys.set(func() { fsys.syncEach, fsys.syncN, fsys.syncWaiting = []chan error{first, second}, 0, waiting })
	seqs := appendGated(t, l, waiting)
	released := false
	defer func() { // a failed check must not leave the first fsync waiting (Close would hang)
		if !released {
			first <- syscall.EIO
		}
	}()
	second <- nil // the later fsync returns first, and well
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.Wait(ctx, seqs[0]); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait(%d) = %v before its own fsync returned", seqs[0], err)
	}
	first <- syscall.EIO
	released = true
	checkBatchesFailed(t, l, dir, seqs, good, func() { fsys.set(func() { fsys.syncEach = nil }) })
}

// TestPipelineWithoutSpareDescriptor: when the segment cannot be opened again for an fsync of
// its own, batches are fsynced through the segment's descriptor, one at a time, and still work.
func TestPipelineWithoutSpareDescriptor(t *testing.T) {
	dir := t.TempDir()
	fsys := &noReopenFS{}
	l := openLog(t, Config{Dir: dir, FS: fsys})
	_, errs := appendAll(l, []string{"a", "b", "c", "d"})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got, info := mustReplay(t, dir, 0); len(got) != 4 || !info.CleanClose {
		t.Fatalf("replay = %q, %+v", got, info)
	}
}

// noReopenFS refuses to open a segment read-only (an fsync descriptor).
type noReopenFS struct{ OSFS }

func (fsys *noReopenFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if strings.HasSuffix(name, ".log") && flag == os.O_RDONLY {
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EMFILE}
	}
	return fsys.OSFS.OpenFile(name, flag, perm)
}

// appendGated appends b0 and b1, each once its fsync began (and waits on the gate).
func appendGated(t *testing.T, l *Log, waiting <-chan struct{}) []uint64 {
	t.Helper()
	var seqs []uint64
	for i := range 2 {
		seq, err := l.Append([]byte(fmt.Sprint("b", i)))
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
		<-waiting // its fsync began
	}
	return seqs
}

// checkBatchesFailed: every one of seqs failed with EIO and was cut off the segment (its
// records end at good again); after ungate the log takes "c", and a replay holds a and c.
func checkBatchesFailed(t *testing.T, l *Log, dir string, seqs []uint64, good int64, ungate func()) {
	t.Helper()
	for _, seq := range seqs {
		if err := l.Wait(context.Background(), seq); !errors.Is(err, syscall.EIO) {
			t.Fatalf("Wait(%d) = %v, want EIO", seq, err)
		}
	}
	ungate()
	if end := dataEnd(t, segmentPath(dir, 1)); end != good {
		t.Fatalf("segment's records end at %d, want %d: a failed batch was kept", end, good)
	}
	appendWait(t, l, "c")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := mustReplay(t, dir, 0); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("replay = %q, want [a c]", got)
	}
}
