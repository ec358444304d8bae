package housekeeper

import (
	"slices"
	"testing"

	"github.com/distkv/distkv/node"
)

func cd(name string, d uint64, leaf bool) node.ChildDigest {
	return node.ChildDigest{Name: node.String(name), Digest: [2]uint64{d, 0}, Leaf: leaf}
}

func TestDiffChildren(t *testing.T) {
	a := []node.ChildDigest{cd("a", 1, true), cd("b", 2, false), cd("c", 3, true), cd("e", 0, true), cd("f", 6, true)}
	b := []node.ChildDigest{cd("a", 1, true), cd("b", 9, true), cd("d", 4, false), cd("f", 7, false)}
	got := DiffChildren(a, b)
	want := []node.ChildDigest{cd("b", 2, false), cd("c", 3, true), cd("d", 4, false), cd("f", 6, false)}
	if len(got) != len(want) {
		t.Fatalf("DiffChildren = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Leaf != want[i].Leaf {
			t.Fatalf("DiffChildren[%d] = %+v, want %+v (e: only tombstones on one side, nothing on the other: no difference)", i, got[i], want[i])
		}
	}
	if len(DiffChildren(a, a)) != 0 {
		t.Fatal("equal lists differ")
	}
}

func ent(origin string, tick, tock uint64, path string, v []byte) *node.Update {
	op := node.Op{Path: node.StringPath(path), Value: v, Delete: v == nil}
	return &node.Update{Origin: origin, Tick: tick, Tock: tock, Ops: []node.Op{op}}
}

func TestReconcile(t *testing.T) {
	v := func(i int64) []byte { return node.AppendInt(nil, i) }
	ea := []*node.Update{
		ent("x~1", 1, 10, "newer-at-a", v(1)),
		ent("x~1", 2, 5, "newer-at-b", v(2)),
		ent("x~1", 3, 7, "same", v(3)),
		ent("x~1", 4, 8, "tomb-at-a", nil), // a tombstone beats b's older live value
		ent("z~1", 1, 9, "only-a", v(5)),
		ent("x~1", 6, 9, "only-a-purged-at-b", v(6)),
		ent("x~1", 7, 9, "odd", v(7)),
	}
	eb := []*node.Update{
		ent("x~1", 2, 4, "newer-at-a", v(1)),
		ent("y~1", 1, 6, "newer-at-b", v(9)),
		ent("x~1", 3, 7, "same", v(3)),
		ent("x~1", 1, 3, "tomb-at-a", v(4)),
		ent("y~1", 2, 11, "only-b-tomb", nil),
		ent("x~1", 7, 9, "odd", v(8)),
	}
	fa, fb, odd := Reconcile(ea, eb, map[string]uint64{}, map[string]uint64{"x~1": 6})
	toA, toB := fa.Load, fb.Load
	paths := func(us []*node.Update) (s []string) {
		for _, u := range us {
			s = append(s, u.Ops[0].Path.String())
		}
		return s
	}
	if got := paths(toB); len(got) != 3 || got[0] != "newer-at-a" || got[1] != "tomb-at-a" || got[2] != "only-a" {
		t.Fatalf("toB = %v", got)
	}
	if got := paths(toA); len(got) != 2 || got[0] != "newer-at-b" || got[1] != "only-b-tomb" {
		t.Fatalf("toA = %v", got)
	}
	if got := paths(odd); len(got) != 2 || got[0] != "odd" {
		t.Fatalf("odd = %v", got)
	}
	if got := paths(fa.Drop); len(got) != 1 || got[0] != "only-a-purged-at-b" || len(fb.Drop) != 0 {
		t.Fatalf("a drops %v, b drops %v", got, paths(fb.Drop))
	}
	// a drops it: both sides then lack it.
	ea = slices.DeleteFunc(ea, func(u *node.Update) bool { return u.Ops[0].Path.String() == "only-a-purged-at-b" })
	// Carried out, both sides agree on every path but the odd ones.
	load := func(mine, in []*node.Update) map[string]*node.Update {
		m := map[string]*node.Update{}
		for _, u := range append(append([]*node.Update{}, mine...), in...) {
			k := u.Ops[0].Path.String()
			if cur := m[k]; cur == nil || node.CompareVersion(u.Tock, u.Origin, cur.Tock, cur.Origin) > 0 {
				m[k] = u
			}
		}
		return m
	}
	ma, mb := load(ea, toA), load(eb, toB)
	for k, u := range ma {
		if k == "odd" || k == "only-a-purged-at-b" {
			continue
		}
		if w := mb[k]; w == nil || node.CompareVersion(u.Tock, u.Origin, w.Tock, w.Origin) != 0 {
			t.Fatalf("after repair %s: a %v, b %v", k, u, w)
		}
	}
}
