package node

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// genUpdates lets nOrigins nodes write random paths (values, deletes, multi-path writes) while
// delivering each other's updates at random, so chains hold real concurrency. It returns every
// update made.
func genUpdates(rng *rand.Rand, nOrigins, nWrites int) []*Update {
	nodes := make([]*Node, nOrigins)
	for i := range nodes {
		nodes[i] = New(Config{Origin: fmt.Sprintf("n%d~1", i)})
	}
	var all []*Update
	paths := []Path{StringPath("a"), StringPath("a", "b"), StringPath("a", "c"), {String("x"), Int(1)}, {String("x"), Int(2)}, {Bool(true)}, StringPath("deep", "er", "path")}
	for w := 0; w < nWrites; w++ {
		n := nodes[rng.IntN(nOrigins)]
		k := 1 + rng.IntN(2)
		var chs []Change
		used := map[int]bool{}
		for j := 0; j < k; j++ {
			pi := rng.IntN(len(paths))
			if used[pi] {
				continue
			}
			used[pi] = true
			ch := Change{Path: paths[pi]}
			if rng.IntN(4) == 0 {
				ch.Delete = true
			} else {
				ch.Value = AppendInt(nil, int64(rng.IntN(1000)))
			}
			chs = append(chs, ch)
		}
		_, u, err := n.Write(chs)
		if err != nil {
			panic(err)
		}
		n.Ready()
		if u != nil {
			all = append(all, u)
		}
		// Deliver a few random known updates to a random node.
		for d := rng.IntN(3); d > 0 && len(all) > 0; d-- {
			nodes[rng.IntN(nOrigins)].Apply(all[rng.IntN(len(all))])
		}
	}
	return all
}

func dump(n *Node) []Entry {
	var out []Entry
	n.Walk(Path{}, WalkOptions{MaxDepth: -1}, func(e Entry) bool { out = append(out, e); return true })
	return out
}

func TestConvergeAnyOrderWithDuplicates(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		ups := genUpdates(rng, 1+rng.IntN(5), 20+rng.IntN(200))
		var ref *Node
		for trial := 0; trial < 6; trial++ {
			n := New(Config{Origin: "observer~1"})
			order := make([]*Update, 0, 2*len(ups))
			order = append(order, ups...)
			for i := rng.IntN(len(ups) + 1); i > 0; i-- {
				order = append(order, ups[rng.IntN(len(ups))])
			}
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			for _, u := range order {
				n.Apply(u)
			}
			if len(n.Missing()) != 0 {
				t.Fatalf("seed %d: missing %v after applying everything", seed, n.Missing())
			}
			if ref == nil {
				ref = n
				continue
			}
			if n.Digest(nil) != ref.Digest(nil) {
				t.Fatalf("seed %d trial %d: digests differ", seed, trial)
			}
			if a, b := dump(n), dump(ref); !reflect.DeepEqual(a, b) {
				t.Fatalf("seed %d trial %d: dumps differ:\n%v\n%v", seed, trial, a, b)
			}
			if !reflect.DeepEqual(n.Known(), ref.Known()) {
				t.Fatalf("seed %d: known vectors differ", seed)
			}
		}
	}
}

// The digest is a function of the live entries only: recomputing it from a dump must agree.
func TestDigestMatchesRecomputation(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	n := New(Config{Origin: "o~1"})
	for _, u := range genUpdates(rng, 3, 300) {
		n.Apply(u)
	}
	var d digest
	for _, e := range dump(n) {
		d.xor(entryHash(e.Path, e.Origin, e.Tick, e.Tock, e.Value))
	}
	if d != n.Digest(nil) {
		t.Fatal("incremental digest differs from recomputed digest")
	}
	// Subtree digests: the digest of "a" covers exactly the entries below it.
	var da digest
	for _, e := range dump(n) {
		if e.Path.HasPrefix(StringPath("a")) {
			da.xor(entryHash(e.Path, e.Origin, e.Tick, e.Tock, e.Value))
		}
	}
	if da != n.Digest(StringPath("a")) {
		t.Fatal("subtree digest wrong")
	}
}

// A node that loads another's entries plus its known vector ends identical (full-state transfer).
func TestLoadFullState(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	src := New(Config{Origin: "src~1"})
	ups := genUpdates(rng, 4, 400)
	for _, u := range ups {
		src.Apply(u)
	}
	dst := New(Config{Origin: "dst~1"})
	// Some updates already arrived live, in any order.
	for _, u := range ups[len(ups)-30:] {
		dst.Apply(u)
	}
	var after Path
	for {
		after = src.Entries(after, 7, func(u *Update) { dst.Load(u) })
		if after == nil {
			break
		}
	}
	for o, rs := range src.Known() {
		dst.MarkKnown(o, rs)
	}
	if dst.Digest(nil) != src.Digest(nil) || !reflect.DeepEqual(dump(dst), dump(src)) {
		t.Fatal("full-state load differs")
	}
}

// Pulling by ticks through Serve converges too, including superseded ticks.
func TestServePull(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	src := New(Config{Origin: "src~1"})
	ups := genUpdates(rng, 3, 300)
	for _, u := range ups {
		src.Apply(u)
	}
	dst := New(Config{Origin: "dst~1"})
	for _, u := range ups[:len(ups)/3] {
		dst.Apply(u)
	}
	for o, h := range src.Highest() {
		dst.SeeHead(o, h)
	}
	for o, miss := range dst.Missing() {
		got, sup := src.Serve(o, miss, 0, 0)
		for _, u := range got {
			dst.Apply(u)
		}
		dst.MarkKnown(o, sup)
	}
	if len(dst.Missing()) != 0 {
		t.Fatalf("still missing %v", dst.Missing())
	}
	if dst.Digest(nil) != src.Digest(nil) || !reflect.DeepEqual(dump(dst), dump(src)) {
		t.Fatal("pull by ticks differs")
	}
}
