package server

// Protocol-level tests: raw msgpack maps over TCP, exactly as a foreign client (DistKV's
// Python client) speaks them. See docs/architecture.md and DistKV's client protocol
// (distkv-reference.md §2 and its Appendix).

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

type ptM = map[string]any

func ptSet(c *ptConn, path, value any) ptM {
	c.tb.Helper()
	return c.ok(ptM{"action": "set_value", "path": path, "value": value})
}

func ptGet(c *ptConn, path any) ptM {
	c.tb.Helper()
	return c.ok(ptM{"action": "get_value", "path": path})
}

func ptState(c *ptConn) ptM {
	c.tb.Helper()
	return c.ok(ptM{"action": "get_state"})
}

func ptTick(c *ptConn) uint64 {
	c.tb.Helper()
	return ptUint(ptState(c)["tick"])
}

func ptOrigin(c *ptConn) string {
	c.tb.Helper()
	o, _ := c.Greeting["origin"].(string)
	return o
}

// ptValueEq compares a decoded value with what the test sent.
func ptValueEq(got, want any) bool {
	return reflect.DeepEqual(ptNormDeep(got), ptNormDeep(want))
}

func ptNormDeep(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = ptNormDeep(x[i])
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = ptNormDeep(e)
		}
		return out
	case []int:
		out := make([]any, len(x))
		for i := range x {
			out[i] = int64(x[i])
		}
		return out
	}
	return ptNorm(v)
}

func TestProtoGreeting(t *testing.T) {
	srv := ptStart(t, Config{})
	c := srv.dial(t)
	g := c.Greeting
	if ptUint(g["seq"]) != 0 {
		t.Errorf("greeting seq %v, want 0", g["seq"])
	}
	if g["node"] != "t" {
		t.Errorf("greeting node %v, want %q", g["node"], "t")
	}
	if o, _ := g["origin"].(string); !strings.HasPrefix(o, "t~") {
		t.Errorf("greeting origin %v, want t~<gen>", g["origin"])
	}
	if ptUint(g["tick"]) != 0 {
		t.Errorf("greeting tick %v, want 0 on a fresh node", g["tick"])
	}
	if ptUint(g["tock"]) == ^uint64(0) {
		t.Errorf("greeting tock %v, want an unsigned integer", g["tock"])
	}
	v, ok := g["version"].([]any)
	if !ok || len(v) == 0 {
		t.Errorf("greeting version %v, want a list of integers", g["version"])
	}
	for _, x := range v {
		if ptUint(x) == ^uint64(0) {
			t.Errorf("greeting version %v holds a non-integer", v)
		}
	}
	if _, has := g["state"]; has {
		t.Errorf("greeting has a state: %v", g)
	}

	ptSet(c, ptA("g"), 1)
	ptSet(c, ptA("g"), 2)

	// The server speaks first even when the client does not wait for it: the first message
	// on a connection is the greeting, with the current tick.
	c2 := srv.dialNoGreeting(t)
	c2.send(ptM{"seq": 1, "action": "get_tock"})
	first, err := c2.readMsg()
	if err != nil {
		t.Fatal(err)
	}
	if ptUint(first["seq"]) != 0 || first["node"] != "t" {
		t.Fatalf("first message %v, want the greeting", first)
	}
	if ptUint(first["tick"]) != 2 {
		t.Errorf("greeting tick %v after two writes, want 2", first["tick"])
	}
	if ptUint(first["tock"]) < 2 {
		t.Errorf("greeting tock %v after two writes, want >= 2", first["tock"])
	}
	if r := c2.next(1); ptUint(r["tock"]) < ptUint(first["tock"]) {
		t.Errorf("get_tock %v below the greeting's tock %v", r["tock"], first["tock"])
	}
}

func TestProtoGetValue(t *testing.T) {
	srv := ptStart(t, Config{})
	c := srv.dial(t)
	origin := ptOrigin(c)

	// Absent: no value key, a tock, never a state in a single reply.
	r := c.ok(ptM{"action": "get_value", "path": ptPath{"nope"}})
	for _, k := range []string{"value", "chain", "state"} {
		if _, has := r[k]; has {
			t.Errorf("absent entry: reply has %q: %v", k, r)
		}
	}
	if _, has := r["tock"]; !has {
		t.Errorf("reply without tock: %v", r)
	}
	// Absent with nchain: chain nil.
	r = c.ok(ptM{"action": "get_value", "path": ptA("nope"), "nchain": 3})
	if ch, has := r["chain"]; !has || ch != nil {
		t.Errorf("absent entry with nchain: want chain nil, got %v", r)
	}
	if _, has := r["value"]; has {
		t.Errorf("absent entry with nchain has a value: %v", r)
	}

	values := []any{
		"hello", int64(42), int64(-7), []byte{0, 1, 2, 0xff}, nil, true, false, 1.5,
		uint64(1 << 63), []any{int64(1), "two", []any{int64(3)}},
		map[string]any{"x": []any{int64(1), int64(2)}, "y": nil},
		strings.Repeat("long ", 100),
	}
	for i, v := range values {
		p := ptPath{"gv", int64(i)}
		ptSet(c, p, v)
		// The path as an array names the same entry as the ext 3 form.
		r := ptGet(c, ptA("gv", i))
		got, has := r["value"]
		if !has {
			t.Errorf("value %d (%#v): reply has no value: %v", i, v, r)
			continue
		}
		if !ptValueEq(got, v) {
			t.Errorf("value %d: got %#v, want %#v", i, got, v)
		}
		if _, has := r["chain"]; has {
			t.Errorf("get_value without nchain sent a chain: %v", r)
		}
	}

	// nchain: DistKV's nested chain; a single-origin entry's chain ends (prev: nil).
	r = c.ok(ptM{"action": "get_value", "path": ptA("gv", 0), "nchain": 1})
	ch := ptParseChain(t, r["chain"])
	if ch == nil || len(ch.Links) != 1 || ch.Links[0] != (ptLink{origin, 1}) || !ch.Ended {
		t.Errorf("chain %v, want [{%s 1}] ending with prev nil", r["chain"], origin)
	}
	r = c.ok(ptM{"action": "get_value", "path": ptA("gv", 0), "nchain": -1})
	if ch := ptParseChain(t, r["chain"]); ch == nil || len(ch.Links) != 1 || !ch.Ended {
		t.Errorf("nchain -1: chain %v", r["chain"])
	}

	// An inner node without data: no value, chain nil.
	r = c.ok(ptM{"action": "get_value", "path": ptA("gv"), "nchain": 2})
	if _, has := r["value"]; has {
		t.Errorf("inner node has a value: %v", r)
	}
	if ch, has := r["chain"]; !has || ch != nil {
		t.Errorf("inner node with nchain: want chain nil, got %v", r)
	}

	// The node+tick form (no path) returns the entry that tick wrote.
	r = c.ok(ptM{"action": "get_value", "node": origin, "tick": 3})
	if !ptValueEq(r["value"], values[2]) {
		t.Errorf("get_value node/tick 3: %v, want value %v", r, values[2])
	}

	// Path elements of every scalar kind round-trip.
	elems := []any{int64(-1), int64(0), uint64(1 << 63), true, false, "", "a.b:c d", []byte("raw"), 2.5}
	for i, e := range elems {
		ptSet(c, ptPath{"el", e}, i)
		if r := ptGet(c, ptA("el", e)); !ptValueEq(r["value"], i) {
			t.Errorf("path element %#v: got %v, want value %d", e, r, i)
		}
	}
	// A string and a bytes element of the same content are different entries.
	ptSet(c, ptPath{"sb", "k"}, "str")
	ptSet(c, ptPath{"sb", []byte("k")}, "bin")
	if r := ptGet(c, ptPath{"sb", "k"}); r["value"] != "str" {
		t.Errorf("string element: %v", r)
	}
	if r := ptGet(c, ptPath{"sb", []byte("k")}); r["value"] != "bin" {
		t.Errorf("bytes element: %v", r)
	}
}

func TestProtoSetValue(t *testing.T) {
	srv := ptStart(t, Config{})
	c := srv.dial(t)
	origin := ptOrigin(c)
	p := ptPath{"sv", "k"}

	r1 := ptSet(c, p, 1)
	if r1["changed"] != true {
		t.Errorf("first set: changed %v, want true", r1["changed"])
	}
	if _, has := r1["prev"]; has {
		t.Errorf("first set of a new entry returned prev: %v", r1)
	}
	ch := ptParseChain(t, r1["chain"])
	if ch == nil || len(ch.Links) != 1 || ch.Links[0] != (ptLink{origin, 1}) || !ch.Ended {
		t.Errorf("first set: chain %v, want {node %s, tick 1, prev nil} (default nchain 1)", r1["chain"], origin)
	}

	r2 := ptSet(c, p, 2)
	if r2["changed"] != true || !ptValueEq(r2["prev"], 1) {
		t.Errorf("second set: %v, want changed true, prev 1", r2)
	}
	if ch := ptParseChain(t, r2["chain"]); ch == nil || ch.Links[0] != (ptLink{origin, 2}) {
		t.Errorf("second set: chain %v, want head tick 2", r2["chain"])
	}
	if ptUint(r2["tock"]) <= ptUint(r1["tock"]) {
		t.Errorf("tock did not grow: %v then %v", r1["tock"], r2["tock"])
	}

	// nchain 0: no chain.
	r3 := c.ok(ptM{"action": "set_value", "path": p, "value": 3, "nchain": 0})
	if _, has := r3["chain"]; has {
		t.Errorf("nchain 0 sent a chain: %v", r3)
	}
	if !ptValueEq(r3["prev"], 2) {
		t.Errorf("third set: prev %v, want 2", r3["prev"])
	}

	// With a chain condition (the chain exactly as received): no prev.
	cur := c.ok(ptM{"action": "get_value", "path": p, "nchain": 3})
	r4 := c.ok(ptM{"action": "set_value", "path": p, "value": 4, "chain": cur["chain"]})
	if _, has := r4["prev"]; has {
		t.Errorf("set with a chain condition returned prev: %v", r4)
	}
	if r4["changed"] != true {
		t.Errorf("set with a chain condition: %v", r4)
	}
	// With a prev condition: no prev either.
	r5 := c.ok(ptM{"action": "set_value", "path": p, "value": 5, "prev": 4})
	if _, has := r5["prev"]; has {
		t.Errorf("set with a prev condition returned prev: %v", r5)
	}
	if got := ptGet(c, p)["value"]; !ptValueEq(got, 5) {
		t.Errorf("value %v, want 5", got)
	}
	if tick := ptTick(c); tick != 5 {
		t.Errorf("tick %d after five writes, want 5", tick)
	}
}

func TestProtoConditions(t *testing.T) {
	srv := ptStart(t, Config{})
	c := srv.dial(t)
	origin := ptOrigin(c)
	p := ptPath{"cond", "k"}
	ptSet(c, p, "v1")
	tick := ptTick(c)

	unchanged := func(what string) {
		t.Helper()
		if got := ptGet(c, p)["value"]; got != "v1" {
			t.Errorf("%s: value is now %v, want v1", what, got)
		}
		if now := ptTick(c); now != tick {
			t.Errorf("%s: tick went from %d to %d", what, tick, now)
		}
	}

	r := c.callErr(ptM{"action": "set_value", "path": p, "value": "x", "chain": nil}, "chain")
	if e, _ := r["error"].(string); !strings.Contains(e, "Entry already exists") {
		t.Errorf("chain nil on an existing entry: error %q, want DistKV's \"Entry already exists\"", e)
	}
	unchanged("chain nil on an existing entry")

	r = c.callErr(ptM{"action": "set_value", "path": ptPath{"cond", "missing"}, "value": "x",
		"chain": ptM{"node": origin, "tick": 1, "prev": nil}}, "chain")
	if e, _ := r["error"].(string); !strings.Contains(e, "Entry is new") {
		t.Errorf("chain on a missing entry: error %q, want DistKV's \"Entry is new\"", e)
	}
	if r := ptGet(c, ptPath{"cond", "missing"}); r["value"] != nil {
		t.Errorf("refused write happened: %v", r)
	}

	c.callErr(ptM{"action": "set_value", "path": p, "value": "x",
		"chain": ptM{"node": origin, "tick": 999, "prev": nil}}, "chain")
	unchanged("wrong chain tick")
	c.callErr(ptM{"action": "set_value", "path": p, "value": "x",
		"chain": ptM{"node": "other~1", "tick": tick, "prev": nil}}, "chain")
	unchanged("wrong chain node")
	c.callErr(ptM{"action": "delete_value", "path": p, "chain": nil}, "chain")
	unchanged("delete with chain nil")

	c.callErr(ptM{"action": "set_value", "path": p, "value": "x", "prev": "v0"}, "cond")
	unchanged("prev mismatch")
	c.callErr(ptM{"action": "set_value", "path": ptPath{"cond", "missing"}, "value": "x", "prev": "v0"}, "cond")
	unchanged("prev on a missing entry")

	// idem with an equal value: changed false, no tick, the current chain.
	r = c.ok(ptM{"action": "set_value", "path": p, "value": "v1", "idem": true})
	if r["changed"] != false {
		t.Errorf("idem with the same value: %v, want changed false", r)
	}
	if ch := ptParseChain(t, r["chain"]); ch == nil || ch.Links[0] != (ptLink{origin, tick}) {
		t.Errorf("idem: chain %v, want the current one (tick %d)", r["chain"], tick)
	}
	unchanged("idem with the same value")
	// Equal by meaning though encoded differently (int64 vs fixint) is equal too.
	ptSet(c, ptPath{"cond", "n"}, 1)
	tick = ptTick(c)
	raw := bytes.NewBuffer(nil)
	raw.Write([]byte{0x85})
	for _, kv := range [][2]any{{"seq", 100}, {"action", "set_value"}, {"path", ptPath{"cond", "n"}}, {"idem", true}} {
		raw.Write(ptMustEncode(t, kv[0]))
		raw.Write(ptMustEncode(t, kv[1]))
	}
	raw.Write(ptMustEncode(t, "value"))
	raw.Write([]byte{0xd3, 0, 0, 0, 0, 0, 0, 0, 1}) // 1 as int64
	c.sendRaw(raw.Bytes())
	if r := c.next(100); r["changed"] != false {
		t.Errorf("idem with 1 encoded as int64 over fixint 1: %v, want changed false", r)
	}
	if now := ptTick(c); now != tick {
		t.Errorf("idem no-op used a tick: %d -> %d", tick, now)
	}
	// idem with a different value writes.
	r = c.ok(ptM{"action": "set_value", "path": p, "value": "v2", "idem": true})
	if r["changed"] != true {
		t.Errorf("idem with a new value: %v, want changed true", r)
	}

	// The right conditions pass.
	cur := c.ok(ptM{"action": "get_value", "path": p, "nchain": 1})
	c.ok(ptM{"action": "set_value", "path": p, "value": "v3", "chain": cur["chain"], "prev": "v2"})
	// chain nil creates a missing entry, and an entry whose value was deleted.
	c.ok(ptM{"action": "set_value", "path": ptPath{"cond", "new"}, "value": 1, "chain": nil})
	c.ok(ptM{"action": "delete_value", "path": ptPath{"cond", "new"}})
	c.ok(ptM{"action": "set_value", "path": ptPath{"cond", "new"}, "value": 2, "chain": nil})
	if got := ptGet(c, ptPath{"cond", "new"})["value"]; !ptValueEq(got, 2) {
		t.Errorf("re-created entry: %v", got)
	}
}

func TestProtoDeleteValue(t *testing.T) {
	srv := ptStart(t, Config{})
	c := srv.dial(t)
	origin := ptOrigin(c)
	p := ptPath{"dv", "k"}
	ptSet(c, p, "v")

	c.callErr(ptM{"action": "delete_value", "path": p, "value": "v"}, "request")
	if got := ptGet(c, p)["value"]; got != "v" {
		t.Fatalf("delete_value with a value changed the entry: %v", got)
	}

	r := c.ok(ptM{"action": "delete_value", "path": p})
	if r["changed"] != true {
		t.Errorf("delete: %v, want changed true", r)
	}
	if r["prev"] != "v" {
		t.Errorf("delete without conditions: prev %v, want the old value", r["prev"])
	}
	g := c.ok(ptM{"action": "get_value", "path": p, "nchain": 1})
	if _, has := g["value"]; has {
		t.Errorf("deleted entry still has a value: %v", g)
	}
	if ch := ptParseChain(t, g["chain"]); ch == nil || ch.Links[0] != (ptLink{origin, 2}) {
		t.Errorf("tombstone chain %v, want head {%s 2}", g["chain"], origin)
	}

	r = c.ok(ptM{"action": "delete_value", "path": p})
	if r["changed"] != false {
		t.Errorf("deleting a deleted entry: %v, want changed false", r)
	}
	r = c.ok(ptM{"action": "delete_value", "path": ptPath{"dv", "never"}})
	if r["changed"] != false {
		t.Errorf("deleting a missing entry: %v, want changed false", r)
	}
	c.callErr(ptM{"action": "delete_value"}, "request")
}

func TestProtoDeleteTree(t *testing.T) {
	srv := ptStart(t, Config{})
	c := srv.dial(t)
	for _, p := range [][]any{{"dt"}, {"dt", "a"}, {"dt", "a", "b", "c"}, {"dt", 1}, {"dtx"}, {"other", "dt"}} {
		ptSet(c, p, ptKey(p))
	}
	c.ok(ptM{"action": "delete_value", "path": ptA("dt", 1)})

	r := c.ok(ptM{"action": "delete_tree", "path": ptPath{"dt"}})
	if ptInt(r["changed"]) != 3 {
		t.Errorf("delete_tree: %v, want changed 3 (dt, dt.a, dt.a.b.c; dt.1 was already deleted)", r)
	}
	for _, p := range [][]any{{"dt"}, {"dt", "a"}, {"dt", "a", "b", "c"}} {
		if r := ptGet(c, p); r["value"] != nil {
			t.Errorf("%v survived delete_tree: %v", p, r)
		}
	}
	for _, p := range [][]any{{"dtx"}, {"other", "dt"}} {
		if r := ptGet(c, p); r["value"] != ptKey(p) {
			t.Errorf("%v was deleted by a delete_tree of another subtree: %v", p, r)
		}
	}
	r = c.ok(ptM{"action": "delete_tree", "path": ptPath{"dt"}})
	if ptInt(r["changed"]) != 0 {
		t.Errorf("second delete_tree: %v, want changed 0", r)
	}
	r = c.ok(ptM{"action": "delete_tree", "path": ptPath{"nothing", "here"}})
	if ptInt(r["changed"]) != 0 {
		t.Errorf("delete_tree of a missing path: %v, want changed 0", r)
	}

	// The root is refused, in every form.
	c.callErr(ptM{"action": "delete_tree", "path": ptPath{}}, "request")
	c.callErr(ptM{"action": "delete_tree", "path": ptA()}, "request")
	c.callErr(ptM{"action": "delete_tree"}, "request")
	if r := ptGet(c, ptA("dtx")); r["value"] == nil {
		t.Errorf("a refused delete_tree of the root deleted data")
	}
}

// ptTreeEntry is one rebuilt get_tree / watch entry.
type ptTreeEntry struct {
	Path  []any
	Value any
	Has   bool
	Raw   ptM
}

// ptRebuild rebuilds the full paths of a stream's entries and checks that each reply's
// depth is exactly what DistKV's PathShortener sends (the number of elements shared with
// the previous relative path).
func ptRebuild(t *testing.T, prefix []any, msgs []ptM) []ptTreeEntry {
	t.Helper()
	l := &ptLongener{prefix: prefix}
	var out []ptTreeEntry
	for _, m := range msgs {
		if m["state"] != nil {
			continue
		}
		prevRel := l.prev
		full := l.full(t, m)
		rel := full[len(prefix):]
		shared := 0
		for shared < len(rel) && shared < len(prevRel) && reflect.DeepEqual(rel[shared], prevRel[shared]) {
			shared++
		}
		if int(ptInt(m["depth"])) != shared {
			t.Errorf("entry %s: depth %v, want %d (shared with the previous path)", ptKey(full), m["depth"], shared)
		}
		v, has := m["value"]
		out = append(out, ptTreeEntry{Path: full, Value: v, Has: has, Raw: m})
	}
	return out
}

func ptPaths(es []ptTreeEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = ptKey(e.Path)
	}
	return out
}

func ptKeys(ps ...[]any) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = ptKey(p)
	}
	return out
}

func ptTree(t *testing.T, c *ptConn, req ptM) []ptTreeEntry {
	t.Helper()
	req["action"] = "get_tree"
	seq := c.send(req)
	prefix := []any{}
	switch p := req["path"].(type) {
	case []any:
		prefix = ptNormDeep(p).([]any)
	case ptPath:
		prefix = ptNormDeep([]any(p)).([]any)
	}
	return ptRebuild(t, prefix, c.streamUntil(seq, "end"))
}

func TestProtoGetTree(t *testing.T) {
	srv := ptStart(t, Config{})
	c := srv.dial(t)
	base := []any{"gt"}
	// Canonical order: nil < bool < int < float < string < bytes, then by value; an entry
	// before its children.
	in := [][]any{
		{"gt"},
		{"gt", true},
		{"gt", int64(1)},
		{"gt", int64(1), "x"},
		{"gt", int64(2)},
		{"gt", 0.5},
		{"gt", "a"},
		{"gt", "a", "b", "c"},
		{"gt", "a", "b", "d"},
		{"gt", "b"},
		{"gt", []byte("z")},
	}
	// Written in another order than the canonical one.
	for i := len(in) - 1; i >= 0; i-- {
		ptSet(c, ptPath(in[i]), ptKey(in[i]))
	}
	ptSet(c, ptA("gtx"), "outside")
	ptSet(c, ptA("gs", "x"), "outside")

	all := ptTree(t, c, ptM{"path": ptPath(base)})
	if got, want := ptPaths(all), ptKeys(in...); !reflect.DeepEqual(got, want) {
		t.Fatalf("get_tree paths\n got %v\nwant %v", got, want)
	}
	for _, e := range all {
		if e.Value != ptKey(e.Path) {
			t.Errorf("%s: value %v", ptKey(e.Path), e.Value)
		}
		if _, has := e.Raw["chain"]; has {
			t.Errorf("get_tree without nchain sent a chain: %v", e.Raw)
		}
		if _, has := e.Raw["tock"]; !has {
			t.Errorf("entry without tock: %v", e.Raw)
		}
	}
	// The same with the path sent as an array.
	if got := ptPaths(ptTree(t, c, ptM{"path": ptA("gt")})); !reflect.DeepEqual(got, ptKeys(in...)) {
		t.Errorf("get_tree with an array path: %v", got)
	}

	// Depth bounds.
	var d1, d2, d1only []([]any)
	for _, p := range in {
		d := len(p) - 1
		if d <= 1 {
			d1 = append(d1, p)
		}
		if d >= 2 {
			d2 = append(d2, p)
		}
		if d == 1 {
			d1only = append(d1only, p)
		}
	}
	if got := ptPaths(ptTree(t, c, ptM{"path": ptPath(base), "max_depth": 1})); !reflect.DeepEqual(got, ptKeys(d1...)) {
		t.Errorf("max_depth 1:\n got %v\nwant %v", got, ptKeys(d1...))
	}
	if got := ptPaths(ptTree(t, c, ptM{"path": ptPath(base), "min_depth": 2})); !reflect.DeepEqual(got, ptKeys(d2...)) {
		t.Errorf("min_depth 2:\n got %v\nwant %v", got, ptKeys(d2...))
	}
	if got := ptPaths(ptTree(t, c, ptM{"path": ptPath(base), "min_depth": 1, "max_depth": 1})); !reflect.DeepEqual(got, ptKeys(d1only...)) {
		t.Errorf("min_depth 1, max_depth 1:\n got %v\nwant %v", got, ptKeys(d1only...))
	}
	if got := ptTree(t, c, ptM{"path": ptPath(base), "max_depth": 0}); len(got) != 1 || ptKey(got[0].Path) != ptKey(base) {
		t.Errorf("max_depth 0: %v, want only the entry at the path", ptPaths(got))
	}

	// nchain: a chain on every entry.
	for _, e := range ptTree(t, c, ptM{"path": ptPath(base), "nchain": 2}) {
		if ch := ptParseChain(t, e.Raw["chain"]); ch == nil || ch.Links[0].Node != ptOrigin(c) {
			t.Errorf("%s: chain %v", ptKey(e.Path), e.Raw["chain"])
		}
	}

	// A deleted entry is skipped, unless empty; so are inner nodes without data.
	c.ok(ptM{"action": "delete_value", "path": ptA("gt", "b")})
	got := ptPaths(ptTree(t, c, ptM{"path": ptPath(base)}))
	if want := ptKeys(in[:len(in)-2]...); !reflect.DeepEqual(got, append(want, ptKey(in[len(in)-1]))) {
		t.Errorf("after deleting gt.b: %v", got)
	}
	withEmpty := ptTree(t, c, ptM{"path": ptPath(base), "empty": true})
	seen := map[string]ptTreeEntry{}
	for _, e := range withEmpty {
		seen[ptKey(e.Path)] = e
	}
	for _, p := range [][]any{{"gt", "b"}, {"gt", "a", "b"}} {
		e, ok := seen[ptKey(p)]
		if !ok {
			t.Errorf("empty: %s missing from %v", ptKey(p), ptPaths(withEmpty))
		} else if e.Has {
			t.Errorf("empty: %s has a value: %v", ptKey(p), e.Raw)
		}
	}
	if len(withEmpty) != len(in)+1 {
		t.Errorf("empty: %d entries %v, want %d", len(withEmpty), ptPaths(withEmpty), len(in)+1)
	}

	// A missing subtree: start, end, nothing in between.
	if got := ptTree(t, c, ptM{"path": ptPath{"no", "such"}}); len(got) != 0 {
		t.Errorf("missing subtree: %v", ptPaths(got))
	}
	// The whole tree from the root, as DistKV's client asks for it.
	root := ptTree(t, c, ptM{"path": ptPath{}, "long_path": true})
	if len(root) != len(in)-1+2 {
		t.Errorf("from the root: %d entries %v", len(root), ptPaths(root))
	}
}

func TestProtoGetTreeLarge(t *testing.T) {
	// More entries than one lock hold's chunk (streams.go walkChunk): every entry once, in
	// order.
	srv := ptStart(t, Config{})
	c := srv.dial(t)
	var want []string
	const n = 1300
	// Pipeline the writes in batches to keep the test fast.
	var paths [][]any
	for i := 0; i < n; i++ {
		paths = append(paths, []any{"big", int64(i / 100), fmt.Sprintf("k%04d", i)})
	}
	for i := 0; i < n; i += 100 {
		var seqs []uint64
		for _, p := range paths[i : i+100] {
			seqs = append(seqs, c.send(ptM{"action": "set_value", "path": ptPath(p), "value": int64(len(p))}))
		}
		for _, s := range seqs {
			if r := c.next(s); r["error"] != nil {
				t.Fatal(r)
			}
		}
	}
	for _, p := range paths {
		want = append(want, ptKey(p))
	}
	got := ptPaths(ptTree(t, c, ptM{"path": ptPath{"big"}}))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("get_tree of %d entries returned %d; first difference:", n, len(got))
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Errorf("  at %d: got %s, want %s", i, got[i], want[i])
				break
			}
		}
	}
}

func TestProtoEnum(t *testing.T) {
	srv := ptStart(t, Config{})
	c := srv.dial(t)
	ptSet(c, ptA("en", "b"), "vb")
	ptSet(c, ptA("en", int64(1)), "v1")
	ptSet(c, ptA("en", true), "vt")
	ptSet(c, ptA("en", []byte("z")), "vz")
	ptSet(c, ptA("en", "a"), "va")
	ptSet(c, ptA("en", "a", "deep"), "vd")

	r := c.ok(ptM{"action": "enum", "path": ptPath{"en"}})
	res, ok := r["result"].([]any)
	if !ok {
		t.Fatalf("enum: result %#v, want a list", r["result"])
	}
	want := []any{true, int64(1), "a", "b", []byte("z")}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("enum: %#v, want %#v (canonical order)", res, want)
	}
	// DistKV's old name.
	if r := c.ok(ptM{"action": "enumerate", "path": ptA("en")}); !reflect.DeepEqual(r["result"], want) {
		t.Errorf("enumerate: %#v", r["result"])
	}

	r = c.ok(ptM{"action": "enum", "path": ptPath{"en"}, "with_data": true})
	wantData := map[any]any{true: "vt", int64(1): "v1", "a": "va", "b": "vb", ptBin("z"): "vz"}
	if !reflect.DeepEqual(r["result"], wantData) {
		t.Errorf("enum with_data: %#v, want %#v", r["result"], wantData)
	}

	c.ok(ptM{"action": "delete_value", "path": ptA("en", "b")})
	r = c.ok(ptM{"action": "enum", "path": ptPath{"en"}})
	if want := []any{true, int64(1), "a", []byte("z")}; !reflect.DeepEqual(r["result"], want) {
		t.Errorf("enum after deleting b: %#v, want %#v", r["result"], want)
	}

	r = c.ok(ptM{"action": "enum", "path": ptPath{"no", "such"}})
	if res, ok := r["result"].([]any); !ok || len(res) != 0 {
		t.Errorf("enum of a missing path: %#v, want an empty list", r["result"])
	}
}

// DistKV's cmd_enum lists only children that hold data unless "empty" is set (moat-kv
// server.py cmd_enum: `if empty or v.data is not NotGiven`); with_data lists only children
// with data, and with empty also the others as None.
func TestProtoEnumEmptyLikeDistKV(t *testing.T) {
	srv := ptStart(t, Config{})
	c := srv.dial(t)
	ptSet(c, ptA("ee", "data"), 1)
	ptSet(c, ptA("ee", "inner", "leaf"), 2) // ee.inner has no data of its own

	r := c.ok(ptM{"action": "enum", "path": ptA("ee")})
	if want := []any{"data"}; !reflect.DeepEqual(r["result"], want) {
		t.Errorf("enum without empty: %#v, want %#v (a child without data is listed only with empty: true, as in DistKV)", r["result"], want)
	}
	r = c.ok(ptM{"action": "enum", "path": ptA("ee"), "empty": true})
	if want := []any{"data", "inner"}; !reflect.DeepEqual(r["result"], want) {
		t.Errorf("enum with empty: %#v, want %#v", r["result"], want)
	}
}

func TestProtoWatch(t *testing.T) {
	srv := ptStart(t, Config{})
	a := srv.dial(t)
	b := srv.dial(t)
	origin := ptOrigin(b)
	ptSet(b, ptA("w", "x"), 1)
	ptSet(b, ptA("w", "y", "z"), 2)
	ptSet(b, ptA("v"), "outside")
	ptSet(b, ptA("w", "gone"), "deleted before the watch")
	b.ok(ptM{"action": "delete_value", "path": ptA("w", "gone")})

	wseq := a.send(ptM{"action": "watch", "path": ptPath{"w"}, "fetch": true, "nchain": 1})
	l := &ptLongener{prefix: []any{"w"}}
	fetched := a.streamUntil(wseq, "uptodate")
	var got []string
	for _, m := range fetched {
		got = append(got, ptKey(l.full(t, m)))
		if ch := ptParseChain(t, m["chain"]); ch == nil || ch.Links[0].Node != origin {
			t.Errorf("fetched entry with nchain 1: chain %v", m["chain"])
		}
	}
	if want := ptKeys([]any{"w", "x"}, []any{"w", "y", "z"}); !reflect.DeepEqual(got, want) {
		t.Errorf("fetch: %v, want %v", got, want)
	}

	// Live changes from another connection, in order; changes elsewhere are not seen.
	type ev struct {
		path  []any
		value any
		del   bool
	}
	steps := []struct {
		req  ptM
		want *ev
	}{
		{ptM{"action": "set_value", "path": ptA("w", "x"), "value": 10}, &ev{[]any{"w", "x"}, int64(10), false}},
		{ptM{"action": "set_value", "path": ptA("v"), "value": "x"}, nil},
		{ptM{"action": "set_value", "path": ptA("wx"), "value": "x"}, nil},
		{ptM{"action": "delete_value", "path": ptA("w", "y", "z")}, &ev{[]any{"w", "y", "z"}, nil, true}},
		{ptM{"action": "set_value", "path": ptA("w"), "value": 0}, &ev{[]any{"w"}, int64(0), false}},
		{ptM{"action": "set_value", "path": ptA("w", "n", "e", "w"), "value": "deep"}, &ev{[]any{"w", "n", "e", "w"}, "deep", false}},
		{ptM{"action": "delete_value", "path": ptA("w", "never")}, nil}, // no-op: no event
		{ptM{"action": "set_value", "path": ptA("w", "x"), "value": 10, "idem": true}, nil},
		{ptM{"action": "set_value", "path": ptA("w", "x"), "value": 11}, &ev{[]any{"w", "x"}, int64(11), false}},
	}
	for i, st := range steps {
		r := b.ok(st.req)
		if st.want == nil {
			continue
		}
		m := a.next(wseq)
		full := l.full(t, m)
		if ptKey(full) != ptKey(st.want.path) {
			t.Errorf("step %d: event for %s, want %s (%v)", i, ptKey(full), ptKey(st.want.path), m)
			continue
		}
		v, has := m["value"]
		if st.want.del {
			if has {
				t.Errorf("step %d: delete event has a value: %v", i, m)
			}
		} else if !has || !ptValueEq(v, st.want.value) {
			t.Errorf("step %d: event %v, want value %v", i, m, st.want.value)
		}
		if ch := ptParseChain(t, m["chain"]); ch == nil || ch.Links[0] != (ptLink{origin, ptParseChain(t, r["chain"]).Links[0].Tick}) {
			t.Errorf("step %d: event chain %v, write chain %v", i, m["chain"], r["chain"])
		}
	}

	// Other requests on the watching connection are answered meanwhile.
	if r := ptGet(a, ptA("w", "x")); !ptValueEq(r["value"], 11) {
		t.Errorf("get_value on the watching connection: %v", r)
	}

	// stop: result true, and the watch ends with state end.
	sseq := a.send(ptM{"action": "stop", "task": wseq})
	if r := a.next(sseq); r["result"] != true {
		t.Errorf("stop of a running watch: %v, want result true", r)
	}
	if m := a.next(wseq); m["state"] != "end" {
		t.Errorf("after stop: %v, want state end", m)
	}
	ptSet(b, ptA("w", "x"), 12)
	a.ok(ptM{"action": "get_tock"})
	if r := a.ok(ptM{"action": "stop", "task": wseq}); r["result"] != false {
		t.Errorf("stop of a stopped watch: %v, want result false", r)
	}
	if r := a.ok(ptM{"action": "stop", "task": 12345}); r["result"] != false {
		t.Errorf("stop of an unknown task: %v, want result false", r)
	}
	for _, m := range a.held {
		if ptUint(m["seq"]) == wseq {
			t.Errorf("message for the stopped watch: %v", m)
		}
	}
}

func TestProtoWatchDepthAndNoFetch(t *testing.T) {
	srv := ptStart(t, Config{})
	a := srv.dial(t)
	b := srv.dial(t)
	ptSet(b, ptA("d", "old"), "before")

	// Without fetch: start, then only live changes, no uptodate.
	wseq := a.send(ptM{"action": "watch", "path": ptA("d"), "min_depth": 1, "max_depth": 1})
	if m := a.next(wseq); m["state"] != "start" {
		t.Fatalf("watch: first message %v, want state start", m)
	}
	ptSet(b, ptA("d"), "depth 0")
	ptSet(b, ptA("d", "a", "b"), "depth 2")
	ptSet(b, ptA("d", "c"), "depth 1")
	m := a.next(wseq)
	if m["state"] != nil || m["value"] != "depth 1" {
		t.Errorf("first event %v, want the depth 1 write only", m)
	}
	l := &ptLongener{prefix: []any{"d"}}
	if p := l.full(t, m); ptKey(p) != ptKey([]any{"d", "c"}) {
		t.Errorf("event path %s", ptKey(p))
	}

	// Fetch within depth bounds.
	w3 := a.send(ptM{"action": "watch", "path": ptA("d"), "fetch": true, "min_depth": 1, "max_depth": 1})
	var fetched []string
	l3 := &ptLongener{prefix: []any{"d"}}
	for _, m := range a.streamUntil(w3, "uptodate") {
		fetched = append(fetched, ptKey(l3.full(t, m)))
	}
	if want := ptKeys([]any{"d", "c"}, []any{"d", "old"}); !reflect.DeepEqual(fetched, want) {
		t.Errorf("fetch with min_depth 1, max_depth 1: %v, want %v", fetched, want)
	}

	// A watch on a path that does not exist yet.
	w2 := a.send(ptM{"action": "watch", "path": ptPath{"nx", "y"}, "fetch": true})
	if got := a.streamUntil(w2, "uptodate"); len(got) != 0 {
		t.Errorf("fetch of a missing path: %v", got)
	}
	if r := b.ok(ptM{"action": "get_value", "path": ptA("nx", "y"), "nchain": 1}); r["chain"] != nil || r["value"] != nil {
		t.Errorf("watching a missing path made it visible: %v", r)
	}
	ptSet(b, ptA("nx", "y", "z"), 1)
	if m := a.next(w2); ptInt(m["depth"]) != 0 || ptKey(m["path"].([]any)) != ptKey([]any{"z"}) {
		t.Errorf("event %v, want path (z) depth 0", m)
	}
}

// DistKV's client, right after the greeting, answers {seq 0, qlen} and starts a watch of
// .distkv.config; its connect call waits for start and uptodate, and the stream stays open
// while everything else runs on the same connection.
func TestProtoDistKVStartup(t *testing.T) {
	srv := ptStart(t, Config{})
	other := srv.dial(t)
	ptSet(other, ptPath{".distkv", "config", "existing"}, ptM{"some": "config"})

	c := srv.dial(t)
	c.send(ptM{"seq": 0, "qlen": 10})
	c.seq.Store(1)
	c.send(ptM{"seq": 1, "action": "watch", "path": ptPath{".distkv", "config"}, "nchain": 3, "fetch": true})
	if m := c.next(1); m["state"] != "start" {
		t.Fatalf("watch: first reply %v, want state start", m)
	}
	m := c.next(1)
	if m["state"] != nil || !ptValueEq(m["value"], ptM{"some": "config"}) {
		t.Fatalf("watch: %v, want the existing config entry", m)
	}
	if ch := ptParseChain(t, m["chain"]); ch == nil || len(ch.Links) != 1 {
		t.Errorf("config entry chain %v", m["chain"])
	}
	if m := c.next(1); m["state"] != "uptodate" {
		t.Fatalf("watch: %v, want state uptodate", m)
	}
	// A flow-control ack for the stream needs no answer.
	c.send(ptM{"seq": 1, "state": "ack", "ack": 1})

	// The stream stays open; the connection serves everything else.
	r := c.ok(ptM{"action": "set_value", "path": ptPath{"probe", "a"}, "value": "v", "nchain": 2})
	if r["changed"] != true {
		t.Errorf("set_value: %v", r)
	}
	if r := c.ok(ptM{"action": "get_value", "path": ptPath{"probe", "a"}, "nchain": 0}); r["value"] != "v" {
		t.Errorf("get_value: %v", r)
	}
	tseq := c.send(ptM{"action": "get_tree", "path": ptPath{"probe"}, "long_path": true, "nchain": 1})
	if es := ptRebuild(t, []any{"probe"}, c.streamUntil(tseq, "end")); len(es) != 1 || es[0].Value != "v" {
		t.Errorf("get_tree: %v", es)
	}
	w2 := c.send(ptM{"action": "watch", "path": ptPath{"probe"}, "iter": true, "long_path": true, "fetch": true})
	if es := c.streamUntil(w2, "uptodate"); len(es) != 1 {
		t.Errorf("second watch fetch: %v", es)
	}

	// A config change reaches the startup watch.
	ptSet(other, ptPath{".distkv", "config", "new"}, 42)
	m = c.next(1)
	l := &ptLongener{prefix: []any{".distkv", "config"}}
	l.prev = []any{"existing"}
	if p := l.full(t, m); ptKey(p) != ptKey([]any{".distkv", "config", "new"}) || !ptValueEq(m["value"], 42) {
		t.Errorf("config change: %v", m)
	}
	c.ok(ptM{"action": "get_tock"})
	for _, h := range c.held {
		if ptUint(h["seq"]) == 0 {
			t.Errorf("the client's {seq 0, qlen} or an ack was answered: %v", h)
		}
		if h["error"] != nil {
			t.Errorf("unexpected error: %v", h)
		}
	}
}

func TestProtoGetStateAndTock(t *testing.T) {
	srv := ptStart(t, Config{})
	c := srv.dial(t)
	origin := ptOrigin(c)

	st := ptState(c)
	if st["node"] != "t" || st["origin"] != origin {
		t.Errorf("get_state node/origin: %v", st)
	}
	if ptUint(st["tick"]) != 0 {
		t.Errorf("fresh node: tick %v", st["tick"])
	}
	emptyDigest := st["digest"]
	if d, ok := emptyDigest.([]any); !ok || len(d) != 2 {
		t.Fatalf("digest %#v, want a pair of integers", emptyDigest)
	}
	for _, k := range []string{"known", "missing", "tock"} {
		if _, has := st[k]; !has {
			t.Errorf("get_state without %q: %v", k, st)
		}
	}

	var lastTock uint64
	for i := 0; i < 3; i++ {
		r := ptSet(c, ptA("st", int64(i)), i)
		if tk := ptUint(r["tock"]); tk <= lastTock {
			t.Errorf("write %d: tock %d not above %d", i, tk, lastTock)
		} else {
			lastTock = tk
		}
	}
	st = ptState(c)
	if ptUint(st["tick"]) != 3 {
		t.Errorf("tick %v after 3 writes", st["tick"])
	}
	if ptUint(st["tock"]) < lastTock {
		t.Errorf("get_state tock %v below a reply's %d", st["tock"], lastTock)
	}
	known, ok := st["known"].(map[string]any)
	if !ok {
		t.Fatalf("known %#v, want a map origin -> range set", st["known"])
	}
	if got := ptRangeSet(t, known[origin]); !reflect.DeepEqual(got, []uint64{1, 2, 3}) {
		t.Errorf("known[%s] = %v (%v), want ticks 1..3", origin, got, known[origin])
	}
	missing, ok := st["missing"].(map[string]any)
	if !ok {
		t.Fatalf("missing %#v, want a map", st["missing"])
	}
	for o, rs := range missing {
		if got := ptRangeSet(t, rs); len(got) != 0 {
			t.Errorf("missing[%s] = %v on a single node", o, got)
		}
	}
	if nodes, ok := st["nodes"].(map[string]any); !ok || ptUint(nodes[origin]) != 3 {
		t.Errorf("nodes %v, want {%s: 3}", st["nodes"], origin)
	}
	if reflect.DeepEqual(st["digest"], emptyDigest) {
		t.Errorf("digest unchanged by writes: %v", st["digest"])
	}

	// Flags select parts.
	st = c.ok(ptM{"action": "get_state", "known": true})
	if _, has := st["known"]; !has {
		t.Errorf("get_state known: %v", st)
	}
	if _, has := st["missing"]; has {
		t.Errorf("get_state known: sent missing too: %v", st)
	}

	// Tombstones are not hashed: deleting everything gives the empty digest back.
	for i := 0; i < 3; i++ {
		c.ok(ptM{"action": "delete_value", "path": ptA("st", int64(i))})
	}
	if st := ptState(c); !reflect.DeepEqual(st["digest"], emptyDigest) {
		t.Errorf("digest after deleting everything %v, want the empty tree's %v", st["digest"], emptyDigest)
	}

	r := c.ok(ptM{"action": "get_tock"})
	if tk := ptUint(r["tock"]); tk < lastTock+3 || tk == ^uint64(0) {
		t.Errorf("get_tock %v after 6 writes (last write tock %d)", r["tock"], lastTock)
	}
	for _, k := range []string{"error", "state", "value"} {
		if _, has := r[k]; has {
			t.Errorf("get_tock reply has %q: %v", k, r)
		}
	}
}

func TestProtoMulti(t *testing.T) {
	srv := ptStart(t, Config{})
	c := srv.dial(t)
	w := srv.dial(t)
	origin := ptOrigin(c)
	ptSet(c, ptA("m", "a"), "a0")
	ptSet(c, ptA("m", "c"), "c0")
	tick := ptTick(c)

	wseq := w.send(ptM{"action": "watch", "path": ptA("m"), "nchain": 1})
	if m := w.next(wseq); m["state"] != "start" {
		t.Fatal(m)
	}

	r := c.ok(ptM{"action": "multi", "ops": []any{
		ptM{"path": ptPath{"m", "a"}, "value": "a1"},
		ptM{"path": ptA("m", "b"), "value": "b1"},
		ptM{"path": ptA("m", "c"), "delete": true},
	}})
	if want := []any{true, true, true}; !reflect.DeepEqual(r["changed"], want) {
		t.Errorf("multi: changed %v, want %v", r["changed"], want)
	}
	// One tick for all ops.
	chains, ok := r["chains"].([]any)
	if !ok || len(chains) != 3 {
		t.Fatalf("multi: chains %#v, want a list of 3", r["chains"])
	}
	for i, ch := range chains {
		if pc := ptParseChain(t, ch); pc == nil || pc.Links[0] != (ptLink{origin, tick + 1}) {
			t.Errorf("op %d: chain %v, want head {%s %d}", i, ch, origin, tick+1)
		}
	}
	if now := ptTick(c); now != tick+1 {
		t.Errorf("multi of 3 ops used ticks %d..%d, want one", tick+1, now)
	}
	tick++
	for _, pv := range [][2]any{{ptA("m", "a"), "a1"}, {ptA("m", "b"), "b1"}, {ptA("m", "c"), nil}} {
		if got := ptGet(c, pv[0])["value"]; got != pv[1] {
			t.Errorf("after multi: %v = %v, want %v", pv[0], got, pv[1])
		}
	}
	// The watcher sees the three ops, all with that tick.
	for i := 0; i < 3; i++ {
		m := w.next(wseq)
		if ch := ptParseChain(t, m["chain"]); ch == nil || ch.Links[0].Tick != tick {
			t.Errorf("watch event %d of the multi: %v, want tick %d", i, m, tick)
		}
	}

	// Atomic: one failing condition, nothing written, no tick.
	c.callErr(ptM{"action": "multi", "ops": []any{
		ptM{"path": ptA("m", "x"), "value": "x"},
		ptM{"path": ptA("m", "a"), "value": "a2", "chain": nil},
	}}, "chain")
	c.callErr(ptM{"action": "multi", "ops": []any{
		ptM{"path": ptA("m", "x"), "value": "x"},
		ptM{"path": ptA("m", "b"), "value": "b2", "prev": "wrong"},
	}}, "cond")
	if r := ptGet(c, ptA("m", "x")); r["value"] != nil {
		t.Errorf("a failed multi wrote m.x: %v", r)
	}
	if r := ptGet(c, ptA("m", "a")); r["value"] != "a1" {
		t.Errorf("a failed multi changed m.a: %v", r)
	}
	if now := ptTick(c); now != tick {
		t.Errorf("failed multis used ticks: %d -> %d", tick, now)
	}

	// Conditions that hold; an idem no-op inside a multi.
	cur := c.ok(ptM{"action": "get_value", "path": ptA("m", "a"), "nchain": 1})
	r = c.ok(ptM{"action": "multi", "ops": []any{
		ptM{"path": ptA("m", "a"), "value": "a2", "chain": cur["chain"]},
		ptM{"path": ptA("m", "b"), "value": "b1", "idem": true},
		ptM{"path": ptA("m", "new"), "value": 1, "chain": nil},
		ptM{"path": ptA("m", "c"), "delete": true},
	}})
	if want := []any{true, false, true, false}; !reflect.DeepEqual(r["changed"], want) {
		t.Errorf("multi with conditions: changed %v, want %v", r["changed"], want)
	}

	// Bad multis are the client's fault.
	c.callErr(ptM{"action": "multi"}, "request")
	c.callErr(ptM{"action": "multi", "ops": []any{}}, "request")
	c.callErr(ptM{"action": "multi", "ops": []any{ptM{"path": ptA("m", "q")}}}, "request")
	c.callErr(ptM{"action": "multi", "ops": []any{ptM{"value": 1}}}, "request")
	if now := ptTick(c); now != tick+1 {
		t.Errorf("refused multis used ticks: %d -> %d", tick+1, now)
	}
}

// Writing one path twice in one multi is the client's mistake; the node refuses it, and the
// reply must say "request", not "internal" (which a client reads as a server fault).
func TestProtoMultiSamePathTwice(t *testing.T) {
	srv := ptStart(t, Config{})
	c := srv.dial(t)
	tick := ptTick(c)
	c.callErr(ptM{"action": "multi", "ops": []any{
		ptM{"path": ptA("m2", "a"), "value": 1},
		ptM{"path": ptPath{"m2", "a"}, "value": 2},
	}}, "request")
	if now := ptTick(c); now != tick {
		t.Errorf("refused multi used a tick")
	}
}

func TestProtoChainTruncatedLikeDistKV(t *testing.T) {
	// DistKV's NodeEvent.serialize(nchain) sends prev: None only where the chain really
	// ends; a chain cut short by nchain has no prev key (moat-kv model.py). A client must
	// be able to tell "created here" from "truncated".
	srv := ptStart(t, Config{})
	srv.S.Node(func(n *nodeT) {
		n.Apply(ptRemoteUpdate("other~1", 1, 1, "ct", 0x01))
	})
	c := srv.dial(t)
	origin := ptOrigin(c)
	ptSet(c, ptA("ct"), 2)

	r := c.ok(ptM{"action": "get_value", "path": ptA("ct"), "nchain": 2})
	ch := ptParseChain(t, r["chain"])
	if ch == nil || len(ch.Links) != 2 || ch.Links[0].Node != origin || ch.Links[1] != (ptLink{"other~1", 1}) || !ch.Ended {
		t.Errorf("nchain 2: chain %v, want {%s, prev {other~1 1, prev nil}}", r["chain"], origin)
	}
	r = c.ok(ptM{"action": "get_value", "path": ptA("ct"), "nchain": 1})
	m, _ := r["chain"].(map[string]any)
	if _, has := m["prev"]; has {
		t.Errorf("nchain 1 of a two-link chain: %v; want no prev key (truncated), got prev %v which says the entry was created by this event", r["chain"], m["prev"])
	}
}
