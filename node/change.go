package node

import (
	"bytes"
	"errors"
	"fmt"
)

// Change is a client's request to write one path, with the conditions DistKV offers. The
// conditions are checked here, at the origin, against the node's current state.
type Change struct {
	Path   Path
	Value  []byte // raw msgpack; ignored when Delete
	Delete bool

	// IfChain, when HasIfChain, requires the entry's current version to be IfChain's head;
	// a zero IfChain (no origin) requires that the entry has no value.
	HasIfChain bool
	IfChain    Link
	// IfPrev, when HasIfPrev, requires the current value to equal IfPrev (msgpack-equal).
	HasIfPrev bool
	IfPrev    []byte
	// Idem makes writing the value the entry already has a no-op: no tick, no event.
	Idem bool
}

// Result reports what a Change did.
type Result struct {
	Changed bool
	Prev    []byte // the value before, nil if there was none
	HadPrev bool
	Entry   Entry // the entry after the change
}

// ErrCondition is wrapped by every failed condition. ErrChain marks the chain conditions, as
// DistKV's ClientChainError.
var (
	ErrCondition = errors.New("node: condition failed")
	ErrChain     = fmt.Errorf("%w: chain", ErrCondition)
	ErrRoot      = errors.New("node: the root cannot be written")
)

// CondError says which condition failed, in DistKV's words.
type CondError struct {
	Index int // which change of a multi write
	Chain bool
	Msg   string
}

func (e *CondError) Error() string { return e.Msg }

func (e *CondError) Unwrap() error {
	if e.Chain {
		return ErrChain
	}
	return ErrCondition
}

// Write applies changes atomically as one update with one tick: either every condition holds
// and every change is made, or none is. Changes that are no-ops (idem, or deleting what has
// no value) take no op; if none is left, no tick is used.
func (n *Node) Write(chs []Change) ([]Result, *Update, error) {
	var seen map[string]bool // one change cannot repeat a path: no map, no key
	if len(chs) > 1 {
		seen = make(map[string]bool, len(chs))
	}
	// found holds each change's entry as the checks looked it up: nothing changes before
	// Apply, so the ops are built from the same lookups.
	var found1 [1]*entry
	found := found1[:0]
	if len(chs) > 1 {
		found = make([]*entry, 0, len(chs))
	}
	for i := range chs {
		ch := &chs[i]
		if len(ch.Path) == 0 {
			return nil, nil, ErrRoot
		}
		if seen != nil {
			if k := ch.Path.Key(); seen[k] {
				return nil, nil, fmt.Errorf("node: path %s written twice in one update", ch.Path)
			} else {
				seen[k] = true
			}
		}
		if !ch.Delete {
			if r := (Reader{b: ch.Value}); len(ch.Value) == 0 {
				return nil, nil, wireErr("change %d: no value", i)
			} else if _, err := r.Raw(); err != nil || r.Len() != 0 {
				return nil, nil, wireErr("change %d: the value is not exactly one msgpack value", i)
			}
		}
		e := n.find(ch.Path)
		if err := n.check(i, ch, e); err != nil {
			return nil, nil, err
		}
		found = append(found, e)
	}
	if n.clock >= MaxTick || n.self.highest >= MaxTick {
		return nil, nil, fmt.Errorf("node: clock exhausted (tock %d, tick %d)", n.clock, n.self.highest)
	}
	res, u := newWrite(n.self.name, chs)
	// at holds each op's entry, from found: Apply then walks no path again.
	var at1 [1]*entry
	at := at1[:0]
	if len(chs) > 1 {
		at = make([]*entry, 0, len(chs))
	}
	for i := range chs {
		ch := &chs[i]
		e := found[i]
		if e != nil && e.live() {
			res[i].Prev, res[i].HadPrev = e.value, true
		}
		if n.noop(e, ch) {
			if e != nil && e.has {
				res[i].Entry = e.view(ch.Path, n.cfg.ChainLen)
			}
			continue
		}
		op := Op{Path: u.clonePath(ch.Path), Delete: ch.Delete}
		if !ch.Delete {
			op.Value = ch.Value
		}
		if e != nil && e.has {
			op.Chain = extend(e.head(), e.prev, n.cfg.ChainLen-1)
		}
		u.Ops = append(u.Ops, op)
		at = append(at, e)
		res[i].Changed = true
	}
	if len(u.Ops) == 0 {
		return res, nil, nil
	}
	n.clock++
	u.Tick, u.Tock = n.self.highest+1, n.clock
	n.stats.Local++
	if n.eff.Log == nil { // the effects of a write alone since Ready: no slices of their own
		n.eff.Log = u.effs[0:0:1]
	}
	if n.eff.Send == nil {
		n.eff.Send = u.effs[1:1:2]
	}
	n.apply(&u.Update, at) // fills in the entries it made
	n.eff.Send = append(n.eff.Send, &u.Update)
	var room Chain // the result's chain, in u's room for a single change
	if len(chs) == 1 {
		room = u.chain[:0]
	}
	k := 0
	for i := range chs {
		if res[i].Changed {
			res[i].Entry = at[k].viewInto(chs[i].Path, n.cfg.ChainLen, room)
			k++
		}
	}
	return res, &u.Update, nil
}

// written is what a write allocates: a single change (the common write) takes its update, op,
// path and result from one object, as they live about as long (until the update is sent).
type written struct {
	Update
	ops   [1]Op
	path  [4]Element
	res   [1]Result
	paths int        // elements of path used
	chain [1]Link    // room for the result's chain: one link while one origin writes the entry
	effs  [2]*Update // room for Effects.Log and Send, each of one update
}

func newWrite(origin string, chs []Change) ([]Result, *written) {
	w := &written{Update: Update{Origin: origin}}
	if len(chs) == 1 {
		w.Ops = w.ops[:0]
		return w.res[:], w
	}
	w.Ops = make([]Op, 0, len(chs))
	return make([]Result, len(chs)), w
}

// clonePath copies p, into w's own room while it lasts.
func (w *written) clonePath(p Path) Path {
	if w.paths+len(p) > len(w.path) {
		return p.Clone()
	}
	c := append(w.path[w.paths:w.paths], p...)
	w.paths += len(p)
	return c[:len(p):len(p)]
}

func (n *Node) noop(e *entry, ch *Change) bool {
	if ch.Delete {
		return e == nil || !e.live()
	}
	return ch.Idem && e != nil && e.live() && ValuesEqual(e.value, ch.Value)
}

// check tests ch's conditions against e, the entry at its path (nil: none).
func (n *Node) check(i int, ch *Change, e *entry) error {
	live := e != nil && e.live()
	if ch.HasIfChain {
		want := ch.IfChain
		switch {
		case want.Origin == "" && live:
			return &CondError{i, true, "Entry already exists"}
		case want.Origin != "" && !live:
			return &CondError{i, true, "Entry is new"}
		case want.Origin != "" && e.head() != want:
			h := e.head()
			return &CondError{i, true, fmt.Sprintf("Chain is %s:%d not %s:%d", h.Origin, h.Tick, want.Origin, want.Tick)}
		}
	}
	if ch.HasIfPrev {
		if !live {
			return &CondError{i, false, "Data is missing, not as expected"}
		}
		if !ValuesEqual(e.value, ch.IfPrev) {
			return &CondError{i, false, "Data is not as expected"}
		}
	}
	return nil
}

// ValuesEqual compares two msgpack values by meaning: the same bytes, or the same value
// encoded differently (5 as fixint or as int64).
func ValuesEqual(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	ca, err1 := Canonical(a)
	cb, err2 := Canonical(b)
	return err1 == nil && err2 == nil && bytes.Equal(ca, cb)
}
