package main

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/node"
)

// Visibility: how long after a write is acknowledged every node shows it.
//
// Before the writers start, one watch per node (one dedicated connection each, no fetch) is
// opened on the bench prefix; a marker write seen by every watch proves they are all live.
// Every value the writers send carries a tag in its first bytes: the run's random id, the
// writer and its sequence number. Each watch records, per path, the version (tock, origin)
// and arrival time of every event; after the run the bench waits up to --grace until every
// node shows, for every path written, the newest acknowledged version or a newer one.
//
// A write W counts as visible at a node from the first event there on W's path whose version
// is W's or newer: with several writers on few keys, a concurrent newer write to the same path
// may reach a node first, and then W itself is never delivered there (it loses the conflict
// rule) although the node is already past it. Those writes are counted as superseded. An event
// with W's exact version must carry W's tag: anything else is counted as a mismatch (a bug).
// W's visibility latency is the time the last node saw it minus the time its acknowledgement
// arrived, clamped at 0 (a node, the writer's own especially, may show it before the ack).
// With --visibility-watchers process the watches run in child processes (bench_watcher.go)
// and the times are wall clock differences from one t0; the rest is the same.
//
// The watch connections turn flow control off (client.WithoutFlowControl): with the default
// window of 10 messages, a watch can only have 9 events unacknowledged, so at tens of
// thousands of writes per second the server's watch waits a client round trip every 3 events,
// falls behind and ends the watch (overflow). Without the window, the server writes the events
// as they come, in batches, and still ends a watch whose reader falls 4096 events behind. What
// is measured is then the servers' replication and watch path, not the window's round trips.

// visTagLen is the length of the tag at the start of each value's bytes.
const visTagLen = 16

// markerWriter is the writer id of the start marker.
const markerWriter = ^uint32(0)

// visMarkerTimeout bounds the wait for every watch to see the start marker, written again
// every markerEvery.
const (
	visMarkerTimeout = 10 * time.Second
	markerEvery      = 200 * time.Millisecond
)

// wver (a write's version) orders versions by the conflict rule: tock, then origin bytewise.
type wver struct {
	tock   uint64
	origin string
}

func (a wver) compare(b wver) int {
	if c := cmp.Compare(a.tock, b.tock); c != 0 {
		return c
	}
	return strings.Compare(a.origin, b.origin)
}

// visWrite is one acknowledged write.
type visWrite struct {
	path   int32 // index into bench.paths
	writer uint32
	seq    uint32
	ver    wver
	ack    time.Duration // since visibility.t0
}

// visEvent is one watch event on a bench path.
type visEvent struct {
	ver    wver
	at     time.Duration // since visibility.t0
	writer uint32        // from the tag, if tagged
	seq    uint32
	tagged bool // carries this run's tag
}

// nodeWatch is the watch on one node.
type nodeWatch struct {
	addr string
	cl   *conn
	st   *client.Stream
	done chan struct{} // closed when the watch goroutine returned
	proc *watcherProc  // with --visibility-watchers process: the child running the watch

	mu     sync.Mutex
	events [][]visEvent // by path index
	newest []wver       // by path index: the newest version seen
	marker bool         // saw the start marker
	err    error        // why the watch ended before we stopped it
}

// visibility is the set workload that also measures visibility.
type visibility struct {
	run     uint64 // random id of this run, in every tag
	t0      time.Time
	pathIdx map[string]int32 // bench path key -> index
	watches []*nodeWatch
	cancel  context.CancelFunc // stops the watches

	// Per worker, touched only by that worker while it runs.
	next   []uint32
	writes [][]visWrite
}

func newVisibility(b *bench) *visibility {
	v := &visibility{
		run:     rand.Uint64(),
		pathIdx: make(map[string]int32, len(b.paths)),
		next:    make([]uint32, b.cfg.clients),
		writes:  make([][]visWrite, b.cfg.clients),
	}
	for i, p := range b.paths {
		v.pathIdx[p.Key()] = int32(i)
	}
	return v
}

// tagged returns a value of b's pool with the tag (writer, seq) written into its bytes.
func (v *visibility) tagged(b *bench, src []byte, writer, seq uint32) []byte {
	out := slices.Clone(src)
	off := len(out) - b.cfg.valueSize // the bin header's length
	binary.BigEndian.PutUint64(out[off:], v.run)
	binary.BigEndian.PutUint32(out[off+8:], writer)
	binary.BigEndian.PutUint32(out[off+12:], seq)
	return out
}

// parseTag returns the tag of a value if it is a msgpack bin carrying this run's tag.
func (v *visibility) parseTag(raw []byte) (writer, seq uint32, ok bool) {
	var h, n int
	switch {
	case len(raw) >= 2 && raw[0] == 0xc4:
		h, n = 2, int(raw[1])
	case len(raw) >= 3 && raw[0] == 0xc5:
		h, n = 3, int(binary.BigEndian.Uint16(raw[1:]))
	case len(raw) >= 5 && raw[0] == 0xc6:
		h, n = 5, int(binary.BigEndian.Uint32(raw[1:]))
	default:
		return 0, 0, false
	}
	if len(raw)-h != n || n < visTagLen || binary.BigEndian.Uint64(raw[h:]) != v.run {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(raw[h+8:]), binary.BigEndian.Uint32(raw[h+12:]), true
}

// start opens one watch per distinct node of the address list and waits until every watch
// has seen a marker write. The watches run until finish (or ctx ends).
func (v *visibility) start(ctx context.Context, b *bench) error {
	// One connection per address, in parallel; then drop addresses that reach a node
	// already watched (the same server under two names).
	conns := make([]*conn, len(b.cfg.addrs))
	errs := make([]error, len(b.cfg.addrs))
	var wg sync.WaitGroup
	for i, addr := range b.cfg.addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns[i], errs[i] = connect(ctx, addr, b.cfg.tls, client.WithoutFlowControl())
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, cl := range conns {
			if cl != nil {
				cl.Close()
			}
		}
		return err
	}
	wctx, cancel := context.WithCancel(ctx)
	v.cancel = cancel
	seen := map[string]bool{}
	for _, cl := range conns {
		id := cl.ServerOrigin
		if id == "" {
			id = "addr " + cl.addr
		}
		if seen[id] {
			cl.Close()
			continue
		}
		seen[id] = true
		v.watches = append(v.watches, &nodeWatch{addr: cl.addr, cl: cl, done: make(chan struct{}),
			events: make([][]visEvent, len(b.paths)), newest: make([]wver, len(b.paths))})
	}
	if b.cfg.watchers == watchersProcess {
		if err := v.startProcs(wctx, b); err != nil {
			v.stop()
			return err
		}
	} else {
		v.t0 = time.Now()
	}
	for _, w := range v.watches {
		if w.proc != nil {
			continue
		}
		st, err := w.cl.Watch(wctx, node.StringPath("bench"), client.WatchOptions{TreeOptions: client.TreeOptions{NChain: 1}})
		if err != nil {
			v.stop()
			return w.cl.mapErr(ctx, err)
		}
		w.st = st
		go v.watch(wctx, w)
	}

	// The marker: a tagged value at "bench" itself, through the first worker's connection,
	// written again every markerEvery until every watch saw one: a watch request is only
	// registered once the server has read it, and nothing says when that is.
	deadline := time.Now().Add(visMarkerTimeout)
	var wrote time.Time
	for seq := uint32(0); ; {
		if time.Since(wrote) >= markerEvery {
			marker := v.tagged(b, b.values[0], markerWriter, seq)
			if _, err := b.workers[0].cl.Set(ctx, node.StringPath("bench"), marker); err != nil {
				v.stop()
				return prefixErr("start marker: ", b.workers[0].cl.mapErr(ctx, err))
			}
			wrote = time.Now()
			seq++
		}
		missing := ""
		for _, w := range v.watches {
			w.mu.Lock()
			ok, werr := w.marker, w.err
			w.mu.Unlock()
			if werr != nil {
				v.stop()
				return watchFailure(w.addr, werr)
			}
			if !ok && missing == "" {
				missing = w.addr
			}
		}
		switch {
		case missing == "":
			return nil
		case ctx.Err() != nil:
			v.stop()
			return ctx.Err()
		case time.Now().After(deadline):
			v.stop()
			return failf("the watch on %s did not see the start marker within %v", missing, visMarkerTimeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// watch drains one watch as fast as it can: it only timestamps and files each event.
func (v *visibility) watch(ctx context.Context, w *nodeWatch) {
	defer close(w.done)
	for {
		e, err := w.st.Next(ctx)
		at := time.Since(v.t0)
		if err != nil {
			if ctx.Err() != nil {
				return // stopped by us, or interrupted
			}
			if errors.Is(err, client.ErrEnd) {
				err = fmt.Errorf("%w: the server ended the watch", clientproto.ErrClosed)
			}
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			return
		}
		writer, seq, tagged := v.parseTag(e.Value)
		ev := visEvent{at: at, writer: writer, seq: seq, tagged: tagged}
		if len(e.Chain) > 0 {
			ev.ver = wver{tock: e.Tock, origin: e.Chain[0].Origin}
		}
		idx, known := v.pathIdx[e.Path.Key()]
		w.file(idx, known, len(e.Chain) > 0, ev)
	}
}

// file records one event of w's watch: at the bench path of index idx if known, with a
// version if versioned.
func (w *nodeWatch) file(idx int32, known, versioned bool, ev visEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case ev.tagged && ev.writer == markerWriter:
		w.marker = true
	case known && versioned: // else not a bench path, or no version
		w.events[idx] = append(w.events[idx], ev)
		if ev.ver.compare(w.newest[idx]) > 0 {
			w.newest[idx] = ev.ver
		}
	}
}

// stop ends the watches, waits for their goroutines and closes their connections.
func (v *visibility) stop() {
	if v.cancel != nil {
		v.cancel()
	}
	for _, w := range v.watches {
		switch {
		case w.proc != nil:
			w.proc.stop()
		case w.st != nil:
			<-w.done
		}
		if w.cl != nil {
			w.cl.Close()
		}
	}
}

func (v *visibility) prepare(context.Context, *bench) error { return nil }

func (v *visibility) op(ctx context.Context, b *bench, w *worker) error {
	seq := v.next[w.id]
	v.next[w.id]++
	k := w.rng.IntN(len(b.paths))
	res, err := w.cl.Set(ctx, b.paths[k], v.tagged(b, b.randomValue(w), uint32(w.id), seq))
	at := time.Since(v.t0)
	if err != nil {
		return err
	}
	if len(res.Chain) == 0 {
		return fmt.Errorf("%w: write acknowledged without its version", clientproto.ErrServer)
	}
	v.writes[w.id] = append(v.writes[w.id], visWrite{path: int32(k), writer: uint32(w.id), seq: seq,
		ver: wver{tock: res.Tock, origin: res.Chain[0].Origin}, ack: at})
	return nil
}

// visResult is the visibility part of the report.
type visResult struct {
	nodes      int
	writes     int           // acknowledged
	seen       int           // visible on every node
	notSeen    int           // not visible on some node within the grace period
	superseded int           // visible somewhere only through a newer version of its path
	mismatched int           // an event with the write's version but another value
	grace      time.Duration // the longest wait after the run
	waited     time.Duration // how long it waited after the run
	watchErrs  []string      // "addr: why"
	watchErr   error         // the first watch's failure
	p50, p90   time.Duration
	p99, max   time.Duration
	perNode    []nodeVis // by watch: where the tail is
}

// nodeVis is the visibility at one node alone: from a write's ack to its first event there.
type nodeVis struct {
	addr     string
	p50, p99 time.Duration
}

// finish waits (up to the grace period) until every node shows every acknowledged write,
// stops the watches and computes the result.
func (v *visibility) finish(ctx context.Context, b *bench) *visResult {
	var all []visWrite
	for _, ws := range v.writes {
		all = append(all, ws...)
	}
	// The newest acknowledged version per path: a node is done when it shows it (or newer).
	want := make([]wver, len(b.paths))
	for _, wr := range all {
		if wr.ver.compare(want[wr.path]) > 0 {
			want[wr.path] = wr.ver
		}
	}
	end := time.Now()
	deadline := end.Add(b.cfg.grace)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		behind := false
		for _, w := range v.watches {
			w.mu.Lock()
			if w.err == nil {
				for i := range want {
					if w.newest[i].compare(want[i]) < 0 {
						behind = true
						break
					}
				}
			}
			w.mu.Unlock()
			if behind {
				break
			}
		}
		if !behind {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	r := &visResult{nodes: len(v.watches), writes: len(all), grace: b.cfg.grace, waited: time.Since(end)}
	v.stop()

	// Per node and path: events sorted by version, with the earliest arrival among the
	// events at or after each position (the first time the node was at or past a version).
	type index struct {
		ev      [][]visEvent
		firstAt [][]time.Duration
	}
	idx := make([]index, len(v.watches))
	for n, w := range v.watches {
		if w.err != nil {
			if r.watchErr == nil {
				r.watchErr = watchFailure(w.addr, w.err)
			}
			r.watchErrs = append(r.watchErrs, fmt.Sprintf("%s: %s", w.addr, watchErrText(w.err)))
		}
		idx[n] = index{ev: w.events, firstAt: make([][]time.Duration, len(w.events))}
		for p, evs := range w.events {
			slices.SortStableFunc(evs, func(a, b visEvent) int { return a.ver.compare(b.ver) })
			fa := make([]time.Duration, len(evs))
			for i := len(evs) - 1; i >= 0; i-- {
				fa[i] = evs[i].at
				if i+1 < len(evs) {
					fa[i] = min(fa[i], fa[i+1])
				}
			}
			idx[n].firstAt[p] = fa
		}
	}
	lat := make([]time.Duration, 0, len(all))
	nodeLat := make([][]time.Duration, len(idx))
	for _, wr := range all {
		var last time.Duration
		seen, exact, mismatch := true, true, false
		for n := range idx {
			evs := idx[n].ev[wr.path]
			i, found := slices.BinarySearchFunc(evs, wr.ver, func(e visEvent, t wver) int { return e.ver.compare(t) })
			if i == len(evs) {
				seen = false
				break
			}
			if !found {
				exact = false
			} else if !evs[i].tagged || evs[i].writer != wr.writer || evs[i].seq != wr.seq {
				mismatch = true
			}
			at := idx[n].firstAt[wr.path][i]
			nodeLat[n] = append(nodeLat[n], max(at-wr.ack, 0))
			last = max(last, at)
		}
		switch {
		case mismatch:
			r.mismatched++
		case !seen:
			r.notSeen++
		default:
			r.seen++
			if !exact {
				r.superseded++
			}
			lat = append(lat, max(last-wr.ack, 0))
		}
	}
	slices.Sort(lat)
	r.p50, r.p90, r.p99 = percentile(lat, 50), percentile(lat, 90), percentile(lat, 99)
	for n, nl := range nodeLat {
		slices.Sort(nl)
		r.perNode = append(r.perNode, nodeVis{addr: v.watches[n].addr, p50: percentile(nl, 50), p99: percentile(nl, 99)})
	}
	if len(lat) > 0 {
		r.max = lat[len(lat)-1]
	}
	return r
}

// watchErrText is the one-line reason a watch ended.
func watchErrText(err error) string {
	var we *watcherErr
	if errors.As(err, &we) {
		return we.text // the child's watchErrText
	}
	var se *clientproto.ServerError
	if errors.As(err, &se) {
		return "ended by the server: " + oneLine(se.Msg)
	}
	if errors.Is(err, clientproto.ErrClosed) {
		return "connection lost: " + closedCause(err)
	}
	return oneLine(err.Error())
}

// watchFailure is the command's error for a watch that ended: a lost connection is a
// connection problem (exit 3), anything else (an overflow) a failure (exit 1).
func watchFailure(addr string, err error) error {
	msg := fmt.Sprintf("watch on %s: %s", addr, watchErrText(err))
	if errors.Is(err, clientproto.ErrClosed) {
		return &exitError{exitConn, msg}
	}
	return failf("%s", msg)
}

// prefixErr puts a prefix before an exit error's message (or wraps another error).
func prefixErr(prefix string, err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return &exitError{ee.code, prefix + ee.msg}
	}
	return fmt.Errorf("%s%w", prefix, err)
}

// failure is the error the command ends with when visibility was not measured fully.
func (r *visResult) failure() error {
	switch {
	case r.watchErr != nil:
		return r.watchErr
	case r.mismatched > 0:
		return failf("%d writes: a node delivered their version with another value", r.mismatched)
	case r.notSeen > 0:
		return failf("%d of %d acknowledged writes not visible on every node within %v", r.notSeen, r.writes, r.grace)
	}
	return nil
}

func (r *visResult) text() string {
	var s strings.Builder
	fmt.Fprintf(&s, "visibility on %d node(s): %d writes, %d seen everywhere (%d through a newer version), %d not within %v",
		r.nodes, r.writes, r.seen, r.superseded, r.notSeen, r.grace)
	if r.mismatched > 0 {
		fmt.Fprintf(&s, ", %d with a wrong value", r.mismatched)
	}
	fmt.Fprintf(&s, "; waited %.3fs after the run\n", r.waited.Seconds())
	fmt.Fprintf(&s, "visibility ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", ms(r.p50), ms(r.p90), ms(r.p99), ms(r.max))
	for _, n := range r.perNode {
		fmt.Fprintf(&s, "visible at %s ms: p50 %.3f  p99 %.3f\n", n.addr, ms(n.p50), ms(n.p99))
	}
	for _, e := range r.watchErrs {
		fmt.Fprintf(&s, "watch error: %s\n", e)
	}
	return s.String()
}

func (r *visResult) json() orderedMap {
	errs := make([]any, len(r.watchErrs))
	for i, e := range r.watchErrs {
		errs[i] = e
	}
	nodes := make([]any, len(r.perNode))
	for i, n := range r.perNode {
		nodes[i] = orderedMap{{"addr", n.addr}, {"p50", ms(n.p50)}, {"p99", ms(n.p99)}}
	}
	return orderedMap{
		{"nodes", r.nodes}, {"writes", r.writes}, {"seen", r.seen}, {"not_seen", r.notSeen},
		{"superseded", r.superseded}, {"mismatched", r.mismatched},
		{"grace_seconds", r.grace.Seconds()}, {"waited_seconds", float64(r.waited.Round(time.Millisecond)) / 1e9},
		{"latency_ms", orderedMap{{"p50", ms(r.p50)}, {"p90", ms(r.p90)}, {"p99", ms(r.p99)}, {"max", ms(r.max)}}},
		{"per_node_ms", nodes},
		{"watch_errors", errs},
	}
}
