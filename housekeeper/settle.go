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

// Superseded reports whether origin's member runs a newer incarnation: no member that answered
// runs origin, and its member answered with another origin or serf lists it with another
// origin tag. Only one process per name runs (serf refuses a second), and a new incarnation
// never goes back to an old origin, so a superseded origin makes no more ticks anywhere.
func Superseded(origin string, vs []Vector, listed map[string]string) bool {
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
	if ok && tag == origin {
		return false
	}
	return moved || (ok && tag != "")
}

// Settle returns, per origin, the ticks the network may declare lost for good: ticks of a
// superseded origin (Superseded: it can make no more ticks, and no node can come back holding
// ticks of it that the others lack) that some member heard of but that no member knows. vs must be a complete
// round: every member answered, none failed or still joining, so that no reachable node holds
// such a tick (one that did would have reported it). A dead origin makes no new ticks, and
// the ticks it made reach a node only from another node that holds them, so a tick no member
// holds now can never arrive. Every member then marks them known (node.Settle), which lets the
// purge watermark and convergence go on instead of waiting for ever.
//
// The origin of a member serf forgot (away longer than --forget-after) is not settled: the
// member may only be cut off, still writing under it. Declaring its unheard ticks lost would
// mark them known everywhere, and its resync on return would then drop its own writes under
// them (the donor "knows" them), losing acknowledged writes. Its missing ticks hold the
// watermark back until it returns or restarts with a new origin (housekeeping.md).
func Settle(vs []Vector, listed map[string]string) map[string]node.RangeSet {
	heads := Heads(vs)
	forgotten := Forgotten(vs)
	out := map[string]node.RangeSet{}
	for o, h := range heads {
		if forgotten[o] || !Superseded(o, vs, listed) {
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

// Forget returns the origins every member may forget (node.Forget), sorted: superseded
// origins (Superseded) whose every tick up to the highest anyone heard of is known by every member and at
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
		if wm[o] < h || !Superseded(o, vs, listed) {
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

// Spread returns, for each member of vs that does not list as forgotten an origin another
// member forgot (its own origin aside), those origins, sorted. Forgetting was decided once, in
// a complete round of the network that held every tick of the origin; a member that never
// heard of that (it formed a network of its own during a partition, or took the state of such
// a network) must learn it before the networks merge, whether or not the round is complete:
// serf replays its event ring at a merge, and a member that does not forget the origin takes a
// late update of it as new, bringing back a value whose delete was purged long ago
// (housekeeping.md).
func Spread(vs []Vector) map[string][]string {
	all := Forgotten(vs)
	out := map[string][]string{}
	for _, v := range vs {
		has := make(map[string]bool, len(v.Forgotten))
		for _, o := range v.Forgotten {
			has[o] = true
		}
		var miss []string
		for o := range all {
			if !has[o] && o != v.Origin { // a node never forgets its own origin
				miss = append(miss, o)
			}
		}
		if len(miss) > 0 {
			slices.Sort(miss)
			out[v.Member] = miss
		}
	}
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

// Killed is the origin tag the server lists for a member whose origin an operator declared
// dead (DistKV's kill_node): no origin has this name, so Superseded holds for it.
const Killed = "(killed)"
