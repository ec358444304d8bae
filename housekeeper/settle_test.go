package housekeeper

import (
	"maps"
	"slices"
	"testing"

	"github.com/distkv/distkv/node"
)

func TestSuperseded(t *testing.T) {
	vs := []Vector{{Member: "a", Origin: "a~2"}, {Member: "b", Origin: "b~1"}}
	listed := map[string]string{"a": "a~2", "b": "b~1", "c": "c~5", "d": "d~3"}
	cases := []struct {
		origin string
		want   bool
	}{
		{"a~1", true},  // a answered with a newer origin
		{"a~2", false}, // a's live origin
		{"b~1", false},
		{"c~5", false}, // c is listed (failed, left) with this origin: it may come back with it
		{"c~4", true},  // c is listed with another origin
		{"e~1", false}, // e is no member any more: maybe only away past the horizon
		{"d~3", false},
	}
	for _, c := range cases {
		if got := Superseded(c.origin, vs, listed); got != c.want {
			t.Errorf("Superseded(%s) = %v, want %v", c.origin, got, c.want)
		}
	}
	// An origin some member reports as its own is never superseded, whatever serf says.
	if Superseded("x~1", []Vector{{Member: "y", Origin: "x~1"}}, map[string]string{}) {
		t.Error("the live origin of an answering member declared superseded")
	}
}

func TestSettle(t *testing.T) {
	// a~1 crashed after announcing ticks up to 9; members hold 1..4 and 6; a runs a~2 now.
	vs := []Vector{
		{Member: "a", Origin: "a~2", Known: map[string]node.RangeSet{"a~1": node.Upto(4), "a~2": node.Upto(3)}, Highest: map[string]uint64{"a~1": 9, "a~2": 5}},
		{Member: "b", Origin: "b~1", Known: map[string]node.RangeSet{"a~1": node.NewRangeSet(node.Range{Start: 1, End: 3}, node.Range{Start: 6, End: 7}), "a~2": node.Upto(2)}},
	}
	listed := map[string]string{"a": "a~2", "b": "b~1"}
	got := Settle(vs, listed)
	want := node.NewRangeSet(node.Range{Start: 5, End: 6}, node.Range{Start: 7, End: 10})
	if len(got) != 1 || !got["a~1"].Equal(want) {
		t.Fatalf("Settle = %v, want a~1: %v (never a~2, the live origin, nor ticks some member holds)", got, want)
	}
	// While a's member still runs a~1 (listed with it), nothing is settled.
	vs[0].Origin = "a~1"
	if got := Settle(vs, map[string]string{"a": "a~1", "b": "b~1"}); !got["a~1"].Empty() {
		t.Fatalf("settled ticks of a live origin: %v", got)
	}
	// A member serf forgot may only be away past the horizon, still writing: its ticks are
	// not settled (its resync on return would drop its own writes under them).
	vs = []Vector{{Member: "b", Origin: "b~1", Known: map[string]node.RangeSet{"c~1": node.Upto(2)}, Highest: map[string]uint64{"c~1": 3}}}
	if got := Settle(vs, map[string]string{"b": "b~1"}); !got["c~1"].Empty() {
		t.Fatalf("settled the ticks of a member that is only forgotten: %v", got)
	}
}

func TestForgetOrigins(t *testing.T) {
	full := func(member, origin string, known map[string]uint64) Vector {
		v := vec(member, known, nil)
		v.Origin = origin
		return v
	}
	vs := []Vector{
		full("a", "a~3", map[string]uint64{"a~1": 5, "a~2": 7, "a~3": 2, "b~1": 4}),
		full("b", "b~1", map[string]uint64{"a~1": 5, "a~2": 6, "a~3": 2, "b~1": 4}),
	}
	listed := map[string]string{"a": "a~3", "b": "b~1"}
	wm := map[string]uint64{"a~1": 5, "a~2": 7, "a~3": 2, "b~1": 4}
	// a~1: dead, known everywhere, covered. a~2: b lacks tick 7. a~3, b~1: alive.
	if got := Forget(vs, wm, listed); !slices.Equal(got, []string{"a~1"}) {
		t.Fatalf("Forget = %v", got)
	}
	// A member serf forgot may be away, not gone: its origin is not forgotten.
	delete(listed, "b")
	vs[1].Origin = "c~1"
	vs[1].Member = "c"
	listed["c"] = "c~1"
	if got := Forget(vs, wm, listed); slices.Contains(got, "b~1") {
		t.Fatalf("forgot the origin of a member serf forgot: %v", got)
	}
	listed["b"], vs[1].Origin, vs[1].Member = "b~1", "b~1", "b"
	delete(listed, "c")
	wm["a~1"] = 4
	if got := Forget(vs, wm, listed); len(got) != 0 {
		t.Fatalf("forgot an origin above the watermark: %v", got)
	}
	// Once one member forgot it, it is announced to the others that still report it, and it
	// is left out of repairs and watermarks.
	vs[0].Known = maps.Clone(vs[0].Known)
	delete(vs[0].Known, "a~1")
	vs[0].Forgotten = []string{"a~1"}
	if got := Forget(vs, wm, listed); !slices.Equal(got, []string{"a~1"}) {
		t.Fatalf("Forget after one member forgot = %v", got)
	}
	for _, r := range Plan(vs) {
		if r.Origin == "a~1" {
			t.Fatalf("repair of a forgotten origin: %+v", r)
		}
	}
	vs[1].Known["a~2"] = node.Upto(7)
	var m Watermark
	m.Round(vs)
	if w, _ := m.Round(vs); w["a~1"] != 0 || w["b~1"] != 4 {
		t.Fatalf("watermark %v", w)
	}
}

// An origin one member forgot is spread to every member that does not list it, including one
// that never heard of it (a network formed alone during a partition): it must ignore a late
// update of it too.
func TestSpreadForgotten(t *testing.T) {
	a := vec("a", map[string]uint64{"c~2": 3}, nil)
	a.Forgotten = []string{"b~1", "c~1"}
	b := vec("b", map[string]uint64{"c~2": 3}, nil)
	b.Forgotten = []string{"c~1"}
	c := vec("c", nil, nil) // never heard of either
	got := Spread([]Vector{a, b, c})
	want := map[string][]string{"b": {"b~1"}, "c": {"b~1", "c~1"}}
	if len(got) != len(want) || !slices.Equal(got["b"], want["b"]) || !slices.Equal(got["c"], want["c"]) {
		t.Fatalf("Spread = %v, want %v", got, want)
	}
	// A member is never told to forget the origin it runs (it would not, every round).
	b.Origin = "b~1"
	if got := Spread([]Vector{a, b, c}); got["b"] != nil {
		t.Fatalf("Spread told b to forget its own origin: %v", got)
	}
	b.Forgotten, c.Forgotten = a.Forgotten, a.Forgotten
	if got := Spread([]Vector{a, b, c}); len(got) != 0 {
		t.Fatalf("Spread once every member forgot = %v", got)
	}
}

func TestMemberOf(t *testing.T) {
	for origin, want := range map[string]string{"n1~5": "n1", "a~b~7": "a~b", "plain": "plain", "~3": "~3"} {
		if got := MemberOf(origin); got != want {
			t.Errorf("MemberOf(%q) = %q, want %q", origin, got, want)
		}
	}
}
