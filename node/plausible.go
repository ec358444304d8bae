package node

import (
	"errors"
	"fmt"
)

// Bounds on what a peer may claim (docs/replication.md, "Implausible input"). A peer's input
// names ticks and tocks; the node takes the highest of them as facts (its clock, the highest
// tick of an origin), and a fact that can never come true breaks it for good: a tock near
// MaxTick exhausts the clock, a tick nobody made is a gap that never fills.
const (
	// MaxTickAhead is how far past the highest tick this node heard of an origin a peer may
	// name a tick of it: 2^32 updates of one origin this node never heard of.
	MaxTickAhead = 1 << 32
	// MaxTockAhead is how far past this node's clock a peer's tock may be: 2^32 writes in the
	// network that this node never heard of.
	MaxTockAhead = 1 << 32
	// MaxPlausible bounds every tick and tock from a peer, whatever the node knows: at a
	// million writes a second the network takes 146,000 years to get there, and the clock's
	// upper half stays for this node's own writes, so no input can exhaust it.
	MaxPlausible = 1<<62 - 1
)

// ErrImplausible is wrapped by every refusal of Plausible and PlausibleHead.
var ErrImplausible = errors.New("node: implausible peer input")

func implausible(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrImplausible}, a...)...)
}

// Horizon widens what the node takes as plausible by what a trusted source said: a state
// transfer's header (its heads and tock) for the chunks that follow it.
type Horizon struct {
	Highest map[string]uint64
	Tock    uint64
}

// HorizonOf makes the horizon of a state transfer's header: its heads (the highest of each
// origin's known ticks included) and its tock. The header itself is taken on the donor's word,
// but for ticks and tocks past MaxPlausible, which no honest network reaches.
func HorizonOf(known map[string]RangeSet, highest map[string]uint64, tock uint64) (Horizon, error) {
	h := Horizon{Highest: make(map[string]uint64, len(highest)+len(known)), Tock: tock}
	if tock > MaxPlausible {
		return Horizon{}, implausible("state header with tock %d", tock)
	}
	for o, t := range highest {
		h.Highest[o] = t
	}
	for o, rs := range known {
		h.Highest[o] = max(h.Highest[o], rs.Max())
	}
	for o, t := range h.Highest {
		if o == "" || t > MaxPlausible {
			return Horizon{}, implausible("state header with tick %d of %q", t, o)
		}
	}
	return h, nil
}

// Plausible reports why an update from a peer cannot be honest, or nil: a tick or chain link
// no one can have made yet (see PlausibleHead), a chain link of the update's own origin not
// older than the update, or a tock more than MaxTockAhead past the node's clock. A caller
// refuses the whole message that carried it and applies nothing from it.
func (n *Node) Plausible(u *Update) error { return n.PlausibleWithin(u, Horizon{}) }

// PlausibleWithin is Plausible with the node's knowledge widened by h.
func (n *Node) PlausibleWithin(u *Update, h Horizon) error {
	if err := n.plausibleHead(u.Origin, u.Tick, h); err != nil {
		return fmt.Errorf("update %s/%d: %w", u.Origin, u.Tick, err)
	}
	if u.Tock == 0 || u.Tock > MaxPlausible {
		return implausible("update %s/%d has tock %d", u.Origin, u.Tick, u.Tock)
	}
	if limit := max(n.clock, h.Tock) + MaxTockAhead; u.Tock > limit {
		return implausible("update %s/%d has tock %d, more than %d past this node's clock %d",
			u.Origin, u.Tick, u.Tock, uint64(MaxTockAhead), max(n.clock, h.Tock))
	}
	for i := range u.Ops {
		op := &u.Ops[i]
		if len(op.Path) == 0 {
			return implausible("update %s/%d writes the root", u.Origin, u.Tick)
		}
		if len(op.Chain) > MaxChain {
			return implausible("update %s/%d: chain of %d links", u.Origin, u.Tick, len(op.Chain))
		}
		for _, l := range op.Chain {
			if l.Origin == u.Origin && l.Tick >= u.Tick {
				return implausible("update %s/%d replaces its own origin's later tick %d", u.Origin, u.Tick, l.Tick)
			}
			if err := n.plausibleHead(l.Origin, l.Tick, h); err != nil {
				return fmt.Errorf("update %s/%d: chain link: %w", u.Origin, u.Tick, err)
			}
		}
	}
	return nil
}

// PlausibleHead reports why a peer cannot honestly have heard of tick of origin (in an
// update, a chain link, a head announcement, a purge watermark), or nil. No one can know a
// tick of this node's own origin above the highest this node heard of (it makes them, and a
// restarted node learns its own from its log and its donor's vector); a tick of another
// origin may be at most MaxTickAhead past the highest this node heard of; and none may pass
// MaxPlausible.
func (n *Node) PlausibleHead(origin string, tick uint64) error {
	return n.plausibleHead(origin, tick, Horizon{})
}

func (n *Node) plausibleHead(origin string, tick uint64, h Horizon) error {
	switch {
	case origin == "":
		return implausible("no origin")
	case tick == 0 || tick > MaxPlausible:
		return implausible("tick %d of %s", tick, origin)
	}
	known := uint64(0)
	if o := n.knownOrigin(origin); o != nil {
		known = o.highest
	}
	known = max(known, h.Highest[origin])
	if origin == n.self.name {
		if tick > known {
			return implausible("tick %d of this node's own origin %s, which is only at %d", tick, origin, known)
		}
		return nil
	}
	if tick > known+MaxTickAhead {
		return implausible("tick %d of %s, more than %d past the highest heard of, %d", tick, origin, uint64(MaxTickAhead), known)
	}
	return nil
}

// Sane reports why no honest network can have made u, whatever a node knows: a tick, tock or
// chain link past MaxPlausible. A node replaying its own log or snapshot skips such updates of
// other origins, which it can only have taken from a peer before Plausible existed: kept,
// they would exhaust its clock again at every start.
func Sane(u *Update) error {
	if u.Tick > MaxPlausible || u.Tock > MaxPlausible {
		return implausible("update %s/%d@%d", u.Origin, u.Tick, u.Tock)
	}
	for i := range u.Ops {
		for _, l := range u.Ops[i].Chain {
			if l.Tick > MaxPlausible {
				return implausible("update %s/%d: chain link %s/%d", u.Origin, u.Tick, l.Origin, l.Tick)
			}
		}
	}
	return nil
}
