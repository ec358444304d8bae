package server

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/node"
)

func authDial(t *testing.T, addr string, opts ...client.Option) (*client.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	c, err := client.Dial(ctx, addr, opts...)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func ptr[T any](v T) *T { return &v }

// authSetup starts a server, adds the users admin (admin) and alice (bound to ACL "al"),
// gives al the patterns, and turns logins on. It returns the server and an admin client.
func authSetup(t *testing.T, patterns map[string]string) (*ptSrv, *client.Client) {
	t.Helper()
	srv := ptStart(t, Config{})
	root, err := authDial(t, srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	if err := root.SetAuthMethod(ctx, "password"); err == nil {
		t.Fatal("logins turned on without an admin user")
	}
	if err := root.SetUser(ctx, "admin", client.UserChange{Password: ptr("admin-pw"), Admin: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if err := root.SetUser(ctx, "alice", client.UserChange{Password: ptr("alice-pw"), ACL: ptr("al")}); err != nil {
		t.Fatal(err)
	}
	for pat, letters := range patterns {
		if err := root.SetACL(ctx, "al", node.StringPath(strings.Split(pat, ".")...), letters); err != nil {
			t.Fatal(err)
		}
	}
	if err := root.SetAuthMethod(ctx, "password"); err != nil {
		t.Fatal(err)
	}
	admin, err := authDial(t, srv.Addr, client.WithPassword("admin", "admin-pw"))
	if err != nil {
		t.Fatal(err)
	}
	return srv, admin
}

func TestLoginPassword(t *testing.T) {
	srv, admin := authSetup(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()

	// Before a login, everything but auth and diffie_hellman is refused.
	raw := srv.dial(t)
	if a, _ := raw.Greeting["auth"].([]any); len(a) == 0 || a[0] != "password" {
		t.Fatalf("greeting auth %v, want [password ...]", raw.Greeting["auth"])
	}
	for _, act := range []string{"get_value", "set_value", "enum", "get_state", "get_internal", "test_acl", "auth_set", "multi", "delete_tree", "snapshot"} {
		raw.callErr(map[string]any{"action": act, "path": ptA("x"), "value": 1}, clientproto.EtypeAuth)
	}
	for _, act := range []string{"get_tree", "watch", "get_tree_internal"} {
		refusedStream(t, raw, map[string]any{"action": act, "path": ptA("x")}, clientproto.EtypeAuth)
	}

	if _, err := authDial(t, srv.Addr); !errors.Is(err, clientproto.ErrAuth) {
		t.Fatalf("dial without credentials: %v, want ErrAuth", err)
	}
	if _, err := authDial(t, srv.Addr, client.WithPassword("alice", "wrong")); !errors.Is(err, clientproto.ErrAuth) {
		t.Fatalf("wrong password: %v, want ErrAuth", err)
	}
	if _, err := authDial(t, srv.Addr, client.WithPassword("nobody", "alice-pw")); !errors.Is(err, clientproto.ErrAuth) {
		t.Fatalf("unknown user: %v, want ErrAuth", err)
	}
	if _, err := authDial(t, srv.Addr, client.WithPassword("alice", "alice-pw")); err != nil {
		t.Fatalf("right password: %v", err)
	}

	// The record holds an argon2id hash, not the sha256 the client sends.
	v, err := admin.GetInternal(ctx, client.UserPath("alice"))
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := v.Decode(&rec); err != nil {
		t.Fatal(err)
	}
	if pw, _ := rec["password"].(string); !strings.HasPrefix(pw, "$argon2id$") {
		t.Fatalf("stored password %q, want an argon2id hash", pw)
	}

	// A user changes their own password, not their ACL or rank.
	alice, _ := authDial(t, srv.Addr, client.WithPassword("alice", "alice-pw"))
	if err := alice.SetUser(ctx, "alice", client.UserChange{Admin: ptr(true)}); !errors.Is(err, clientproto.ErrAuth) {
		t.Fatalf("alice makes herself admin: %v", err)
	}
	if err := alice.SetUser(ctx, "admin", client.UserChange{Password: ptr("x")}); !errors.Is(err, clientproto.ErrAuth) {
		t.Fatalf("alice sets admin's password: %v", err)
	}
	if err := alice.SetUser(ctx, "alice", client.UserChange{Password: ptr("new-pw")}); err != nil {
		t.Fatal(err)
	}
	if _, err := authDial(t, srv.Addr, client.WithPassword("alice", "alice-pw")); err == nil {
		t.Fatal("old password still works")
	}
	if _, err := authDial(t, srv.Addr, client.WithPassword("alice", "new-pw")); err != nil {
		t.Fatal(err)
	}
	if users, err := admin.Users(ctx); err != nil || len(users) != 2 {
		t.Fatalf("users %v, %v", users, err)
	}
	if _, err := alice.Users(ctx); !errors.Is(err, clientproto.ErrAuth) {
		t.Fatalf("alice lists users: %v", err)
	}
	// Admin-only actions.
	if _, err := alice.SnapshotNow(ctx); !errors.Is(err, clientproto.ErrAuth) {
		t.Fatalf("alice snapshots: %v", err)
	}
	if _, err := alice.Keyring(ctx, "list", ""); !errors.Is(err, clientproto.ErrAuth) {
		t.Fatalf("alice uses the keyring: %v", err)
	}
	if _, err := alice.GetInternal(ctx, client.UserPath("admin")); !errors.Is(err, clientproto.ErrAuth) {
		t.Fatalf("alice reads the meta area: %v", err)
	}
}

func TestLoginToken(t *testing.T) {
	srv, admin := authSetup(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	tok, id, err := admin.NewToken(ctx, "alice")
	if err != nil || tok == "" || id == "" {
		t.Fatalf("token %q %q %v", tok, id, err)
	}
	if _, err := authDial(t, srv.Addr, client.WithToken("alice", tok+"x")); !errors.Is(err, clientproto.ErrAuth) {
		t.Fatalf("wrong token: %v", err)
	}
	if _, err := authDial(t, srv.Addr, client.WithToken("admin", tok)); !errors.Is(err, clientproto.ErrAuth) {
		t.Fatalf("alice's token as admin: %v", err)
	}
	alice, err := authDial(t, srv.Addr, client.WithToken("alice", tok))
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	// A user reaches their own record and tokens only; an unknown user is a bad request.
	if u, err := alice.GetUser(ctx, "alice"); err != nil || len(u.Tokens) != 1 {
		t.Fatalf("alice's own record: %+v, %v", u, err)
	}
	if _, err := alice.GetUser(ctx, "admin"); !errors.Is(err, clientproto.ErrAuth) {
		t.Fatalf("alice reads admin's record: %v", err)
	}
	if _, _, err := alice.NewToken(ctx, "admin"); !errors.Is(err, clientproto.ErrAuth) {
		t.Fatalf("alice makes a token for admin: %v", err)
	}
	if _, _, err := admin.NewToken(ctx, "nobody"); !errors.Is(err, clientproto.ErrBadRequest) {
		t.Fatalf("a token for an unknown user: %v", err)
	}
	if err := admin.DropToken(ctx, "alice", id); err != nil {
		t.Fatal(err)
	}
	if _, err := authDial(t, srv.Addr, client.WithToken("alice", tok)); !errors.Is(err, clientproto.ErrAuth) {
		t.Fatalf("dropped token: %v", err)
	}
}

// TestLoginsOff: without (nil, auth).current the server greets without auth and everyone is
// root, as today; a client with a password just connects.
func TestLoginsOff(t *testing.T) {
	srv := ptStart(t, Config{})
	raw := srv.dial(t)
	if _, has := raw.Greeting["auth"]; has {
		t.Fatalf("greeting %v has auth", raw.Greeting)
	}
	raw.ok(map[string]any{"action": "set_value", "path": ptA("a"), "value": 1})
	if _, err := authDial(t, srv.Addr, client.WithPassword("x", "y")); err != nil {
		t.Fatal(err)
	}
}

// refusedStream expects DistKV's refusal of a stream: start, an error, end.
func refusedStream(t *testing.T, c *ptConn, m map[string]any, etype string) {
	t.Helper()
	seq := c.send(m)
	if r := c.next(seq); r["state"] != "start" {
		t.Fatalf("%v: first reply %v, want state start", m, r)
	}
	ptCheckErr(t, c.next(seq), seq, etype)
	if r := c.next(seq); r["state"] != "end" {
		t.Fatalf("%v: last reply %v, want state end", m, r)
	}
}
