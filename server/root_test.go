package server

import (
	"context"
	"fmt"
	"testing"

	"github.com/distkv/distkv/clientproto/client"
)

// TestRoot: after root, every path is relative to it (a second root goes deeper), the
// replies' paths too; nil path elements are refused; the meta area stays server-wide; an
// entry found by tick outside the root is not shown.
func TestRoot(t *testing.T) {
	s := ptStart(t, Config{})
	adm := s.dial(t)
	ptSet(adm, ptA("out"), 0)
	ptSet(adm, ptA("home", "a", "k"), 1)
	outTick := adm.ok(ptM{"action": "get_value", "path": ptA("out"), "nchain": 1})["chain"].(map[string]any)["tick"]
	c := s.dial(t)
	r := c.ok(ptM{"action": "root", "path": ptA("home")})
	if fmt.Sprint(r["path"]) != "[]" || r["value"] != nil {
		t.Errorf("root reply %v, want path [] and no value", r)
	}
	if v := c.ok(ptM{"action": "get_value", "path": ptA("a", "k")}); ptUint(v["value"]) != 1 {
		t.Errorf("a.k below the root: %v", v)
	}
	ptSet(c, ptA("b"), 2)
	if v := adm.ok(ptM{"action": "get_value", "path": ptA("home", "b")}); ptUint(v["value"]) != 2 {
		t.Errorf("the rooted write did not land at home.b: %v", v)
	}
	if v := c.ok(ptM{"action": "get_value", "path": ptA("out")}); v["value"] != nil {
		t.Errorf("out is reachable from the root: %v", v)
	}
	es := c.streamUntil(c.send(ptM{"action": "get_tree", "path": ptA()}), "end")
	if len(es) != 2 || fmt.Sprint(es[0]["path"]) != "[a k]" {
		t.Errorf("get_tree below the root: %v", es)
	}
	c.ok(ptM{"action": "multi", "ops": []any{ptM{"path": ptA("m"), "value": 3}}})
	if v := adm.ok(ptM{"action": "get_value", "path": ptA("home", "m")}); ptUint(v["value"]) != 3 {
		t.Errorf("multi under the root: %v", v)
	}
	// By tick: inside the root the path is relative, outside nothing is shown.
	ch := c.ok(ptM{"action": "get_value", "path": ptA("b"), "nchain": 1})["chain"].(map[string]any)
	if v := c.ok(ptM{"action": "get_value", "node": ch["node"], "tick": ch["tick"]}); fmt.Sprint(v["path"]) != "[b]" {
		t.Errorf("by tick inside: %v", v)
	}
	if v := c.ok(ptM{"action": "get_value", "node": ch["node"], "tick": outTick}); v["path"] != nil || v["value"] != nil {
		t.Errorf("by tick outside the root: %v", v)
	}
	c.callErr(ptM{"action": "set_value", "path": ptA(nil, "x"), "value": 1}, "request")
	c.callErr(ptM{"action": "root", "path": ptA("a", nil)}, "request")
	// The meta area is not below the root.
	c.ok(ptM{"action": "set_internal", "path": ptA("cfg"), "value": 4})
	if v := adm.ok(ptM{"action": "get_internal", "path": ptA("cfg")}); ptUint(v["value"]) != 4 {
		t.Errorf("set_internal under a root: %v", v)
	}
	// A second root goes deeper.
	c.ok(ptM{"action": "root", "path": ptA("a")})
	if v := c.ok(ptM{"action": "get_value", "path": ptA("k")}); ptUint(v["value"]) != 1 {
		t.Errorf("k below the second root: %v", v)
	}
	if v := c.ok(ptM{"action": "root"}); ptUint(v["tock"]) == 0 {
		t.Errorf("root without path: %v", v)
	}
	if v := c.ok(ptM{"action": "get_value", "path": ptA("k")}); ptUint(v["value"]) != 1 {
		t.Errorf("root without a path changed the root: %v", v)
	}
}

// TestRootACL: ACLs apply to the tree's paths, not the relative ones, so a root cannot widen
// what the ACL grants (DistKV matches the relative path); root itself needs x at the root.
func TestRootACL(t *testing.T) {
	srv, admin := authSetup(t, map[string]string{"t": "rx", "t.#": "rx", "w": "rwcx", "w.#": "rwcxn"})
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	mustSet(t, admin, p("t", "k"), 1)
	alice, err := authDial(t, srv.Addr, client.WithPassword("alice", "alice-pw"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = alice.Root(ctx, p("nope"))
	denied(t, "root at a path the ACL does not reach", err)
	if _, err := alice.Root(ctx, p("t")); err != nil {
		t.Fatal(err)
	}
	v, err := alice.Get(ctx, p("k"))
	if err != nil || string(v.Raw) != "\x01" {
		t.Errorf("t.k through the root: %v %v", v, err)
	}
	_, err = alice.SetValue(ctx, p("w", "x"), 2)
	denied(t, "w.x below root t is t.w.x, which the ACL does not let alice write", err)
}
