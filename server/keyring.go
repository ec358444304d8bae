package server

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/gossip"
)

// errNoKeyring answers keyring requests on a node without a cluster key: serf's key manager
// cannot turn encryption on in a running cluster.
var errNoKeyring = errors.New("server: keyring: this node has no cluster key (start it with --gossip-key or --keyring-file)")

// keyring runs a keyring request (list, install, use, remove) across the cluster through serf's
// key manager. With logins on it is admin-only (gate), since it controls who can join the
// cluster (docs/security.md).
func (s *Server) keyring(q *clientproto.Request) []byte {
	c := s.cluster
	if c == nil || s.cfg.Keyring == nil {
		return errReply(q.Seq, fmt.Errorf("%w: %w", clientproto.ErrBadRequest, errNoKeyring), s.tock())
	}
	op := q.KeyringOp
	if op == "" {
		op = gossip.KeyList
	}
	st, err := c.g.Keyring(op, q.Key)
	if err != nil {
		var detail []string
		for _, n := range slices.Sorted(maps.Keys(st.Messages)) {
			detail = append(detail, n+": "+st.Messages[n])
		}
		if len(detail) > 0 {
			err = fmt.Errorf("%w (%s)", err, strings.Join(detail, "; "))
		}
		return errReply(q.Seq, err, s.tock())
	}
	m := clientproto.NewMsg(q.Seq).Uint("nodes", uint64(st.Nodes)).Uint("responses", uint64(st.Responses))
	for _, f := range []struct {
		name string
		v    map[string]int
	}{{"keys", st.Keys}, {"primary", st.Primary}} {
		m.Key(f.name).Map(len(f.v))
		for _, id := range slices.Sorted(maps.Keys(f.v)) {
			m.AppendStr(id).AppendUint(uint64(f.v[id]))
		}
	}
	return m.Uint("tock", s.tock()).Bytes()
}
