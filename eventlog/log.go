package eventlog

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"
)

// maxPending bounds the bytes appended but not yet taken by the writer;
// Append blocks beyond it instead of growing memory without limit.
const maxPending = 64 << 20

// maxSpare is the largest batch buffer kept for reuse after a write.
const maxSpare = 8 << 20

// Log appends records to a segmented log through one writer goroutine.
// All methods are safe for concurrent use.
type Log struct {
	cfg    Config
	logger *slog.Logger

	mu       sync.Mutex
	space    sync.Cond // broadcast when the writer takes cur, and on Close
	closed   bool
	seq      uint64    // last sequence number handed out
	cur      *batch    // appended records the writer has not taken yet
	inflight []*batch  // batches the writer took and has not completed, in order
	doneSeq  uint64    // every record up to doneSeq has completed, well or not
	failures []failure // completed records that failed, ascending, merged
	spare    []byte    // a written batch's buffer, for the next batch
	curSeg   uint64    // the segment appends go to
	segs     []uint64  // every segment file, ascending
	blocked  int       // Appends waiting for space (tests watch it)
	limit    int       // maxPending; tests lower it

	removeMu sync.Mutex // serialises RemoveBefore

	wake   chan struct{} // capacity 1: "cur is not empty"
	reqs   chan request
	exited chan struct{} // closed when the writer returns

	w segment // owned by the writer goroutine
	p pipe    // owned by the writer goroutine
}

// batch is a group of consecutive records written (and fsynced) together.
type batch struct {
	first, last uint64    // sequence numbers in buf; first == 0 when empty
	start       time.Time // first record's Append, with Config.Observe
	buf         []byte
	done        chan struct{} // closed once the batch is complete; err is set before
	err         error
}

type failure struct {
	first, last uint64
	err         error
}

// Open creates cfg.Dir if needed and starts a new segment after the newest
// existing one; it never writes into an old segment. It does not replay:
// call Replay (and TruncateTorn) before Open.
func Open(cfg Config) (*Log, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := cfg.FS.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("eventlog: create %s: %w", cfg.Dir, err)
	}
	segs, err := listSegments(cfg.FS, cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("eventlog: list %s: %w", cfg.Dir, err)
	}
	next := uint64(1)
	if len(segs) > 0 {
		next = segs[len(segs)-1] + 1
	}
	l := &Log{
		cfg:    cfg,
		logger: cfg.Logger,
		limit:  maxPending,
		wake:   make(chan struct{}, 1),
		reqs:   make(chan request),
		exited: make(chan struct{}),
	}
	l.space.L = &l.mu
	l.cur = l.newBatch()
	// O_EXCL: never clobber a segment another process created meanwhile.
	if l.w, err = l.createSegment(next, os.O_EXCL); err != nil {
		return nil, err
	}
	l.curSeg = next
	l.segs = append(segs, next)
	go l.run()
	return l, nil
}

// newBatch returns an empty batch reusing the spare buffer. l.mu is held.
func (l *Log) newBatch() *batch {
	b := &batch{buf: l.spare, done: make(chan struct{})}
	l.spare = nil
	return b
}

// Append queues rec and returns its sequence number: 1 for the first record
// of this Log, then consecutive. Records reach the disk in the order of their
// sequence numbers. Append copies rec and does no I/O; it blocks only while
// more than 64 MiB are waiting to be written (the disk is slower than the
// callers), to keep memory bounded. Call Wait for durability.
func (l *Log) Append(rec []byte) (uint64, error) {
	if len(rec) > l.cfg.MaxRecord {
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(rec), l.cfg.MaxRecord)
	}
	h := recordHeader(recData, rec) // checksum outside the lock
	need := len(h) + len(rec)
	l.mu.Lock()
	for !l.closed && l.cur.first != 0 && len(l.cur.buf)+need > l.limit {
		l.blocked++
		l.space.Wait()
		l.blocked--
	}
	if l.closed {
		l.mu.Unlock()
		return 0, ErrClosed
	}
	l.seq++
	b := l.cur
	if b.first == 0 {
		b.first = l.seq
		if l.cfg.Observe != nil {
			b.start = time.Now()
		}
	}
	b.last = l.seq
	b.buf = append(append(b.buf, h[:]...), rec...)
	seq := l.seq
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
	return seq, nil
}

// Wait blocks until record seq is durable per the sync policy (SyncAlways:
// written and fsynced; otherwise written to the OS) and returns nil, or
// returns the error that made its batch fail. If ctx ends first it returns
// ctx.Err(); the record is still written. Wait works after Close too.
func (l *Log) Wait(ctx context.Context, seq uint64) error {
	l.mu.Lock()
	if seq == 0 || seq > l.seq {
		l.mu.Unlock()
		return fmt.Errorf("eventlog: Wait: no record has sequence number %d", seq)
	}
	if seq <= l.doneSeq {
		err := l.failedErr(seq)
		l.mu.Unlock()
		return err
	}
	b := l.cur
	for _, in := range l.inflight {
		if seq <= in.last {
			b = in
			break
		}
	}
	l.mu.Unlock()
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// failedErr returns the error of completed record seq. l.mu is held.
func (l *Log) failedErr(seq uint64) error {
	i, found := slices.BinarySearchFunc(l.failures, seq, func(f failure, s uint64) int {
		switch {
		case f.last < s:
			return -1
		case f.first > s:
			return 1
		}
		return 0
	})
	if found {
		return l.failures[i].err
	}
	return nil
}

// Last returns the sequence number of the last record appended (0: none yet). Batches are
// written in order, so once Wait(Last()) returns, every earlier record has been written
// (well or not: a failed earlier batch reports its error to its own waiters).
func (l *Log) Last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq
}

// Sync writes every queued record and fsyncs the current segment, whatever
// the policy.
func (l *Log) Sync() error {
	return l.call(reqSync).err
}

// Rotate writes every queued record to the current segment, fsyncs and closes
// it, and starts a new segment, whose number it returns: every record
// appended after Rotate returns is in that segment or a later one. It waits
// for that I/O (two fsyncs or so). On error the log keeps appending to the
// current segment.
func (l *Log) Rotate() (uint64, error) {
	r := l.call(reqRotate)
	return r.seg, r.err
}

// call hands a request to the writer goroutine and waits for its answer.
func (l *Log) call(kind reqKind) result {
	l.mu.Lock()
	closed := l.closed && kind != reqClose
	l.mu.Unlock()
	if closed {
		return result{err: ErrClosed}
	}
	r := request{kind: kind, reply: make(chan result, 1)}
	select {
	case l.reqs <- r:
		return <-r.reply // the writer answers every request it receives
	case <-l.exited:
		return result{err: ErrClosed}
	}
}

// RemoveBefore deletes the segment files numbered below segment, oldest
// first (so a crash leaves no gap), never the current one. Call it once a
// snapshot covers them.
func (l *Log) RemoveBefore(segment uint64) error {
	l.removeMu.Lock()
	defer l.removeMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	limit := min(segment, l.curSeg)
	var victims []uint64
	for _, n := range l.segs {
		if n < limit {
			victims = append(victims, n)
		}
	}
	l.mu.Unlock()
	for _, n := range victims {
		if err := l.cfg.FS.Remove(segmentPath(l.cfg.Dir, n)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("eventlog: remove segment: %w", err)
		}
		l.mu.Lock()
		l.segs = slices.DeleteFunc(l.segs, func(s uint64) bool { return s == n })
		l.mu.Unlock()
	}
	if len(victims) == 0 {
		return nil
	}
	if err := syncDir(l.cfg.FS, l.cfg.Dir); err != nil {
		return fmt.Errorf("eventlog: sync %s: %w", l.cfg.Dir, err)
	}
	return nil
}

// Segments returns the numbers of the log's segment files, ascending; the
// last is the one being appended to.
func (l *Log) Segments() []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.segs)
}

// Close writes every queued record, appends the clean-close trailer (unless
// a write failed), fsyncs and closes the segment and stops the writer
// goroutine. Afterwards every method but Wait returns ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	l.space.Broadcast() // blocked Appends return ErrClosed
	l.mu.Unlock()
	err := l.call(reqClose).err
	<-l.exited
	return err
}
