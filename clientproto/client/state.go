package client

import (
	"context"
	"fmt"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
)

// State is a server's get_state reply: what it knows.
type State struct {
	Node    string
	Origin  string
	Tick    uint64
	Tock    uint64
	Entries uint64
	Ready   bool
	// Waiting: the node refuses writes until it hears from the network (docs/housekeeping.md,
	// "Restarting alone"). False from a server that does not say.
	Waiting bool
	Digest  [2]uint64
	// DigestVersion is the entry hash Digest was made with; 0 from a server that does not say
	// (version 1). Digests of different versions do not compare.
	DigestVersion uint64
	Known         map[string]node.RangeSet
	Missing       map[string]node.RangeSet
	Highest       map[string]uint64
	Purge         map[string]uint64
	// Cluster fields, empty on a single node.
	Housekeeper string
	Converged   bool
	Raw         []byte // the whole reply, for tools that show everything
}

// State asks the server for its state.
func (c *Client) State(ctx context.Context) (*State, error) {
	raw, err := c.StateRaw(ctx)
	if err != nil {
		return nil, err
	}
	return parseState(raw)
}

func parseState(b []byte) (*State, error) {
	st := &State{Raw: b}
	r := node.NewReader(b)
	n, err := r.MapLen()
	if err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		k, err := r.Str()
		if err != nil {
			return nil, err
		}
		switch k {
		case "node":
			st.Node, err = r.Str()
		case "origin":
			st.Origin, err = r.Str()
		case "tick":
			st.Tick, err = r.Uint()
		case "tock":
			st.Tock, err = r.Uint()
		case "entries":
			st.Entries, err = r.Uint()
		case "ready":
			st.Ready, err = r.Bool()
		case "waiting":
			st.Waiting, err = r.Bool()
		case "converged":
			st.Converged, err = r.Bool()
		case "housekeeper":
			st.Housekeeper, err = r.Str()
		case "digest":
			if _, err = r.ArrayLen(); err == nil {
				if st.Digest[0], err = r.Uint(); err == nil {
					st.Digest[1], err = r.Uint()
				}
			}
		case "digest_version":
			st.DigestVersion, err = r.Uint()
		case "known":
			st.Known, err = r.VectorMap()
		case "missing":
			st.Missing, err = r.VectorMap()
		case "nodes":
			st.Highest, err = r.TickMap()
		case "purge":
			st.Purge, err = r.TickMap()
		default:
			_, err = r.Raw()
		}
		if err != nil {
			return nil, fmt.Errorf("%w: state field %q: %v", clientproto.ErrServer, k, err)
		}
	}
	return st, nil
}

// Dump streams the server's whole state as snapshot entries: fn gets one update per written
// entry (tombstones included), each holding that entry's current version. The State is taken
// first, so every tick it lists as known is reflected in the entries that follow (or in
// something newer): together they are a consistent cut.
func (c *Client) Dump(ctx context.Context, fn func(*node.Update) error) (*State, error) {
	st, err := c.State(ctx)
	if err != nil {
		return nil, err
	}
	each := func(meta bool) func(e Entry) error {
		return func(e Entry) error {
			if len(e.Chain) == 0 {
				return nil // an inner node that was never written
			}
			p := e.Path
			if meta {
				p = append(node.Path{node.Nil()}, p...)
			}
			op := node.Op{Path: p, Value: e.Value, Delete: e.Deleted, Chain: e.Chain[1:]}
			if e.Deleted {
				op.Value = nil
			}
			return fn(&node.Update{Origin: e.Chain[0].Origin, Tick: e.Chain[0].Tick, Tock: e.Tock, Ops: []node.Op{op}})
		}
	}
	// The meta area first (nil sorts first), through get_tree_internal: get_tree leaves it out.
	// With logins on this needs an admin.
	o := TreeOptions{Empty: true, NChain: -1}
	s, err := c.TreeInternal(ctx, node.Path{}, o)
	if err == nil {
		err = s.each(ctx, each(true))
	}
	if err == nil {
		err = c.Walk(ctx, node.Path{}, o, each(false))
	}
	return st, err
}
