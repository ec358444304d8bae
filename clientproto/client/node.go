package client

import (
	"context"
	"fmt"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
)

// NodeTicks returns the ticks of origin that the server's entries still hold (DistKV's
// enum_node), ascending; current: only those heading an entry; max > 0: at most that many.
func (c *Client) NodeTicks(ctx context.Context, origin string, max int, current bool) ([]uint64, error) {
	m, seq := c.newReq(clientproto.ActEnumNode)
	m.Str("node", origin)
	if max > 0 {
		m.Int("max", int64(max))
	}
	if current {
		m.Bool("current", true)
	}
	r, err := c.request(ctx, m, seq)
	if err != nil {
		return nil, err
	}
	rd := node.NewReader(r.Result)
	n, err := rd.ArrayLen()
	if err != nil {
		return nil, fmt.Errorf("%w: enum_node result: %v", clientproto.ErrServer, err)
	}
	ticks := make([]uint64, n)
	for i := range ticks {
		if ticks[i], err = rd.Uint(); err != nil {
			return nil, fmt.Errorf("%w: enum_node result: %v", clientproto.ErrServer, err)
		}
	}
	return ticks, nil
}

// KillNode declares a node gone for good (DistKV's kill_node): name is an origin or a member
// name (all its origins). The server refuses while the member runs alive or one of the
// origins heads an entry.
func (c *Client) KillNode(ctx context.Context, name string) error {
	m, seq := c.newReq(clientproto.ActKillNode)
	m.Str("node", name)
	_, err := c.request(ctx, m, seq)
	return err
}
