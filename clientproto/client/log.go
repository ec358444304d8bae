package client

import (
	"context"

	"github.com/distkv/distkv/clientproto"
)

// StartLog makes the server write a continuous change log into NAME in its client log
// directory (DistKV's log), with the current entries first if fetch; it replaces the
// server's running log once ready. name must be a plain file name.
func (c *Client) StartLog(ctx context.Context, name string, fetch bool) error {
	m, seq := c.newReq(clientproto.ActLog)
	m.Str("path", name)
	if fetch {
		m.Bool("fetch", true)
	}
	_, err := c.request(ctx, m, seq)
	return err
}

// StopLog stops the server's running change log, if any.
func (c *Client) StopLog(ctx context.Context) error {
	m, seq := c.newReq(clientproto.ActLog)
	_, err := c.request(ctx, m, seq)
	return err
}
