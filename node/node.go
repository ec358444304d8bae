package node

import (
	"fmt"
	"slices"
)

// Config configures a Node.
type Config struct {
	// Origin names this incarnation's history ("name~gen"); every local update carries it.
	Origin string
	// ChainLen bounds the chains kept and sent: 8 covers a path written concurrently from up
	// to 8 origins before the conflict detection gets blind. Default 8.
	ChainLen int
}

// Stats counts what the node did; all counters only grow.
type Stats struct {
	Local      uint64 // updates originated here
	Applied    uint64 // remote updates applied (new ticks)
	Duplicates uint64 // remote updates ignored because their tick was known
	Conflicts  uint64 // concurrent writes detected (a version replaced or refused without descent)
	Purged     uint64 // tombstones purged
	Settled    uint64 // ticks settled as lost (see Settle)
	Forgotten  uint64 // origins forgotten (see Forget)
}

// Effects is what the caller must do after calling the node, in field order.
type Effects struct {
	// Log holds every update that became known, in apply order. Append them to the event
	// log BEFORE sending Send and before acknowledging the client writes that made them.
	Log []*Update
	// Send holds the updates originated here, to push to peers once logged.
	Send []*Update
	// Events holds watch events in order. Route them without blocking.
	Events []Event
}

type originState struct {
	name    string
	known   RangeSet
	highest uint64
	// current maps a tick to the entries whose current version it wrote (linked by entry.same).
	current tickIndex
	// forgotten: the origin was forgotten (see Forget); its updates are ignored.
	forgotten bool
}

// Node is the replicated tree's state machine. It does no I/O, starts no goroutine and reads
// no clock: the caller feeds it inputs and carries out the Effects. It is not safe for
// concurrent use.
type Node struct {
	cfg     Config
	self    *originState
	clock   uint64 // Lamport clock: the highest tock seen or made
	root    *entry
	origins map[string]*originState
	// lastOrigin is the origin knownOrigin found last (nil: none).
	lastOrigin *originState
	// forgotten holds the origins forgotten, out of origins, still referenced by their entries.
	forgotten map[string]*originState
	purgeWM   map[string]uint64 // purge watermark heard of: tombstones at or below it may go
	// purgeDue: a tombstone may have become purgeable since the last walk (one was written,
	// the watermark rose, an origin was forgotten); Purge walks the tombstones only then.
	purgeDue bool
	stats    Stats
	eff      Effects
	watches  map[uint64]*watch
	tombs    map[*entry]struct{} // tombstones, for purging without walking the tree
	entries  int                 // written entries in the tree (live or tombstone)
	live     int
}

// New returns an empty node.
func New(cfg Config) *Node {
	if cfg.ChainLen <= 0 {
		cfg.ChainLen = 8
	}
	n := &Node{
		cfg:     cfg,
		root:    &entry{},
		origins: make(map[string]*originState),
		purgeWM: make(map[string]uint64),
		watches: make(map[uint64]*watch),
		tombs:   make(map[*entry]struct{}),
	}
	n.self = n.originOf(cfg.Origin)
	return n
}

// Origin returns this node's origin name.
func (n *Node) Origin() string { return n.cfg.Origin }

// Tick returns the last tick this origin used.
func (n *Node) Tick() uint64 { return n.self.highest }

// Tock returns the Lamport clock.
func (n *Node) Tock() uint64 { return n.clock }

// NextTock advances the Lamport clock by one and returns it, as DistKV's get_tock does: its
// clients use the value as an id no other get_tock or write on this node has returned. An
// exhausted clock stays where it is.
func (n *Node) NextTock() uint64 {
	if n.clock < MaxTick {
		n.clock++
	}
	return n.clock
}

// Stats returns the counters.
func (n *Node) Stats() Stats { return n.stats }

// Len returns the number of live entries.
func (n *Node) Len() int { return n.live }

// Ready hands over the accumulated effects and clears them.
func (n *Node) Ready() Effects {
	e := n.eff
	n.eff = Effects{}
	return e
}

// SeeTock raises the Lamport clock to t, as for every tock heard from a peer (a vector, a
// state header). A tock past MaxPlausible is ignored: no honest network gets there, and taking
// it would exhaust the clock (docs/replication.md, "Implausible input").
func (n *Node) SeeTock(t uint64) {
	if t <= MaxPlausible {
		n.seeTock(t)
	}
}

// seeTock raises the clock to the tock of an update being applied, whatever it is: the
// update's version must order below the node's next write.
func (n *Node) seeTock(t uint64) {
	if t > n.clock && t <= MaxTick {
		n.clock = t
	}
}

func (n *Node) originOf(name string) *originState {
	o := n.knownOrigin(name)
	if o == nil {
		if f := n.forgotten[name]; f != nil {
			return f
		}
		o = &originState{name: name}
		n.origins[name] = o
	}
	return o
}

// knownOrigin is n.origins[name], remembering the last one found: a pushed frame's updates
// and their chains' links name one origin, looked up once instead of for every update and
// link. Forget, the only one that removes origins, clears it.
func (n *Node) knownOrigin(name string) *originState {
	if o := n.lastOrigin; o != nil && o.name == name {
		return o
	}
	o := n.origins[name]
	if o != nil {
		n.lastOrigin = o
	}
	return o
}

// SeeHead records that origin has used ticks up to tick (a head announcement, or a chain
// link), so that the ones not known become missing. A tick past MaxPlausible is ignored: no
// origin made it, so its gap would never fill.
func (n *Node) SeeHead(origin string, tick uint64) {
	if origin == "" || tick > MaxPlausible {
		return
	}
	o := n.originOf(origin)
	if tick > o.highest {
		o.highest = tick
	}
}

// Lookup returns the entry at p.
func (n *Node) Lookup(p Path) (Entry, bool) {
	e := n.find(p)
	if e == nil || !e.has {
		return Entry{}, false
	}
	return e.view(p, n.cfg.ChainLen), true
}

func (n *Node) find(p Path) *entry {
	e := n.root
	for _, el := range p {
		if e = e.child(el, false); e == nil {
			return nil
		}
	}
	return e
}

func (n *Node) findOrCreate(p Path) *entry {
	e := n.root
	for _, el := range p {
		e = e.child(el, true)
	}
	return e
}

// set installs the version (o, tick, tock) of op at e and keeps digests, counters and the
// per-origin index right. The caller has decided that it wins.
func (n *Node) set(e *entry, p Path, o *originState, tick, tock uint64, op *Op) {
	if e.has {
		n.unindex(e)
		if e.live() {
			n.live--
		}
	} else {
		n.entries++
	}
	e.has, e.deleted = true, op.Delete
	e.value = op.Value
	if op.Delete {
		e.value = nil
	}
	e.origin, e.tick, e.tock = o, tick, tock
	e.prev = op.Chain
	e.setSame(o.current.set(tick, e))
	if e.live() {
		n.live++
		delete(n.tombs, e)
		e.setHash(entryHash(p, o.name, tick, tock, e.value))
	} else {
		n.tombs[e] = struct{}{}
		n.purgeDue = true
		e.setHash(digest{})
	}
	for _, l := range op.Chain {
		n.SeeHead(l.Origin, l.Tick)
	}
	n.notify(e, p)
}

// unindex removes e from its current version's (origin, tick) list.
func (n *Node) unindex(e *entry) {
	o := e.origin
	if o == nil {
		return
	}
	if first := o.current.replace(e.tick, e, e.same()); first != e {
		for x := first; x != nil; x = x.same() {
			if x.same() == e {
				x.setSame(e.same())
				break
			}
		}
	}
	e.setSame(nil)
}

// applyOp applies one op of update (o, tick, tock) by the conflict rule to e, the entry at
// op.Path.
func (n *Node) applyOp(e *entry, o *originState, tick, tock uint64, op *Op) {
	if e.has {
		switch c := CompareVersion(tock, o.name, e.tock, e.origin.name); {
		case c == 0:
			return // the same version
		case c < 0:
			// The incoming op loses. It is a conflict unless the current version has it in
			// its history (then it is just late).
			if !descends(extend(e.head(), e.prev, MaxChain), Link{o.name, tick}) {
				n.stats.Conflicts++
			}
			return
		}
		if !descends(op.Chain, e.head()) {
			n.stats.Conflicts++
		}
	}
	n.set(e, op.Path, o, tick, tock, op)
}

// Apply applies an update received from a peer (or replayed from the log). It is idempotent:
// an update whose tick is already known is ignored. Returns whether it was new.
func (n *Node) Apply(u *Update) bool { return n.apply(u, nil) }

// apply is Apply with at, if not nil, holding each op's entry as the caller found it (nil: none
// yet): the ones it makes are filled in.
func (n *Node) apply(u *Update, at []*entry) bool {
	o := n.originOf(u.Origin)
	if o.known.Contains(u.Tick) || o.forgotten {
		n.stats.Duplicates++
		return false
	}
	n.seeTock(u.Tock)
	for i := range u.Ops {
		op := &u.Ops[i]
		var e *entry
		if at != nil {
			e = at[i]
		}
		if e == nil {
			e = n.findOrCreate(op.Path)
			if at != nil {
				at[i] = e
			}
		}
		n.applyOp(e, o, u.Tick, u.Tock, op)
	}
	o.known.Add(u.Tick)
	if u.Tick > o.highest {
		o.highest = u.Tick
	}
	if o != n.self {
		n.stats.Applied++
	}
	n.eff.Log = append(n.eff.Log, u)
	return true
}

// ApplyBatch applies us in order, as Apply does each, growing the effects log once for all
// of them instead of doubling it along the way (a pushed frame holds tens of updates).
func (n *Node) ApplyBatch(us []*Update) {
	n.eff.Log = slices.Grow(n.eff.Log, len(us))
	for _, u := range us {
		n.Apply(u)
	}
}

// Load applies the entries of a snapshot or a full-state transfer: each is a single-op update
// holding an entry's current version. Unlike Apply it does not mark ticks known (a snapshot's
// known ticks come with its header, see MarkKnown) and does not log.
func (n *Node) Load(u *Update) {
	o := n.originOf(u.Origin)
	n.seeTock(u.Tock)
	if u.Tick > o.highest {
		o.highest = u.Tick
	}
	for i := range u.Ops {
		op := &u.Ops[i]
		n.applyOp(n.findOrCreate(op.Path), o, u.Tick, u.Tock, op)
	}
}

// MarkKnown adds ticks to an origin's known set: ticks a peer reported as superseded, or the
// known vector of a loaded snapshot. Only do this for ticks whose surviving effects the node
// holds or will receive.
func (n *Node) MarkKnown(origin string, rs RangeSet) {
	if origin == "" || rs.Empty() {
		return
	}
	o := n.originOf(origin)
	o.known.AddSet(rs)
	if m := rs.Max(); m > o.highest {
		o.highest = m
	}
}

// CompareVersion orders versions by the conflict rule: by tock, then by origin name; the
// greater wins.
func CompareVersion(tockA uint64, originA string, tockB uint64, originB string) int {
	switch {
	case tockA < tockB:
		return -1
	case tockA > tockB:
		return 1
	case originA < originB:
		return -1
	case originA > originB:
		return 1
	}
	return 0
}

// Known returns a copy of every origin's known ticks.
func (n *Node) Known() map[string]RangeSet {
	m := make(map[string]RangeSet, len(n.origins))
	for name, o := range n.origins {
		if !o.known.Empty() {
			m[name] = o.known.Clone()
		}
	}
	return m
}

// Highest returns every origin's highest tick heard of.
func (n *Node) Highest() map[string]uint64 {
	m := make(map[string]uint64, len(n.origins))
	for name, o := range n.origins {
		if o.highest > 0 {
			m[name] = o.highest
		}
	}
	return m
}

// Missing returns, per origin, the ticks up to the highest heard of that are not known.
func (n *Node) Missing() map[string]RangeSet {
	m := make(map[string]RangeSet)
	for name, o := range n.origins {
		if miss := Upto(o.highest).Minus(o.known); !miss.Empty() {
			m[name] = miss
		}
	}
	return m
}

// KnownOf returns a copy of one origin's known ticks.
func (n *Node) KnownOf(origin string) RangeSet {
	if o := n.origins[origin]; o != nil {
		return o.known.Clone()
	}
	return RangeSet{}
}

// MissingOf returns one origin's missing ticks.
func (n *Node) MissingOf(origin string) RangeSet {
	o := n.origins[origin]
	if o == nil {
		return RangeSet{}
	}
	return Upto(o.highest).Minus(o.known)
}

// Digest returns the digest of the subtree at p (zero if there is none).
func (n *Node) Digest(p Path) [2]uint64 {
	if e := n.find(p); e != nil {
		return e.subDigest()
	}
	return [2]uint64{}
}

// Serve answers a peer's pull of an origin's ticks: for each tick known here, the update
// holding the ops of it that are still current here (other ops lost to newer versions the
// peer will get under their own ticks), or, when none is current (superseded, lost a conflict,
// purged), the tick in superseded: the peer marks those known. Ticks not known here are in
// neither. It stops after max updates or maxBytes of them, whichever comes first, but always
// returns at least one update if any is due (0: no limit); the caller asks again for the rest.
func (n *Node) Serve(origin string, want RangeSet, max, maxBytes int) (ups []*Update, superseded RangeSet) {
	o := n.origins[origin]
	if o == nil {
		return nil, RangeSet{}
	}
	have := want.Intersect(o.known)
	size := 0
	for _, r := range have.Ranges() {
		// A range longer than the origin's current ticks (settled or superseded ticks, up to
		// 2^32 of them) is walked through those ticks, not tick by tick under the lock.
		ticks := o.current.ticksIn(r.Start, r.End)
		next := r.Start // ticks below next are served or marked superseded
		for _, t := range ticks {
			first := o.current.get(t)
			superseded.AddRange(next, t)
			next = t + 1
			if (max > 0 && len(ups) >= max) || (maxBytes > 0 && size >= maxBytes) {
				return ups, superseded
			}
			u := &Update{Origin: origin, Tick: t, Tock: first.tock}
			for e := first; e != nil; e = e.same() {
				u.Ops = append(u.Ops, e.op())
			}
			ups = append(ups, u)
			size += u.Size()
		}
		superseded.AddRange(next, r.End)
	}
	return ups, superseded
}

// op returns e's current version as an op.
func (e *entry) op() Op {
	return Op{Path: e.path(), Value: e.value, Delete: e.deleted, Chain: e.prev}
}

// entryUpdate returns e's current version as a single-op update, as Load takes it.
func (e *entry) entryUpdate() *Update {
	return &Update{Origin: e.origin.name, Tick: e.tick, Tock: e.tock, Ops: []Op{e.op()}}
}

// Origins returns the names of all origins heard of, sorted.
func (n *Node) Origins() []string {
	s := make([]string, 0, len(n.origins))
	for k := range n.origins {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}

func (n *Node) String() string {
	return fmt.Sprintf("node %s tick %d tock %d entries %d", n.cfg.Origin, n.self.highest, n.clock, n.live)
}

// ByTick returns an entry whose current version was written by (origin, tick).
func (n *Node) ByTick(origin string, tick uint64) (Entry, bool) {
	o := n.origins[origin]
	if o == nil || o.current.get(tick) == nil {
		return Entry{}, false
	}
	e := o.current.get(tick)
	return e.view(e.path(), n.cfg.ChainLen), true
}

// CarryStats adds another node's counters to this one's, so that counters keep growing when
// the caller replaces a node with a fresh one (a resync).
func (n *Node) CarryStats(s Stats) {
	n.stats.Local += s.Local
	n.stats.Applied += s.Applied
	n.stats.Duplicates += s.Duplicates
	n.stats.Conflicts += s.Conflicts
	n.stats.Purged += s.Purged
	n.stats.Settled += s.Settled
	n.stats.Forgotten += s.Forgotten
}

// Gapless reports whether the node knows every tick of origin up to the highest it heard of:
// MissingOf(origin).Empty() in O(1), for hot paths.
func (n *Node) Gapless(origin string) bool {
	o := n.origins[origin]
	return o == nil || o.known.Contig() >= o.highest
}

// SetOrigin makes the node's future writes use a new origin (a new incarnation after a crash
// that may have lost acknowledged ticks); its history is unchanged.
func (n *Node) SetOrigin(origin string) {
	n.cfg.Origin = origin
	n.self = n.originOf(origin)
}

// Tombstones returns the number of tombstones not purged yet.
func (n *Node) Tombstones() int { return len(n.tombs) }
