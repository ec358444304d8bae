package server

// Logins, wire-compatible with DistKV (distkv/server.py SCmd_auth, cmd_diffie_hellman,
// distkv/auth/password.py). Users live in the meta area at (nil, "auth", METHOD, "user",
// NAME); (nil, "auth") = {current: METHOD} turns logins on. See docs/security.md, "Logins".

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
	"golang.org/x/crypto/argon2"

	"github.com/distkv/distkv/acl"
	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/clientproto/dh"
	"github.com/distkv/distkv/node"
)

// Login methods.
const (
	MethodPassword = "password"
	MethodToken    = "token" // distkv's: a secret handed out once, for scripts
	MethodRoot     = "root"  // DistKV's "no login"
)

var (
	errNoAuth     = fmt.Errorf("NoAuthError: log in first: %w", clientproto.ErrAuth)
	errAuthFailed = errors.New("AuthFailedError: login failed")
	errNotAdmin   = fmt.Errorf("%w: needs an admin user", clientproto.ErrAuth)
)

// metaAuth is (nil, "auth"); userPath is where a user's record lives.
func metaAuth() node.Path { return node.Path{node.Nil(), node.String("auth")} }

func userPath(name string) node.Path {
	return node.Path{node.Nil(), node.String("auth"), node.String(MethodPassword), node.String("user"), node.String(name)}
}

func aclPath(name string) node.Path {
	return node.Path{node.Nil(), node.String("acl"), node.String(name)}
}

// userRec is a user's record (msgpack map). Password holds an argon2id hash of what the
// client sends (the password's sha256), in PHC form; tokens maps a token id to the sha256
// of the token (tokens are random and long, a fast hash is enough).
type userRec struct {
	Password string            `msgpack:"password,omitempty"`
	ACL      string            `msgpack:"acl,omitempty"`
	Admin    bool              `msgpack:"admin,omitempty"`
	Tokens   map[string]string `msgpack:"tokens,omitempty"`
}

// session is a connection's login state.
type session struct {
	mu       sync.Mutex
	loggedIn bool
	user     string // "*" when logins were off at connect: unrestricted, admin
	admin    bool
	aclName  string    // "" = unrestricted
	root     node.Path // root.go: the subtree the client is confined to (nil: all)
	dhKey    *[32]byte
	// the ACL, cached until its subtree's digest changes
	acl       *acl.ACL
	aclDigest [2]uint64
}

// argon2id parameters (OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane).
const (
	argonTime   = 2
	argonMemory = 19 * 1024
	argonLanes  = 1
)

// cryptoSlots bounds concurrent DH and argon2 work, as DistKV's crypto_limiter does.
var cryptoSlots = make(chan struct{}, 2)

// inCryptoSlot runs f once a slot is free.
func inCryptoSlot(f func()) {
	cryptoSlots <- struct{}{}
	defer func() { <-cryptoSlots }()
	f()
}

func argonKey(secret, salt []byte, t, m uint32, p uint8, n uint32) (k []byte) {
	inCryptoSlot(func() { k = argon2.IDKey(secret, salt, t, m, p, n) })
	return k
}

func hashPassword(secret []byte) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", argonMemory, argonTime, argonLanes,
		enc.EncodeToString(salt), enc.EncodeToString(argonKey(secret, salt, argonTime, argonMemory, argonLanes, 32))), nil
}

func checkPassword(phc string, secret []byte) bool {
	f := strings.Split(phc, "$")
	if len(f) != 6 || f[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(f[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m > 1<<20 || t > 16 || p == 0 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(f[4])
	want, err2 := enc.DecodeString(f[5])
	if err1 != nil || err2 != nil {
		return false
	}
	got := argonKey(secret, salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

func tokenHash(tok string) string { s := sha256.Sum256([]byte(tok)); return hex.EncodeToString(s[:]) }

// authState reads (nil, "auth"): the current method ("" when logins are off) and the list
// for the greeting (current first, then the other methods with users), as DistKV sends it.
func (s *Server) authStateLocked() (string, []string) {
	cur := ""
	if e, ok := s.node.Lookup(metaAuth()); ok && e.Value != nil {
		var v map[string]any
		if msgpack.Unmarshal(e.Value, &v) == nil {
			cur, _ = v["current"].(string)
		}
	}
	if cur == "" {
		return "", nil
	}
	list := []string{cur}
	for _, k := range s.node.Children(metaAuth()) {
		if k.Kind() == node.KindString && k.StrVal() != cur {
			list = append(list, k.StrVal())
		}
	}
	if cur == MethodPassword && !contains(list, MethodToken) {
		list = append(list, MethodToken)
	}
	return cur, list
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func (s *Server) userLocked(name string) (userRec, bool) {
	var u userRec
	e, ok := s.node.Lookup(userPath(name))
	if !ok || e.Value == nil || msgpack.Unmarshal(e.Value, &u) != nil {
		return u, false
	}
	return u, true
}

// usersLocked calls fn for every password user with a readable record.
func (s *Server) usersLocked(fn func(name string, u userRec)) {
	for _, k := range s.node.Children(userPath("")[:4]) {
		if k.Kind() != node.KindString {
			continue
		}
		if u, ok := s.userLocked(k.StrVal()); ok {
			fn(k.StrVal(), u)
		}
	}
}

// ownUser loads the user q's ident names, for an admin or for that user; when ok is false it
// has answered q with the refusal.
func (c *conn) ownUser(q *clientproto.Request) (ident string, u userRec, ok bool) {
	ident, _ = extraStr(q, "ident")
	if !c.isAdmin() && ident != c.self() {
		c.send(errReply(q.Seq, errNotAdmin, c.s.tock()))
		return "", u, false
	}
	c.s.mu.Lock()
	u, ok = c.s.userLocked(ident)
	c.s.mu.Unlock()
	if !ok {
		c.send(errReply(q.Seq, fmt.Errorf("%w: no user %q", clientproto.ErrBadRequest, ident), c.s.tock()))
	}
	return ident, u, ok
}

// greetAuth adds the greeting's auth list and starts the session: with logins off the
// client is root, as in DistKV.
func (c *conn) greetAuth(m *clientproto.Msg) {
	c.s.mu.Lock()
	cur, list := c.s.authStateLocked()
	c.s.mu.Unlock()
	if cur == "" {
		c.sess.loggedIn, c.sess.admin, c.sess.user = true, true, "*"
		return
	}
	m.Key("auth").Array(len(list))
	for _, a := range list {
		m.AppendStr(a)
	}
}

func extraStr(q *clientproto.Request, k string) (string, bool) {
	b, ok := q.Extra[k]
	if !ok {
		return "", false
	}
	e, err := node.ParseElement(b)
	if err != nil || (e.Kind() != node.KindString && e.Kind() != node.KindBytes) {
		return "", false
	}
	return e.StrVal(), true
}

func extraBool(q *clientproto.Request, k string) (v, ok bool) {
	b, ok := q.Extra[k]
	if !ok {
		return false, false
	}
	e, err := node.ParseElement(b)
	if err != nil {
		return false, false
	}
	switch e.Kind() {
	case node.KindBool:
		return e.BoolVal(), true
	case node.KindInt:
		return e.UintVal() != 0, true
	}
	return false, true
}

func extraInt(q *clientproto.Request, k string, def int) int {
	if b, ok := q.Extra[k]; ok {
		if e, err := node.ParseElement(b); err == nil && e.Kind() == node.KindInt {
			return int(e.IntVal())
		}
	}
	return def
}

// diffieHellman answers DistKV's key agreement: {pubkey, length} -> {pubkey}.
func (c *conn) diffieHellman(q *clientproto.Request) {
	c.sess.mu.Lock()
	had := c.sess.dhKey != nil
	c.sess.mu.Unlock()
	if had {
		c.send(errReply(q.Seq, fmt.Errorf("%w: Can't call dh twice", clientproto.ErrBadRequest), c.s.tock()))
		return
	}
	peer, ok := extraStr(q, "pubkey")
	length := extraInt(q, "length", 1024)
	if !ok || length < 32 {
		c.send(errReply(q.Seq, fmt.Errorf("%w: diffie_hellman needs pubkey (bytes) and length >= 32 (group 14)", clientproto.ErrBadRequest), c.s.tock()))
		return
	}
	var k *dh.Key
	var key [32]byte
	var err error
	inCryptoSlot(func() {
		if k, err = newDHKey(length); err == nil {
			key, err = k.Shared([]byte(peer))
		}
	})
	if err != nil {
		c.send(errReply(q.Seq, fmt.Errorf("%w: %v", clientproto.ErrBadRequest, err), c.s.tock()))
		return
	}
	c.sess.mu.Lock()
	c.sess.dhKey = &key
	c.sess.mu.Unlock()
	c.send(clientproto.NewMsg(q.Seq).Key("pubkey").AppendRaw(node.AppendElement(nil, node.Bytes(k.Public()))).
		Uint("tock", c.s.tock()).Bytes())
}

// openSecret decrypts what the client sealed with the DH key (a password's sha256).
func (c *conn) openSecret(q *clientproto.Request, field string) ([]byte, error) {
	box, ok := extraStr(q, field)
	if !ok {
		return nil, fmt.Errorf("%w: no %s", clientproto.ErrBadRequest, field)
	}
	c.sess.mu.Lock()
	key := c.sess.dhKey
	c.sess.mu.Unlock()
	if key == nil {
		return nil, fmt.Errorf("%w: The client has not executed DH key exchange", clientproto.ErrBadRequest)
	}
	return dh.Open(*key, []byte(box))
}

// login answers "auth" as DistKV's streamed command: start, an error if any, end.
func (c *conn) login(q *clientproto.Request) {
	c.send(clientproto.NewMsg(q.Seq).Str("state", clientproto.StateStart).Bytes())
	if err := c.doLogin(q); err != nil {
		c.s.Logger().Info("client login refused", "client", c.nc.RemoteAddr().String(), "err", err)
		c.send(clientproto.NewMsg(q.Seq).Str("error", errAuthFailed.Error()).Str("etype", clientproto.EtypeAuth).Bytes())
	}
	c.send(clientproto.NewMsg(q.Seq).Str("state", clientproto.StateEnd).Uint("tock", c.s.tock()).Bytes())
}

func (c *conn) doLogin(q *clientproto.Request) error {
	typ, _ := extraStr(q, "typ")
	ident, _ := extraStr(q, "ident")
	c.s.mu.Lock()
	cur, _ := c.s.authStateLocked()
	u, known := c.s.userLocked(ident)
	c.s.mu.Unlock()
	if cur == "" {
		return nil // logins are off: everyone is root already
	}
	switch {
	case typ != cur && typ != MethodToken:
		return fmt.Errorf("wrong auth type %q, want %q", typ, cur)
	case typ == MethodToken:
		tok, _ := extraStr(q, "token")
		want := []byte(tokenHash(tok))
		ok := false
		for _, h := range u.Tokens {
			ok = subtle.ConstantTimeCompare([]byte(h), want) == 1 || ok // every one compared
		}
		if !known || !ok {
			return fmt.Errorf("user %q: no such token", ident)
		}
	case typ == MethodPassword:
		secret, err := c.openSecret(q, "password")
		if err != nil {
			return err
		}
		if !known || u.Password == "" {
			checkPassword(dummyHash, secret) // the same work for an unknown user
			return fmt.Errorf("no user %q", ident)
		}
		if !checkPassword(u.Password, secret) {
			return fmt.Errorf("user %q: password hashes do not match", ident)
		}
	default:
		return fmt.Errorf("method %q is not provided", typ)
	}
	c.sess.mu.Lock()
	defer c.sess.mu.Unlock()
	if !c.sess.loggedIn { // as DistKV: a second login only tests the credentials
		c.sess.loggedIn, c.sess.user, c.sess.admin, c.sess.aclName = true, ident, u.Admin, u.ACL
		c.sess.acl = nil
	}
	return nil
}

var dummyHash, _ = hashPassword([]byte("no such user"))

// newDHKey makes the server's side of a diffie_hellman; tests replaying a recorded exchange
// fix it.
var newDHKey = dh.NewKey

// isAdmin: root (logins off) or a user with the admin flag.
func (c *conn) isAdmin() bool {
	c.sess.mu.Lock()
	defer c.sess.mu.Unlock()
	return c.sess.loggedIn && c.sess.admin
}

func (c *conn) self() string {
	c.sess.mu.Lock()
	defer c.sess.mu.Unlock()
	return c.sess.user
}

// writeMeta writes one meta-area record and replies with reply once it is durable.
func (c *conn) writeMeta(seq uint64, p node.Path, value []byte, reply func(tock uint64) []byte) {
	ch := node.Change{Path: p, Value: value, Delete: value == nil}
	_, lseq, send, tock, err := c.s.Write([]node.Change{ch})
	if err != nil {
		c.send(errReply(seq, err, tock))
		return
	}
	c.ackWrite(ack{seq: lseq, send: send, reply: reply(tock), errFn: func(err error) []byte {
		return errReply(seq, fmt.Errorf("%w: not durable: %v", clientproto.ErrUnavailable, err), tock)
	}})
}

// authSet is DistKV's auth_set for the password method: {typ, kind, ident, password (sealed
// with the DH key), acl, admin}. An admin may change anyone; a user only their own password.
func (c *conn) authSet(q *clientproto.Request) {
	typ, _ := extraStr(q, "typ")
	ident, _ := extraStr(q, "ident")
	if typ != MethodPassword || ident == "" {
		c.send(errReply(q.Seq, fmt.Errorf("%w: auth_set needs typ=password and ident", clientproto.ErrBadRequest), c.s.tock()))
		return
	}
	_, setACL := q.Extra["acl"]
	_, setAdmin := q.Extra["admin"]
	if !c.isAdmin() && (ident != c.self() || setACL || setAdmin) {
		c.send(errReply(q.Seq, errNotAdmin, c.s.tock()))
		return
	}
	c.s.mu.Lock()
	u, _ := c.s.userLocked(ident)
	c.s.mu.Unlock()
	if _, ok := q.Extra["password"]; ok {
		secret, err := c.openSecret(q, "password")
		if err == nil {
			u.Password, err = hashPassword(secret)
		}
		if err != nil {
			c.send(errReply(q.Seq, fmt.Errorf("%w: password: %v", clientproto.ErrBadRequest, err), c.s.tock()))
			return
		}
	}
	if setACL {
		u.ACL, _ = extraStr(q, "acl")
	}
	if setAdmin {
		u.Admin, _ = extraBool(q, "admin")
	}
	v, err := msgpack.Marshal(&u)
	if err != nil {
		c.send(errReply(q.Seq, err, c.s.tock()))
		return
	}
	c.writeMeta(q.Seq, userPath(ident), v, func(tock uint64) []byte {
		return clientproto.NewMsg(q.Seq).Bool("changed", true).Uint("tock", tock).Bytes()
	})
}

// authGet returns a user's record without its hashes: {ident, acl, admin, tokens: [ids]}.
func (c *conn) authGet(q *clientproto.Request) {
	ident, u, ok := c.ownUser(q)
	if !ok {
		return
	}
	m := clientproto.NewMsg(q.Seq).Str("ident", ident).Str("acl", u.ACL).Bool("admin", u.Admin).Bool("password", u.Password != "")
	m.Key("tokens").Array(len(u.Tokens))
	for id := range u.Tokens {
		m.AppendStr(id)
	}
	c.send(m.Uint("tock", c.s.tock()).Bytes())
}

// authList is DistKV's auth_list: without ident a stream of {typ, kind, ident}, one per
// password user (start, entries, end); with ident one such reply.
func (c *conn) authList(q *clientproto.Request) {
	one := func(name string) []byte {
		return clientproto.NewMsg(q.Seq).Str("typ", MethodPassword).Str("kind", "user").Str("ident", name).Bytes()
	}
	if ident, ok := extraStr(q, "ident"); ok {
		c.s.mu.Lock()
		_, known := c.s.userLocked(ident)
		c.s.mu.Unlock()
		if !known {
			c.send(errReply(q.Seq, fmt.Errorf("%w: no user %q", clientproto.ErrBadRequest, ident), c.s.tock()))
			return
		}
		c.send(one(ident))
		return
	}
	c.s.mu.Lock()
	var names []string
	c.s.usersLocked(func(name string, _ userRec) { names = append(names, name) })
	c.s.mu.Unlock()
	c.send(clientproto.NewMsg(q.Seq).Str("state", clientproto.StateStart).Bytes())
	for _, n := range names {
		c.send(one(n))
	}
	c.send(clientproto.NewMsg(q.Seq).Str("state", clientproto.StateEnd).Uint("tock", c.s.tock()).Bytes())
}

// authToken makes a login token for a user and returns it once: {ident} -> {token, id}.
// With drop=ID it removes that token instead.
func (c *conn) authToken(q *clientproto.Request) {
	ident, u, ok := c.ownUser(q)
	if !ok {
		return
	}
	if u.Tokens == nil {
		u.Tokens = map[string]string{}
	}
	var tok, id string
	if drop, ok := extraStr(q, "drop"); ok {
		delete(u.Tokens, drop)
		id = drop
	} else {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			c.send(errReply(q.Seq, err, c.s.tock()))
			return
		}
		tok = base64.RawURLEncoding.EncodeToString(b)
		id = tokenHash(tok)[:12]
		u.Tokens[id] = tokenHash(tok)
	}
	v, _ := msgpack.Marshal(&u)
	c.writeMeta(q.Seq, userPath(ident), v, func(tock uint64) []byte {
		m := clientproto.NewMsg(q.Seq).Str("id", id)
		if tok != "" {
			m.Str("token", tok)
		}
		return m.Uint("tock", tock).Bytes()
	})
}

// setAuthTyp is DistKV's set_auth_typ: {typ: METHOD or nil}. Turning logins on needs an
// admin user that can log in with that method, so that nobody locks the cluster out.
func (c *conn) setAuthTyp(q *clientproto.Request) {
	typ, _ := extraStr(q, "typ")
	if typ == MethodRoot {
		typ = ""
	}
	if typ != "" && typ != MethodPassword {
		c.send(errReply(q.Seq, fmt.Errorf("%w: method %q is not provided (password, root)", clientproto.ErrBadRequest, typ), c.s.tock()))
		return
	}
	if typ != "" {
		c.s.mu.Lock()
		admin := false
		c.s.usersLocked(func(_ string, u userRec) {
			admin = admin || (u.Admin && u.Password != "" && u.ACL == "")
		})
		c.s.mu.Unlock()
		if !admin {
			c.send(errReply(q.Seq, fmt.Errorf("%w: You didn't configure this method yet: add an admin user with a password and no ACL first", clientproto.ErrBadRequest), c.s.tock()))
			return
		}
	}
	v := map[string]any{}
	if typ != "" {
		v["current"] = typ
	}
	b, _ := msgpack.Marshal(v)
	c.writeMeta(q.Seq, metaAuth(), b, func(tock uint64) []byte {
		return clientproto.NewMsg(q.Seq).Bool("changed", true).Uint("tock", tock).Bytes()
	})
}

// authInfo answers DistKV's auth_info as its server does, a get_internal of (nil, "auth"):
// {value: {current: METHOD}, chain?, tock}, or {tock} while logins were never configured.
// Any logged-in user may ask: the value names the login method only. With logins off it
// is {tock}: the entry's value is then {}, and DistKV's CLI reads value["current"].
func (c *conn) authInfo(q *clientproto.Request) {
	c.s.mu.Lock()
	cur, _ := c.s.authStateLocked()
	c.s.mu.Unlock()
	if cur == "" {
		c.send(clientproto.NewMsg(q.Seq).Uint("tock", c.s.tock()).Bytes())
		return
	}
	r := *q
	r.Action, r.Path, r.HasPath, r.Node = clientproto.ActGetValue, metaAuth(), true, ""
	c.send(c.s.getValue(clientproto.NewMsg(r.Seq), &r, nil))
}
