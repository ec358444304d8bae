package server

import (
	"context"
	"fmt"
	"slices"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
)

// enumNode answers DistKV's enum_node {node, max?, current?} with {result: [ticks]}: the ticks
// of that origin found in the entries' chains (as far as the node keeps them: 8 links), or
// with current only those that head an entry, ascending, at most max (0: all). It scans the
// tree in chunks, as get_tree does; DistKV uses it to see whether a dead origin still matters.
func (s *Server) enumNode(ctx context.Context, q *clientproto.Request) []byte {
	if q.Node == "" {
		return errReply(q.Seq, fmt.Errorf("%w: enum_node needs node", clientproto.ErrBadRequest), s.tock())
	}
	seen := map[uint64]bool{}
	s.walkChunks(ctx, nil, node.WalkOptions{MaxDepth: -1, Empty: true, ChainLen: node.MaxChain}, func(e node.Entry) bool {
		for i, l := range e.Chain {
			if i > 0 && q.Current {
				break
			}
			if l.Origin == q.Node {
				seen[l.Tick] = true
			}
		}
		return true
	})
	if ctx.Err() != nil {
		return errReply(q.Seq, fmt.Errorf("%w: stopped", clientproto.ErrUnavailable), s.tock())
	}
	ticks := make([]uint64, 0, len(seen))
	for t := range seen {
		ticks = append(ticks, t)
	}
	slices.Sort(ticks)
	if q.Max > 0 && len(ticks) > q.Max {
		ticks = ticks[:q.Max]
	}
	m := clientproto.NewMsg(q.Seq)
	m.Key("result").Array(len(ticks))
	for _, t := range ticks {
		m.AppendUint(t)
	}
	return m.Uint("tock", s.tock()).Bytes()
}
