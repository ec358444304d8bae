package node

import (
	"math/bits"
	"slices"
)

// tickIndex maps an origin's ticks to the first entry whose current version each wrote (the
// others follow by entry.same). An origin's ticks are dense (1, 2, 3, ...), so it keeps them
// in pages of 64 consecutive ticks: a bitmap of the ticks held and their entries packed in
// tick order. A page full of current ticks costs about 9 bytes a tick (its 512-byte array, the
// page and its map slot), where a map from tick to entry spends 16 to 37 (a 17-byte slot at
// 7/8 to 7/16 load). Where later writes superseded most ticks it costs more a tick: with one
// tick in 8 current, 23 bytes; with one in 64, 77, where the map would spend 36.
type tickIndex struct {
	pages map[uint64]*tickPage // by tick / 64
	n     int                  // ticks held
}

type tickPage struct {
	bits uint64   // bit t%64: tick t is held
	ents []*entry // the entries of the ticks held, in tick order
}

// rank is the index in p.ents of the tick at bit b (held or not).
func (p *tickPage) rank(b uint) int { return bits.OnesCount64(p.bits & (1<<b - 1)) }

func (x *tickIndex) len() int { return x.n }

func (x *tickIndex) get(t uint64) *entry {
	p := x.pages[t/64]
	if p == nil || p.bits&(1<<(t%64)) == 0 {
		return nil
	}
	return p.ents[p.rank(uint(t%64))]
}

// set makes e (not nil) the first entry of tick t, and returns the one it replaced (nil: none).
func (x *tickIndex) set(t uint64, e *entry) (prev *entry) {
	if x.pages == nil {
		x.pages = make(map[uint64]*tickPage)
	}
	p := x.pages[t/64]
	b := uint(t % 64)
	if p == nil {
		p = &tickPage{}
		if prev := x.pages[t/64-1]; b == 0 && prev != nil && prev.bits>>63 != 0 {
			// Ticks t-1 and t held: a dense writer starts the next page. It fills up, so
			// take its room at once instead of doubling seven times.
			p.ents = make([]*entry, 0, 64)
		}
		x.pages[t/64] = p
	}
	i := p.rank(b)
	if p.bits&(1<<b) != 0 {
		prev, p.ents[i] = p.ents[i], e
		return prev
	}
	p.bits |= 1 << b
	p.ents = slices.Insert(p.ents, i, e)
	x.n++
	return nil
}

// replace makes e the first entry of tick t (nil: drops t) if old is, and returns the first
// entry before (nil: none): one page lookup where get and then set or del take two.
func (x *tickIndex) replace(t uint64, old, e *entry) (first *entry) {
	p := x.pages[t/64]
	b := uint(t % 64)
	if p == nil || p.bits&(1<<b) == 0 {
		return nil
	}
	i := p.rank(b)
	if first = p.ents[i]; first != old {
		return first
	}
	if e != nil {
		p.ents[i] = e
	} else {
		x.delAt(t, p, b)
	}
	return first
}

// delAt drops tick t, held at bit b of its page p.
func (x *tickIndex) delAt(t uint64, p *tickPage, b uint) {
	p.ents = slices.Delete(p.ents, p.rank(b), p.rank(b)+1)
	p.bits &^= 1 << b
	x.n--
	switch {
	case p.bits == 0:
		delete(x.pages, t/64)
	case cap(p.ents) >= 16 && len(p.ents) <= cap(p.ents)/4: // most of the page was superseded
		p.ents = slices.Clone(p.ents)
	}
}

// ticksIn returns, ascending, the ticks of [start, end) held: page by page for a range of
// few pages, else through the pages held (a range may span 2^32 ticks settled or superseded).
func (x *tickIndex) ticksIn(start, end uint64) []uint64 {
	if start >= end || x.n == 0 {
		return nil
	}
	first, last := start/64, (end-1)/64
	var keys []uint64
	if last-first < uint64(len(x.pages)) {
		for k := first; k <= last; k++ {
			if x.pages[k] != nil {
				keys = append(keys, k)
			}
		}
	} else {
		for k := range x.pages {
			if k >= first && k <= last {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
	}
	var ts []uint64
	for _, k := range keys {
		for m := x.pages[k].bits; m != 0; m &= m - 1 {
			if t := k*64 + uint64(bits.TrailingZeros64(m)); t >= start && t < end {
				ts = append(ts, t)
			}
		}
	}
	return ts
}
