package node

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

// Gapless is MissingOf(origin).Empty() without the range arithmetic.
func TestGaplessMatchesMissing(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	ups := genUpdates(rng, 4, 300)
	n := New(Config{Origin: "obs~1"})
	for i, u := range ups {
		if rng.IntN(3) == 0 {
			continue // leave gaps
		}
		n.Apply(u)
		if i%7 == 0 {
			n.SeeHead(u.Origin, u.Tick+uint64(rng.IntN(3)))
		}
		for _, o := range append(n.Origins(), "unknown~9") {
			if got, want := n.Gapless(o), n.MissingOf(o).Empty(); got != want {
				t.Fatalf("after %d updates: Gapless(%s) = %v, MissingOf = %s", i, o, got, n.MissingOf(o))
			}
		}
	}
}

// SetOrigin starts a new history for future writes and keeps everything known.
func TestSetOriginKeepsHistory(t *testing.T) {
	n := New(Config{Origin: "a~1"})
	for i := 0; i < 3; i++ {
		if _, _, err := n.Write([]Change{{Path: StringPath("k"), Value: AppendInt(nil, int64(i))}}); err != nil {
			t.Fatal(err)
		}
	}
	before, known, tock := dump(n), n.Known(), n.Tock()
	n.SetOrigin("a~2")
	if n.Origin() != "a~2" || n.Tick() != 0 {
		t.Fatalf("origin %s tick %d after SetOrigin", n.Origin(), n.Tick())
	}
	if !reflect.DeepEqual(dump(n), before) || !reflect.DeepEqual(n.Known(), known) {
		t.Fatal("SetOrigin changed the history")
	}
	_, u, err := n.Write([]Change{{Path: StringPath("k"), Value: AppendInt(nil, 9)}})
	if err != nil {
		t.Fatal(err)
	}
	if u.Origin != "a~2" || u.Tick != 1 || u.Tock <= tock {
		t.Fatalf("first write after SetOrigin: %v, clock was %d", u, tock)
	}
	if !n.Known()["a~1"].Equal(Upto(3)) {
		t.Fatalf("old origin's ticks: %s", n.Known()["a~1"])
	}
}
