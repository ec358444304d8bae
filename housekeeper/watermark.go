package housekeeper

import (
	"maps"
	"slices"
)

// Watermark computes the purge watermark in two rounds.
//
// A tombstone T (origin o, tick t, tock k) may go once no update with a lower tock can still
// arrive anywhere, since such an update would resurrect T's path on the nodes that purged it and
// lose to T on those that did not. Round r establishes W_r[o] = min over members of the ticks
// of o each knows without a gap, and H_r[o] = max over members of the highest tick of o
// anyone has heard of. If t <= W_r[o], every member had applied T at round r, so every origin's
// clock was past k then: whatever an origin writes later has a higher tock. What it had written
// before has ticks at most H_r. So at a later round r' where W_r' >= H_r for every origin, every
// update with a tock below any such T is known everywhere and has met T, and every tombstone at
// or below W_r can go: the watermark is W_r.
//
// Rounds must see the same members; a membership change restarts the two-round wait.
type Watermark struct {
	members []string
	w, h    map[string]uint64
	have    bool
	current map[string]uint64 // the watermark announced so far (only rises)
}

// Current returns the watermark announced so far.
func (m *Watermark) Current() map[string]uint64 { return maps.Clone(m.current) }

// Forget drops forgotten origins (housekeeper.Forget) from the watermark.
func (m *Watermark) Forget(origins []string) {
	for _, o := range origins {
		m.forget(o)
	}
}

func (m *Watermark) forget(o string) {
	delete(m.current, o)
	delete(m.w, o)
	delete(m.h, o)
}

// Round takes one complete set of member reports and returns the watermark to announce, and
// whether it rose.
func (m *Watermark) Round(vs []Vector) (map[string]uint64, bool) {
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = v.Member
	}
	slices.Sort(names)
	w, h := map[string]uint64{}, Heads(vs)
	// Forgotten somewhere: its ticks are all known and purged, and the members that still
	// report it are told to forget it too.
	for o := range Forgotten(vs) {
		delete(h, o)
		m.forget(o)
	}
	for o := range h {
		lo := ^uint64(0)
		for _, v := range vs {
			lo = min(lo, v.Known[o].Contig())
		}
		w[o] = lo
	}
	rose := false
	if m.have && slices.Equal(names, m.members) {
		if covers(w, m.h) {
			for o, t := range m.w {
				if t > m.current[o] {
					if m.current == nil {
						m.current = map[string]uint64{}
					}
					m.current[o] = t
					rose = true
				}
			}
			m.w, m.h = w, h
		}
		// else: keep the older round and wait until everyone caught up with it.
	} else {
		m.members, m.w, m.h, m.have = names, w, h, true
	}
	return m.Current(), rose
}

// covers reports whether w[o] >= h[o] for every origin in h.
func covers(w, h map[string]uint64) bool {
	for o, t := range h {
		if w[o] < t {
			return false
		}
	}
	return true
}
