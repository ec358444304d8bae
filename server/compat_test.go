package server

import (
	"fmt"
	"testing"
)

// Fields DistKV's client and CLI send as Python values: nchain false/true (the CLI without and
// with -m), depths as bools; get_tock advances; get_value by node and tick names the path.
func TestDistKVCompatFields(t *testing.T) {
	s := ptStart(t, Config{})
	c := s.dial(t)
	ptSet(c, ptA("a"), 1)
	ptSet(c, ptA("a", "b"), 2)
	if r := c.ok(ptM{"action": "get_value", "path": ptA("a"), "nchain": false}); r["chain"] != nil || ptUint(r["value"]) != 1 {
		t.Errorf("nchain false: %v", r)
	}
	r := c.ok(ptM{"action": "get_value", "path": ptA("a"), "nchain": true})
	ch, _ := r["chain"].(map[string]any)
	if ch == nil || ch["node"] != c.Greeting["origin"] {
		t.Fatalf("nchain true: %v", r)
	}
	if _, has := ch["prev"]; !has {
		t.Errorf("nchain true is one link of a complete chain, prev nil: %v", ch)
	}
	// min_depth and max_depth true are 1: the children only; max_depth false is 0: the entry only.
	if es := c.streamUntil(c.send(ptM{"action": "get_tree", "path": ptA("a"), "min_depth": true, "max_depth": true}), "end"); len(es) != 1 {
		t.Errorf("min_depth/max_depth true: %v, want the one child", es)
	}
	if es := c.streamUntil(c.send(ptM{"action": "watch", "path": ptA("a"), "fetch": true, "nchain": false, "max_depth": false}), "uptodate"); len(es) != 1 {
		t.Errorf("watch max_depth false: %v, want a alone", es)
	}
	// get_tock: a new value on every call.
	t1 := ptUint(c.ok(ptM{"action": "get_tock"})["tock"])
	t2 := ptUint(c.ok(ptM{"action": "get_tock"})["tock"])
	if t2 <= t1 {
		t.Errorf("get_tock %d then %d, want it to advance", t1, t2)
	}
	// get_value by node and tick returns the entry's path.
	r = c.ok(ptM{"action": "get_value", "node": ch["node"], "tick": ch["tick"]})
	if fmt.Sprint(r["path"]) != fmt.Sprint(ptA("a")) || ptUint(r["value"]) != 1 {
		t.Errorf("by tick: %v, want path [a] and value 1", r)
	}
	// A write after get_tock uses a later tock still.
	if w := ptSet(c, ptA("z"), 1); ptUint(w["tock"]) <= t2 {
		t.Errorf("write tock %v after get_tock %d", w["tock"], t2)
	}
}

// enum_node lists the ticks of an origin that entries still carry, as DistKV's.
func TestEnumNode(t *testing.T) {
	s := ptStart(t, Config{})
	c := s.dial(t)
	origin := c.Greeting["origin"]
	ptSet(c, ptA("a"), 1)                                 // tick 1, superseded by tick 3
	ptSet(c, ptA("b"), 2)                                 // tick 2
	ptSet(c, ptA("a"), 3)                                 // tick 3
	c.ok(ptM{"action": "delete_value", "path": ptA("b")}) // tick 4: a tombstone heads b
	for _, tc := range []struct {
		req  ptM
		want string
	}{
		{ptM{"node": origin}, "[3 4]"},
		{ptM{"node": origin, "current": true}, "[3 4]"},
		{ptM{"node": origin, "max": 1}, "[3]"},
		{ptM{"node": "nobody~1"}, "[]"},
	} {
		tc.req["action"] = "enum_node"
		r := c.ok(tc.req)
		if got := fmt.Sprint(r["result"]); got != tc.want {
			t.Errorf("%v: %v, want %s", tc.req, r["result"], tc.want)
		}
	}
	c.callErr(ptM{"action": "enum_node"}, "request")
}
