package eventlog

import (
	"fmt"
	"os"
	"time"
)

// maxSyncs is how many fsyncs SyncAlways keeps in flight. The next batch is
// written, and its fsync started, while the one before is still being
// fsynced: a device takes two overlapping flushes in little more time than
// one, so a record waits for about one fsync instead of the rest of the
// running one plus its own. More in flight would make batches smaller, and
// every fsync costs CPU.
const maxSyncs = 2

// pipe is the writer goroutine's state of pipelined group commit.
type pipe struct {
	pending []written // written, not complete, in order
	syncing int       // fsyncs in flight
	failed  error     // an fsync failed: once none is in flight, every pending batch fails
	// results holds a channel per fsync in flight, in the order they began: results are taken
	// in that order, so that a later fsync's success never completes a batch whose own
	// (earlier) fsync has not reported yet: it may still fail, and a descriptor opened after
	// the failed write-back would not report that failure.
	results []chan syncDone
	spare   []chan syncDone // results' channels, for reuse
	free    []File          // the segment's descriptors for fsyncs, not in use
}

// head is the channel of the oldest fsync in flight; nil (never ready) when none is.
func (p *pipe) head() chan syncDone {
	if len(p.results) == 0 {
		return nil
	}
	return p.results[0]
}

// pop drops the oldest fsync's channel once its result is taken.
func (p *pipe) pop() {
	p.spare = append(p.spare, p.results[0])
	p.results = p.results[1:]
}

// written is a batch in the segment whose fsync has not completed it yet.
type written struct {
	b     *batch
	start int64     // its first byte in the segment
	began time.Time // its write started (with Config.Observe)
}

type syncDone struct {
	upto *batch // the last batch written before the fsync began
	off  int64  // the segment's end then
	file File   // the descriptor it used; nil: the segment's own
	err  error
}

// writeBatch writes the gathered batch and starts its fsync on a descriptor
// of its own: with one descriptor, an fsync could report (and so consume)
// the write-back error of a range another one in flight covers, and that
// one would then succeed (errseq semantics). Each descriptor reports every
// error once.
func (l *Log) writeBatch() {
	l.mu.Lock()
	b := l.cur
	if b.first == 0 {
		l.mu.Unlock()
		return
	}
	l.cur = l.newBatch()
	l.inflight = append(l.inflight, b)
	l.space.Broadcast()
	l.mu.Unlock()

	if l.w.off >= l.cfg.SegmentSize {
		l.drain() // a roll fsyncs and closes the segment with nothing in flight
		if err := l.roll(); err != nil {
			l.logger.Warn("eventlog: cannot start a new segment; the current one grows", "segment", l.w.path, "err", err)
		}
	}
	w := written{b: b, start: l.w.off}
	if l.cfg.Observe != nil {
		w.began = time.Now()
	}
	f, err := l.syncFile()
	if err != nil {
		// Then the segment's own descriptor, with nothing else in flight.
		l.logger.Warn("eventlog: fsyncing without overlap", "err", err)
		l.drain()
		f = nil
	}
	if err := l.write(b.buf); err != nil {
		l.release(f)
		l.drain() // the batches before it complete first
		l.logger.Error("eventlog: batch failed", "records", b.last-b.first+1, "err", err)
		l.finishBatch(w, err)
		return
	}
	l.p.pending = append(l.p.pending, w)
	full := l.preallocAhead()
	l.p.syncing++
	var done chan syncDone
	if n := len(l.p.spare); n > 0 {
		done, l.p.spare = l.p.spare[n-1], l.p.spare[:n-1]
	} else {
		done = make(chan syncDone, 1)
	}
	l.p.results = append(l.p.results, done)
	off := l.w.off
	sf := f
	if sf == nil {
		sf = l.w.f
	}
	go func() {
		var err error
		if full {
			err = sf.Sync() // the zeros grew the file
		} else {
			err = DataSync(sf)
		}
		done <- syncDone{upto: b, off: off, file: f, err: err}
	}()
}

// synced takes the oldest fsync's result: on success every batch written before it
// began is durable and completes; after a failure no batch completes well
// until every fsync in flight has returned, then every pending one fails and
// the segment is cut back to the first of them, as after a failed fsync in
// flush.
func (l *Log) synced(r syncDone) {
	l.p.syncing--
	l.release(r.file)
	if r.err != nil && l.p.failed == nil {
		l.p.failed = fmt.Errorf("eventlog: fsync segment %s: %w", l.w.path, r.err)
	}
	if l.p.failed == nil {
		l.w.synced = max(l.w.synced, r.off)
		for len(l.p.pending) > 0 && l.p.pending[0].b.last <= r.upto.last {
			w := l.p.pending[0]
			l.p.pending = l.p.pending[1:]
			l.finishBatch(w, nil)
		}
		return
	}
	if l.p.syncing > 0 {
		return
	}
	err := l.p.failed
	l.p.failed = nil
	if len(l.p.pending) == 0 {
		return
	}
	if cerr := l.cut(l.p.pending[0].start); cerr != nil {
		l.logger.Error("eventlog: cannot cut an unsynced batch; retrying before the next write", "segment", l.w.path, "err", cerr)
	}
	for _, w := range l.p.pending {
		l.logger.Error("eventlog: batch failed", "records", w.b.last-w.b.first+1, "err", err)
		l.finishBatch(w, err)
	}
	l.p.pending = l.p.pending[:0]
}

// drain waits for every fsync in flight; afterwards no batch is pending.
func (l *Log) drain() {
	for l.p.syncing > 0 {
		r := <-l.p.head()
		l.p.pop()
		l.synced(r)
	}
}

// finishBatch completes a written batch and reports it.
func (l *Log) finishBatch(w written, err error) {
	var st BatchStats
	if l.cfg.Observe != nil { // before complete, which recycles the batch
		st = BatchStats{Records: int(w.b.last - w.b.first + 1), Bytes: len(w.b.buf),
			Gather: w.began.Sub(w.b.start), Write: time.Since(w.began), Err: err}
	}
	l.complete(w.b, err)
	if l.cfg.Observe != nil {
		l.cfg.Observe(st)
	}
}

// syncFile returns a descriptor of the segment for one fsync.
func (l *Log) syncFile() (File, error) {
	if n := len(l.p.free); n > 0 {
		f := l.p.free[n-1]
		l.p.free = l.p.free[:n-1]
		return f, nil
	}
	f, err := l.cfg.FS.OpenFile(l.w.path, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("eventlog: open segment %s to fsync it: %w", l.w.path, err)
	}
	return f, nil
}

// release returns an fsync descriptor (nil: the segment's own) for reuse.
func (l *Log) release(f File) {
	if f != nil {
		l.p.free = append(l.p.free, f)
	}
}

// closeSyncFiles closes the segment's fsync descriptors; nothing is in flight.
func (l *Log) closeSyncFiles() {
	for _, f := range l.p.free {
		if err := f.Close(); err != nil {
			l.logger.Warn("eventlog: close segment", "segment", l.w.path, "err", err)
		}
	}
	clear(l.p.free)
	l.p.free = l.p.free[:0]
}

// preallocAhead keeps zero-filled space ahead of the segment's end, so that
// the batches' fsyncs do not change its size: once less than half a chunk is
// left, it writes the next chunk of zeros past the end and reports that it
// did (the batch's fsync must then be a full one, which commits the new
// size). The zeros are cut off again (trim) before the segment stops being
// the newest and at a clean close; a crash leaves them as a zero tail, which
// Replay reports (ReplayInfo.ZeroTail) and TruncateTorn cuts. A failure only
// costs speed: the space written is cut off before the next write.
func (l *Log) preallocAhead() bool {
	w := &l.w
	chunk := l.chunk()
	if w.dirty || w.zeroed-w.off >= chunk/2 || w.off >= l.cfg.SegmentSize {
		return false
	}
	from := max(w.zeroed, w.off)
	if err := zeroFill(w.f, from, from+chunk, w.off); err != nil {
		w.dirty = true // the next write cuts the file back to off first
		w.zeroed = w.off
		l.logger.Warn("eventlog: cannot preallocate log space; fsyncs cost more", "segment", w.path, "err", err)
		return true
	}
	w.zeroed = from + chunk
	return true
}
