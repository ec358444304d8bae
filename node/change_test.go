package node

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// The conflict rule: the op with the greatest (tock, origin) wins on every node, whatever
// the order the updates arrive in, with or without duplicates.
func TestConflictRuleAnyOrder(t *testing.T) {
	p := StringPath("k")
	ups := []*Update{
		single("a~1", 1, 5, p, enc(1), nil),
		single("b~1", 1, 5, p, enc(2), nil), // same tock as a: origin b > a wins the tie
		single("a~1", 2, 3, p, enc(3), nil), // older tock
		single("c~1", 1, 4, p, nil, nil),    // an older delete
		single("b~1", 2, 2, StringPath("other"), enc(9), nil),
	}
	for _, perm := range permutations(len(ups)) {
		n := New(Config{Origin: "obs~1"})
		for _, i := range perm {
			n.Apply(ups[i])
			n.Apply(ups[perm[0]]) // duplicates are ignored
		}
		e, ok := n.Lookup(p)
		if !ok || e.Origin != "b~1" || e.Tock != 5 || e.Tick != 1 || !bytes.Equal(e.Value, enc(2)) || e.Deleted {
			t.Fatalf("order %v: entry %+v", perm, e)
		}
		if n.Tock() != 5 {
			t.Fatalf("order %v: clock %d", perm, n.Tock())
		}
		if len(n.Missing()) != 0 {
			t.Fatalf("order %v: missing %v", perm, n.Missing())
		}
	}
	// The tie break compares origins bytewise, not by length or number.
	for _, c := range []struct{ lo, hi string }{{"a~1", "b~1"}, {"node~10", "node~9"}, {"Z~1", "a~1"}, {"a", "a~1"}, {"ab", "b"}} {
		for _, order := range [][2]string{{c.lo, c.hi}, {c.hi, c.lo}} {
			n := New(Config{Origin: "obs~1"})
			for _, o := range order {
				n.Apply(single(o, 1, 7, p, AppendString(nil, o), nil))
			}
			if e, _ := n.Lookup(p); e.Origin != c.hi {
				t.Errorf("tie %q vs %q, order %v: %q won", c.lo, c.hi, order, e.Origin)
			}
		}
	}
	// A higher tock wins over a higher origin.
	n := New(Config{Origin: "obs~1"})
	n.Apply(single("z~1", 1, 3, p, enc(1), nil))
	n.Apply(single("a~1", 1, 4, p, enc(2), nil))
	if e, _ := n.Lookup(p); e.Origin != "a~1" {
		t.Errorf("tock 4 lost to tock 3 with a higher origin: %+v", e)
	}
}

// Concurrent writes are counted; a late ancestor is not.
func TestConflictCounting(t *testing.T) {
	p := StringPath("k")
	x := single("a~1", 1, 1, p, enc(1), nil)
	y := single("b~1", 1, 1, p, enc(2), nil)
	for _, order := range [][]*Update{{x, y}, {y, x}} {
		n := New(Config{Origin: "obs~1"})
		for _, u := range order {
			n.Apply(u)
		}
		if c := n.Stats().Conflicts; c != 1 {
			t.Errorf("two concurrent creates in order %v/%v: Conflicts = %d, want 1", order[0].Origin, order[1].Origin, c)
		}
	}

	// a writes v1; b receives it and overwrites; c receives only v2 then, late, v1.
	a, b := New(Config{Origin: "a~1"}), New(Config{Origin: "b~1"})
	v1 := write(t, a, p, enc(1))
	b.Apply(v1)
	v2 := write(t, b, p, enc(2))
	if len(v2.Ops[0].Chain) != 1 || v2.Ops[0].Chain[0] != (Link{"a~1", 1}) {
		t.Fatalf("v2 chain %v", v2.Ops[0].Chain)
	}
	for _, order := range [][]*Update{{v1, v2}, {v2, v1}} {
		n := New(Config{Origin: "obs~1"})
		for _, u := range order {
			n.Apply(u)
		}
		if c := n.Stats().Conflicts; c != 0 {
			t.Errorf("v1 then its descendant v2 (order %s first): Conflicts = %d, want 0", order[0].Origin, c)
		}
		if e, _ := n.Lookup(p); !bytes.Equal(e.Value, enc(2)) || !reflect.DeepEqual(e.Chain, Chain{{"b~1", 1}, {"a~1", 1}}) {
			t.Errorf("entry %+v", e)
		}
	}
	// Meanwhile a wrote v3 over v1, concurrently with v2: a conflict wherever both meet.
	v3 := write(t, a, p, enc(3))
	for _, order := range [][]*Update{{v1, v2, v3}, {v3, v2, v1}, {v2, v3, v1}, {v1, v3, v2}} {
		n := New(Config{Origin: "obs~1"})
		for _, u := range order {
			n.Apply(u)
		}
		if c := n.Stats().Conflicts; c != 1 {
			t.Errorf("v2 || v3: Conflicts = %d, want 1", c)
		}
	}
	// A write that descends from a newer version of the same origin is not a conflict:
	// a's own sequence of writes never conflicts with itself.
	n := New(Config{Origin: "obs~1"})
	for i := uint64(1); i <= 5; i++ {
		n.Apply(single("a~1", i, i, p, enc(int64(i)), Chain{{"a~1", i - 1}}[:min(i-1, 1)]))
	}
	n.Apply(single("a~1", 6, 6, StringPath("other"), enc(0), nil))
	if c := n.Stats().Conflicts; c != 0 {
		t.Errorf("one origin's sequence: Conflicts = %d", c)
	}
	// Local writes never conflict.
	if a.Stats().Conflicts != 0 {
		t.Errorf("local writes counted as conflicts: %d", a.Stats().Conflicts)
	}
}

func TestWriteConditions(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	p := StringPath("k")

	// IfChain zero Link: the entry must not exist.
	res, u, err := n.Write([]Change{{Path: p, Value: enc(1), HasIfChain: true}})
	if err != nil || u == nil || !res[0].Changed || res[0].HadPrev || res[0].Prev != nil {
		t.Fatalf("create with IfChain zero: %v %v %+v", err, u, res)
	}
	head := res[0].Entry.Chain[0]
	if head != (Link{"me~1", 1}) {
		t.Fatalf("head %v", head)
	}
	checkCond := func(name string, chs []Change, chain bool, msg string, index int) {
		t.Helper()
		tick, tock, digest := n.Tick(), n.Tock(), n.Digest(nil)
		before := walkAll(n, true)
		_, u, err := n.Write(chs)
		if err == nil || u != nil {
			t.Errorf("%s: err %v, update %v", name, err, u)
			return
		}
		if !errors.Is(err, ErrCondition) || errors.Is(err, ErrChain) != chain {
			t.Errorf("%s: error %v: Is(ErrCondition) %v, Is(ErrChain) %v, want chain %v", name, err, errors.Is(err, ErrCondition), errors.Is(err, ErrChain), chain)
		}
		var ce *CondError
		if !errors.As(err, &ce) || ce.Index != index || ce.Chain != chain || !strings.Contains(ce.Msg, msg) {
			t.Errorf("%s: CondError %+v, want index %d msg %q", name, ce, index, msg)
		}
		if n.Tick() != tick || n.Tock() != tock || n.Digest(nil) != digest || !reflect.DeepEqual(walkAll(n, true), before) {
			t.Errorf("%s: a failed write changed the node", name)
		}
		if eff := n.Ready(); len(eff.Log)+len(eff.Send)+len(eff.Events) != 0 {
			t.Errorf("%s: a failed write produced effects %+v", name, eff)
		}
	}
	n.Ready()
	checkCond("IfChain zero on existing", []Change{{Path: p, Value: enc(2), HasIfChain: true}}, true, "Entry already exists", 0)
	checkCond("IfChain on missing", []Change{{Path: StringPath("nope"), Value: enc(2), HasIfChain: true, IfChain: head}}, true, "Entry is new", 0)
	checkCond("IfChain wrong tick", []Change{{Path: p, Value: enc(2), HasIfChain: true, IfChain: Link{"me~1", 7}}}, true, "Chain is me~1:1", 0)
	checkCond("IfChain wrong origin", []Change{{Path: p, Value: enc(2), HasIfChain: true, IfChain: Link{"other~1", 1}}}, true, "Chain is ", 0)
	checkCond("IfPrev mismatch", []Change{{Path: p, Value: enc(2), HasIfPrev: true, IfPrev: enc(5)}}, false, "Data is not as expected", 0)
	checkCond("IfPrev on missing", []Change{{Path: StringPath("nope"), Value: enc(2), HasIfPrev: true, IfPrev: enc(5)}}, false, "missing", 0)
	checkCond("IfPrev on delete", []Change{{Path: p, Delete: true, HasIfPrev: true, IfPrev: enc(5)}}, false, "not as expected", 0)
	// All or nothing: the third change fails, the first two must not happen.
	checkCond("multi", []Change{
		{Path: StringPath("m1"), Value: enc(1)},
		{Path: p, Delete: true},
		{Path: StringPath("m3"), Value: enc(3), HasIfPrev: true, IfPrev: enc(3)},
	}, false, "missing", 2)
	checkCond("multi chain", []Change{
		{Path: StringPath("m1"), Value: enc(1)},
		{Path: p, Value: enc(1), HasIfChain: true},
	}, true, "Entry already exists", 1)
	if _, ok := n.Lookup(StringPath("m1")); ok {
		t.Fatal("m1 written by a failed multi-path write")
	}

	// Passing conditions.
	res, u, err = n.Write([]Change{{Path: p, Value: enc(2), HasIfChain: true, IfChain: head, HasIfPrev: true, IfPrev: AppendUint(nil, 1)}})
	if err != nil || u == nil || !res[0].HadPrev || !bytes.Equal(res[0].Prev, enc(1)) || !bytes.Equal(res[0].Entry.Value, enc(2)) {
		t.Fatalf("conditional write: %v %+v", err, res)
	}
	// IfPrev compares by meaning: 2 as int64 matches 2 as fixint.
	wide := []byte{0xd3, 0, 0, 0, 0, 0, 0, 0, 2}
	if _, _, err := n.Write([]Change{{Path: p, Value: enc(3), HasIfPrev: true, IfPrev: wide}}); err != nil {
		t.Fatalf("IfPrev with a wide int: %v", err)
	}
	// After a delete, IfChain zero passes again (the entry has no value).
	del(t, n, p)
	if _, _, err := n.Write([]Change{{Path: p, Value: enc(4), HasIfChain: true}}); err != nil {
		t.Fatalf("IfChain zero on a tombstone: %v", err)
	}
	e, _ := n.Lookup(p)
	if !bytes.Equal(e.Value, enc(4)) || len(e.Chain) != 1 || e.Chain[0].Tick != n.Tick() {
		t.Errorf("entry after recreate: %+v", e)
	}
}

func TestWriteNoops(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	p := StringPath("k")
	write(t, n, p, enc(5))
	n.Ready()
	tick, tock := n.Tick(), n.Tock()
	noop := func(name string, ch Change) {
		t.Helper()
		res, u, err := n.Write([]Change{ch})
		if err != nil || u != nil || len(res) != 1 || res[0].Changed {
			t.Errorf("%s: %v %v %+v", name, err, u, res)
		}
		if n.Tick() != tick || n.Tock() != tock {
			t.Errorf("%s used a tick", name)
		}
		if eff := n.Ready(); len(eff.Log)+len(eff.Send)+len(eff.Events) != 0 {
			t.Errorf("%s: effects %+v", name, eff)
		}
	}
	n.AddWatch(WatchSpec{ID: 1, Path: Path{}, MaxDepth: -1})
	noop("idem same bytes", Change{Path: p, Value: enc(5), Idem: true})
	noop("idem int64", Change{Path: p, Value: []byte{0xd3, 0, 0, 0, 0, 0, 0, 0, 5}, Idem: true})
	noop("idem uint8", Change{Path: p, Value: []byte{0xcc, 5}, Idem: true})
	noop("delete missing", Change{Path: StringPath("missing"), Delete: true})
	noop("delete missing deep", Change{Path: StringPath("a", "b", "c"), Delete: true})
	if len(n.Children(Path{})) != 1 {
		t.Errorf("a no-op delete left nodes behind: %v", n.Children(Path{}))
	}
	res, _, _ := n.Write([]Change{{Path: p, Value: enc(5), Idem: true}})
	if !res[0].HadPrev || !bytes.Equal(res[0].Entry.Value, enc(5)) || res[0].Entry.Tick != 1 {
		t.Errorf("idem result %+v", res[0])
	}
	// Without Idem, the same value is a new version.
	if u := write(t, n, p, enc(5)); u == nil || u.Tick != tick+1 {
		t.Errorf("non-idem rewrite: %v", u)
	}
	// Idem with a different value writes.
	if _, u, _ := n.Write([]Change{{Path: p, Value: enc(6), Idem: true}}); u == nil {
		t.Error("idem with a new value did nothing")
	}
	// Deleting a tombstone is a no-op too.
	del(t, n, p)
	n.Ready()
	tick, tock = n.Tick(), n.Tock()
	noop("delete tombstone", Change{Path: p, Delete: true})
	// A multi write whose changes are all no-ops uses no tick; a mixed one uses one tick
	// and only carries the real changes.
	noop("all noops", Change{Path: StringPath("zz"), Delete: true})
	res, u, err := n.Write([]Change{{Path: StringPath("zz"), Delete: true}, {Path: StringPath("new"), Value: enc(1)}})
	if err != nil || u == nil || len(u.Ops) != 1 || !u.Ops[0].Path.Equal(StringPath("new")) || res[0].Changed || !res[1].Changed {
		t.Errorf("mixed: %v %+v %+v", err, u, res)
	}
}

func TestWriteErrors(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	if _, _, err := n.Write([]Change{{Path: Path{}, Value: enc(1)}}); !errors.Is(err, ErrRoot) {
		t.Errorf("root: %v", err)
	}
	if _, _, err := n.Write([]Change{{Path: nil, Delete: true}}); !errors.Is(err, ErrRoot) {
		t.Errorf("root delete: %v", err)
	}
	if _, _, err := n.Write([]Change{{Path: StringPath("a"), Value: enc(1)}, {Path: Path{}, Value: enc(1)}}); !errors.Is(err, ErrRoot) {
		t.Errorf("root in a multi write: %v", err)
	}
	for _, chs := range [][]Change{
		{{Path: StringPath("a"), Value: enc(1)}, {Path: StringPath("a"), Value: enc(2)}},
		{{Path: Path{Int(1)}, Value: enc(1)}, {Path: Path{Uint(1)}, Delete: true}},
		{{Path: StringPath("b"), Value: enc(1)}, {Path: StringPath("a"), Value: enc(1)}, {Path: StringPath("a"), Value: enc(1), Idem: true}},
	} {
		if _, u, err := n.Write(chs); err == nil || u != nil {
			t.Errorf("same path twice: %v %v", err, u)
		}
	}
	if n.Tick() != 0 || n.Len() != 0 || len(walkAll(n, true)) != 0 || len(n.Ready().Log) != 0 {
		t.Error("a refused write changed the node")
	}
	// Paths that differ only in kind are different paths.
	if _, u, err := n.Write([]Change{{Path: Path{Int(1)}, Value: enc(1)}, {Path: Path{mustFloat(1)}, Value: enc(2)}, {Path: Path{String("1")}, Value: enc(3)}}); err != nil || len(u.Ops) != 3 {
		t.Errorf("1, 1.0, \"1\": %v", err)
	}
	// An empty write does nothing.
	if res, u, err := n.Write(nil); err != nil || u != nil || len(res) != 0 {
		t.Errorf("empty write: %v %v %v", res, u, err)
	}
}

func TestWriteTicksTocksEffects(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	var last uint64
	for i := 1; i <= 20; i++ {
		p := StringPath(fmt.Sprint("p", i%4))
		var u *Update
		if i%5 == 0 {
			u = del(t, n, p)
		} else {
			u = write(t, n, p, enc(int64(i)))
		}
		if u == nil {
			continue
		}
		if u.Tick != n.Tick() || u.Origin != "me~1" || u.Tock <= last || u.Tock != n.Tock() {
			t.Fatalf("write %d: update %v, node tick %d tock %d", i, u, n.Tick(), n.Tock())
		}
		last = u.Tock
		eff := n.Ready()
		if len(eff.Log) != 1 || eff.Log[0] != u || len(eff.Send) != 1 || eff.Send[0] != u {
			t.Fatalf("write %d: effects %+v", i, eff)
		}
		// The update carries what was written, with the chain of the version it replaced.
		op := u.Ops[0]
		if !op.Path.Equal(p) {
			t.Fatalf("op path %v", op.Path)
		}
	}
	known := n.Known()["me~1"]
	if !known.Equal(Upto(n.Tick())) || n.Tick() == 0 {
		t.Errorf("ticks not gap-free: %v up to %d", known, n.Tick())
	}
	if n.Stats().Local != n.Tick() || n.Stats().Applied != 0 {
		t.Errorf("stats %+v", n.Stats())
	}
	if eff := n.Ready(); eff.Log != nil || eff.Send != nil || eff.Events != nil {
		t.Error("Ready does not clear")
	}
	// A remote update raises the clock: the next local tock is above it; the tick goes on.
	tick := n.Tick()
	n.Apply(single("far~1", 1, 1000, StringPath("x"), enc(1), nil))
	eff := n.Ready()
	if len(eff.Log) != 1 || len(eff.Send) != 0 {
		t.Errorf("remote apply effects %+v", eff)
	}
	u := write(t, n, StringPath("x"), enc(2))
	if u.Tock != 1001 || u.Tick != tick+1 {
		t.Errorf("after tock 1000: %v", u)
	}
	n.SeeTock(5000)
	n.SeeTock(10)
	if u := write(t, n, StringPath("x"), enc(3)); u.Tock != 5001 {
		t.Errorf("after SeeTock(5000): %v", u)
	}
	// Multi-path write: one tick, one update, one op per change, in order.
	res, u, err := n.Write([]Change{{Path: StringPath("m", "a"), Value: enc(1)}, {Path: StringPath("x"), Delete: true}, {Path: StringPath("m", "b"), Value: enc(2)}})
	if err != nil || len(u.Ops) != 3 || u.Tick != n.Tick() || len(res) != 3 {
		t.Fatalf("multi: %v %v", err, u)
	}
	for i, want := range []string{"m.a", "x", "m.b"} {
		if u.Ops[i].Path.String() != want || res[i].Entry.Tick != u.Tick || !res[i].Changed {
			t.Errorf("multi op %d: %v %+v", i, u.Ops[i].Path, res[i])
		}
	}
	if !u.Ops[1].Delete || u.Ops[1].Value != nil || len(u.Ops[1].Chain) == 0 || !res[1].Entry.Deleted || !res[1].HadPrev {
		t.Errorf("multi delete op %+v result %+v", u.Ops[1], res[1])
	}
	// The op path is a copy: changing the caller's path later changes nothing.
	p := StringPath("own")
	u = write(t, n, p, enc(1))
	p[0] = String("changed")
	if !u.Ops[0].Path.Equal(StringPath("own")) {
		t.Error("op shares the caller's path")
	}
	if _, ok := n.Lookup(StringPath("own")); !ok {
		t.Error("entry lost")
	}
}

// Chains: newest first, one link per origin, at most ChainLen links.
func TestWriteChains(t *testing.T) {
	nodes := make([]*Node, 5)
	for i := range nodes {
		nodes[i] = New(Config{Origin: fmt.Sprintf("n%d~1", i), ChainLen: 3})
	}
	p := StringPath("k")
	var prev *Update
	for round := 0; round < 3; round++ {
		for _, n := range nodes {
			if prev != nil {
				n.Apply(prev)
			}
			prev = write(t, n, p, enc(int64(round)))
			e, _ := n.Lookup(p)
			if len(e.Chain) > 3 || len(prev.Ops[0].Chain) > 2 {
				t.Fatalf("chain too long: entry %v op %v", e.Chain, prev.Ops[0].Chain)
			}
			seen := map[string]bool{}
			for _, l := range e.Chain {
				if seen[l.Origin] {
					t.Fatalf("origin twice in %v", e.Chain)
				}
				seen[l.Origin] = true
			}
			if e.Chain[0] != (Link{n.Origin(), n.Tick()}) {
				t.Fatalf("head %v", e.Chain)
			}
		}
	}
	// An origin's older link is dropped, not repeated.
	n := New(Config{Origin: "a~1"})
	write(t, n, p, enc(1))
	write(t, n, p, enc(2))
	if e, _ := n.Lookup(p); !reflect.DeepEqual(e.Chain, Chain{{"a~1", 2}}) {
		t.Errorf("chain %v", e.Chain)
	}
	// Chains go through tombstones.
	del(t, n, p)
	write(t, n, p, enc(3))
	if e, _ := n.Lookup(p); !reflect.DeepEqual(e.Chain, Chain{{"a~1", 4}}) || e.Tick != 4 {
		t.Errorf("chain %v", e.Chain)
	}
}

// Ticks are 63-bit (MaxTick): a tick of 2^64-1 used to be accepted by DecodeUpdate although
// no RangeSet can hold it (AddRange(t, t+1) wrapped), so Apply re-applied and re-logged the
// same update forever. The update's tick is now refused at the wire.
// BUG (remaining): a chain link's tick is not checked, so a link (o, 2^64-1) still gets
// through DecodeUpdate and Apply's SeeHead raises o's highest tick beyond MaxTick: the node
// then reports 2^63-1 missing ticks of o that can never be filled. Fix: refuse link ticks
// above MaxTick in Reader.Chain (and ignore them in SeeHead/MarkKnown).
func TestApplyMaxTickIsIdempotent(t *testing.T) {
	for _, tick := range []uint64{MaxTick + 1, math.MaxUint64} {
		u := single("z~1", tick, 3, StringPath("k"), enc(1), nil)
		if _, err := DecodeUpdate(u.AppendMsgpack(nil)); !errors.Is(err, ErrWire) {
			t.Errorf("DecodeUpdate of tick %d: %v, want ErrWire", tick, err)
		}
		c := single("z~1", 1, 3, StringPath("k"), enc(1), Chain{{"o~1", tick}})
		if d, err := DecodeUpdate(c.AppendMsgpack(nil)); err == nil {
			n := New(Config{Origin: "me~1"})
			n.Apply(d)
			if h := n.Highest()["o~1"]; h > MaxTick {
				t.Errorf("chain link tick %d accepted: highest tick of o~1 is %d, missing %v", tick, h, n.MissingOf("o~1"))
			}
		}
	}
	// At MaxTick itself everything works.
	n := New(Config{Origin: "me~1"})
	u := single("z~1", MaxTick, 3, StringPath("k"), enc(1), nil)
	d, err := DecodeUpdate(u.AppendMsgpack(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !n.Apply(d) || n.Apply(d) || n.Stats().Applied != 1 || n.Stats().Duplicates != 1 || len(n.Ready().Log) != 1 {
		t.Errorf("Apply of tick MaxTick not idempotent: %+v", n.Stats())
	}
	if !n.Known()["z~1"].Contains(MaxTick) || n.MissingOf("z~1").Len() != MaxTick-1 {
		t.Errorf("known %v missing %v", n.Known()["z~1"], n.MissingOf("z~1"))
	}
}

// Write values are stored as given; a value written, looked up and served is the same.
func TestWriteValueAndLookup(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	rng := newRng(11)
	want := map[string][]byte{}
	for i := 0; i < 300; i++ {
		p := randPath(rng, 3)
		if len(p) == 0 {
			continue
		}
		v := randValue(rng, 2)
		if _, _, err := n.Write([]Change{{Path: p, Value: v}}); err != nil {
			t.Fatal(err)
		}
		want[p.Key()] = v
	}
	count := 0
	for _, e := range walkAll(n, false) {
		count++
		if v, ok := want[e.Path.Key()]; !ok || !bytes.Equal(v, e.Value) {
			t.Fatalf("%s: % x want % x", e.Path, e.Value, v)
		}
		l, ok := n.Lookup(e.Path)
		if !ok || !reflect.DeepEqual(l, e) {
			t.Fatalf("Lookup(%s) = %+v, walk %+v", e.Path, l, e)
		}
	}
	if count != len(want) || n.Len() != len(want) {
		t.Errorf("%d entries, Len %d, want %d", count, n.Len(), len(want))
	}
	if _, ok := n.Lookup(StringPath("definitely", "not")); ok {
		t.Error("Lookup of a missing path")
	}
	if _, ok := n.Lookup(Path{}); ok {
		t.Error("Lookup of the root")
	}
}

// BUG: the Lamport clock wraps. DecodeUpdate accepts any tock, Apply raises the clock to it,
// and Write then takes clock+1: after one update with tock 2^64-1 (a corrupt or hostile
// peer) every later local write gets tock 0, 1, 2..., loses the conflict rule against every
// existing entry on every node, and is silently dropped, while Write reports Changed. One
// message disables writes cluster-wide. Fix: refuse tocks (and ticks) >= 2^63 in Reader.Update
// and Apply, and have Write fail rather than wrap.
func TestClockDoesNotWrap(t *testing.T) {
	u := single("z~1", 1, math.MaxUint64, StringPath("k"), enc(1), nil)
	if _, err := DecodeUpdate(u.AppendMsgpack(nil)); err != nil {
		return // refused at the wire: fine
	}
	n := New(Config{Origin: "me~1"})
	n.Apply(u)
	res, w, err := n.Write([]Change{{Path: StringPath("k"), Value: enc(2)}})
	if err != nil {
		return // refused: fine
	}
	e, _ := n.Lookup(StringPath("k"))
	if !bytes.Equal(e.Value, enc(2)) || w.Tock <= u.Tock {
		t.Errorf("after a tock of 2^64-1, Write reports Changed=%v with tock %d but the entry keeps % x", res[0].Changed, w.Tock, e.Value)
	}
}

// BUG: Write stores Change.Value without checking that it is exactly one msgpack value. A nil
// Value (e.g. a request without a value) becomes a live entry with no bytes at the origin but
// is sent as msgpack nil (0xc0), so the origin's digest never matches its peers'; a value with
// trailing bytes or a truncated one produces an update that no peer (and no event-log replay)
// can decode. Fix: Write validates each non-delete Value with Reader.Raw (exactly one value,
// nothing after it) and returns an error wrapping ErrWire otherwise.
func TestWriteValueMustBeOneMsgpackValue(t *testing.T) {
	for name, v := range map[string][]byte{
		"nil":       nil,
		"empty":     {},
		"trailing":  {0x01, 0x02},
		"truncated": {0xa5, 0x61},
		"0xc1":      {0xc1},
	} {
		a := New(Config{Origin: "a~1"})
		_, u, err := a.Write([]Change{{Path: StringPath("x"), Value: v}})
		if err != nil {
			continue // refused: fine
		}
		d, err := DecodeUpdate(u.AppendMsgpack(nil))
		if err != nil {
			t.Errorf("%s value: Write accepted it but peers cannot decode the update: %v", name, err)
			continue
		}
		b := New(Config{Origin: "b~1"})
		b.Apply(d)
		if a.Digest(nil) != b.Digest(nil) {
			ea, _ := a.Lookup(StringPath("x"))
			eb, _ := b.Lookup(StringPath("x"))
			t.Errorf("%s value: origin and peer diverge: origin holds % x, peer % x", name, ea.Value, eb.Value)
		}
	}
}
