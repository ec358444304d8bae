package server

import (
	"context"
	"fmt"
	"time"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/gossip/wire"
	"github.com/distkv/distkv/node"
)

// dispatch runs one request. Single-reply actions run inline on the reader goroutine.
func (c *conn) dispatch(q *clientproto.Request) {
	s := c.s
	if q.State == clientproto.StateAck {
		c.ackStream(q.Seq, q.Ack) // flow control: the client has consumed up to wseq q.Ack
		return
	}
	if q.Seq == 0 && q.Action == "" {
		c.setQlen(q.Qlen) // the client's answer to the greeting
		return
	}
	if q.State == clientproto.StateEnd && q.Action == "" {
		c.stop(q.Seq) // DistKV's client ends a streamed request it abandons this way
		return
	}
	if !writeActions[q.Action] { // writes count themselves, in their ack: no clock read here
		defer s.met.dispatched(q.Action, time.Now())
	}
	if c.gate(q) {
		return // logins, ACLs, the meta area
	}
	switch q.Action {
	case clientproto.ActGetValue:
		c.sendNow(s.getValue(c.replyMsg(q.Seq), q, c.rootNow()))
	case clientproto.ActRoot:
		c.setRoot(q)
	case clientproto.ActSetValue, clientproto.ActDeleteValue, clientproto.ActMulti:
		c.write(q)
	case clientproto.ActDeleteTree:
		c.deleteTree(q)
	case clientproto.ActGetTree:
		c.multiStream(q, func(ctx context.Context, out *streamOut) { c.getTree(ctx, q, out) })
	case clientproto.ActWatch:
		c.multiStream(q, func(ctx context.Context, out *streamOut) { c.watch(ctx, q, out) })
	case clientproto.ActEnum, clientproto.ActEnumerate:
		c.send(s.enum(q, c.readable(q)))
	case clientproto.ActGetState:
		c.send(s.getState(q))
	case clientproto.ActEnumNode:
		// A scan of the whole tree: run it beside the reader.
		c.stream(q, func(ctx context.Context) { c.send(s.enumNode(ctx, q)) })
	case clientproto.ActMsgSend:
		c.send(s.msgSend(q))
	case clientproto.ActMsgMonitor:
		topic, err := msgTopic(q)
		if err != nil {
			c.refuseReq(q, err) // on the reader: refuse reads c.qlen
			return
		}
		c.multiStream(q, func(ctx context.Context, out *streamOut) { c.msgMonitor(ctx, q, topic, out) })
	case clientproto.ActGetTock:
		s.mu.Lock()
		t := s.node.NextTock()
		s.mu.Unlock()
		c.send(clientproto.NewMsg(q.Seq).Uint("tock", t).Bytes())
	case clientproto.ActSnapshot:
		// Writing a snapshot reads the whole tree: run it beside the reader.
		c.stream(q, func(ctx context.Context) { c.send(s.snapshotNow(q.Seq)) })
	case clientproto.ActSave:
		if len(c.rootNow()) > 0 { // as log: the file would hold the tree outside the root
			c.send(errReply(q.Seq, fmt.Errorf("%w: save: a rooted client cannot save the whole tree", clientproto.ErrAuth), s.tock()))
			break
		}
		// Reads the whole tree: beside the reader, as snapshot.
		c.stream(q, func(ctx context.Context) { c.send(s.save(ctx, q)) })
	case clientproto.ActLog:
		// A fetch writes the whole tree first: beside the reader.
		c.stream(q, func(context.Context) { c.startLog(q) })
	case clientproto.ActKillNode:
		// Scans the tree and waits for serf's broadcast: beside the reader.
		c.stream(q, func(ctx context.Context) { c.killNode(ctx, q) })
	case clientproto.ActKeyring:
		// Serf's key manager waits for every member's answer: run it beside the reader.
		c.stream(q, func(ctx context.Context) { c.send(s.keyring(q)) })
	case clientproto.ActStop:
		ok := c.stop(q.Task)
		c.send(clientproto.NewMsg(q.Seq).Bool("result", ok).Uint("tock", s.tock()).Bytes())
	default:
		c.send(errReply(q.Seq, fmt.Errorf("%w: %q", clientproto.ErrUnknownAction, q.Action), s.tock()))
	}
}

// isStreamAction reports whether an action's reply is a stream framed by start and end.
func isStreamAction(a string) bool {
	return a == clientproto.ActGetTree || a == clientproto.ActWatch || a == clientproto.ActMsgMonitor ||
		a == "get_tree_internal"
}

func (s *Server) tock() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.node.Tock()
}

func chainLen(q *clientproto.Request, def int) int {
	if !q.HasNChain {
		return def
	}
	if q.NChain < 0 {
		return node.MaxChain
	}
	return q.NChain
}

// getValue answers get_value in m, begun for q; root is the client's (root.go): an entry found
// by tick outside it is not shown, one inside has its path made relative.
func (s *Server) getValue(m *clientproto.Msg, q *clientproto.Request, root node.Path) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	nc := chainLen(q, 0)
	var e node.Entry
	var ok bool
	byTick := !q.HasPath && q.Node != ""
	if byTick {
		e, ok = s.node.ByTick(q.Node, q.Tick)
	} else {
		e, ok = s.node.Lookup(q.Path)
	}
	if ok && byTick {
		var rel node.Path
		if rel, ok = chopRoot(root, e.Path); ok {
			m.Path("path", rel) // as DistKV: the caller names an update, not an entry
		}
	}
	if ok && e.Value != nil {
		m.Raw("value", e.Value)
	}
	if nc > 0 {
		if ok {
			m.ChainN("chain", e.Chain, nc)
		} else {
			m.Nil("chain")
		}
	}
	return m.Uint("tock", s.node.Tock()).Bytes()
}

// changes turns a set_value, delete_value or multi request into node changes, in dst's room
// if there is enough.
func (s *Server) changes(q *clientproto.Request, dst []node.Change) ([]node.Change, error) {
	ops := q.Ops
	switch q.Action {
	case clientproto.ActSetValue, clientproto.ActDeleteValue:
		if !q.HasPath {
			return nil, fmt.Errorf("%w: no path", clientproto.ErrBadRequest)
		}
		op := q.Op
		op.Path = q.Path
		op.Delete = q.Action == clientproto.ActDeleteValue
		if op.Delete && op.HasValue {
			return nil, fmt.Errorf("%w: delete_value takes no value", clientproto.ErrBadRequest)
		}
		if !op.Delete && !op.HasValue {
			return nil, fmt.Errorf("%w: set_value needs a value", clientproto.ErrBadRequest)
		}
		ops = []clientproto.Op{op}
	default:
		if len(ops) == 0 {
			return nil, fmt.Errorf("%w: multi needs ops", clientproto.ErrBadRequest)
		}
	}
	chs := dst[:0]
	if cap(chs) < len(ops) {
		chs = make([]node.Change, 0, len(ops))
	}
	chs = chs[:len(ops)]
	var seen map[string]bool // a single op cannot repeat a path: no map, no key, per write
	if len(ops) > 1 {
		seen = make(map[string]bool, len(ops))
	}
	for i, op := range ops {
		if seen != nil {
			if k := op.Path.Key(); seen[k] {
				return nil, fmt.Errorf("%w: op %d: %s is written twice", clientproto.ErrBadRequest, i, op.Path)
			} else {
				seen[k] = true
			}
		}
		if len(op.Path) == 0 {
			return nil, fmt.Errorf("%w: op %d: the root cannot be written", clientproto.ErrBadRequest, i)
		}
		if !op.Delete && !op.HasValue {
			return nil, fmt.Errorf("%w: op %d: no value and no delete", clientproto.ErrBadRequest, i)
		}
		if len(op.Value) > s.cfg.MaxValue {
			return nil, fmt.Errorf("%w: %d bytes at %s, the limit is %d", clientproto.ErrValueTooLarge, len(op.Value), op.Path, s.cfg.MaxValue)
		}
		chs[i] = node.Change{Path: op.Path, Value: op.Value, Delete: op.Delete,
			HasIfChain: op.HasChain, IfChain: op.Chain, HasIfPrev: op.HasPrev, IfPrev: op.Prev, Idem: op.Idem}
	}
	return chs, nil
}

// write applies a write request and queues its reply for when it is durable.
func (c *conn) write(q *clientproto.Request) {
	s := c.s
	w := writeAck{action: q.Action, start: time.Now(), seq: q.Seq}
	chs, err := s.changes(q, c.chs[:])
	if err != nil {
		s.met.request(w.action, "write", w.start, err)
		c.send(errReply(q.Seq, err, s.tock()))
		return
	}
	res, seq, send, tock, err := s.Write(chs)
	clear(c.chs[:]) // drop the references to the request
	if err != nil {
		s.met.request(w.action, "write", w.start, err)
		c.send(errReply(q.Seq, err, tock))
		return
	}
	w.tock = tock
	nc := chainLen(q, 1)
	m := c.replyMsg(q.Seq)
	if q.Action == clientproto.ActMulti {
		m.Key("changed").Array(len(res))
		for _, r := range res {
			m.AppendRaw(node.AppendBool(nil, r.Changed))
		}
		m.Key("chains").Array(len(res))
		for _, r := range res {
			m.AppendRaw(clientproto.AppendChainCut(nil, r.Entry.Chain[:min(nc, len(r.Entry.Chain))], len(r.Entry.Chain) > nc))
		}
	} else {
		r := res[0]
		m.Bool("changed", r.Changed)
		if nc > 0 {
			m.ChainN("chain", r.Entry.Chain, nc)
		}
		if !q.Op.HasChain && !q.Op.HasPrev && r.HadPrev {
			m.Raw("prev", r.Prev)
		}
	}
	m.Uint("tock", tock)
	c.ackWrite(ack{seq: seq, send: send, reply: m.Bytes(), borrowed: true, w: w})
}

// Write applies changes as one update and logs it. The caller must call finish(seq, send)
// before acknowledging.
func (s *Server) Write(chs []node.Change) (res []node.Result, seq uint64, send []*node.Update, tock uint64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logErr != nil {
		return nil, 0, nil, s.node.Tock(), fmt.Errorf("%w: %v", clientproto.ErrUnavailable, s.logErr)
	}
	if !s.writable() {
		return nil, 0, nil, s.node.Tock(), fmt.Errorf("%w: still catching up on its own history", clientproto.ErrNotReady)
	}
	if s.cluster != nil && s.cluster.alone.Load() {
		return nil, 0, nil, s.node.Tock(), errAlone
	}
	res, _, err = s.node.Write(chs)
	if err != nil {
		return nil, 0, nil, s.node.Tock(), err
	}
	seq, send, err = s.commitLocked()
	return res, seq, send, s.node.Tock(), err
}

// writable reports whether the node may use new ticks: it must know all of its own history.
func (s *Server) writable() bool {
	return s.node.Gapless(s.node.Origin())
}

// deleteTree deletes every value below a path (and at it), in atomic chunks. The reply waits
// until every chunk is durable, and every chunk applied is handed to the peers once durable,
// also when a later chunk fails.
func (c *conn) deleteTree(q *clientproto.Request) {
	s := c.s
	done := s.met.writeDone(q.Action, time.Now())
	if len(q.Path) == 0 {
		done(clientproto.ErrBadRequest)
		c.send(errReply(q.Seq, fmt.Errorf("%w: delete_tree needs a path below the root", clientproto.ErrBadRequest), s.tock()))
		return
	}
	total := 0
	var parts []ackPart
	var failed error
	var failTock uint64
	// With nchain, as DistKV: a stream of one record per deleted entry instead of a count.
	var recs *deleteRecords
	if nc := chainLen(q, 0); nc > 0 {
		recs = &deleteRecords{seq: q.Seq, nchain: nc, sh: shortener{base: len(q.Path)}}
	}
	for {
		var chs []node.Change
		s.mu.Lock()
		s.node.Walk(q.Path, node.WalkOptions{MaxDepth: -1}, func(e node.Entry) bool {
			chs = append(chs, node.Change{Path: e.Path, Delete: true})
			return len(chs) < maxOpsPerUpdate
		})
		s.mu.Unlock()
		if len(chs) == 0 {
			break
		}
		res, seq, send, tock, err := s.Write(chs)
		if err != nil {
			failed, failTock = err, tock
			break
		}
		for _, r := range res {
			if r.Changed {
				total++
				recs.add(r, tock)
			}
		}
		parts = append(parts, ackPart{seq: seq, send: send})
	}
	a := ack{done: done, errFn: func(err error) []byte {
		return errReply(q.Seq, fmt.Errorf("%w: not durable: %v", clientproto.ErrUnavailable, err), s.tock())
	}}
	if len(parts) > 0 {
		a.seq, a.send, a.more = parts[0].seq, parts[0].send, parts[1:]
	}
	switch {
	case recs != nil && failed != nil:
		a.reply, a.errFn = recs.reply(failed, failTock), nil
		a.done = func(error) { done(failed) }
	case recs != nil:
		a.reply, a.errFn = recs.reply(nil, 0), func(err error) []byte {
			return recs.reply(fmt.Errorf("%w: not durable: %v", clientproto.ErrUnavailable, err), s.tock())
		}
	case failed != nil:
		// The chunks before still go through the acker, to the log and the peers.
		a.reply, a.errFn = errReply(q.Seq, failed, failTock), nil
		a.done = func(error) { done(failed) }
	default:
		a.reply = clientproto.NewMsg(q.Seq).Uint("changed", uint64(total)).Uint("tock", s.tock()).Bytes()
	}
	c.ackWrite(a)
}

// maxOpsPerUpdate bounds one update, so that it fits a peer frame and a log record.
const maxOpsPerUpdate = 4096

// enum lists the children of q.Path; readable (nil: all) says whose values may be shown, and
// hides the meta area below the root.
func (s *Server) enum(q *clientproto.Request, readable func(node.Path) bool) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	// As DistKV: children with a value, or with empty also those with values below them.
	var names []node.Element
	var vals [][]byte
	for _, k := range s.node.Children(q.Path) {
		if len(q.Path) == 0 && k.Kind() == node.KindNil {
			continue
		}
		e, ok := s.node.Lookup(q.Path.Append(k))
		if ok && e.Value != nil && readable != nil && !readable(e.Path) {
			e.Value = nil // the name shows (e), the value not (r)
		}
		if ok && e.Value != nil {
			names, vals = append(names, k), append(vals, e.Value)
		} else if q.Empty {
			names, vals = append(names, k), append(vals, node.AppendNil(nil))
		}
	}
	m := clientproto.NewMsg(q.Seq)
	if q.WithData {
		m.Key("result").Map(len(names))
		for i, k := range names {
			m.AppendRaw(node.AppendElement(nil, k)).AppendRaw(vals[i])
		}
	} else {
		m.Key("result").Array(len(names))
		for _, k := range names {
			m.AppendRaw(node.AppendElement(nil, k))
		}
	}
	return m.Uint("tock", s.node.Tock()).Bytes()
}

func (s *Server) getState(q *clientproto.Request) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.node
	all := len(q.Flags) == 0
	m := clientproto.NewMsg(q.Seq).Str("node", s.cfg.Name).Str("origin", n.Origin()).
		Uint("tick", n.Tick()).Uint("tock", n.Tock()).Uint("entries", uint64(n.Len())).Bool("ready", s.ready.Load())
	d := n.Digest(nil)
	m.Key("digest").Array(2).AppendUint(d[0]).AppendUint(d[1])
	m.Uint("digest_version", node.DigestVersion)
	if all || q.Flags["nodes"] {
		h := n.Highest()
		m.Key("nodes").Map(len(h))
		for _, o := range n.Origins() {
			if t, ok := h[o]; ok {
				m.AppendStr(o).AppendUint(t)
			}
		}
	}
	if all || q.Flags["known"] || q.Flags["superseded"] {
		appendVector(m, "known", n.Known())
	}
	if all || q.Flags["missing"] {
		appendVector(m, "missing", n.Missing())
	}
	m.Key("purge").AppendRaw(wire.AppendWatermark(nil, n.PurgeWatermark()))
	st := n.Stats()
	var h houseState
	if s.cluster != nil {
		h = s.cluster.houseStatus()
	}
	m.Key("stats").Map(9).AppendStr("local").AppendUint(st.Local).AppendStr("applied").AppendUint(st.Applied).
		AppendStr("duplicates").AppendUint(st.Duplicates).AppendStr("conflicts").AppendUint(st.Conflicts).
		AppendStr("purged").AppendUint(st.Purged).AppendStr("settled").AppendUint(st.Settled).
		AppendStr("forgotten").AppendUint(st.Forgotten).AppendStr("loaded").AppendUint(h.loaded).
		AppendStr("dropped").AppendUint(h.dropped)
	s.appendClusterState(m)
	return m.Bytes()
}

func appendVector(m *clientproto.Msg, key string, v map[string]node.RangeSet) {
	m.Key(key).Map(len(v))
	for o, rs := range v {
		m.AppendStr(o).AppendRaw(rs.AppendMsgpack(nil))
	}
}

// snapshotNow writes a snapshot to the data directory and replies with its path.
func (s *Server) snapshotNow(seq uint64) []byte {
	if s.store == nil {
		return errReply(seq, fmt.Errorf("%w: this node has no data directory", clientproto.ErrUnavailable), s.tock())
	}
	path, err := s.store.snapshot()
	if err != nil {
		return errReply(seq, fmt.Errorf("%w: snapshot: %v", clientproto.ErrUnavailable, err), s.tock())
	}
	return clientproto.NewMsg(seq).Str("file", path).Uint("tock", s.tock()).Bytes()
}
