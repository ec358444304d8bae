package server

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/clientproto/dh"
	"github.com/distkv/distkv/node"
)

// Alice's ACL "al": for each letter L, the area noL grants every letter but L (noX lacks x
// at its top, the others below it); "all" grants everything but hides all.hidden (no r).
var aclPatterns = map[string]string{
	"all": "rwcdxena", "all.#": "rwcdxena", "all.hidden": "wcdxen",
	"nor": "xn", "nor.#": "wcdxena",
	"now": "xn", "now.#": "rcdxena",
	"noc": "xn", "noc.#": "rwdxena",
	"nod": "xn", "nod.#": "rwcxena",
	"noe": "xn", "noe.#": "rwcdxna", "noe.k": "rwcdxna",
	"nox": "rwcdena", "nox.#": "rwcdxena",
	"non": "xn", "non.#": "rwcdxea",
	"noa": "xn", "noa.#": "rwcdxen",
	"noe2": "rwcdxna", // e at the top of a tree
}

func p(s ...string) node.Path { return node.StringPath(s...) }

func mustSet(t *testing.T, c *client.Client, path node.Path, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	if _, err := c.SetValue(ctx, path, v); err != nil {
		t.Fatalf("set %s: %v", path, err)
	}
}

func denied(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, clientproto.ErrAuth) {
		t.Errorf("%s: %v, want an ACL refusal", what, err)
	}
}

func allowed(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

func treePaths(t *testing.T, c *client.Client, at node.Path) ([]string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	var out []string
	err := c.Walk(ctx, at, client.TreeOptions{}, func(e client.Entry) error {
		out = append(out, e.Path.String())
		return nil
	})
	return out, err
}

func TestACLLetters(t *testing.T) {
	srv, admin := authSetup(t, aclPatterns)
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	for _, a := range []string{"all", "nor", "now", "noc", "nod", "noe", "nox", "non", "noa"} {
		mustSet(t, admin, p(a, "k"), "v")
		mustSet(t, admin, p(a, "sub", "k"), "v")
	}
	mustSet(t, admin, p("all", "hidden"), "secret")
	mustSet(t, admin, p("elsewhere"), "v")
	alice, err := authDial(t, srv.Addr, client.WithPassword("alice", "alice-pw"))
	if err != nil {
		t.Fatal(err)
	}
	v := []byte{0x01}
	get := func(path node.Path) error { _, err := alice.Get(ctx, path); return err }
	set := func(path node.Path) error { _, err := alice.Set(ctx, path, v); return err }
	del := func(path node.Path) error { _, err := alice.Delete(ctx, path); return err }

	// r
	allowed(t, "get all.k", get(p("all", "k")))
	denied(t, "get nor.k", get(p("nor", "k")))
	denied(t, "get all.hidden", get(p("all", "hidden")))
	denied(t, "get elsewhere (no entry matches)", get(p("elsewhere")))
	// w: change an existing value
	allowed(t, "set all.k", set(p("all", "k")))
	denied(t, "set now.k", set(p("now", "k")))
	allowed(t, "create now.new (c)", set(p("now", "new")))
	// c: create a value
	denied(t, "create noc.new", set(p("noc", "new")))
	allowed(t, "change noc.k (w)", set(p("noc", "k")))
	// d
	denied(t, "delete nod.k", del(p("nod", "k")))
	allowed(t, "delete all.k", del(p("all", "k")))
	_, err = alice.DeleteTree(ctx, p("nod"))
	denied(t, "delete_tree nod", err)
	_, err = alice.DeleteTree(ctx, p("all", "sub"))
	allowed(t, "delete_tree all.sub", err)
	// x: nothing below nox is reachable
	denied(t, "get nox.k", get(p("nox", "k")))
	denied(t, "set nox.k", set(p("nox", "k")))
	// n: a new node below one that lacks n
	denied(t, "create non.new.k", set(p("non", "new", "k")))
	denied(t, "create non.sub.k2 (a new node below non.sub)", set(p("non", "sub", "k2")))
	allowed(t, "give non.sub a value (it exists, c is enough)", set(p("non", "sub")))
	allowed(t, "create all.new.k", set(p("all", "new", "k")))
	// e: get_tree, enum and watch
	_, err = treePaths(t, alice, p("noe"))
	denied(t, "get_tree noe", err)
	_, err = alice.List(ctx, p("noe"))
	denied(t, "enum noe", err)
	_, err = alice.List(ctx, p("all"))
	allowed(t, "enum all", err)
	// r inside streams: get_tree shows only what may be read
	got, err := treePaths(t, alice, p("all"))
	allowed(t, "get_tree all", err)
	for _, g := range got {
		if g == p("all", "hidden").String() {
			t.Errorf("get_tree all shows all.hidden: %v", got)
		}
	}
	if len(got) == 0 {
		t.Errorf("get_tree all shows nothing")
	}
	got, _ = treePaths(t, alice, p("nox"))
	if len(got) != 0 {
		t.Errorf("get_tree nox shows %v below a node without x", got)
	}
	// a: test_acl shows the letters only where a is granted
	if x, err := alice.TestACL(ctx, p("all", "k"), "r", ""); err != nil || x != "rwcdxena" {
		t.Errorf("test_acl all.k r = %v, %v; want the letters", x, err)
	}
	if x, err := alice.TestACL(ctx, p("noa", "k"), "r", ""); err != nil || x != true {
		t.Errorf("test_acl noa.k r = %v, %v; want true", x, err)
	}
	if x, err := alice.TestACL(ctx, p("nor", "k"), "r", ""); err != nil || x != false {
		t.Errorf("test_acl nor.k r = %v, %v; want false", x, err)
	}
	if _, err := alice.TestACL(ctx, p("noa", "k"), "r", "al"); !errors.Is(err, clientproto.ErrAuth) {
		t.Errorf("test_acl of a named ACL without a: %v", err)
	}
	if x, err := admin.TestACL(ctx, p("nor", "k"), "w", "al"); err != nil || x != "wcdxena" {
		t.Errorf("admin test_acl al nor.k w = %v, %v", x, err)
	}
	// multi: one refused op refuses all, and nothing is written
	_, err = alice.Multi(ctx, []client.Op{{Path: p("all", "m"), Value: v}, {Path: p("nod", "k"), Delete: true}})
	denied(t, "multi with a refused delete", err)
	if _, err := admin.Get(ctx, p("all", "m")); !errors.Is(err, clientproto.ErrNotFound) {
		t.Errorf("refused multi wrote all.m: %v", err)
	}
	_, err = alice.Multi(ctx, []client.Op{{Path: p("all", "m"), Value: v}, {Path: p("noc", "new"), Value: v}})
	denied(t, "multi with a refused create", err)
	_, err = alice.Multi(ctx, []client.Op{{Path: p("all", "m"), Value: v}, {Path: p("all", "k2"), Value: v}})
	allowed(t, "multi", err)
	// get_value by origin and tick is checked against the entry it finds
	e, _ := admin.Get(ctx, p("nor", "k"))
	alRaw := srv.dial(t)
	loginRaw(t, alRaw, "alice", "alice-pw")
	alRaw.callErr(map[string]any{"action": "get_value", "node": e.Chain[0].Origin, "tick": e.Chain[0].Tick}, clientproto.EtypeAuth)
	// enum with_data shows the names (e), the values only where r holds
	r := alRaw.ok(map[string]any{"action": "enum", "path": ptA("all"), "with_data": true, "empty": true})
	res, _ := r["result"].(map[string]any)
	if _, has := res["hidden"]; !has || res["hidden"] != nil || res["k2"] == nil {
		t.Errorf("enum with_data all = %v: want hidden listed without its value, k2 with", r)
	}
}

// TestACLWatch: a watcher never sees a value it may not read, and an ACL change takes
// effect at once.
// TestACLNewNodes: n is needed at the parent of every node a write creates; a node that
// holds no value but has values below it exists already and needs none.
func TestACLNewNodes(t *testing.T) {
	srv, admin := authSetup(t, map[string]string{"t": "rwcx", "t.#": "rwcxn"})
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	mustSet(t, admin, p("t", "in", "deep"), 1) // t.in: an inner node without a value
	alice, err := authDial(t, srv.Addr, client.WithPassword("alice", "alice-pw"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = alice.SetValue(ctx, p("t", "in", "new"), 2)
	allowed(t, "t.in.new below the existing t.in", err)
	_, err = alice.SetValue(ctx, p("t", "other", "new"), 3)
	denied(t, "t.other.new, creating t.other below t (no n)", err)
}

// TestACLDeleteTree: delete_tree needs d at every entry it would delete, also at one beyond
// the first chunk of the subtree's walk; refused, it deletes nothing.
func TestACLDeleteTree(t *testing.T) {
	srv, admin := authSetup(t, map[string]string{"t": "rwcdx", "t.#": "rwcdx", "t.keep": "rwcx"})
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	var ops []client.Op
	for i := 0; i < walkChunk+10; i++ {
		ops = append(ops, client.Op{Path: p("t", "a", fmt.Sprint(i)), Value: node.AppendInt(nil, int64(i))})
	}
	if _, err := admin.Multi(ctx, ops); err != nil {
		t.Fatal(err)
	}
	mustSet(t, admin, p("t", "keep"), 1) // after t.a's entries in the walk
	alice, err := authDial(t, srv.Addr, client.WithPassword("alice", "alice-pw"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = alice.DeleteTree(ctx, p("t"))
	denied(t, "delete_tree t with t.keep (no d)", err)
	if _, err := alice.Get(ctx, p("t", "a", "0")); err != nil {
		t.Fatalf("a refused delete_tree deleted t.a.0: %v", err)
	}
	_, err = alice.DeleteTree(ctx, p("t", "a"))
	allowed(t, "delete_tree t.a", err)
}

// TestACLGetTreeRevoked: an ACL change reaches a running get_tree at its next chunk: the
// entries read before the change still go out, none read after it. The client holds the
// stream with flow control until the change is made, so the split is exact.
func TestACLGetTreeRevoked(t *testing.T) {
	srv, admin := authSetup(t, map[string]string{"t": "rxe", "t.#": "rx"})
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	var ops []client.Op
	for i := 0; i < 2*walkChunk; i++ {
		ops = append(ops, client.Op{Path: p("t", fmt.Sprintf("%04d", i)), Value: node.AppendInt(nil, int64(i))})
	}
	if _, err := admin.Multi(ctx, ops); err != nil {
		t.Fatal(err)
	}
	c := flowConn(t, srv)
	loginRaw(t, c, "alice", "alice-pw")
	seq := c.send(ptM{"action": "get_tree", "path": ptA("t")})
	next, acked := uint64(1), uint64(0)
	if m := readAcking(t, c, seq, &next, &acked); m["state"] != "start" {
		t.Fatalf("first message %v, want start", m)
	}
	if m := readAcking(t, c, seq, &next, &acked); m["value"] == nil {
		t.Fatalf("first entry %v", m) // it is out: the first chunk has been read
	}
	if err := admin.SetACL(ctx, "al", p("t", "#"), "x"); err != nil {
		t.Fatal(err)
	}
	entries := 1
	for {
		m := readAcking(t, c, seq, &next, &acked)
		if m["state"] == "end" {
			break
		}
		if m["error"] != nil {
			t.Fatalf("get_tree: %v", m)
		}
		entries++
	}
	if entries != walkChunk {
		t.Fatalf("%d entries after the ACL lost r at the second chunk, want the first chunk's %d", entries, walkChunk)
	}
}

func TestACLWatch(t *testing.T) {
	srv, admin := authSetup(t, aclPatterns)
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	mustSet(t, admin, p("all", "hidden"), "old")
	mustSet(t, admin, p("all", "a"), "old")
	alice, err := authDial(t, srv.Addr, client.WithPassword("alice", "alice-pw"))
	if err != nil {
		t.Fatal(err)
	}
	// At the root: a watch is not refused for want of e, it sends only what may be read.
	w, err := alice.Watch(ctx, node.Path{}, client.WatchOptions{Fetch: true})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	next := func() string {
		for {
			e, err := w.Next(ctx)
			if errors.Is(err, client.ErrUptodate) {
				continue
			}
			if err != nil {
				t.Fatalf("watch: %v", err)
			}
			return e.Path.String()
		}
	}
	seen = append(seen, next()) // the fetch: all.a only
	for i := 0; i < 3; i++ {
		mustSet(t, admin, p("all", "hidden"), i)
		mustSet(t, admin, p("nor", "k"), i)
		mustSet(t, admin, p("elsewhere"), i)
		mustSet(t, admin, p("all", "b"), i)
		seen = append(seen, next())
	}
	// The ACL changes: all.hidden becomes readable, and the next event shows it.
	if err := admin.SetACL(ctx, "al", p("all", "hidden"), "r"); err != nil {
		t.Fatal(err)
	}
	mustSet(t, admin, p("all", "hidden"), "now")
	seen = append(seen, next())
	want := []string{p("all", "a").String(), p("all", "b").String(), p("all", "b").String(), p("all", "b").String(), p("all", "hidden").String()}
	if len(seen) != len(want) {
		t.Fatalf("seen %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("seen %v, want %v", seen, want)
		}
	}
}

// loginRaw logs a raw connection in the way DistKV's client does it.
func loginRaw(t *testing.T, c *ptConn, user, password string) {
	t.Helper()
	k, err := dh.NewKey(1024)
	if err != nil {
		t.Fatal(err)
	}
	r := c.ok(map[string]any{"action": "diffie_hellman", "pubkey": k.Public(), "length": 1024})
	pub, _ := r["pubkey"].([]byte)
	key, err := k.Shared(pub)
	if err != nil {
		t.Fatal(err)
	}
	box, err := dh.SealPassword(key, []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	seq := c.send(map[string]any{"action": "auth", "typ": "password", "iter": false, "ident": user, "password": box})
	for {
		m := c.next(seq)
		if _, has := m["error"]; has {
			t.Fatalf("login: %v", m)
		}
		if m["state"] == "end" {
			return
		}
	}
}

// TestMetaArea: the _internal actions reach the nil-rooted area; the normal actions neither
// reach nor show it.
func TestMetaArea(t *testing.T) {
	srv := ptStart(t, Config{})
	c := srv.dial(t)
	c.ok(map[string]any{"action": "set_internal", "path": ptA("config", "x"), "value": 7})
	c.ok(map[string]any{"action": "set_value", "path": ptA("config", "x"), "value": 8})
	for _, req := range []map[string]any{
		{"action": "set_value", "path": ptA(nil, "config", "x"), "value": 9},
		{"action": "multi", "ops": []any{map[string]any{"path": ptA("ok"), "value": 1},
			map[string]any{"path": ptA(nil, "config", "x"), "value": 9}}},
	} {
		c.callErr(req, clientproto.EtypeBadRequest) // the meta area through a normal action
	}
	if r := c.ok(map[string]any{"action": "get_internal", "path": ptA("config", "x")}); ptInt(r["value"]) != 7 {
		t.Fatalf("get_internal %v", r)
	}
	if r := c.ok(map[string]any{"action": "get_value", "path": ptA("config", "x")}); ptInt(r["value"]) != 8 {
		t.Fatalf("get_value %v", r)
	}
	r := c.ok(map[string]any{"action": "enum_internal", "path": ptA()})
	if l, _ := r["result"].([]any); len(l) != 0 {
		t.Fatalf("enum_internal of the meta root (no value there, no empty) = %v", r)
	}
	r = c.ok(map[string]any{"action": "enum_internal", "path": ptA("config")})
	if l, _ := r["result"].([]any); len(l) != 1 || l[0] != "x" {
		t.Fatalf("enum_internal config = %v", r)
	}
	r = c.ok(map[string]any{"action": "enum", "path": ptA(), "empty": true})
	if l, _ := r["result"].([]any); len(l) != 1 || l[0] != "config" {
		t.Fatalf("enum of the root shows %v, want only config", r)
	}
	seq := c.send(map[string]any{"action": "get_tree_internal", "path": ptA()})
	msgs := c.streamUntil(seq, "end")
	if len(msgs) != 1 || ptInt(msgs[0]["value"]) != 7 {
		t.Fatalf("get_tree_internal = %v", msgs)
	}
	seq = c.send(map[string]any{"action": "get_tree", "path": ptA()})
	msgs = c.streamUntil(seq, "end")
	if len(msgs) != 1 || ptInt(msgs[0]["value"]) != 8 {
		t.Fatalf("get_tree of the root = %v, want only config.x = 8", msgs)
	}
	c.callErr(map[string]any{"action": "get_value", "path": ptA(nil, "config", "x")}, clientproto.EtypeBadRequest)
	c.callErr(map[string]any{"action": "set_value", "path": ptA(nil, "y"), "value": 1}, clientproto.EtypeBadRequest)
	// A root watch does not see the meta area change.
	wseq := c.send(map[string]any{"action": "watch", "path": ptA()})
	if m := c.next(wseq); m["state"] != "start" {
		t.Fatalf("watch: %v", m)
	}
	c.ok(map[string]any{"action": "set_internal", "path": ptA("config", "x"), "value": 9})
	c.ok(map[string]any{"action": "set_value", "path": ptA("config", "x"), "value": 10})
	if m := c.next(wseq); ptInt(m["value"]) != 10 {
		t.Fatalf("root watch got %v, want config.x = 10 (not the meta write)", m)
	}
	c.ok(map[string]any{"action": "delete_internal", "path": ptA("config", "x")})
	if r := c.ok(map[string]any{"action": "get_internal", "path": ptA("config", "x")}); r["value"] != nil {
		t.Fatalf("deleted meta entry: %v", r)
	}
}

// TestDumpHasMetaArea: a client-side snapshot (Dump) holds the meta area too, so users and
// ACLs survive a restore; with logins on it needs an admin.
func TestDumpHasMetaArea(t *testing.T) {
	srv, admin := authSetup(t, map[string]string{"pub": "rx"})
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	mustSet(t, admin, p("pub"), 1)
	var meta, data int
	if _, err := admin.Dump(ctx, func(u *node.Update) error {
		if isMeta(u.Ops[0].Path) {
			meta++
		} else {
			data++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// (nil, auth), two users, one ACL pattern; pub.
	if meta != 4 || data != 1 {
		t.Fatalf("dump: %d meta entries, %d data entries; want 4, 1", meta, data)
	}
	alice, _ := authDial(t, srv.Addr, client.WithPassword("alice", "alice-pw"))
	if _, err := alice.Dump(ctx, func(*node.Update) error { return nil }); !errors.Is(err, clientproto.ErrAuth) {
		t.Fatalf("alice dumps: %v", err)
	}
}
