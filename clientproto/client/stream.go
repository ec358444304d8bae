package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
)

// Entry is one entry of a tree walk or one watch event.
type Entry struct {
	Path    node.Path // absolute
	Value   []byte    // msgpack; nil when the entry has no value (deleted)
	Deleted bool
	Chain   node.Chain
	Tock    uint64
}

// TreeOptions bound a walk; the zero value walks the whole subtree.
type TreeOptions struct {
	MinDepth int
	MaxDepth int // counts only when Limited; otherwise the walk has no depth limit
	// Limited makes MaxDepth count (so MaxDepth 0 is the entry itself only).
	Limited bool
	Empty   bool // include entries without a value
	NChain  int
}

func (o TreeOptions) apply(m *clientproto.Msg) {
	m.Int("min_depth", int64(o.MinDepth))
	if o.Limited {
		m.Int("max_depth", int64(o.MaxDepth))
	} else {
		m.Int("max_depth", -1)
	}
	if o.Empty {
		m.Bool("empty", true)
	}
	if o.NChain != 0 {
		m.Int("nchain", int64(o.NChain))
	}
}

// Stream is a running streamed request. Next returns entries until the stream ends with
// io.EOF-like ErrEnd.
type Stream struct {
	c       *Client
	seq     uint64
	p       *call
	base    node.Path
	prev    node.Path
	started bool
	ended   bool
	// flow control (DistKV's DelayedRead): the highest wseq taken and the last one acked
	seen, acked uint64
	Uptodate    bool // set once a watch's initial fetch is complete
}

// ErrEnd is returned by Next when the server ended the stream.
var ErrEnd = errors.New("distkv: end of stream")

// Tree starts a walk of the subtree at p.
func (c *Client) Tree(ctx context.Context, p node.Path, o TreeOptions) (*Stream, error) {
	m, seq := c.newReq(clientproto.ActGetTree)
	m.Path("path", p).Bool("long_path", true)
	o.apply(m)
	return c.openStream(m, seq, p)
}

// WatchOptions configure a watch.
type WatchOptions struct {
	TreeOptions
	Fetch bool // first send the current entries, then an "uptodate" marker
}

// Watch starts watching the subtree at p. Read its events promptly: the server ends a watch
// whose client falls too far behind (clientproto.ErrWatchOverflow).
func (c *Client) Watch(ctx context.Context, p node.Path, o WatchOptions) (*Stream, error) {
	m, seq := c.newReq(clientproto.ActWatch)
	m.Path("path", p).Bool("long_path", true).Bool("iter", true)
	o.apply(m)
	if o.Fetch {
		m.Bool("fetch", true)
	}
	return c.openStream(m, seq, p)
}

func (c *Client) openStream(m *clientproto.Msg, seq uint64, p node.Path) (*Stream, error) {
	call, err := c.send(m, seq, true)
	if err != nil {
		return nil, err
	}
	return &Stream{c: c, seq: seq, p: call, base: p.Clone()}, nil
}

// Next returns the next entry. For a watch with Fetch it returns ErrUptodate once, between the
// initial entries and the live changes.
func (s *Stream) Next(ctx context.Context) (Entry, error) {
	for {
		if s.ended {
			return Entry{}, ErrEnd
		}
		r, err := s.c.wait(ctx, s.seq, s.p)
		if err != nil {
			return Entry{}, err
		}
		if err := s.taken(r.Wseq); err != nil {
			return Entry{}, err
		}
		if r.HasError {
			s.finish()
			return Entry{}, r.err()
		}
		switch r.State {
		case clientproto.StateStart:
			s.started = true
			continue
		case clientproto.StateEnd:
			s.finish()
			return Entry{}, ErrEnd
		case clientproto.StateUptodate:
			s.Uptodate = true
			return Entry{}, ErrUptodate
		}
		if !r.HasPath {
			return Entry{}, fmt.Errorf("distkv: stream reply without path")
		}
		if r.Depth > len(s.prev) {
			return Entry{}, fmt.Errorf("distkv: stream reply depth %d beyond previous path", r.Depth)
		}
		rel := append(s.prev[:r.Depth:r.Depth], r.Path...)
		s.prev = rel
		e := Entry{Path: s.base.Append(rel...), Chain: r.Chain, Tock: r.Tock}
		if r.HasValue {
			e.Value = r.Value
		} else {
			e.Deleted = true
		}
		return e, nil
	}
}

// taken acks, as DistKV's client, once the reader has taken more than a third of the window
// since the last ack: the server sends on while the caller keeps up, and pauses the stream
// while it does not.
func (s *Stream) taken(wseq uint64) error {
	q := s.c.qlen
	if q == 0 || wseq == 0 {
		return nil
	}
	s.seen = max(s.seen, wseq)
	if s.seen-s.acked <= q/3 {
		return nil
	}
	s.acked = s.seen
	return s.c.writeMsg(clientproto.NewMsg(s.seq).Str("state", clientproto.StateAck).Uint("ack", s.seen))
}

// ErrUptodate marks the end of a watch's initial fetch.
var ErrUptodate = errors.New("distkv: watch is up to date")

func (s *Stream) finish() {
	s.ended = true
	s.c.forget(s.seq)
}

// Close stops the stream on the server.
func (s *Stream) Close(ctx context.Context) error {
	if s.ended {
		return nil
	}
	s.finish()
	m, seq := s.c.newReq(clientproto.ActStop)
	m.Uint("task", s.seq)
	_, err := s.c.request(ctx, m, seq)
	return err
}

// Walk calls fn for every entry of the subtree at p.
func (c *Client) Walk(ctx context.Context, p node.Path, o TreeOptions, fn func(Entry) error) error {
	st, err := c.Tree(ctx, p, o)
	if err != nil {
		return err
	}
	return st.each(ctx, fn)
}

// each calls fn for every entry until the stream ends.
func (st *Stream) each(ctx context.Context, fn func(Entry) error) error {
	for {
		e, err := st.Next(ctx)
		if errors.Is(err, ErrEnd) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			st.Close(ctx)
			return err
		}
	}
}
