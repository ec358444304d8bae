package server

// ACL checks, DistKV's model (distkv/types.py ACLFinder, model.py follow_acl), with one
// difference: a path no ACL entry matches is denied. See docs/security.md, "ACLs".

import (
	"context"
	"fmt"
	"strings"

	"github.com/distkv/distkv/acl"
	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
)

// gate runs before dispatch: it answers the login, ACL, user and meta-area actions, refuses
// everything else before a login and what the user's ACL or rank does not allow. It reports
// whether it has answered q.
func (c *conn) gate(q *clientproto.Request) bool {
	switch q.Action {
	case "diffie_hellman":
		c.diffieHellman(q)
		return true
	case "auth":
		c.login(q)
		return true
	}
	c.sess.mu.Lock()
	in := c.sess.loggedIn
	c.sess.mu.Unlock()
	if !in {
		c.refuseReq(q, errNoAuth)
		return true
	}
	if err := c.reroot(q); err != nil {
		c.refuseReq(q, err)
		return true
	}
	switch q.Action {
	case "test_acl":
		c.testACL(q)
		return true
	case "auth_set":
		c.authSet(q)
		return true
	case "auth_get":
		c.authGet(q)
		return true
	case clientproto.ActAuthInfo:
		c.authInfo(q)
		return true
	case "auth_token":
		c.authToken(q)
		return true
	case "auth_list", "set_auth_typ", clientproto.ActSnapshot, clientproto.ActKeyring,
		"save", "log", "kill_node": // DistKV's server-side files and dropping an origin
		if !c.isAdmin() {
			c.refuseReq(q, errNotAdmin)
			return true
		}
		switch q.Action {
		case "auth_list":
			c.authList(q)
			return true
		case "set_auth_typ":
			c.setAuthTyp(q)
			return true
		}
		return false
	}
	if c.internal(q) {
		return true
	}
	if err := c.check(q); err != nil {
		c.refuseReq(q, err)
		return true
	}
	return false
}

// refuseReq answers q with err; a stream request as DistKV's server does it (start, error,
// end), since DistKV's client waits for start first.
func (c *conn) refuseReq(q *clientproto.Request, err error) {
	c.refuse(q.Seq, isStreamAction(q.Action), err)
}

// isMeta: a path in the nil-rooted meta area, which the normal actions do not reach.
func isMeta(p node.Path) bool { return len(p) > 0 && p[0].Kind() == node.KindNil }

var errMetaPath = fmt.Errorf("%w: a path whose first element is nil is in the meta area: use the _internal actions", clientproto.ErrBadRequest)

func aclErr(err error) error { return fmt.Errorf("%w: %v", clientproto.ErrAuth, err) }

// check applies the meta-area rule and the user's ACL to a data action.
func (c *conn) check(q *clientproto.Request) error {
	if isMeta(q.Path) {
		return errMetaPath
	}
	for _, op := range q.Ops {
		if isMeta(op.Path) {
			return errMetaPath
		}
	}
	if q.Action == clientproto.ActGetValue && !q.HasPath && q.Node != "" {
		// By origin and tick: check the entry it finds, which may be anywhere.
		c.s.mu.Lock()
		e, ok := c.s.node.ByTick(q.Node, q.Tick)
		c.s.mu.Unlock()
		if !ok {
			return nil
		}
		if isMeta(e.Path) && !c.isAdmin() {
			return errNotAdmin
		}
		if a := c.aclNow(); a != nil && !isMeta(e.Path) {
			if err := a.Check(e.Path, 'r'); err != nil {
				return aclErr(err)
			}
		}
		return nil
	}
	a := c.aclNow()
	if a == nil {
		return nil
	}
	var err error
	switch q.Action {
	case clientproto.ActGetValue:
		err = a.Check(q.Path, 'r')
	case clientproto.ActSetValue:
		err = c.checkWrite(a, q.Path)
	case clientproto.ActDeleteValue:
		err = a.Check(q.Path, 'd')
	case clientproto.ActMulti:
		for _, op := range q.Ops {
			if op.Delete {
				err = a.Check(op.Path, 'd')
			} else {
				err = c.checkWrite(a, op.Path)
			}
			if err != nil {
				break
			}
		}
	case clientproto.ActDeleteTree:
		if err = a.Check(q.Path, 'd'); err == nil {
			// In chunks, as the deletion itself: a big subtree must not hold s.mu throughout.
			// Not c.ctx: a walk cut short by a hang-up would pass the check.
			c.s.walkChunks(context.Background(), q.Path, node.WalkOptions{MaxDepth: -1}, func(e node.Entry) bool {
				err = a.Check(e.Path, 'd')
				return err == nil
			})
		}
	case clientproto.ActGetTree, clientproto.ActEnum, clientproto.ActEnumerate:
		err = a.Check(q.Path, 'e')
		// A watch is not refused: DistKV's client watches (".distkv", "config") on connect and
		// gives up if that fails. It gets only the entries it may read (visible).
	}
	if err != nil {
		return aclErr(err)
	}
	return nil
}

// checkWrite: w to change a value, c to give a node one, and n at the parent of every node
// the write creates (as DistKV's follow_acl).
func (c *conn) checkWrite(a *acl.ACL, p node.Path) error {
	c.s.mu.Lock()
	e, ok := c.s.node.Lookup(p)
	first := len(p) + 1 // the length of the first prefix that does not exist yet
	for i := 1; i <= len(p); i++ {
		// A node exists if it has an entry or something live below it (a non-zero digest,
		// as Children counts them), found without listing its children.
		if _, has := c.s.node.Lookup(p[:i]); !has && c.s.node.Digest(p[:i]) == ([2]uint64{}) {
			first = i
			break
		}
	}
	c.s.mu.Unlock()
	letter := byte('c')
	if ok && e.Value != nil {
		letter = 'w'
	}
	if err := a.Check(p, letter); err != nil {
		return err
	}
	for i := first; i <= len(p); i++ {
		if m, matched := a.Match(p[:i-1]); matched && !strings.Contains(m, "n") {
			return fmt.Errorf("acl: %s: mode %q not granted", p[:i-1], 'n')
		}
	}
	return nil
}

// readable says which entries of a get_tree, watch or enum answer to q may be sent: the
// meta area only to the _internal actions (which only admins reach), else what the ACL lets
// the user reach and read. The ACL is taken once, for many paths; it takes no lock.
func (c *conn) readable(q *clientproto.Request) func(node.Path) bool {
	return c.readableBy(q, c.aclNow())
}

// readableBy is readable with the ACL a (nil: unrestricted).
func (c *conn) readableBy(q *clientproto.Request, a *acl.ACL) func(node.Path) bool {
	if isMeta(q.Path) {
		return func(node.Path) bool { return true }
	}
	return func(p node.Path) bool {
		return !isMeta(p) && a.Permits(p, 'r')
	}
}

// aclNow returns the user's ACL as the tree holds it now (nil: unrestricted), reloading it
// only when the digest of the ACL's subtree has changed: other writes leave the cache alone.
func (c *conn) aclNow() *acl.ACL {
	c.sess.mu.Lock()
	name := c.sess.aclName
	c.sess.mu.Unlock()
	if name == "" {
		return nil // unrestricted: no need for s.mu
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.aclLocked()
}

// aclLocked is aclNow for a caller holding s.mu (sess.mu is never held while taking s.mu).
func (c *conn) aclLocked() *acl.ACL {
	c.sess.mu.Lock()
	defer c.sess.mu.Unlock()
	if c.sess.aclName == "" {
		return nil
	}
	now := c.s.node.Digest(aclPath(c.sess.aclName))
	if c.sess.acl == nil || c.sess.aclDigest != now {
		c.sess.acl, c.sess.aclDigest = c.s.loadACLLocked(c.sess.aclName), now
	}
	return c.sess.acl
}

// loadACLLocked reads the ACL NAME from (nil, "acl", NAME, pattern...) = "letters".
func (s *Server) loadACLLocked(name string) *acl.ACL {
	a := &acl.ACL{}
	base := aclPath(name)
	s.node.Walk(base, node.WalkOptions{MaxDepth: -1}, func(e node.Entry) bool {
		if m, err := node.NewReader(e.Value).Str(); err == nil && e.Value != nil {
			a.Set(e.Path[len(base):], m)
		}
		return true
	})
	return a
}

// testACL is DistKV's test_acl: {path, mode (default x), acl (another ACL's name)} ->
// {access: false} if denied, else the matching entry's letters when the user may read the
// ACL there (a), else true. Naming another ACL needs a at the path, or admin.
func (c *conn) testACL(q *clientproto.Request) {
	mode := byte('x')
	if m, ok := extraStr(q, "mode"); ok && len(m) == 1 {
		mode = m[0]
	}
	own := c.aclNow()
	target := own
	if name, ok := extraStr(q, "acl"); ok {
		if !c.isAdmin() && !(own == nil || own.Allows(q.Path, 'a')) {
			c.send(errReply(q.Seq, errNotAdmin, c.s.tock()))
			return
		}
		c.s.mu.Lock()
		target = c.s.loadACLLocked(name)
		c.s.mu.Unlock()
	}
	m := clientproto.NewMsg(q.Seq)
	switch {
	case target != nil && target.Check(q.Path, mode) != nil:
		m.Bool("access", false)
	case target != nil && (own == nil && c.isAdmin() || own != nil && own.Allows(q.Path, 'a')):
		letters, _ := target.Match(q.Path)
		m.Str("access", letters)
	default:
		m.Bool("access", true)
	}
	c.send(m.Uint("tock", c.s.tock()).Bytes())
}
