package housekeeper

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/distkv/distkv/node"
)

// nodeTree reads a node's digests, counting the calls.
type nodeTree struct {
	n     *node.Node
	calls int
}

func (t *nodeTree) Digests(p node.Path) ([2]uint64, []node.ChildDigest, error) {
	t.calls++
	own, kids, _ := t.n.DigestChildren(p, nil, 0)
	return own, kids, nil
}

func subtree(n *node.Node, l Leaf) []*node.Update {
	var out []*node.Update
	n.SubtreeEntries(l.Path, nil, 1<<30, func(u *node.Update) {
		if !l.Self || u.Ops[0].Path.Equal(l.Path) {
			out = append(out, u)
		}
	})
	return out
}

// repairPass runs one anti-entropy pass between two nodes as the housekeeper does.
func repairPass(t *testing.T, a, b *node.Node) (leaves, visits int) {
	ta, tb := &nodeTree{n: a}, &nodeTree{n: b}
	ls, err := Narrow(ta, tb, 1<<20, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	none := map[string]uint64{}
	for _, l := range ls {
		fa, fb, _ := Reconcile(subtree(a, l), subtree(b, l), none, none)
		for _, f := range []struct {
			n *node.Node
			x Fix
		}{{a, fa}, {b, fb}} {
			for _, u := range f.x.Load {
				f.n.Load(u)
			}
			for _, u := range f.x.Drop {
				f.n.DropStale(u.Ops[0].Path, u.Origin, u.Tick, u.Tock)
			}
		}
	}
	return len(ls), ta.calls
}

// Two nodes that applied the same updates, then drifted (newer values, newer tombstones and
// lost entries on either side, behind the replication's back), end identical after one pass,
// and narrowing reads only a small part of the trees.
func TestNarrowAndReconcileConverge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 30; trial++ {
		a, b := node.New(node.Config{Origin: "a~1"}), node.New(node.Config{Origin: "b~1"})
		var ups []*node.Update
		for k := 0; k < 2000; k++ {
			p := node.StringPath(fmt.Sprint(rng.IntN(10)), fmt.Sprint(rng.IntN(20)), fmt.Sprint(rng.IntN(30)))
			u := &node.Update{Origin: "w~1", Tick: uint64(k + 1), Tock: uint64(k + 1), Ops: []node.Op{{Path: p, Value: node.AppendInt(nil, int64(k))}}}
			if rng.IntN(5) == 0 {
				u.Ops[0].Value, u.Ops[0].Delete = nil, true
			}
			ups = append(ups, u)
			a.Apply(u)
			b.Apply(u)
		}
		drift := 1 + rng.IntN(5)
		for k := 0; k < drift; k++ {
			n := a
			if rng.IntN(2) == 0 {
				n = b
			}
			u := ups[rng.IntN(len(ups))]
			e, ok := n.Lookup(u.Ops[0].Path)
			switch rng.IntN(3) {
			case 0: // a newer value
				n.Load(&node.Update{Origin: "x~1", Tick: 1, Tock: 5000 + uint64(k), Ops: []node.Op{{Path: u.Ops[0].Path, Value: node.AppendInt(nil, -1)}}})
			case 1: // a newer tombstone
				n.Load(&node.Update{Origin: "x~1", Tick: 2, Tock: 5000 + uint64(k), Ops: []node.Op{{Path: u.Ops[0].Path, Delete: true}}})
			case 2: // a lost entry
				if ok && !e.Deleted {
					n.DropStale(e.Path, e.Origin, e.Tick, e.Tock)
				}
			}
		}
		if a.Digest(nil) == b.Digest(nil) {
			continue
		}
		leaves, visits := repairPass(t, a, b)
		if a.Digest(nil) != b.Digest(nil) {
			t.Fatalf("trial %d: digests differ after a pass over %d leaves", trial, leaves)
		}
		if visits > 1+2*drift {
			t.Fatalf("trial %d: %d subtrees compared for %d drifts", trial, visits, drift)
		}
		if again, _ := repairPass(t, a, b); again != 0 {
			t.Fatalf("trial %d: a second pass found %d leaves", trial, again)
		}
	}
}

// Narrowing stops at its bound, returning what it found.
func TestNarrowBounded(t *testing.T) {
	a, b := node.New(node.Config{Origin: "a~1"}), node.New(node.Config{Origin: "b~1"})
	for k := 0; k < 50; k++ {
		a.Apply(&node.Update{Origin: "w~1", Tick: uint64(k + 1), Tock: uint64(k + 1), Ops: []node.Op{{Path: node.StringPath(fmt.Sprint(k), "x"), Value: node.AppendInt(nil, 1)}}})
	}
	ls, err := Narrow(&nodeTree{n: a}, &nodeTree{n: b}, 5, 100)
	if err == nil || len(ls) == 0 {
		t.Fatalf("bounded narrowing: %d leaves, err %v", len(ls), err)
	}
}
