package housekeeper

import (
	"slices"
	"strings"

	"github.com/distkv/distkv/node"
)

// MemberOf returns the member name of an origin ("name~gen").
func MemberOf(origin string) string {
	if i := strings.LastIndexByte(origin, '~'); i > 0 {
		return origin[:i]
	}
	return origin
}

// Dead reports whether origin can make no more ticks: no member that answered the round runs
// it, and its member either runs another origin now (it answered with one, or serf lists it
// with another origin tag) or is not listed by serf at all (forgotten after --forget-after, or
// left and reaped). listed maps every member serf lists, whatever its status (left ones
// included: a member that left with this origin may come back with it), to its origin tag.
func Dead(origin string, vs []Vector, listed map[string]string) bool {
	m := MemberOf(origin)
	moved := false
	for _, v := range vs {
		if v.Origin == origin {
			return false
		}
		if v.Member == m && v.Origin != "" {
			moved = true
		}
	}
	tag, ok := listed[m]
	switch {
	case !ok:
		return true
	case tag == origin:
		return false
	}
	return moved || tag != ""
}

// Settle returns, per origin, the ticks the network may declare lost for good: ticks of a
// dead origin (Dead) that some member heard of but that no member knows. vs must be a complete
// round: every member answered, none failed or still joining, so that no reachable node holds
// such a tick (one that did would have reported it). A dead origin makes no new ticks, and
// the ticks it made reach a node only from another node that holds them, so a tick no member
// holds now can never arrive. Every member then marks them known (node.Settle), which lets the
// purge watermark and convergence go on instead of waiting for ever.
//
// Past the horizon: a node forgotten by serf (away longer than --forget-after) may still hold
// such a tick; when it returns it is behind the watermark and resyncs, like any node away
// that long (housekeeping.md).
func Settle(vs []Vector, listed map[string]string) map[string]node.RangeSet {
	heads := Heads(vs)
	forgotten := Forgotten(vs)
	out := map[string]node.RangeSet{}
	for o, h := range heads {
		if forgotten[o] || !Dead(o, vs, listed) {
			continue
		}
		lost := node.Upto(h)
		for _, v := range vs {
			lost = lost.Minus(v.Known[o])
		}
		if !lost.Empty() {
			out[o] = lost
		}
	}
	return out
}

// Forget returns the origins every member may forget (node.Forget), sorted: dead origins
// (Dead) whose every tick up to the highest anyone heard of is known by every member and at
// or below the purge watermark wm, so that none of their tombstones is left and no update of
// theirs can still be new anywhere; and origins some member already forgot that another still
// reports (it restarted from an older snapshot, or missed the announcement). vs must be a
// complete round.
func Forget(vs []Vector, wm map[string]uint64, listed map[string]string) []string {
	heads := Heads(vs)
	forgotten := Forgotten(vs)
	var out []string
	for o, h := range heads {
		if forgotten[o] {
			out = append(out, o)
			continue
		}
		if wm[o] < h || !Dead(o, vs, listed) {
			continue
		}
		all := true
		for _, v := range vs {
			if v.Known[o].Contig() < h {
				all = false
				break
			}
		}
		if all {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return out
}

// Forgotten returns the union of the origins the members forgot.
func Forgotten(vs []Vector) map[string]bool {
	m := map[string]bool{}
	for _, v := range vs {
		for _, o := range v.Forgotten {
			m[o] = true
		}
	}
	return m
}
