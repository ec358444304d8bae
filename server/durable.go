package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distkv/distkv/eventlog"
	"github.com/distkv/distkv/internal/flock"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/snapshot"
)

// Data directory layout (see docs/formats.md):
//
//	DIR/LOCK       flock'd while a server runs, so two servers never share a directory
//	DIR/origin     the current boot generation: the node's origin is NAME~GEN
//	DIR/running    present while a server runs; left behind by a crash
//	DIR/waiting    present while the node may not take writes on its clock (waitfiles.go)
//	DIR/tock       the clock learned when the last wait ended: a start's floor (waitfiles.go)
//	DIR/log/       event log segments (eventlog)
//	DIR/snap/      snapshots (snapshot)
const (
	lockFile    = "LOCK"
	originFile  = "origin"
	runningFile = "running"
	logDir      = "log"
	snapDir     = "snap"
	keepSnaps   = 2
)

// store is the server's durability: the event log and snapshots.
type store struct {
	s       *Server
	dir     string
	lock    *os.File
	log     *eventlog.Log
	policy  eventlog.SyncPolicy
	snapMu  sync.Mutex // one snapshot at a time
	appends int        // records logged since the last snapshot was asked for; under s.mu
	logged  int64      // bytes logged since then; under s.mu
	// snapSize is the size of the newest snapshot: the next one waits for as many log bytes,
	// so that writing snapshots stays a bounded share of the work however large the tree.
	snapSize atomic.Int64
	want     chan struct{}
	stop     chan struct{}
	wg       sync.WaitGroup
	// unlogged holds this node's own updates whose log write failed (e.g. disk full): they
	// are applied, so they must reach the log before new ticks are used, or a restart would
	// leave a gap in the node's own history.
	unlogged []*node.Update
	// rec is the scratch buffer records are encoded into (the log copies them); under s.mu.
	rec []byte
	// The wait's files (waitfiles.go), as on disk: marked is DIR/waiting's presence (the node
	// has not taken writes on its clock since the wait that left it began), floor DIR/tock's
	// value; both change under waitMu.
	waitMu sync.Mutex
	marked atomic.Bool
	floor  uint64
}

// maxScratch bounds the record buffer kept between appends.
const maxScratch = 64 << 10

// encode returns u's log record in the scratch buffer, valid until the next call; the caller
// holds s.mu.
func (st *store) encode(u *node.Update) []byte {
	if cap(st.rec) > maxScratch {
		st.rec = nil // one large update does not pin its size
	}
	st.rec = u.AppendMsgpack(st.rec[:0])
	return st.rec
}

// openStore locks the data directory, restores the newest snapshot plus the log after it, and
// opens the log for appending. It runs before the server serves anything.
func (s *Server) openStore() error {
	dir := s.cfg.DataDir
	policy, err := eventlog.ParseSyncPolicy(s.cfg.Fsync)
	if err != nil {
		return err
	}
	for _, d := range []string{dir, filepath.Join(dir, logDir), filepath.Join(dir, snapDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("server: data dir: %w", err)
		}
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("server: data dir: %w", err)
	}
	if err := flock.TryLock(lock); err != nil {
		lock.Close()
		return fmt.Errorf("server: data dir %s is in use by another server: %w", dir, err)
	}
	st := &store{s: s, dir: dir, lock: lock, policy: policy, want: make(chan struct{}, 1), stop: make(chan struct{})}
	if err := st.restore(); err != nil {
		lock.Close()
		return err
	}
	s.store = st
	st.wg.Add(1)
	go func() { defer st.wg.Done(); st.snapshotLoop() }()
	return nil
}

func (st *store) restore() error {
	s := st.s
	start := time.Now()
	gen, haveGen, err := readGen(st.dir)
	if err != nil {
		return err
	}
	if !haveGen {
		// A new data dir: a new history, its generation on disk before any tick is used.
		gen = uint64(time.Now().UnixMilli())
		if err := writeGen(st.dir, gen); err != nil {
			return err
		}
	}
	var from uint64
	if !s.cfg.LeaveGCPace {
		defer slowLoadGC()()
	}
	n, snapPath, hdr, entries, err := st.loadNewest(node.Config{Origin: OriginName(s.cfg.Name, gen)})
	if err != nil {
		return err
	}
	if snapPath != "" {
		from = hdr.LogSegment
		if fi, err := os.Stat(snapPath); err == nil {
			st.snapSize.Store(fi.Size())
		}
	}
	info, err := eventlog.Replay(filepath.Join(st.dir, logDir), from, func(rec []byte) error {
		if err := replayRecord(n, rec); errors.Is(err, errSkippedRecord) {
			s.log.Warn("event log", "err", err)
		} else if err != nil {
			return fmt.Errorf("server: log record: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("server: replaying the event log: %w", err)
	}
	if info.TornTail {
		if info.ZeroTail { // the space --fsync always preallocates, left by a crash: nothing lost
			s.log.Info("event log ended in preallocated space; cut it", "segment", info.TornSegment, "offset", info.TornOffset)
		} else {
			s.log.Warn("event log had a torn tail; cut it", "segment", info.TornSegment, "offset", info.TornOffset)
		}
		if err := eventlog.TruncateTorn(filepath.Join(st.dir, logDir), info); err != nil {
			return err
		}
	}
	n.Ready() // replayed updates are already logged
	// A crash under a lazy fsync policy may have lost updates that peers already received:
	// reusing their ticks would give two different updates one identity. Start a new origin.
	// The running marker tells a crash even when the log after the last snapshot is lost
	// whole (then the log alone looks like a clean, empty one).
	_, markErr := os.Stat(filepath.Join(st.dir, runningFile))
	crashed := markErr == nil || (info.Records > 0 && !info.CleanClose)
	s.stoppedClean = !crashed
	if crashed && st.policy != eventlog.SyncAlways {
		newGen := max(uint64(time.Now().UnixMilli()), gen+1)
		s.log.Warn("unclean stop with fsync "+st.policy.String()+": starting a new origin", "old", OriginName(s.cfg.Name, gen), "new", OriginName(s.cfg.Name, newGen))
		if err := writeGen(st.dir, newGen); err != nil {
			return err
		}
		n.SetOrigin(OriginName(s.cfg.Name, newGen))
	}
	if err := st.loadWait(n); err != nil {
		return err
	}
	if s.stoppedClean && s.cfg.GossipAddr != "" {
		// The run may have to wait (alone.go): marked before it counts as running, so that a
		// crash before it knows whether cannot restart it as one the others waited for.
		if err := st.markWait(n.Tock()); err != nil {
			return err
		}
	}
	st.s.node = n
	if err := writeFileSync(st.dir, runningFile, fmt.Sprintf("%d\n", os.Getpid())); err != nil {
		return fmt.Errorf("server: data dir: %w", err)
	}
	cfg := eventlog.DefaultConfig(filepath.Join(st.dir, logDir))
	cfg.Sync, cfg.Logger, cfg.Observe = st.policy, s.log, s.met.batch
	if s.cfg.LogFS != nil {
		cfg.FS = s.cfg.LogFS
	}
	if st.log, err = eventlog.Open(cfg); err != nil {
		return err
	}
	s.log.Info("restored state", "origin", st.s.node.Origin(), "snapshot_entries", entries, "log_records", info.Records,
		"entries", st.s.node.Len(), "tick", st.s.node.Tick(), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// loadNewest loads the newest snapshot of the data dir that loads whole into a node made
// with cfg, skipping the damaged ones as snapshot.Newest does (an empty node and path "" if
// none is left). It finds the damage as it loads instead of verifying each file first: the
// verification decoded every entry once more, a fifth of a restart's CPU with 1M entries.
func (st *store) loadNewest(cfg node.Config) (n *node.Node, path string, h snapshot.Header, entries int, err error) {
	dir := filepath.Join(st.dir, snapDir)
	seqs, err := snapshot.List(dir)
	if err != nil {
		return nil, "", h, 0, err
	}
	for _, seq := range slices.Backward(seqs) {
		path := filepath.Join(dir, snapshot.FileName(seq))
		n := node.New(cfg)
		h, entries, err := loadSnapshot(n, path)
		switch {
		case err == nil:
			return n, path, h, entries, nil
		case errors.Is(err, snapshot.ErrCorrupt):
			st.s.log.Warn("skipping a damaged snapshot", "err", err)
		case errors.Is(err, os.ErrNotExist):
			// Pruned since List: not a snapshot any more.
		default:
			return nil, "", h, 0, err
		}
	}
	return node.New(cfg), "", snapshot.Header{}, 0, nil
}

// loadSnapshot loads a snapshot file into n and returns its header and how many entries it
// held. On an error n holds part of the file.
func loadSnapshot(n *node.Node, path string) (snapshot.Header, int, error) {
	r, err := snapshot.Open(path)
	if err != nil {
		return snapshot.Header{}, 0, err
	}
	defer r.Close()
	h := r.Header()
	count := 0
	var u node.Update // reused: Load keeps none of its op list and paths
	for {
		err := r.NextInto(&u)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return h, count, fmt.Errorf("server: snapshot %s: %w", path, err)
		}
		if node.Sane(&u) != nil && u.Origin != n.Origin() {
			continue // taken from a peer before Plausible existed; see node.Sane
		}
		n.Load(&u)
		count++
	}
	n.Forget(h.Forgotten)
	n.LoadSummary(h.Known, h.Highest, h.Tock, h.Purge)
	n.Ready()
	return h, count, nil
}

func readGen(dir string) (uint64, bool, error) {
	g, ok, err := readUintFile(dir, originFile, math.MaxUint64)
	if err == nil && ok && g == 0 {
		err = fmt.Errorf("server: %s: generation 0", filepath.Join(dir, originFile))
	}
	return g, ok, err
}

// writeGen replaces the generation file atomically.
func writeGen(dir string, gen uint64) error { return writeUintFile(dir, originFile, gen) }

// maxUintFile bounds what readUintFile reads: a number of 20 digits, a newline, and room for
// stray spaces.
const maxUintFile = 32

// readUintFile reads DIR/name, which holds one decimal number up to max (origin, tock,
// waiting); ok is false if there is none. Anything else, or more than maxUintFile bytes, is
// refused with an error naming the file.
func readUintFile(dir, name string, max uint64) (v uint64, ok bool, err error) {
	path := filepath.Join(dir, name)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("server: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxUintFile+1))
	if err != nil {
		return 0, false, fmt.Errorf("server: %w", err)
	}
	if v, err = parseUintFile(b, max); err != nil {
		return 0, false, fmt.Errorf("server: %s: %w (docs/formats.md)", path, err)
	}
	return v, true, nil
}

// parseUintFile returns the number a data directory's number file b holds.
func parseUintFile(b []byte, max uint64) (uint64, error) {
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || v > max || len(b) > maxUintFile {
		return 0, fmt.Errorf("want a number up to %d, found %q", max, b)
	}
	return v, nil
}

// writeUintFile replaces DIR/name with the number v, atomically and durably.
func writeUintFile(dir, name string, v uint64) error {
	return writeFileSync(dir, name, fmt.Sprintf("%d\n", v))
}

// writeFileSync replaces DIR/name atomically and durably.
func writeFileSync(dir, name, content string) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	f.Close()
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// snapshotHeader summarises the node now, for a snapshot whose entries are copied next; seg is
// the log segment replay starts from (0 for a file that stands alone, as save writes).
func (s *Server) snapshotHeader(seg uint64) snapshot.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.node
	return snapshot.Header{Node: s.cfg.Name, Origin: n.Origin(), Created: time.Now().Unix(), Tock: n.Tock(),
		Known: n.Known(), Highest: n.Highest(), Purge: n.PurgeWatermark(), LogSegment: seg, Entries: uint64(n.Len()),
		Forgotten: n.Forgotten()}
}

// Append logs one record and asks for a snapshot once SnapshotEvery records and as many
// bytes as the newest snapshot holds were logged since the last one: each snapshot costs
// O(entries), so spacing them by its own size keeps their share of the work bounded (at most
// one byte of snapshot written per byte of log) and the log to replay at a start at most about
// the snapshot's size. Wait waits for a record's durability.
func (st *store) Append(rec []byte) (uint64, error) {
	if st.snapshotDue(len(rec)) {
		st.requestSnapshot()
	}
	return st.log.Append(rec)
}

// snapshotDue counts a record of size bytes and reports whether it makes a snapshot due.
func (st *store) snapshotDue(size int) bool {
	st.appends++
	st.logged += int64(size)
	if st.appends < st.s.cfg.SnapshotEvery || st.logged < st.snapSize.Load() {
		return false
	}
	st.appends, st.logged = 0, 0
	return true
}

func (st *store) Wait(ctx context.Context, seq uint64) error { return st.log.Wait(ctx, seq) }

func (st *store) requestSnapshot() {
	select {
	case st.want <- struct{}{}:
	default:
	}
}

func (st *store) snapshotLoop() {
	probe := time.NewTicker(time.Second)
	defer probe.Stop()
	for {
		select {
		case <-st.stop:
			return
		case <-probe.C:
			st.recover()
			continue
		case <-st.want:
		}
		if _, err := st.snapshot(); err != nil && !errors.Is(err, errStopping) {
			st.s.log.Error("snapshot failed", "err", err)
		}
	}
}

// snapshot writes a snapshot from a consistent cut without stopping writes: the log rolls to a
// new segment first, so every record not reflected in the header's known ticks is in a segment
// the snapshot names for replay; the entries are then copied a chunk at a time under the lock.
// Entries changed meanwhile are newer than the header says, which replay handles (apply is
// idempotent and the conflict rule is a total order).
func (st *store) snapshot() (string, error) {
	st.snapMu.Lock()
	defer st.snapMu.Unlock()
	s := st.s
	start := time.Now()
	seg, err := st.log.Rotate()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(st.dir, snapDir)
	seqs, err := snapshot.List(dir)
	if err != nil {
		return "", err
	}
	next := uint64(1)
	if len(seqs) > 0 {
		next = seqs[len(seqs)-1] + 1
	}
	h := s.snapshotHeader(seg)
	w, err := snapshot.Create(dir, snapshot.FileName(next), h)
	if err != nil {
		return "", err
	}
	defer w.Abort()
	// On errStopping the file is removed; the older snapshots and the log stay.
	if err := s.copyEntries(w, st.stopping); err != nil {
		return "", err
	}
	if err := w.Commit(); err != nil {
		return "", err
	}
	if err := snapshot.Prune(dir, keepSnaps); err != nil {
		s.log.Warn("pruning snapshots", "err", err)
	}
	// Keep the log from the oldest snapshot kept, so falling back to it still replays.
	if oldest, err := oldestLogSegment(dir); err == nil && oldest > 0 {
		if err := st.log.RemoveBefore(oldest); err != nil {
			s.log.Warn("removing old log segments", "err", err)
		}
	}
	path := filepath.Join(dir, snapshot.FileName(next))
	if fi, err := os.Stat(path); err == nil {
		st.snapSize.Store(fi.Size())
	}
	s.met.snapTook.Observe(time.Since(start).Seconds())
	s.log.Info("snapshot written", "path", path, "entries", w.Count(), "took", time.Since(start).Round(time.Millisecond))
	return path, nil
}

// errStopping ends a snapshot cut short by a shutdown.
var errStopping = errors.New("server: shutting down")

// stopping reports whether the server is shutting down: a snapshot of a large tree would hold
// up the shutdown for as long as it takes to write it.
func (st *store) stopping() bool {
	select {
	case <-st.stop:
		return true
	case <-st.s.closing:
		return true
	default:
		return false
	}
}

func oldestLogSegment(dir string) (uint64, error) {
	seqs, err := snapshot.List(dir)
	if err != nil || len(seqs) == 0 {
		return 0, err
	}
	r, err := snapshot.Open(filepath.Join(dir, snapshot.FileName(seqs[0])))
	if err != nil {
		return 0, err
	}
	defer r.Close()
	return r.Header().LogSegment, nil
}

// recover retries writing this node's own updates whose log write failed; once they are on
// disk the node takes writes again (and sends those updates to peers).
func (st *store) recover() {
	s := st.s
	s.mu.Lock()
	if s.logErr == nil {
		s.mu.Unlock()
		return
	}
	pending := st.unlogged
	var seq uint64
	var err error
	for _, u := range pending {
		if seq, err = st.log.Append(st.encode(u)); err != nil {
			break
		}
	}
	own := s.node.Origin()
	s.mu.Unlock()
	if err == nil && seq > 0 {
		err = st.log.Wait(context.Background(), seq)
	} else if err == nil {
		err = st.log.Sync()
	}
	if err != nil {
		return
	}
	s.mu.Lock()
	st.unlogged = st.unlogged[len(pending):]
	if len(st.unlogged) == 0 {
		s.logErr = nil
	}
	repl := s.repl // under mu: Run sets it once the node has caught up, while this loop runs
	s.mu.Unlock()
	s.log.Info("event log writable again; taking writes")
	var send []*node.Update
	for _, u := range pending {
		if u.Origin == own {
			send = append(send, u)
		}
	}
	if repl != nil && len(send) > 0 {
		repl.Send(send)
	}
}

// close stops the snapshot loop and closes the log cleanly; only then does the running
// marker go, so that a failed close counts as a crash at the next start.
func (st *store) close() error {
	close(st.stop)
	st.wg.Wait()
	err := st.log.Close()
	if err == nil {
		if err = os.Remove(filepath.Join(st.dir, runningFile)); err == nil {
			err = syncDir(st.dir)
		}
	}
	st.lock.Close()
	return err
}
