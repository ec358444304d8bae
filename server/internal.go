package server

// DistKV's meta tree: the None-rooted area where it keeps config, users, ACLs and codecs.
// Here it is the part of the one tree whose paths start with nil, so it replicates like
// everything else; the normal actions neither reach nor show it (see gate and visible),
// the _internal actions address it with the nil left out. Admins only, once logins are on.

import (
	"context"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
)

var internalActions = map[string]string{
	"get_internal":      clientproto.ActGetValue,
	"set_internal":      clientproto.ActSetValue,
	"delete_internal":   clientproto.ActDeleteValue,
	"enum_internal":     clientproto.ActEnum,
	"get_tree_internal": clientproto.ActGetTree,
}

// internal answers a meta-area action; it reports whether q was one.
func (c *conn) internal(q *clientproto.Request) bool {
	act, ok := internalActions[q.Action]
	if !ok {
		return false
	}
	if !c.isAdmin() {
		c.refuseReq(q, errNotAdmin)
		return true
	}
	r := *q
	r.Action, r.HasPath = act, true
	r.Path = append(node.Path{node.Nil()}, q.Path...)
	switch act {
	case clientproto.ActGetValue:
		c.send(c.s.getValue(clientproto.NewMsg(r.Seq), &r, nil))
	case clientproto.ActSetValue, clientproto.ActDeleteValue:
		c.write(&r)
	case clientproto.ActEnum:
		c.send(c.s.enum(&r, nil))
	case clientproto.ActGetTree:
		c.multiStream(&r, func(ctx context.Context, out *streamOut) { c.getTree(ctx, &r, out) })
	}
	return true
}
