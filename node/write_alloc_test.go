package node

import (
	"fmt"
	"testing"
)

// TestWriteAllocs bounds what a single-change write of an existing entry allocates: the
// update with its op, path, result, the result's chain and the effect lists in one object,
// and the op's chain (the map and key of a multi write's duplicate check, and per-op slices,
// are not made).
func TestWriteAllocs(t *testing.T) {
	n := New(Config{Origin: "w~1"})
	paths := make([]Path, 64)
	for i := range paths {
		paths[i] = StringPath("dir", fmt.Sprintf("k%02d", i))
		if _, _, err := n.Write([]Change{{Path: paths[i], Value: benchValue}}); err != nil {
			t.Fatal(err)
		}
	}
	n.Ready()
	ch := make([]Change, 1)
	i := 0
	allocs := testing.AllocsPerRun(200, func() {
		ch[0] = Change{Path: paths[i%len(paths)], Value: benchValue}
		i++
		res, u, err := n.Write(ch)
		if err != nil || u == nil || !res[0].Changed || len(res[0].Entry.Chain) == 0 {
			t.Fatal(res, u, err)
		}
		n.Ready()
	})
	if allocs > 2 {
		t.Errorf("a single write allocates %.1f times, want at most 2", allocs)
	}
}

// TestWriteMultiFound: a multi write builds every op from the entry its check looked up,
// also when some paths are new and one change is a no-op.
func TestWriteMultiFound(t *testing.T) {
	n := New(Config{Origin: "w~1"})
	a, b, c := StringPath("a"), StringPath("b", "x", "y", "z"), StringPath("c")
	if _, _, err := n.Write([]Change{{Path: StringPath("b", "x"), Value: AppendInt(nil, 0)}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.Write([]Change{{Path: a, Value: AppendInt(nil, 1)}}); err != nil {
		t.Fatal(err)
	}
	res, u, err := n.Write([]Change{{Path: a, Value: AppendInt(nil, 2)}, {Path: b, Value: AppendInt(nil, 3)},
		{Path: c, Delete: true}})
	if err != nil || u == nil || len(u.Ops) != 2 {
		t.Fatal(u, err)
	}
	if !res[0].Changed || !res[0].HadPrev || !ValuesEqual(res[0].Prev, AppendInt(nil, 1)) || len(res[0].Entry.Chain) != 1 || res[0].Entry.Chain[0].Tick != 3 {
		t.Errorf("res[0] = %+v", res[0])
	}
	if !res[1].Changed || res[1].HadPrev || !ValuesEqual(res[1].Entry.Value, AppendInt(nil, 3)) || !res[1].Entry.Path.Equal(b) || len(res[1].Entry.Chain) != 1 {
		t.Errorf("res[1] = %+v", res[1])
	}
	if res[2].Changed {
		t.Errorf("res[2] = %+v", res[2])
	}
	if !u.Ops[0].Path.Equal(a) || !u.Ops[1].Path.Equal(b) || len(u.Ops[0].Chain) != 1 || len(u.Ops[1].Chain) != 0 {
		t.Errorf("ops = %+v", u.Ops)
	}
}

// TestWriteResultChain: a single write's result chain, built in the update's room for one
// link, holds every origin's link when the entry has more than one, and the ops' chains and
// the entry's next result are not changed by it.
func TestWriteResultChain(t *testing.T) {
	n := New(Config{Origin: "w~1"})
	p := StringPath("k")
	n.Apply(single("r~1", 1, 5, p, AppendInt(nil, 1), nil))
	res, u, err := n.Write([]Change{{Path: p, Value: AppendInt(nil, 2)}})
	if err != nil {
		t.Fatal(err)
	}
	want := Chain{{"w~1", 1}, {"r~1", 1}}
	if got := res[0].Entry.Chain; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("chain = %v, want %v", got, want)
	}
	res2, _, err := n.Write([]Change{{Path: p, Value: AppendInt(nil, 3)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res2[0].Entry.Chain; len(got) != 2 || got[0] != (Link{"w~1", 2}) || got[1] != want[1] {
		t.Errorf("second chain = %v", got)
	}
	if got := res[0].Entry.Chain; got[0] != want[0] || len(u.Ops[0].Chain) != 1 || u.Ops[0].Chain[0] != want[1] {
		t.Errorf("first result %v, op chain %v changed", got, u.Ops[0].Chain)
	}
}

// TestWriteEffectsRoom: writes between two Ready calls all reach Log and Send in order,
// though the first one's lists start in its own room.
func TestWriteEffectsRoom(t *testing.T) {
	n := New(Config{Origin: "w~1"})
	var want []*Update
	for i := range 3 {
		_, u, err := n.Write([]Change{{Path: StringPath(fmt.Sprint(i)), Value: AppendInt(nil, int64(i))}})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, u)
	}
	eff := n.Ready()
	if len(eff.Log) != 3 || len(eff.Send) != 3 {
		t.Fatalf("%d logged, %d to send, want 3", len(eff.Log), len(eff.Send))
	}
	for i, u := range want {
		if eff.Log[i] != u || eff.Send[i] != u {
			t.Errorf("effect %d is not write %d's update", i, i)
		}
	}
	if _, u, _ := n.Write([]Change{{Path: StringPath("x"), Value: AppendInt(nil, 9)}}); u == nil || n.Ready().Send[0] != u || want[0].Tick != 1 {
		t.Error("a write after Ready is not its only effect")
	}
}
