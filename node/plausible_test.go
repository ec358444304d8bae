package node

import (
	"errors"
	"testing"
)

func TestPlausible(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	for i := 0; i < 3; i++ { // own ticks 1..3, clock 3
		if _, _, err := n.Write([]Change{{Path: StringPath("a"), Value: []byte{byte(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	n.Apply(&Update{Origin: "b~1", Tick: 10, Tock: 100, Ops: []Op{{Path: StringPath("b"), Value: []byte{1}}}})
	op := func(chain ...Link) []Op { return []Op{{Path: StringPath("x"), Value: []byte{1}, Chain: chain}} }
	const big = 1 << 62
	cases := []struct {
		name string
		u    Update
		h    Horizon
		ok   bool
	}{
		{"known origin, next tick", Update{Origin: "b~1", Tick: 11, Tock: 101, Ops: op()}, Horizon{}, true},
		{"new origin", Update{Origin: "c~1", Tick: 1, Tock: 5, Ops: op()}, Horizon{}, true},
		{"new origin at the bound", Update{Origin: "c~1", Tick: MaxTickAhead, Tock: 5}, Horizon{}, true},
		{"new origin past the bound", Update{Origin: "c~1", Tick: MaxTickAhead + 1, Tock: 5}, Horizon{}, false},
		{"known origin past the bound", Update{Origin: "b~1", Tick: 10 + MaxTickAhead + 1, Tock: 101}, Horizon{}, false},
		{"tock at the bound", Update{Origin: "b~1", Tick: 11, Tock: 100 + MaxTockAhead}, Horizon{}, true},
		{"tock past the bound", Update{Origin: "b~1", Tick: 11, Tock: 100 + MaxTockAhead + 1}, Horizon{}, false},
		{"tock 2^63-1", Update{Origin: "b~1", Tick: 11, Tock: MaxTick}, Horizon{}, false},
		{"tock 2^63-1 in a wide horizon", Update{Origin: "b~1", Tick: 11, Tock: MaxTick}, Horizon{Tock: MaxTick}, false},
		{"tock 0", Update{Origin: "b~1", Tick: 11, Tock: 0}, Horizon{}, false},
		{"tick 0", Update{Origin: "b~1", Tick: 0, Tock: 5}, Horizon{}, false},
		{"no origin", Update{Tick: 1, Tock: 5}, Horizon{}, false},
		{"own origin, a tick it made", Update{Origin: "me~1", Tick: 2, Tock: 2, Ops: op()}, Horizon{}, true},
		{"own origin, a tick it did not make", Update{Origin: "me~1", Tick: 4, Tock: 4, Ops: op()}, Horizon{}, false},
		{"own origin, in the donor's horizon", Update{Origin: "me~1", Tick: 4, Tock: 4}, Horizon{Highest: map[string]uint64{"me~1": 4}}, true},
		{"chain naming own origin's made tick", Update{Origin: "b~1", Tick: 11, Tock: 101, Ops: op(Link{"me~1", 3})}, Horizon{}, true},
		{"chain naming own origin's unmade tick", Update{Origin: "b~1", Tick: 11, Tock: 101, Ops: op(Link{"me~1", 4})}, Horizon{}, false},
		{"chain naming 2^62 of another origin", Update{Origin: "b~1", Tick: 11, Tock: 101, Ops: op(Link{"c~1", big})}, Horizon{}, false},
		{"chain naming a near tick of another origin", Update{Origin: "b~1", Tick: 11, Tock: 101, Ops: op(Link{"c~1", 7})}, Horizon{}, true},
		{"chain naming 2^62 in a horizon that has it", Update{Origin: "b~1", Tick: 11, Tock: 101, Ops: op(Link{"c~1", big - 1})}, Horizon{Highest: map[string]uint64{"c~1": big - 1}}, true},
		{"chain link past MaxPlausible", Update{Origin: "b~1", Tick: 11, Tock: 101, Ops: op(Link{"c~1", MaxTick})}, Horizon{Highest: map[string]uint64{"c~1": MaxTick}}, false},
		{"chain link without origin", Update{Origin: "b~1", Tick: 11, Tock: 101, Ops: op(Link{"", 1})}, Horizon{}, false},
		{"chain link of its own origin, older", Update{Origin: "b~1", Tick: 11, Tock: 101, Ops: op(Link{"b~1", 10})}, Horizon{}, true},
		{"chain link of its own origin, not older", Update{Origin: "b~1", Tick: 11, Tock: 101, Ops: op(Link{"b~1", 11})}, Horizon{}, false},
		{"op on the root", Update{Origin: "b~1", Tick: 11, Tock: 101, Ops: []Op{{Delete: true}}}, Horizon{}, false},
	}
	for _, tc := range cases {
		err := n.PlausibleWithin(&tc.u, tc.h)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v: err %v, want ok=%v", tc.name, &tc.u, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrImplausible) {
			t.Errorf("%s: %v does not wrap ErrImplausible", tc.name, err)
		}
	}
	// The checks never changed the node.
	if n.Tock() != 100 || n.Tick() != 3 || n.Highest()["c~1"] != 0 {
		t.Fatalf("checking changed the node: tock %d tick %d highest %v", n.Tock(), n.Tick(), n.Highest())
	}
}

func TestPlausibleHead(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	n.SeeHead("b~1", 50)
	cases := []struct {
		origin string
		tick   uint64
		ok     bool
	}{
		{"b~1", 50 + MaxTickAhead, true},
		{"b~1", 51 + MaxTickAhead, false},
		{"me~1", 1, false}, // nothing made yet
		{"", 1, false},
		{"c~1", 0, false},
		{"c~1", 1 << 62, false},
	}
	for _, tc := range cases {
		if err := n.PlausibleHead(tc.origin, tc.tick); (err == nil) != tc.ok {
			t.Errorf("%s/%d: err %v, want ok=%v", tc.origin, tc.tick, err, tc.ok)
		}
	}
}

func TestHorizonOf(t *testing.T) {
	h, err := HorizonOf(map[string]RangeSet{"a~1": Upto(7)}, map[string]uint64{"a~1": 5, "b~1": 9}, 40)
	if err != nil || h.Highest["a~1"] != 7 || h.Highest["b~1"] != 9 || h.Tock != 40 {
		t.Fatalf("HorizonOf = %+v, %v", h, err)
	}
	for name, bad := range map[string]func() (Horizon, error){
		"tock":      func() (Horizon, error) { return HorizonOf(nil, nil, MaxTick) },
		"head":      func() (Horizon, error) { return HorizonOf(nil, map[string]uint64{"a~1": 1 << 62}, 1) },
		"known":     func() (Horizon, error) { return HorizonOf(map[string]RangeSet{"a~1": Upto(1 << 62)}, nil, 1) },
		"no origin": func() (Horizon, error) { return HorizonOf(nil, map[string]uint64{"": 1}, 1) },
	} {
		if _, err := bad(); !errors.Is(err, ErrImplausible) {
			t.Errorf("%s: err %v, want ErrImplausible", name, err)
		}
	}
	// A joining node takes a long-lived network's tocks and heads on the donor's word.
	n := New(Config{Origin: "new~1"})
	h, _ = HorizonOf(nil, map[string]uint64{"a~1": 1 << 40}, 1<<50)
	u := &Update{Origin: "a~1", Tick: 1 << 40, Tock: 1 << 50, Ops: []Op{{Path: StringPath("x"), Value: []byte{1}}}}
	if err := n.PlausibleWithin(u, h); err != nil {
		t.Fatalf("chunk within the donor's horizon refused: %v", err)
	}
	if err := n.Plausible(u); err == nil {
		t.Fatal("the same update without the horizon was taken")
	}
}

func TestSane(t *testing.T) {
	ok := &Update{Origin: "a~1", Tick: 3, Tock: MaxPlausible, Ops: []Op{{Path: StringPath("x"), Chain: Chain{{"b~1", MaxPlausible}}}}}
	if err := Sane(ok); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*Update{
		{Origin: "a~1", Tick: 3, Tock: MaxTick},
		{Origin: "a~1", Tick: 1 << 62, Tock: 1},
		{Origin: "a~1", Tick: 3, Tock: 1, Ops: []Op{{Path: StringPath("x"), Chain: Chain{{"b~1", 1 << 62}}}}},
	} {
		if err := Sane(u); !errors.Is(err, ErrImplausible) {
			t.Errorf("%v: err %v", u, err)
		}
	}
}

// A vector's or header's tock and heads past MaxPlausible are ignored (the server's catch-up
// and resync take them unchecked), while applied updates still move the clock.
func TestSeeIgnoresImplausible(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	n.SeeTock(MaxTick)
	n.SeeHead("o~1", 1<<62)
	if n.Tock() != 0 || n.Highest()["o~1"] != 0 {
		t.Fatalf("tock %d, highest %v", n.Tock(), n.Highest())
	}
	n.SeeTock(MaxPlausible)
	n.SeeHead("o~1", MaxPlausible)
	if n.Tock() != MaxPlausible || n.Highest()["o~1"] != MaxPlausible {
		t.Fatalf("tock %d, highest %v", n.Tock(), n.Highest())
	}
	n.Apply(&Update{Origin: "p~1", Tick: 1, Tock: MaxPlausible + 5, Ops: []Op{{Path: StringPath("x"), Value: []byte{1}}}})
	if n.Tock() != MaxPlausible+5 {
		t.Fatalf("apply left the clock at %d", n.Tock())
	}
}
