package server

// DistKV's root {path}: the client is confined to the subtree at path. Every later path of a
// data action is relative to it (a second root goes deeper), and paths in replies are
// relative as well; the meta area (the _internal actions, logins, users, ACLs) stays
// server-wide, as DistKV's metaroot does. Unlike DistKV, ACLs keep applying to the tree's
// own, absolute paths: DistKV matches the relative path against the ACL, which would let a
// rooted client reach what its ACL grants elsewhere (docs/protocol.md, "root").

import (
	"fmt"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
)

// rootedActions are the actions whose path (and ops' paths) a root applies to.
var rootedActions = map[string]bool{
	clientproto.ActGetValue: true, clientproto.ActSetValue: true, clientproto.ActDeleteValue: true,
	clientproto.ActDeleteTree: true, clientproto.ActGetTree: true, clientproto.ActEnum: true,
	clientproto.ActEnumerate: true, clientproto.ActWatch: true, clientproto.ActMulti: true,
	clientproto.ActRoot: true, "test_acl": true,
}

var errNullElement = fmt.Errorf("%w: Null path element: a rooted client has no meta area below its root", clientproto.ErrBadRequest)

// rootNow returns the client's root (nil: the tree's).
func (c *conn) rootNow() node.Path {
	c.sess.mu.Lock()
	defer c.sess.mu.Unlock()
	return c.sess.root
}

// reroot makes q's paths absolute under the client's root. A rooted client's paths may not
// hold nil (as DistKV's, whose chrooted clients do not reach the meta area).
func (c *conn) reroot(q *clientproto.Request) error {
	root := c.rootNow()
	if len(root) == 0 || !rootedActions[q.Action] {
		return nil
	}
	abs := func(p node.Path) (node.Path, error) {
		for _, e := range p {
			if e.Kind() == node.KindNil {
				return nil, errNullElement
			}
		}
		return append(root.Clone(), p...), nil
	}
	var err error
	if q.HasPath {
		if q.Path, err = abs(q.Path); err != nil {
			return err
		}
	}
	for i := range q.Ops {
		if q.Ops[i].Path, err = abs(q.Ops[i].Path); err != nil {
			return err
		}
	}
	return nil
}

// setRoot answers root {path} (path already absolute: reroot ran) with the entry at the new
// root as DistKV's: {path: [], value?, chain?, tock}. The user must be able to reach below it
// (x); the meta area is no root.
func (c *conn) setRoot(q *clientproto.Request) {
	if !q.HasPath {
		q.Path = c.rootNow() // as DistKV: no path, no change
	}
	if isMeta(q.Path) {
		c.send(errReply(q.Seq, errNullElement, c.s.tock()))
		return
	}
	if a := c.aclNow(); a != nil {
		if err := a.Check(q.Path, 'x'); err != nil {
			c.send(errReply(q.Seq, aclErr(err), c.s.tock()))
			return
		}
	}
	c.sess.mu.Lock()
	c.sess.root = q.Path.Clone()
	c.sess.mu.Unlock()
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	m := clientproto.NewMsg(q.Seq).Path("path", nil)
	if e, ok := s.node.Lookup(q.Path); ok {
		if e.Value != nil {
			m.Raw("value", e.Value)
		}
		m.ChainN("chain", e.Chain, chainLen(q, 2))
	}
	c.send(m.Uint("tock", s.node.Tock()).Bytes())
}

// chopRoot makes an absolute path relative to root; ok is false if it lies outside.
func chopRoot(root, p node.Path) (node.Path, bool) {
	if !p.HasPrefix(root) {
		return nil, false
	}
	return p[len(root):], true
}
