package server

// DistKV's kill_node {node}: an operator declares a node gone for good. distkv reuses the
// housekeeper's forgetting of dead origins (node/forget.go, housekeeper.Forget) instead of a
// second mechanism: kill_node removes the member from serf at once (so that it no longer
// holds the purge watermark as a failed member for --forget-after) and records its origins
// as killed in the meta area, (nil, "distkv", "killed", ORIGIN), which replicates. The
// housekeeper then treats a killed origin as superseded: its ticks no member holds are
// settled, and once its tombstones are purged every node forgets it.

import (
	"context"
	"fmt"
	"strings"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/gossip"
	"github.com/distkv/distkv/housekeeper"
	"github.com/distkv/distkv/node"
)

var killedBase = node.Path{node.Nil(), node.String("distkv"), node.String("killed")}

// killedLocked returns the origins kill_node recorded; the caller holds s.mu.
func (s *Server) killedLocked() []string {
	var out []string
	s.node.Walk(killedBase, node.WalkOptions{MaxDepth: 1}, func(e node.Entry) bool {
		if len(e.Path) == len(killedBase)+1 && e.Value != nil && e.Path[len(killedBase)].Kind() == node.KindString {
			out = append(out, e.Path[len(killedBase)].StrVal())
		}
		return true
	})
	return out
}

// markKilled lists the member of each killed origin with housekeeper.Killed, unless serf
// lists it running another origin (a new incarnation: superseded anyway) or running that
// one alive (it came back: it is not treated as dead behind its back).
func (c *cluster) markKilled(listed map[string]string, killed []string) {
	if len(killed) == 0 {
		return
	}
	status := map[string]gossip.MemberStatus{}
	for _, x := range c.g.Members() {
		status[x.Name] = x.Status
	}
	for _, o := range killed {
		m := housekeeper.MemberOf(o)
		tag, ok := listed[m]
		if !ok || tag == o && status[m] != gossip.StatusAlive && status[m] != gossip.StatusLeaving {
			listed[m] = housekeeper.Killed
		}
	}
}

// killOrigins resolves kill_node's node: an origin (NAME~GEN) this node has heard of, or a
// member name, standing for every origin of that member heard of.
func (s *Server) killOrigins(name string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, o := range s.node.Origins() {
		if o == name || !strings.Contains(name, "~") && housekeeper.MemberOf(o) == name {
			if o == s.node.Origin() {
				return nil, fmt.Errorf("%w: kill_node: %s is this node", clientproto.ErrBadRequest, name)
			}
			out = append(out, o)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: kill_node: no node %s", clientproto.ErrBadRequest, name)
	}
	return out, nil
}

// killNode answers kill_node {node} with {tock} once the record is durable. It refuses while
// a member runs one of the origins alive, and, as DistKV, while one of them heads an entry
// here ("Node X has entry PATH"): its value would lose its version's history.
func (c *conn) killNode(ctx context.Context, q *clientproto.Request) {
	s := c.s
	fail := func(err error) { c.send(errReply(q.Seq, err, s.tock())) }
	if q.Node == "" {
		fail(fmt.Errorf("%w: kill_node needs node", clientproto.ErrBadRequest))
		return
	}
	origins, err := s.killOrigins(q.Node)
	if err != nil {
		fail(err)
		return
	}
	var failed []string // members to remove from serf
	if cl := s.cluster; cl != nil {
		for _, x := range cl.g.Members() {
			for _, o := range origins {
				if x.Name != housekeeper.MemberOf(o) || x.Tags[tagOrigin] != o {
					continue
				}
				switch x.Status {
				case gossip.StatusAlive, gossip.StatusLeaving:
					fail(fmt.Errorf("%w: kill_node: %s runs %s and is alive", clientproto.ErrBadRequest, x.Name, o))
					return
				case gossip.StatusFailed:
					failed = append(failed, x.Name)
				}
			}
		}
	}
	var heads node.Path
	found := false
	s.walkChunks(ctx, nil, node.WalkOptions{MaxDepth: -1}, func(e node.Entry) bool {
		for _, o := range origins {
			if e.Origin == o {
				heads, found = e.Path, true
				return false
			}
		}
		return true
	})
	if ctx.Err() != nil {
		fail(fmt.Errorf("%w: stopped", clientproto.ErrUnavailable))
		return
	}
	if found {
		fail(fmt.Errorf("%w: Node %s has entry %s", clientproto.ErrBadRequest, q.Node, heads))
		return
	}
	for _, name := range failed {
		if err := s.cluster.g.RemoveFailed(name); err != nil {
			fail(fmt.Errorf("%w: kill_node: %v", clientproto.ErrUnavailable, err))
			return
		}
		s.log.Info("kill_node: removed a failed member", "member", name)
	}
	chs := make([]node.Change, len(origins))
	for i, o := range origins {
		chs[i] = node.Change{Path: killedBase.Append(node.String(o)), Value: node.AppendBool(nil, true)}
	}
	_, lseq, send, tock, err := s.Write(chs)
	if err != nil {
		fail(err)
		return
	}
	s.log.Info("kill_node: origins declared dead", "origins", origins)
	if cl := s.cluster; cl != nil {
		cl.kickHouse()
	}
	c.queueAck(ack{seq: lseq, send: send, reply: clientproto.NewMsg(q.Seq).Uint("tock", tock).Bytes(),
		errFn: func(err error) []byte {
			return errReply(q.Seq, fmt.Errorf("%w: not durable: %v", clientproto.ErrUnavailable, err), tock)
		}})
}
