package housekeeper

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/distkv/distkv/node"
)

func TestRankIsDeterministic(t *testing.T) {
	ms := []Member{{"c", true, true}, {"a", true, false}, {"b", true, true}, {"d", false, true}, {"b", true, true}}
	want := []string{"b", "c"}
	for i := 0; i < 20; i++ {
		rand.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
		if got := Rank(ms); !slices.Equal(got, want) {
			t.Fatalf("Rank = %v, want %v", got, want)
		}
	}
}

// After carrying out a plan, every member knows every tick any member knew.
func TestPlanCloses(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		n := 1 + rng.IntN(6)
		vs := make([]Vector, n)
		for i := range vs {
			vs[i] = Vector{Member: fmt.Sprintf("m%d", i), Known: map[string]node.RangeSet{}}
			for o := 0; o < 3; o++ {
				var rs node.RangeSet
				for k := rng.IntN(4); k > 0; k-- {
					a := 1 + rng.Uint64N(50)
					rs.AddRange(a, a+1+rng.Uint64N(10))
				}
				vs[i].Known[fmt.Sprintf("o%d", o)] = rs
			}
		}
		byName := map[string]*Vector{}
		for i := range vs {
			byName[vs[i].Member] = &vs[i]
		}
		for _, r := range Plan(vs) {
			if !byName[r.From].Known[r.Origin].Intersect(r.Ticks).Equal(r.Ticks) {
				t.Fatalf("repair from %s of %s ticks it does not know", r.From, r.Ticks)
			}
			k := byName[r.Member].Known[r.Origin]
			k.AddSet(r.Ticks)
			byName[r.Member].Known[r.Origin] = k
		}
		for _, v := range vs {
			for o, rs := range vs[0].Known {
				if !rs.Equal(v.Known[o]) {
					t.Fatalf("trial %d: %s knows %s of %s, %s knows %s", trial, v.Member, v.Known[o], o, vs[0].Member, rs)
				}
			}
		}
		if len(Plan(vs)) != 0 {
			t.Fatal("a second plan after repair is not empty")
		}
	}
}

func vec(member string, known map[string]uint64, highest map[string]uint64) Vector {
	v := Vector{Member: member, Known: map[string]node.RangeSet{}, Highest: highest}
	for o, t := range known {
		v.Known[o] = node.Upto(t)
	}
	return v
}

func TestWatermarkTwoRounds(t *testing.T) {
	var m Watermark
	r1 := []Vector{vec("a", map[string]uint64{"x": 5}, map[string]uint64{"x": 8}), vec("b", map[string]uint64{"x": 8}, nil)}
	if wm, rose := m.Round(r1); rose || len(wm) != 0 {
		t.Fatalf("first round announced %v", wm)
	}
	// Not everyone has caught up with round 1's heads (8): nothing yet.
	r2 := []Vector{vec("a", map[string]uint64{"x": 7}, nil), vec("b", map[string]uint64{"x": 9}, nil)}
	if _, rose := m.Round(r2); rose {
		t.Fatal("rose before all caught up with the earlier heads")
	}
	// Now everyone knows up to 9 >= 8: the watermark is round 1's W = 5.
	r3 := []Vector{vec("a", map[string]uint64{"x": 9}, nil), vec("b", map[string]uint64{"x": 9}, nil)}
	wm, rose := m.Round(r3)
	if !rose || wm["x"] != 5 {
		t.Fatalf("got %v %v, want x=5", wm, rose)
	}
	// A membership change restarts the wait, and the watermark never falls.
	r4 := []Vector{vec("a", map[string]uint64{"x": 9}, nil), vec("c", map[string]uint64{"x": 1}, nil)}
	if wm, rose := m.Round(r4); rose || wm["x"] != 5 {
		t.Fatalf("after membership change: %v %v", wm, rose)
	}
}
