package node

import (
	"fmt"
	"testing"
)

// checkRare checks the fields kept in entry.rare against their definitions, reaching every
// entry through the per-origin index and the watches (not the children): each entry's subtree
// digest is the XOR of the hashes of the live entries at or below it, each hash is entryHash
// of the entry's version, and the same-lists hold exactly the entries of their (origin, tick).
func checkRare(t *testing.T, n *Node) {
	t.Helper()
	want := map[*entry]digest{}
	seen := map[*entry]bool{}
	add := func(e *entry) {
		for x := e; x != nil; x = x.parent {
			if _, ok := want[x]; !ok {
				want[x] = digest{}
			}
		}
	}
	for _, o := range n.origins {
		for tick, first := range o.current.all() {
			for e := first; e != nil; e = e.same() {
				if seen[e] || e.origin != o || e.tick != tick || !e.has {
					t.Fatalf("%v in the list of (%s, %d): seen %v, origin %v tick %d has %v", e.path(), o.name, tick, seen[e], e.origin.name, e.tick, e.has)
				}
				seen[e] = true
				add(e)
				h := digest{}
				if e.live() {
					h = entryHash(e.path(), o.name, e.tick, e.tock, e.value)
				}
				if e.hash != h {
					t.Fatalf("%v: hash %x, want %x", e.path(), e.hash, h)
				}
				for x := e; x != nil; x = x.parent {
					d := want[x]
					d.xor(h)
					want[x] = d
				}
			}
		}
	}
	for _, w := range n.watches {
		add(w.at)
	}
	for e, d := range want {
		if e.has && !seen[e] {
			t.Fatalf("%v written but in no same-list", e.path())
		}
		if got := e.subDigest(); got != d {
			t.Fatalf("%v: subtree digest %x, want %x", e.path(), got, d)
		}
		if x := e.x; x != nil && x.same == nil && len(x.watches) == 0 && !x.inner {
			t.Fatalf("%v: unused rare fields kept", e.path())
		}
	}
	if n.Digest(nil) != want[n.root] {
		t.Fatal("root digest differs")
	}
}

// TestRareFieldsRandom drives a node through random writes, multi-op updates, deletes, remote
// updates, watches, purges and stale drops, checking the rare fields after every step.
func TestRareFieldsRandom(t *testing.T) {
	rng := newRng(7)
	for round := range 20 {
		n := New(Config{Origin: "me~1"})
		remote := genUpdates(rng, 3, 60)
		var paths []Path
		for _, u := range remote {
			for _, op := range u.Ops {
				paths = append(paths, op.Path)
			}
		}
		for i := range 10 {
			if p := randPath(rng, 1+i%3); len(p) > 0 {
				paths = append(paths, p)
			}
		}
		for step := range 300 {
			switch r := rng.IntN(10); {
			case r < 4:
				var chs []Change
				for k := 1 + rng.IntN(3); k > 0; k-- {
					p := paths[rng.IntN(len(paths))]
					dup := false
					for _, c := range chs {
						dup = dup || c.Path.Equal(p)
					}
					if dup {
						continue
					}
					if rng.IntN(3) == 0 {
						chs = append(chs, Change{Path: p, Delete: true})
					} else {
						chs = append(chs, Change{Path: p, Value: AppendInt(nil, int64(step))})
					}
				}
				if _, _, err := n.Write(chs); err != nil {
					t.Fatal(err)
				}
			case r < 7:
				n.Apply(remote[rng.IntN(len(remote))])
			case r == 7:
				id := uint64(rng.IntN(8))
				if rng.IntN(2) == 0 {
					n.AddWatch(WatchSpec{ID: id, Path: paths[rng.IntN(len(paths))], MaxDepth: -1})
				} else {
					n.RemoveWatch(id)
				}
			case r == 8:
				n.Purge(n.PurgeWatermark())
			default:
				p := paths[rng.IntN(len(paths))]
				if e, ok := n.Lookup(p); ok {
					n.DropStale(p, e.Origin, e.Tick, e.Tock)
				}
			}
			n.Ready()
			t.Run(fmt.Sprintf("%d/%d", round, step), func(t *testing.T) { checkRare(t, n) })
			if t.Failed() {
				return
			}
		}
	}
}
