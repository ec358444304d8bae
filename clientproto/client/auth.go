package client

// Logins (DistKV's password exchange and distkv's tokens), users, ACLs and the meta area.
// See docs/security.md, "Logins" and "ACLs".

import (
	"context"
	"fmt"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/clientproto/dh"
	"github.com/distkv/distkv/node"
)

// WithPassword logs in as user with DistKV's password method once the server greets with
// an auth list; a server without logins ignores it.
func WithPassword(user, password string) Option {
	return func(o *options) { o.user, o.password, o.token = user, password, "" }
}

// WithToken logs in as user with a token from NewToken (distkv's "token" method).
func WithToken(user, token string) Option {
	return func(o *options) { o.user, o.token, o.password = user, token, "" }
}

// AuthMethods is the greeting's auth list: empty when the server has logins off.
func (c *Client) AuthMethods() []string { return c.authMethods }

func parseMethods(greet []byte) []string {
	v, ok := clientproto.RawField(greet, "auth")
	if !ok {
		return nil
	}
	r := node.NewReader(v)
	n, err := r.ArrayLen()
	if err != nil {
		return nil
	}
	var out []string
	for i := 0; i < n; i++ {
		if r.IsNil() {
			r.Raw()
			continue
		}
		s, err := r.Str()
		if err != nil {
			return out
		}
		out = append(out, s)
	}
	return out
}

// login runs after the greeting.
func (c *Client) login(ctx context.Context, o *options) error {
	if len(c.authMethods) == 0 {
		return nil
	}
	if o.user == "" {
		return fmt.Errorf("%w: the server wants a login (methods %v)", clientproto.ErrAuth, c.authMethods)
	}
	m, seq := c.newReq("auth")
	m.Str("ident", o.user).Bool("iter", false)
	if o.token != "" {
		m.Str("typ", "token").Str("token", o.token)
	} else {
		key, err := c.dhKey(ctx)
		if err != nil {
			return err
		}
		box, err := dh.SealPassword(key, []byte(o.password))
		if err != nil {
			return err
		}
		m.Str("typ", "password").Key("password").AppendRaw(node.AppendElement(nil, node.Bytes(box)))
	}
	p, err := c.send(m, seq, true)
	if err != nil {
		return err
	}
	defer c.forget(seq)
	for {
		r, err := c.wait(ctx, seq, p)
		if err != nil {
			return err
		}
		if r.HasError {
			return fmt.Errorf("login as %q: %w", o.user, r.err())
		}
		if r.State == clientproto.StateEnd {
			return nil
		}
	}
}

// dhKey runs DistKV's diffie_hellman once per connection and returns the secretbox key.
func (c *Client) dhKey(ctx context.Context) ([32]byte, error) {
	c.mu.Lock()
	if c.boxKey != nil {
		k := *c.boxKey
		c.mu.Unlock()
		return k, nil
	}
	c.mu.Unlock()
	k, err := dh.NewKey(1024)
	if err != nil {
		return [32]byte{}, err
	}
	m, seq := c.newReq("diffie_hellman")
	m.Key("pubkey").AppendRaw(node.AppendElement(nil, node.Bytes(k.Public()))).Int("length", 1024)
	r, err := c.request(ctx, m, seq)
	if err != nil {
		return [32]byte{}, err
	}
	raw, ok := clientproto.RawField(r.Raw, "pubkey")
	if !ok {
		return [32]byte{}, fmt.Errorf("%w: diffie_hellman reply without pubkey", clientproto.ErrServer)
	}
	e, err := node.ParseElement(raw)
	if err != nil {
		return [32]byte{}, fmt.Errorf("%w: diffie_hellman pubkey: %v", clientproto.ErrServer, err)
	}
	key, err := k.Shared([]byte(e.StrVal()))
	if err != nil {
		return [32]byte{}, err
	}
	c.mu.Lock()
	c.boxKey = &key
	c.mu.Unlock()
	return key, nil
}

// User is a user's record as auth_get shows it (no hashes).
type User struct {
	Name     string
	ACL      string // "" = unrestricted
	Admin    bool
	Password bool     // has a password
	Tokens   []string // token ids
}

// UserChange says what SetUser changes; nil fields stay.
type UserChange struct {
	Password *string
	ACL      *string
	Admin    *bool
}

// SetUser creates or changes a password user (admins; a user may change their own password).
func (c *Client) SetUser(ctx context.Context, name string, ch UserChange) error {
	m, seq := c.newReq("auth_set")
	m.Str("typ", "password").Str("kind", "user").Str("ident", name)
	if ch.Password != nil {
		key, err := c.dhKey(ctx)
		if err != nil {
			return err
		}
		box, err := dh.SealPassword(key, []byte(*ch.Password))
		if err != nil {
			return err
		}
		m.Key("password").AppendRaw(node.AppendElement(nil, node.Bytes(box)))
	}
	if ch.ACL != nil {
		m.Str("acl", *ch.ACL)
	}
	if ch.Admin != nil {
		m.Bool("admin", *ch.Admin)
	}
	_, err := c.request(ctx, m, seq)
	return err
}

// GetUser returns a user's record.
func (c *Client) GetUser(ctx context.Context, name string) (User, error) {
	m, seq := c.newReq("auth_get")
	m.Str("typ", "password").Str("kind", "user").Str("ident", name)
	r, err := c.request(ctx, m, seq)
	if err != nil {
		return User{}, err
	}
	u := User{Name: name}
	u.ACL, _ = node.StringField(r.Raw, "acl")
	if v, ok := clientproto.RawField(r.Raw, "admin"); ok {
		e, _ := node.ParseElement(v)
		u.Admin = e.Kind() == node.KindBool && e.BoolVal()
	}
	if v, ok := clientproto.RawField(r.Raw, "password"); ok {
		e, _ := node.ParseElement(v)
		u.Password = e.Kind() == node.KindBool && e.BoolVal()
	}
	if v, ok := clientproto.RawField(r.Raw, "tokens"); ok {
		u.Tokens, _ = strList(v)
	}
	return u, nil
}

func strList(v []byte) ([]string, error) {
	r := node.NewReader(v)
	n, err := r.ArrayLen()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		s, err := r.Str()
		if err != nil {
			return out, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Users lists the password users (admins).
func (c *Client) Users(ctx context.Context) ([]string, error) {
	m, seq := c.newReq("auth_list")
	m.Str("typ", "password").Str("kind", "user")
	p, err := c.send(m, seq, true)
	if err != nil {
		return nil, err
	}
	defer c.forget(seq)
	var out []string
	for {
		r, err := c.wait(ctx, seq, p)
		if err != nil {
			return nil, err
		}
		switch {
		case r.HasError:
			return nil, r.err()
		case r.State == clientproto.StateEnd:
			return out, nil
		case r.State == "":
			if id, ok := node.StringField(r.Raw, "ident"); ok {
				out = append(out, id)
			}
		}
	}
}

// UserPath is where a password user's record lives in the meta area (without its nil).
func UserPath(name string) node.Path {
	return node.Path{node.String("auth"), node.String("password"), node.String("user"), node.String(name)}
}

// DeleteUser removes a user (admins).
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	_, err := c.DeleteInternal(ctx, UserPath(name))
	return err
}

// NewToken makes a login token for user; the server shows it only this once.
func (c *Client) NewToken(ctx context.Context, user string) (token, id string, err error) {
	m, seq := c.newReq("auth_token")
	m.Str("ident", user)
	r, err := c.request(ctx, m, seq)
	if err != nil {
		return "", "", err
	}
	token, _ = node.StringField(r.Raw, "token")
	id, _ = node.StringField(r.Raw, "id")
	return token, id, nil
}

// DropToken removes one of user's tokens by id.
func (c *Client) DropToken(ctx context.Context, user, id string) error {
	m, seq := c.newReq("auth_token")
	m.Str("ident", user).Str("drop", id)
	_, err := c.request(ctx, m, seq)
	return err
}

// SetAuthMethod turns logins on ("password") or off ("root"), as DistKV's set_auth_typ.
func (c *Client) SetAuthMethod(ctx context.Context, method string) error {
	m, seq := c.newReq("set_auth_typ")
	if method == "root" || method == "" {
		m.Nil("typ")
	} else {
		m.Str("typ", method)
	}
	_, err := c.request(ctx, m, seq)
	return err
}

// ACLPath is where the ACL name's pattern lives in the meta area (without its nil).
func ACLPath(name string, pattern node.Path) node.Path {
	return append(node.Path{node.String("acl"), node.String(name)}, pattern...)
}

// SetACL gives pattern (with + and # wildcards) the letters in the ACL name; "" removes it.
func (c *Client) SetACL(ctx context.Context, name string, pattern node.Path, letters string) error {
	if letters == "" {
		_, err := c.DeleteInternal(ctx, ACLPath(name, pattern))
		return err
	}
	v, _ := Encode(letters)
	_, err := c.SetInternal(ctx, ACLPath(name, pattern), v)
	return err
}

// TestACL is DistKV's test_acl: false if mode (one letter, "" = x) is denied at p, else the
// matching entry's letters when the caller may read the ACL there, else true. acl names
// another ACL to test ("" = the caller's own).
func (c *Client) TestACL(ctx context.Context, p node.Path, mode, acl string) (any, error) {
	m, seq := c.newReq("test_acl")
	m.Path("path", p)
	if mode != "" {
		m.Str("mode", mode)
	}
	if acl != "" {
		m.Str("acl", acl)
	}
	r, err := c.request(ctx, m, seq)
	if err != nil {
		return nil, err
	}
	v, ok := clientproto.RawField(r.Raw, "access")
	if !ok {
		return nil, fmt.Errorf("%w: test_acl reply without access", clientproto.ErrServer)
	}
	var x any
	err = Value{Raw: v}.Decode(&x)
	return x, err
}

// GetInternal reads a meta-area entry: p is the path after the nil.
func (c *Client) GetInternal(ctx context.Context, p node.Path) (Value, error) {
	m, seq := c.newReq("get_internal")
	m.Path("path", p).Int("nchain", node.MaxChain)
	r, err := c.request(ctx, m, seq)
	if err != nil {
		return Value{}, err
	}
	if !r.HasValue {
		return Value{}, fmt.Errorf("%w: (meta) %s", clientproto.ErrNotFound, p)
	}
	return Value{Raw: r.Value, Chain: r.Chain, Tock: r.Tock}, nil
}

// SetInternal writes a meta-area entry.
func (c *Client) SetInternal(ctx context.Context, p node.Path, raw []byte, opts ...WriteOption) (WriteResult, error) {
	return c.write(ctx, "set_internal", p, raw, opts)
}

// DeleteInternal deletes a meta-area entry.
func (c *Client) DeleteInternal(ctx context.Context, p node.Path, opts ...WriteOption) (WriteResult, error) {
	return c.write(ctx, "delete_internal", p, nil, opts)
}

// ListInternal returns the names of a meta-area entry's children.
func (c *Client) ListInternal(ctx context.Context, p node.Path) ([]node.Element, error) {
	return c.list(ctx, "enum_internal", p)
}

// TreeInternal walks a meta-area subtree; entry paths leave out the nil.
func (c *Client) TreeInternal(ctx context.Context, p node.Path, o TreeOptions) (*Stream, error) {
	m, seq := c.newReq("get_tree_internal")
	m.Path("path", p).Bool("long_path", true)
	o.apply(m)
	return c.openStream(m, seq, p)
}

// WalkInternal calls fn for every entry of a meta-area subtree.
func (c *Client) WalkInternal(ctx context.Context, p node.Path, fn func(Entry) error) error {
	s, err := c.TreeInternal(ctx, p, TreeOptions{})
	if err != nil {
		return err
	}
	return s.each(ctx, fn)
}
