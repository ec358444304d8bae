package server

import (
	"context"
	"fmt"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
)

// walkChunk is how many entries a long walk collects per lock hold.
const walkChunk = 512

// shortener writes entry paths relative to the request path and to the previous entry, as
// DistKV does: depth = elements shared with the previous relative path, path = the rest.
type shortener struct {
	base int
	prev node.Path
}

func (sh *shortener) entry(seq uint64, e node.Entry, nchain int) *clientproto.Msg {
	return sh.entryTo(clientproto.NewMsg(seq), e, nchain)
}

// entryTo is entry into m (clientlog.go writes records without seq).
func (sh *shortener) entryTo(m *clientproto.Msg, e node.Entry, nchain int) *clientproto.Msg {
	m = sh.path(m, e.Path)
	if e.Value != nil {
		m.Raw("value", e.Value)
	}
	if nchain > 0 && e.HasData {
		m.ChainN("chain", e.Chain, nchain)
	}
	return m.Uint("tock", e.Tock)
}

// path adds path and depth for p, shortened against the previous one.
func (sh *shortener) path(m *clientproto.Msg, p node.Path) *clientproto.Msg {
	rel := p[sh.base:]
	d := 0
	for d < len(rel) && d < len(sh.prev) && rel[d] == sh.prev[d] {
		d++
	}
	sh.prev = rel
	return m.Path("path", rel[d:]).Uint("depth", uint64(d))
}

// walkChunks walks the subtree at p in chunks, holding the lock for one chunk at a time, and
// calls fn for each entry outside the lock. It stops when fn returns false or ctx ends.
func (s *Server) walkChunks(ctx context.Context, p node.Path, o node.WalkOptions, fn func(node.Entry) bool) {
	s.walkChunksWith(ctx, p, o, nil, fn)
}

// walkChunksWith is walkChunks calling chunk (if not nil) under the lock before each chunk is
// read, to take what fn needs as of the same state of the tree.
func (s *Server) walkChunksWith(ctx context.Context, p node.Path, o node.WalkOptions, chunk func(), fn func(node.Entry) bool) {
	for ctx.Err() == nil {
		var batch []node.Entry
		s.mu.Lock()
		if chunk != nil {
			chunk()
		}
		s.node.Walk(p, o, func(e node.Entry) bool {
			batch = append(batch, e)
			return len(batch) < walkChunk
		})
		s.mu.Unlock()
		for _, e := range batch {
			if !fn(e) {
				return
			}
		}
		if len(batch) < walkChunk {
			return
		}
		o.After = batch[len(batch)-1].Path
	}
}

func (c *conn) getTree(ctx context.Context, q *clientproto.Request, out *streamOut) {
	out.state(ctx, clientproto.StateStart)
	sh := shortener{base: len(q.Path)}
	nc := chainLen(q, 0)
	o := node.WalkOptions{MinDepth: q.MinDepth, MaxDepth: q.MaxDepth, Empty: q.Empty}
	var vis func(node.Path) bool // the ACL as of each chunk's read, not looked up per entry
	c.s.walkChunksWith(ctx, q.Path, o, func() { vis = c.readableBy(q, c.aclLocked()) }, func(e node.Entry) bool {
		return !vis(e.Path) || out.send(ctx, sh.entry(q.Seq, e, nc))
	})
	out.end(ctx)
}

// watchQ is one watch's bounded event queue. The node's lock holder pushes without blocking;
// on overflow the watch is ended with an explicit error instead of stalling writers.
type watchQ struct {
	ch       chan node.Event
	overflow chan struct{} // closed when the watch must end
	reason   string        // why, if not an overflow
}

// routeLocked hands an event to its watch; the caller holds s.mu.
func (s *Server) routeLocked(ev node.Event) {
	q := s.watches[ev.Watch]
	if q == nil {
		return
	}
	select {
	case q.ch <- ev:
	default:
		s.met.drops.Inc()
		close(q.overflow)
		delete(s.watches, ev.Watch)
		s.node.RemoveWatch(ev.Watch)
	}
}

// addWatch registers a watch for spec (its ID is assigned here) and returns its queue, the
// tock it starts after, and the function that removes it (a no-op once routeLocked has).
func (s *Server) addWatch(spec node.WatchSpec) (wq *watchQ, startTock uint64, remove func()) {
	id := s.nextWatch.Add(1)
	spec.ID = id
	wq = &watchQ{ch: make(chan node.Event, s.cfg.WatchQueue), overflow: make(chan struct{})}
	s.mu.Lock()
	s.watches[id] = wq
	s.node.AddWatch(spec)
	startTock = s.node.Tock()
	s.mu.Unlock()
	return wq, startTock, func() {
		s.mu.Lock()
		if s.watches[id] == wq {
			delete(s.watches, id)
			s.node.RemoveWatch(id)
		}
		s.mu.Unlock()
	}
}

func (c *conn) watch(ctx context.Context, q *clientproto.Request, out *streamOut) {
	s := c.s
	wq, startTock, remove := s.addWatch(node.WatchSpec{Path: q.Path, MinDepth: q.MinDepth, MaxDepth: q.MaxDepth})
	defer remove()

	out.state(ctx, clientproto.StateStart)
	sh := shortener{base: len(q.Path)}
	nc := chainLen(q, 0)
	if q.Fetch {
		// Only what is not newer than the watch's start: newer changes come through the queue,
		// so stale data never follows fresher data.
		o := node.WalkOptions{MinDepth: q.MinDepth, MaxDepth: q.MaxDepth, Empty: q.Empty}
		var vis func(node.Path) bool
		s.walkChunksWith(ctx, q.Path, o, func() { vis = c.readableBy(q, c.aclLocked()) }, func(e node.Entry) bool {
			if e.Tock > startTock || !vis(e.Path) {
				return true
			}
			return out.send(ctx, sh.entry(q.Seq, e, nc))
		})
		out.state(ctx, clientproto.StateUptodate)
	}
	ws := watchSender{c: c, q: q, out: out, sh: sh, nc: nc}
	for {
		select {
		case ev := <-wq.ch:
			if !ws.batch(ctx, wq, ev) {
				return
			}
		case <-wq.overflow:
			// Deliver what was queued, then say the watch is over and why.
			for len(wq.ch) > 0 && ws.batch(ctx, wq, <-wq.ch) {
			}
			err := fmt.Errorf("%w: more than %d events pending; watch again", clientproto.ErrWatchOverflow, s.cfg.WatchQueue)
			s.mu.Lock()
			if wq.reason != "" {
				err = fmt.Errorf("%w: %s", clientproto.ErrWatchOverflow, wq.reason)
			}
			s.mu.Unlock()
			out.send(ctx, errMsg(q.Seq, err, s.tock()))
			out.end(ctx)
			return
		case <-ctx.Done():
			out.end(ctx)
			return
		}
	}
}
