package client

import (
	"context"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
)

// Root confines this connection to the subtree at p (DistKV's root): every later path is
// relative to it, and so are the paths the server returns; a second Root goes deeper. It
// cannot be undone on this connection. It returns the entry at the new root.
func (c *Client) Root(ctx context.Context, p node.Path) (Value, error) {
	m, seq := c.newReq(clientproto.ActRoot)
	m.Path("path", p)
	r, err := c.request(ctx, m, seq)
	if err != nil {
		return Value{}, err
	}
	return Value{Raw: r.Value, Chain: r.Chain, Tock: r.Tock}, nil
}
