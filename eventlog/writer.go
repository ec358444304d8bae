package eventlog

import (
	"fmt"
	"io"
	"os"
	"time"
)

type reqKind int

const (
	reqSync reqKind = iota
	reqRotate
	reqClose
)

type request struct {
	kind  reqKind
	reply chan result // buffered: the writer never blocks on it
}

type result struct {
	seg uint64
	err error
}

// segment is the file appends go to. Only the writer goroutine touches it.
type segment struct {
	f      File
	num    uint64
	path   string
	off    int64 // end of the records written
	synced int64 // prefix known to be fsynced
	zeroed int64 // the file holds zeros from off up to here (SyncAlways preallocates)
	dirty  bool  // bytes past off may exist: a failed write is not cut off yet
}

// preallocChunk is how much zero-filled space SyncAlways keeps ahead of the
// segment's end. An fsync after a write into space the file already holds
// flushes the data alone; one after an append must also commit the file
// size (on ext4 a journal commit), which costs about twice as long and twice
// the CPU. One chunk (its write and fsync) per MiB of log buys that.
const preallocChunk = 1 << 20

// zeros is what preallocation writes.
var zeros [64 << 10]byte

// run is the writer goroutine: it owns l.w and l.p and does all appending
// I/O, so Append never waits for the disk and every batch needs one write and
// at most one fsync however many callers wait on it. Under SyncAlways the
// fsyncs run in goroutines of their own (pipeline.go).
func (l *Log) run() {
	defer close(l.exited)
	var tick <-chan time.Time
	if l.cfg.Sync == SyncInterval {
		t := time.NewTicker(l.cfg.SyncInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		wake := l.wake
		if l.cfg.Sync == SyncAlways && (l.p.syncing >= maxSyncs || l.p.failed != nil) {
			wake = nil // a batch gathers until an fsync returns
		}
		select {
		case <-wake:
			if l.cfg.Sync == SyncAlways {
				l.writeBatch()
			} else {
				l.flush(false) // the error went to the batch's waiters
			}
		case r := <-l.p.head():
			l.p.pop()
			l.synced(r)
		case <-tick:
			if err := l.syncSegment(); err != nil {
				l.logger.Error("eventlog: periodic fsync failed", "err", err)
			}
		case r := <-l.reqs:
			l.drain() // the requests below write and fsync on their own
			switch r.kind {
			case reqSync:
				r.reply <- result{err: l.flush(true)}
			case reqRotate:
				l.flush(false)
				if err := l.roll(); err != nil {
					r.reply <- result{err: err}
				} else {
					r.reply <- result{seg: l.w.num}
				}
			case reqClose:
				r.reply <- result{err: l.shutdown()}
				return
			}
		}
	}
}

// flush writes the pending batch (fsyncing it under SyncAlways, or when
// forceSync), then wakes its waiters.
func (l *Log) flush(forceSync bool) error {
	l.mu.Lock()
	b := l.cur
	if b.first == 0 {
		l.mu.Unlock()
		if forceSync {
			return l.syncSegment()
		}
		return nil
	}
	l.cur = l.newBatch()
	l.inflight = append(l.inflight, b)
	l.space.Broadcast()
	l.mu.Unlock()

	if l.w.off >= l.cfg.SegmentSize {
		if err := l.roll(); err != nil {
			l.logger.Warn("eventlog: cannot start a new segment; the current one grows", "segment", l.w.path, "err", err)
		}
	}
	start := l.w.off
	var began time.Time
	if l.cfg.Observe != nil {
		began = time.Now()
	}
	err := l.write(b.buf)
	var syncErr error
	if err == nil && (forceSync || l.cfg.Sync == SyncAlways) {
		syncErr = l.syncData()
		if syncErr != nil && l.cfg.Sync == SyncAlways {
			// After a failed fsync the batch may or may not reach the disk. Its
			// waiters hear it failed, so a replay must not see it either.
			// (Under the other policies the batch was only promised to the OS.)
			err = syncErr
			if cerr := l.cut(start); cerr != nil {
				l.logger.Error("eventlog: cannot cut an unsynced batch; retrying before the next write", "segment", l.w.path, "err", cerr)
			}
		}
	}
	if err != nil {
		l.logger.Error("eventlog: batch failed", "records", b.last-b.first+1, "err", err)
	}
	l.finishBatch(written{b: b, start: start, began: began}, err)
	if err == nil {
		err = syncErr // for Sync's caller
	}
	return err
}

// chunk is the zero-filled space kept ahead: 0 unless SyncAlways, and never
// more than a segment.
func (l *Log) chunk() int64 {
	if l.cfg.Sync != SyncAlways {
		return 0
	}
	return min(preallocChunk, l.cfg.SegmentSize)
}

// zeroFill writes zeros over [from, to) of f and leaves its offset at back.
func zeroFill(f File, from, to, back int64) error {
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return err
	}
	for p := from; p < to; {
		n, err := f.Write(zeros[:min(int64(len(zeros)), to-p)])
		if err != nil {
			return err
		}
		p += int64(n)
	}
	_, err := f.Seek(back, io.SeekStart)
	return err
}

// trim cuts the preallocated zeros off the segment's end and fsyncs it, so
// that a segment ends with its last record once a newer one exists or the
// log is closed: Replay allows a zero tail only in the newest segment, and a
// clean-close trailer only at the very end.
func (l *Log) trim() error {
	w := &l.w
	if !w.dirty && w.zeroed <= w.off {
		return l.syncSegment()
	}
	if err := l.cut(w.off); err != nil {
		return fmt.Errorf("eventlog: segment %s: cannot cut off its preallocated space: %w", w.path, err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("eventlog: fsync segment %s: %w", w.path, err)
	}
	w.synced = w.off
	return nil
}

// complete publishes the outcome of b and wakes its waiters.
func (l *Log) complete(b *batch, err error) {
	b.err = err
	l.mu.Lock()
	if len(l.inflight) == 0 || l.inflight[0] != b {
		panic("eventlog: batches completed out of order")
	}
	l.doneSeq = b.last
	if err != nil {
		if n := len(l.failures); n > 0 && l.failures[n-1].last+1 == b.first {
			l.failures[n-1].last = b.last // one fault episode, one entry
		} else {
			l.failures = append(l.failures, failure{first: b.first, last: b.last, err: err})
		}
	}
	l.inflight[0] = nil
	l.inflight = l.inflight[1:]
	if cap(b.buf) <= maxSpare {
		l.spare = b.buf[:0]
	}
	b.buf = nil
	l.mu.Unlock()
	close(b.done)
}

// write appends buf to the segment. If the write fails (say ENOSPC after a
// partial write), the segment is cut back to its last good offset, so it
// never keeps half a record, and the next write goes there again.
func (l *Log) write(buf []byte) error {
	w := &l.w
	if w.dirty {
		if err := l.cut(w.off); err != nil {
			return fmt.Errorf("eventlog: segment %s: cannot cut off a failed write at offset %d: %w", w.path, w.off, err)
		}
	}
	n, err := w.f.Write(buf)
	if err == nil && n != len(buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		err = fmt.Errorf("eventlog: write segment %s at offset %d: %w", w.path, w.off, err)
		if cerr := l.cut(w.off); cerr != nil {
			l.logger.Error("eventlog: cannot cut off a failed write; retrying before the next write", "segment", w.path, "offset", w.off, "err", cerr)
		}
		return err
	}
	w.off += int64(n)
	return nil
}

// cut truncates the segment to off and writes continue from there. While it
// fails the segment stays dirty and every write first retries it.
func (l *Log) cut(off int64) error {
	w := &l.w
	// The offsets first: a failed cut is retried at w.off before the next write, and what
	// lies past off (failed batches) must go then too.
	w.dirty = true
	w.off, w.synced, w.zeroed = off, min(w.synced, off), off
	if err := w.f.Truncate(off); err != nil {
		return err
	}
	if _, err := w.f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	w.dirty = false
	return nil
}

// syncData makes the batches written durable with fdatasync where the FS has
// it: a batch in preallocated space needs no inode change on disk, and one
// that grew the file has its size flushed too (fdatasync keeps what reading
// the data back needs). Segment creation, rolls and the close use a full
// fsync.
func (l *Log) syncData() error {
	w := &l.w
	if w.synced == w.off {
		return nil
	}
	if err := DataSync(w.f); err != nil {
		return fmt.Errorf("eventlog: fsync segment %s: %w", w.path, err)
	}
	w.synced = w.off
	return nil
}

func (l *Log) syncSegment() error {
	w := &l.w
	if w.synced == w.off {
		return nil
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("eventlog: fsync segment %s: %w", w.path, err)
	}
	w.synced = w.off
	return nil
}

// roll starts the next segment. The current one is made whole and fsynced
// first, whatever the policy: Replay tolerates a torn tail only in the newest
// segment. On error the log stays on the current segment.
func (l *Log) roll() error {
	w := &l.w
	if err := l.trim(); err != nil {
		return err
	}
	// O_TRUNC: a failed earlier attempt may have left this file behind.
	next, err := l.createSegment(w.num+1, os.O_TRUNC)
	if err != nil {
		return err
	}
	l.closeSyncFiles()
	if err := w.f.Close(); err != nil {
		l.logger.Warn("eventlog: close segment", "segment", w.path, "err", err) // already fsynced
	}
	l.w = next
	l.mu.Lock()
	l.curSeg = next.num
	l.segs = append(l.segs, next.num)
	l.mu.Unlock()
	l.logger.Debug("eventlog: new segment", "segment", next.path)
	return nil
}

// createSegment creates segment num with its header, durably (file and
// directory fsynced), or removes what it made and fails.
func (l *Log) createSegment(num uint64, flag int) (segment, error) {
	path := segmentPath(l.cfg.Dir, num)
	f, err := l.cfg.FS.OpenFile(path, os.O_WRONLY|os.O_CREATE|flag, 0o644)
	if err != nil {
		return segment{}, fmt.Errorf("eventlog: create segment %s: %w", path, err)
	}
	hdr := appendFileHeader(nil, num)
	n, err := f.Write(hdr)
	if err == nil && n != len(hdr) {
		err = io.ErrShortWrite
	}
	chunk := l.chunk()
	if err == nil && chunk > 0 {
		err = zeroFill(f, fileHeaderSize, fileHeaderSize+chunk, fileHeaderSize) // see preallocAhead
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(l.cfg.FS, l.cfg.Dir)
	}
	if err != nil {
		f.Close()
		if rerr := l.cfg.FS.Remove(path); rerr != nil {
			l.logger.Error("eventlog: cannot remove a half-made segment", "segment", path, "err", rerr)
		}
		return segment{}, fmt.Errorf("eventlog: create segment %s: %w", path, err)
	}
	return segment{f: f, num: num, path: path, off: fileHeaderSize, synced: fileHeaderSize, zeroed: fileHeaderSize + chunk}, nil
}

// shutdown writes what is queued and the clean-close trailer, and closes the
// segment. After a failed batch there is no trailer: its records are lost, so
// the close is not clean.
func (l *Log) shutdown() error {
	err := l.flush(false)
	if err == nil {
		err = l.write(appendRecord(nil, recClose, nil))
	}
	if serr := l.trim(); err == nil {
		err = serr
	}
	l.closeSyncFiles()
	if cerr := l.w.f.Close(); err == nil {
		err = cerr
	}
	return err
}
