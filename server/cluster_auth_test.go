package server_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server/servertest"
)

// TestClusterLogins: users, ACLs and the login switch are meta-area entries and replicate:
// set up on node 0, they hold on node 1.
func TestClusterLogins(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 2, Seed: 9})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := c.Client(0)
	pw, aclName, yes := "alice-pw", "al", true
	adminPw := "admin-pw"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(root.SetUser(ctx, "admin", client.UserChange{Password: &adminPw, Admin: &yes}))
	must(root.SetUser(ctx, "alice", client.UserChange{Password: &pw, ACL: &aclName}))
	must(root.SetACL(ctx, aclName, node.StringPath("pub"), "rx"))
	must(root.SetACL(ctx, aclName, node.StringPath("pub", "#"), "rx"))
	c.MustWrite(0, node.StringPath("pub", "a"), 1)
	c.MustWrite(0, node.StringPath("priv", "a"), 2)
	must(root.SetAuthMethod(ctx, "password"))
	addr := c.Node(1).Addr().String()
	var alice *client.Client
	deadline := time.Now().Add(30 * time.Second)
	for {
		cl, err := client.Dial(ctx, addr, client.WithPassword("alice", pw))
		if err == nil && len(cl.AuthMethods()) > 0 {
			alice = cl
			break
		}
		if cl != nil {
			cl.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 1 never asked for alice's login: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer alice.Close()
	for time.Now().Before(deadline) {
		if _, err := alice.Get(ctx, node.StringPath("pub", "a")); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := alice.Get(ctx, node.StringPath("pub", "a")); err != nil {
		t.Fatalf("alice reads pub.a on node 1: %v", err)
	}
	if _, err := alice.Get(ctx, node.StringPath("priv", "a")); !errors.Is(err, clientproto.ErrAuth) {
		t.Fatalf("alice reads priv.a on node 1: %v", err)
	}
	if _, err := client.Dial(ctx, addr, client.WithPassword("alice", "wrong")); !errors.Is(err, clientproto.ErrAuth) {
		t.Fatalf("wrong password on node 1: %v", err)
	}
}
