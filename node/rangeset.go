package node

import (
	"fmt"
	"sort"
	"strings"
)

// Range is the half-open interval of ticks [Start, End).
type Range struct{ Start, End uint64 }

// RangeSet is a set of ticks stored as sorted, disjoint, non-adjacent ranges. The zero value is
// the empty set. Methods with pointer receivers modify the set in place.
type RangeSet struct{ r []Range }

// NewRangeSet returns a set holding the given ranges.
func NewRangeSet(rs ...Range) RangeSet {
	var s RangeSet
	for _, r := range rs {
		s.AddRange(r.Start, r.End)
	}
	return s
}

// Ranges returns the ranges in order. The caller must not modify them.
func (s RangeSet) Ranges() []Range { return s.r }

// Empty reports whether the set holds no tick.
func (s RangeSet) Empty() bool { return len(s.r) == 0 }

// Clone returns an independent copy.
func (s RangeSet) Clone() RangeSet { return RangeSet{r: append([]Range(nil), s.r...)} }

// Len returns the number of ticks in the set.
func (s RangeSet) Len() uint64 {
	var n uint64
	for _, r := range s.r {
		n += r.End - r.Start
	}
	return n
}

// Max returns the highest tick in the set, or 0 if it is empty.
func (s RangeSet) Max() uint64 {
	if len(s.r) == 0 {
		return 0
	}
	return s.r[len(s.r)-1].End - 1
}

// Contig returns the highest t such that every tick in [1, t] is in the set (0 if tick 1 is not).
func (s RangeSet) Contig() uint64 {
	if len(s.r) == 0 || s.r[0].Start > 1 {
		return 0
	}
	return s.r[0].End - 1
}

// search returns the index of the first range whose End >= t (ranges that t touches or follows).
func (s RangeSet) search(t uint64) int {
	return sort.Search(len(s.r), func(i int) bool { return s.r[i].End >= t })
}

// MaxTick is the highest tick: ticks are 63-bit, as in DistKV, so End = tick+1 never overflows.
const MaxTick = 1<<63 - 1

// Contains reports whether t is in the set.
func (s RangeSet) Contains(t uint64) bool {
	if t > MaxTick {
		return false
	}
	i := s.search(t + 1)
	return i < len(s.r) && s.r[i].Start <= t
}

// ContainsRange reports whether every tick of [a, b) is in the set.
func (s RangeSet) ContainsRange(a, b uint64) bool {
	if a >= b {
		return true
	}
	if a > MaxTick {
		return false
	}
	i := s.search(a + 1)
	return i < len(s.r) && s.r[i].Start <= a && s.r[i].End >= b
}

// Add adds one tick.
func (s *RangeSet) Add(t uint64) { s.AddRange(t, t+1) }

// AddRange adds the ticks [a, b).
func (s *RangeSet) AddRange(a, b uint64) {
	if a >= b {
		return
	}
	// Fast path: appending at the end, the common case for ticks arriving in order.
	if n := len(s.r); n == 0 || s.r[n-1].End < a {
		s.r = append(s.r, Range{a, b})
		return
	} else if s.r[n-1].End == a {
		s.r[n-1].End = b
		return
	}
	i := s.search(a)                                                         // first range that touches or follows a
	j := sort.Search(len(s.r), func(k int) bool { return s.r[k].Start > b }) // first range strictly after b
	if i == j {
		s.r = append(s.r, Range{})
		copy(s.r[i+1:], s.r[i:])
		s.r[i] = Range{a, b}
		return
	}
	s.r[i] = Range{min(a, s.r[i].Start), max(b, s.r[j-1].End)}
	s.r = append(s.r[:i+1], s.r[j:]...)
}

// AddSet adds every tick of o.
func (s *RangeSet) AddSet(o RangeSet) {
	for _, r := range o.r {
		s.AddRange(r.Start, r.End)
	}
}

// Minus returns the ticks of s that are not in o.
func (s RangeSet) Minus(o RangeSet) RangeSet {
	var out RangeSet
	j := 0
	for _, r := range s.r {
		start := r.Start
		for j < len(o.r) && o.r[j].End <= start {
			j++
		}
		for k := j; k < len(o.r) && o.r[k].Start < r.End; k++ {
			if o.r[k].Start > start {
				out.r = append(out.r, Range{start, o.r[k].Start})
			}
			start = max(start, o.r[k].End)
		}
		if start < r.End {
			out.r = append(out.r, Range{start, r.End})
		}
	}
	return out
}

// Intersect returns the ticks in both s and o.
func (s RangeSet) Intersect(o RangeSet) RangeSet {
	var out RangeSet
	i, j := 0, 0
	for i < len(s.r) && j < len(o.r) {
		a, b := max(s.r[i].Start, o.r[j].Start), min(s.r[i].End, o.r[j].End)
		if a < b {
			out.r = append(out.r, Range{a, b})
		}
		if s.r[i].End < o.r[j].End {
			i++
		} else {
			j++
		}
	}
	return out
}

// Equal reports whether the sets hold the same ticks.
func (s RangeSet) Equal(o RangeSet) bool {
	if len(s.r) != len(o.r) {
		return false
	}
	for i := range s.r {
		if s.r[i] != o.r[i] {
			return false
		}
	}
	return true
}

// Upto returns the set [1, t] (empty for t = 0), t capped at MaxTick.
func Upto(t uint64) RangeSet {
	if t == 0 {
		return RangeSet{}
	}
	t = min(t, MaxTick)
	return RangeSet{r: []Range{{1, t + 1}}}
}

// String shows the set like "1-5,7,9-12".
func (s RangeSet) String() string {
	var b strings.Builder
	for i, r := range s.r {
		if i > 0 {
			b.WriteByte(',')
		}
		if r.End-r.Start == 1 {
			fmt.Fprintf(&b, "%d", r.Start)
		} else {
			fmt.Fprintf(&b, "%d-%d", r.Start, r.End-1)
		}
	}
	return b.String()
}

// AppendMsgpack appends the set in DistKV's wire form: a list whose items are a tick or a
// [start, end) pair.
func (s RangeSet) AppendMsgpack(b []byte) []byte {
	b = AppendArrayLen(b, len(s.r))
	for _, r := range s.r {
		if r.End-r.Start == 1 {
			b = AppendUint(b, r.Start)
		} else {
			b = AppendUint(AppendUint(AppendArrayLen(b, 2), r.Start), r.End)
		}
	}
	return b
}

// RangeSet decodes DistKV's wire form. Items may come in any order and may overlap; they are
// sorted first so that a hostile order costs O(n log n), not O(n^2).
func (r *Reader) RangeSet() (RangeSet, error) {
	n, err := r.ArrayLen()
	if err != nil {
		return RangeSet{}, err
	}
	// Items are collected (never more than min(n, 1024) up front: an item takes one byte
	// but 16 in memory) and merged whenever they doubled, so duplicates cost no memory.
	items := make([]Range, 0, min(n, 1024))
	merged := 0
	for i := 0; i < n; i++ {
		if len(items) >= 4096 && len(items) >= 2*merged {
			items = coalesce(items)
			merged = len(items)
		}
		c, err := r.Peek()
		if err != nil {
			return RangeSet{}, err
		}
		var a, b uint64
		if c&0xf0 == 0x90 || c == 0xdc || c == 0xdd {
			m, err := r.ArrayLen()
			if err != nil {
				return RangeSet{}, err
			}
			if m != 2 {
				return RangeSet{}, wireErr("range set pair of %d items", m)
			}
			if a, err = r.Uint(); err != nil {
				return RangeSet{}, err
			}
			if b, err = r.Uint(); err != nil {
				return RangeSet{}, err
			}
		} else {
			if a, err = r.Uint(); err != nil {
				return RangeSet{}, err
			}
			if a > MaxTick {
				return RangeSet{}, wireErr("tick %d out of range", a)
			}
			b = a + 1
		}
		if b > MaxTick+1 {
			return RangeSet{}, wireErr("range end %d out of range", b)
		}
		if a < b {
			items = append(items, Range{a, b})
		}
	}
	if items = coalesce(items); len(items) == 0 {
		return RangeSet{}, nil
	}
	if cap(items) > 2*len(items)+8 { // mostly duplicates: do not keep their room
		items = append([]Range(nil), items...)
	}
	return RangeSet{r: items}, nil
}

// coalesce sorts ranges and merges those that overlap or touch, in place.
func coalesce(items []Range) []Range {
	sort.Slice(items, func(i, j int) bool { return items[i].Start < items[j].Start })
	out := items[:0]
	for _, it := range items {
		if k := len(out) - 1; k >= 0 && it.Start <= out[k].End {
			out[k].End = max(out[k].End, it.End)
			continue
		}
		out = append(out, it)
	}
	return out
}
