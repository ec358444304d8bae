package tests

// The checker of TestFault: given every client operation with its outcome and the converged
// tree, every path must hold what the conflict rule makes of the operations on it.

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

type faultOutcome int

const (
	foAcked   faultOutcome = iota // the server acknowledged a new version
	foNoop                        // acknowledged, no version made (a delete of nothing)
	foRefused                     // a clear refusal before anything was applied
	foIndet                       // the connection died or the op timed out: it may have happened
)

func (o faultOutcome) String() string {
	return [...]string{"acked", "noop", "refused", "indeterminate"}[o]
}

// faultOp is one client operation and what came of it.
type faultOp struct {
	id     int
	worker int
	node   string // the server it was sent to
	key    string // node.Path.Key of the path
	path   string // for messages
	del    bool
	cond   string // "", "chain", "absent", "prev"
	value  []byte // msgpack, unique per op; nil for deletes
	out    faultOutcome
	err    string
	// The version acknowledged (foAcked).
	origin     string
	tick, tock uint64
	start, end time.Time
}

func (o *faultOp) String() string {
	what := "set"
	if o.del {
		what = "delete"
	}
	if o.cond != "" {
		what += " if-" + o.cond
	}
	s := fmt.Sprintf("op %d (worker %d) %s %s at %s %s..%s: %s", o.id, o.worker, what, o.path, o.node,
		o.start.Format("15:04:05.000"), o.end.Format("15:04:05.000"), o.out)
	if o.out == foAcked {
		s += fmt.Sprintf(" %s:%d@%d", o.origin, o.tick, o.tock)
	}
	if !o.del {
		s += fmt.Sprintf(" value %s", faultShort(o.value))
	}
	if o.err != "" {
		s += " (" + o.err + ")"
	}
	return s
}

func faultShort(v []byte) string {
	if len(v) > 24 {
		return fmt.Sprintf("%x...(%d bytes)", v[:24], len(v))
	}
	return fmt.Sprintf("%x", v)
}

// faultVersion is what a path holds at the end: a value, a tombstone, or nothing.
type faultVersion struct {
	deleted    bool
	value      []byte
	origin     string
	tick, tock uint64
}

func (v faultVersion) String() string {
	if v.deleted {
		return fmt.Sprintf("tombstone %s:%d@%d", v.origin, v.tick, v.tock)
	}
	return fmt.Sprintf("value %s %s:%d@%d", faultShort(v.value), v.origin, v.tick, v.tock)
}

// faultRank orders versions by the conflict rule: tock, then origin bytewise.
func faultRank(tockA uint64, originA string, tockB uint64, originB string) int {
	if c := cmp.Compare(tockA, tockB); c != 0 {
		return c
	}
	return strings.Compare(originA, originB)
}

// faultCheckStats counts what the checker looked at.
type faultCheckStats struct {
	ops, acked, refused, indet, noop int
	keys                             int
	overwritten                      int // acknowledged versions that lost to a higher one
	byIndet                          int // paths whose final state is an indeterminate op's
}

// faultCheck checks final (by path key; absent: nothing there, or a purged tombstone) against
// the ops. For every path: the final version is one an op made that may have happened (acked
// with exactly that version, or indeterminate; never refused); no acknowledged op ranks above
// it; and a path that holds nothing had a delete that may rank highest. It returns one
// problem per bad path, each with the ops on it.
func faultCheck(ops []faultOp, final map[string]faultVersion) (problems []string, st faultCheckStats) {
	byKey := map[string][]*faultOp{}
	for i := range ops {
		o := &ops[i]
		byKey[o.key] = append(byKey[o.key], o)
		st.ops++
		switch o.out {
		case foAcked:
			st.acked++
		case foRefused:
			st.refused++
		case foIndet:
			st.indet++
		case foNoop:
			st.noop++
		}
	}
	keys := map[string]bool{}
	for k := range byKey {
		keys[k] = true
	}
	for k := range final {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	st.keys = len(sorted)
	for _, k := range sorted {
		kops := byKey[k]
		fin, present := final[k]
		why := faultCheckKey(kops, fin, present, &st)
		if why == "" {
			continue
		}
		state := "nothing"
		if present {
			state = fin.String()
		}
		path := k
		if len(kops) > 0 {
			path = kops[0].path
		}
		problems = append(problems, fmt.Sprintf("%s holds %s: %s\n%s", path, state, why, faultOpsReport(kops, 40)))
	}
	return problems, st
}

func faultCheckKey(kops []*faultOp, fin faultVersion, present bool, st *faultCheckStats) string {
	var best *faultOp // the acknowledged version the conflict rule ranks highest
	indetDelete := false
	for _, o := range kops {
		if o.out == foAcked && (best == nil || faultRank(o.tock, o.origin, best.tock, best.origin) > 0) {
			best = o
		}
		if o.out == foIndet && o.del {
			indetDelete = true
		}
	}
	if !present {
		// Fine if no acknowledged op wrote the path (indeterminate sets may not have happened),
		// if the highest acknowledged op is a delete, or if an indeterminate delete may rank
		// above every acknowledged op.
		if best == nil || best.del || indetDelete {
			return ""
		}
		return fmt.Sprintf("the acknowledged %s:%d@%d (a set) ranks highest, and no delete may rank above it: an acknowledged write was lost",
			best.origin, best.tick, best.tock)
	}
	// The final version must come from an op that may have happened.
	var maker *faultOp
	if fin.deleted {
		for _, o := range kops {
			if o.del && o.out == foAcked && o.origin == fin.origin && o.tick == fin.tick {
				maker = o
			}
		}
		if maker == nil && !indetDelete {
			return "no acknowledged delete made this tombstone and no delete is indeterminate"
		}
	} else {
		for _, o := range kops {
			if !o.del && bytes.Equal(o.value, fin.value) {
				maker = o
			}
		}
		switch {
		case maker == nil:
			return "no operation wrote this value"
		case maker.out == foRefused || maker.out == foNoop:
			return fmt.Sprintf("the value is that of op %d, which was %s: a refused write took effect", maker.id, maker.out)
		case maker.out == foAcked && (maker.origin != fin.origin || maker.tick != fin.tick || maker.tock != fin.tock):
			return fmt.Sprintf("the value is op %d's, acknowledged as %s:%d@%d", maker.id, maker.origin, maker.tick, maker.tock)
		}
	}
	if maker != nil && maker.out == foIndet {
		st.byIndet++
	}
	for _, o := range kops {
		if o.out != foAcked || (o.origin == fin.origin && o.tick == fin.tick) {
			continue
		}
		if faultRank(o.tock, o.origin, fin.tock, fin.origin) > 0 {
			what := "write"
			if o.del {
				what = "delete"
			}
			return fmt.Sprintf("the acknowledged %s %s:%d@%d (op %d) ranks higher: it was lost", what, o.origin, o.tick, o.tock, o.id)
		}
		st.overwritten++
	}
	return ""
}

// faultOpsReport lists the ops of a path: the ones that may have happened ranked by the
// conflict rule (highest first, indeterminate ones by time), then at most n in all.
func faultOpsReport(kops []*faultOp, n int) string {
	ops := slices.Clone(kops)
	slices.SortFunc(ops, func(a, b *faultOp) int {
		ra, rb := a.out == foAcked, b.out == foAcked
		switch {
		case ra && rb:
			return -faultRank(a.tock, a.origin, b.tock, b.origin)
		case ra != rb:
			if ra {
				return -1
			}
			return 1
		}
		return -a.start.Compare(b.start)
	})
	var b strings.Builder
	for i, o := range ops {
		if i == n {
			fmt.Fprintf(&b, "    ... %d more\n", len(ops)-n)
			break
		}
		fmt.Fprintf(&b, "    %v\n", o)
	}
	return b.String()
}

// TestFaultChecker feeds the checker made-up histories: it must accept what the conflict rule
// allows and name what it does not.
func TestFaultChecker(t *testing.T) {
	t0 := time.Now()
	set := func(id int, out faultOutcome, origin string, tick, tock uint64) faultOp {
		return faultOp{id: id, key: "k", path: "k", value: []byte{byte(id)}, out: out, origin: origin, tick: tick, tock: tock, start: t0, end: t0}
	}
	del := func(id int, out faultOutcome, origin string, tick, tock uint64) faultOp {
		o := set(id, out, origin, tick, tock)
		o.del, o.value = true, nil
		return o
	}
	val := func(o faultOp) faultVersion {
		return faultVersion{value: o.value, origin: o.origin, tick: o.tick, tock: o.tock}
	}
	tomb := func(o faultOp) faultVersion {
		return faultVersion{deleted: true, origin: o.origin, tick: o.tick, tock: o.tock}
	}
	a1, a2 := set(1, foAcked, "a", 1, 10), set(2, foAcked, "b", 1, 10) // b ranks above a at the same tock
	d3 := del(3, foAcked, "a", 2, 20)
	i4, r5 := set(4, foIndet, "", 0, 0), set(5, foRefused, "", 0, 0)
	di6 := del(6, foIndet, "", 0, 0)
	i4v := faultVersion{value: i4.value, origin: "c", tick: 7, tock: 30}
	cases := []struct {
		name  string
		ops   []faultOp
		final *faultVersion
		bad   string // a substring of the problem; "" if none
	}{
		{"highest acked set", []faultOp{a1, a2}, &faultVersion{value: a2.value, origin: "b", tick: 1, tock: 10}, ""},
		{"tie on tock broken by origin", []faultOp{a1, a2}, faultPtr(val(a1)), "ranks higher"},
		{"acked delete ranks highest, purged", []faultOp{a1, a2, d3}, nil, ""},
		{"acked delete ranks highest, tombstone", []faultOp{a1, a2, d3}, faultPtr(tomb(d3)), ""},
		{"delete undone", []faultOp{a1, a2, d3}, faultPtr(val(a2)), "ranks higher"},
		{"write lost", []faultOp{a1, a2}, nil, "was lost"},
		{"indeterminate set wins", []faultOp{a1, a2, i4}, &i4v, ""},
		{"refused set took effect", []faultOp{a1, r5}, &faultVersion{value: r5.value, origin: "c", tick: 1, tock: 99}, "refused"},
		{"unknown value", []faultOp{a1}, &faultVersion{value: []byte("x"), origin: "c", tick: 1, tock: 99}, "no operation"},
		{"acked value under another version", []faultOp{a1}, &faultVersion{value: a1.value, origin: "a", tick: 2, tock: 10}, "acknowledged as"},
		{"indeterminate delete may win", []faultOp{a1, a2, di6}, nil, ""},
		{"tombstone nobody made", []faultOp{a1}, &faultVersion{deleted: true, origin: "z", tick: 1, tock: 50}, "no acknowledged delete"},
		{"only refused and indeterminate sets", []faultOp{r5, i4}, nil, ""},
	}
	for _, c := range cases {
		final := map[string]faultVersion{}
		if c.final != nil {
			final["k"] = *c.final
		}
		probs, _ := faultCheck(c.ops, final)
		switch {
		case c.bad == "" && len(probs) > 0:
			t.Errorf("%s: unexpected problem: %s", c.name, probs[0])
		case c.bad != "" && len(probs) == 0:
			t.Errorf("%s: no problem found, want one with %q", c.name, c.bad)
		case c.bad != "" && !strings.Contains(probs[0], c.bad):
			t.Errorf("%s: problem %q, want one with %q", c.name, probs[0], c.bad)
		}
	}
}

func faultPtr[T any](v T) *T { return &v }
