package client

import (
	"context"
	"fmt"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
)

// KeyringStatus is the cluster's answer to a keyring request. Keys are named by their id (see
// gossip.KeyID), never shown.
type KeyringStatus struct {
	Nodes     int               // members the server's serf counted
	Responses int               // members that answered
	Keys      map[string]uint64 // key id -> members holding it
	Primary   map[string]uint64 // key id -> members using it as primary
}

// Keyring runs a cluster-wide keyring operation on the server: "list", or "install", "use" or
// "remove" with key (base64). Rotation is install the new key, use it, remove the old one.
func (c *Client) Keyring(ctx context.Context, op, key string) (KeyringStatus, error) {
	m, seq := c.newReq(clientproto.ActKeyring)
	m.Str("op", op)
	if key != "" {
		m.Str("key", key)
	}
	r, err := c.request(ctx, m, seq)
	if err != nil {
		return KeyringStatus{}, err
	}
	var st KeyringStatus
	rd := node.NewReader(r.Raw)
	n, err := rd.MapLen()
	for i := 0; i < n && err == nil; i++ {
		var k string
		if k, err = rd.Str(); err != nil {
			break
		}
		var u uint64
		switch k {
		case "nodes":
			u, err = rd.Uint()
			st.Nodes = int(u)
		case "responses":
			u, err = rd.Uint()
			st.Responses = int(u)
		case "keys":
			st.Keys, err = rd.TickMap()
		case "primary":
			st.Primary, err = rd.TickMap()
		default:
			_, err = rd.Raw()
		}
	}
	if err != nil {
		return st, fmt.Errorf("%w: keyring reply: %v", clientproto.ErrServer, err)
	}
	return st, nil
}
