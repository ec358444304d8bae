// Package housekeeper holds the housekeeper's decisions, as pure functions of what the members
// report: who the housekeeper is, what each member misses and where to get it, and the purge
// watermark below which tombstones may go. It does no I/O; server/ gathers the reports and
// carries out the decisions.
//
// Every decision is idempotent: two nodes that both believe they are the housekeeper (views
// differ for a moment around membership changes) produce repairs that are harmless twice, and
// watermarks that only ever rise to values that are safe for either.
package housekeeper

import (
	"slices"

	"github.com/distkv/distkv/node"
)

// Member is one member as the gossip layer sees it.
type Member struct {
	Name  string
	Alive bool
	Ready bool
}

// Rank returns the names of the alive, ready members in housekeeping order; the first is the
// housekeeper. The order is by name: every node computes the same ranking from the same member
// list, and a stable order keeps the role where it is while membership holds (the housekeeper's
// work is small: one vector per member per round, so rotating it would buy nothing).
func Rank(members []Member) []string {
	var out []string
	for _, m := range members {
		if m.Alive && m.Ready {
			out = append(out, m.Name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Vector is what one member reports: its known ticks, highest ticks heard of, digest and purge
// watermark.
type Vector struct {
	Member  string
	Origin  string // the member's current origin
	Known   map[string]node.RangeSet
	Highest map[string]uint64
	Digest  [2]uint64
	// DigestVersion is the entry hash Digest was made with (node.DigestVersion): digests of
	// different versions are never compared.
	DigestVersion uint64
	Purge         map[string]uint64
	Tock          uint64
	// Forgotten lists the origins the member forgot: they are left out of repairs and
	// watermarks, and announced again to members that still report them.
	Forgotten []string
}

// Repair tells Member to pull Ticks of Origin from From.
type Repair struct {
	Member string
	Origin string
	Ticks  node.RangeSet
	From   string
}

// Plan returns the repairs that make every member know every tick any member knows. For each
// gap it picks, among the members that know the ticks, the first in the order of vs that holds
// the most of them, so the work spreads as the reports come.
func Plan(vs []Vector) []Repair {
	union := map[string]node.RangeSet{}
	forgotten := Forgotten(vs)
	for _, v := range vs {
		for o, rs := range v.Known {
			if forgotten[o] {
				continue
			}
			u := union[o]
			u.AddSet(rs)
			union[o] = u
		}
	}
	origins := make([]string, 0, len(union))
	for o := range union {
		origins = append(origins, o)
	}
	slices.Sort(origins)
	var out []Repair
	for _, v := range vs {
		for _, o := range origins {
			miss := union[o].Minus(v.Known[o])
			for !miss.Empty() {
				from, got := "", node.RangeSet{}
				for _, w := range vs {
					if w.Member == v.Member {
						continue
					}
					if have := miss.Intersect(w.Known[o]); have.Len() > got.Len() {
						from, got = w.Member, have
					}
				}
				if from == "" {
					break
				}
				out = append(out, Repair{Member: v.Member, Origin: o, Ticks: got, From: from})
				miss = miss.Minus(got)
			}
		}
	}
	return out
}

// Converged reports whether every member knows the same ticks and holds the same tree. During
// a rolling upgrade only the digests of members hashing alike are compared (DigestRef).
func Converged(vs []Vector) bool {
	for i, v := range vs {
		if v.Digest != vs[DigestRef(vs, i)].Digest || len(v.Known) != len(vs[0].Known) {
			return false
		}
		for o, rs := range vs[0].Known {
			if !rs.Equal(v.Known[o]) {
				return false
			}
		}
	}
	return true
}

// DigestRef returns the index of the first member of vs whose digest version is that of vs[i]:
// the member vs[i]'s digest is compared with (i itself when it is the first).
func DigestRef(vs []Vector, i int) int {
	for j := range i {
		if vs[j].DigestVersion == vs[i].DigestVersion {
			return j
		}
	}
	return i
}

// Heads returns the highest tick of each origin any member has heard of.
func Heads(vs []Vector) map[string]uint64 {
	h := map[string]uint64{}
	for _, v := range vs {
		for o, t := range v.Highest {
			h[o] = max(h[o], t)
		}
		for o, rs := range v.Known {
			h[o] = max(h[o], rs.Max())
		}
	}
	return h
}
