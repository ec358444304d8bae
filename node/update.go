package node

import "fmt"

// Link names one version of an entry: the update (origin, tick) that wrote it.
type Link struct {
	Origin string
	Tick   uint64
}

// Chain lists the versions before an op, newest first, at most one link per origin.
type Chain []Link

// Op is one change of an update: a value or a delete at a path. Chain is the chain of the
// version it replaced at its origin, so receivers can tell whether writes were concurrent.
type Op struct {
	Path   Path
	Value  []byte // raw msgpack; nil when Delete
	Delete bool
	Chain  Chain
}

// Update is one change made at an origin: its tick, its tock and its ops (several for an atomic
// multi-path write, none for an update that only occupies its tick).
type Update struct {
	Origin string
	Tick   uint64
	Tock   uint64
	Ops    []Op
}

func (u *Update) String() string {
	return fmt.Sprintf("%s/%d@%d(%d ops)", u.Origin, u.Tick, u.Tock, len(u.Ops))
}

// Size estimates the encoded size of u in bytes.
func (u *Update) Size() int {
	n := 16 + len(u.Origin)
	for _, op := range u.Ops {
		n += 8 + len(op.Value) + 8*len(op.Path)
		for _, l := range op.Chain {
			n += 10 + len(l.Origin)
		}
		for _, e := range op.Path {
			n += len(e.str)
		}
	}
	return n
}

// Wire form (peer data plane, event log, snapshots); append-only: never reorder fields.
//
//	update = [origin str, tick uint, tock uint, [op...]]
//	op     = [path ext3, delete bool, value raw|nil, [[origin, tick]...]]

// AppendMsgpack appends the wire form of u.
func (u *Update) AppendMsgpack(b []byte) []byte {
	b = AppendArrayLen(b, 4)
	b = AppendString(b, u.Origin)
	b = AppendUint(b, u.Tick)
	b = AppendUint(b, u.Tock)
	b = AppendArrayLen(b, len(u.Ops))
	for i := range u.Ops {
		op := &u.Ops[i]
		b = AppendArrayLen(b, 4)
		b = AppendPath(b, op.Path)
		b = AppendBool(b, op.Delete)
		if op.Delete || op.Value == nil {
			b = AppendNil(b)
		} else {
			b = append(b, op.Value...)
		}
		b = op.Chain.appendMsgpack(b)
	}
	return b
}

func (c Chain) appendMsgpack(b []byte) []byte {
	b = AppendArrayLen(b, len(c))
	for _, l := range c {
		b = AppendUint(AppendString(AppendArrayLen(b, 2), l.Origin), l.Tick)
	}
	return b
}

// MaxChain bounds chains read from the wire.
const MaxChain = 64

// minOpSize is the smallest encoding of an op: a 4-array header, a one-byte path as fixext 1
// (3 bytes), a bool, a nil and an empty chain.
const minOpSize = 7

// maxPrealloc is the most ops an update's decoding reserves room for before it read them: the
// server writes at most 4096 ops in one update.
const maxPrealloc = 4096

// Update decodes one update in wire form. Values are copied out of the reader's buffer.
func (r *Reader) Update() (*Update, error) {
	u := &Update{}
	if err := r.update(u, nil); err != nil {
		return nil, err
	}
	return u, nil
}

// UpdateInto decodes one update into u, reusing u's op list and the backing of its ops'
// paths, so that decoding a stream of updates allocates only what a node keeps of each: its
// value, its chain and the names that differ from the last path's. For a caller that keeps
// neither u's op list nor its paths past the next call (Node.Load copies out what it keeps;
// Node.Apply keeps the whole update and must not be given one).
func (r *Reader) UpdateInto(u *Update) error {
	ops := u.Ops[:cap(u.Ops)]
	*u = Update{}
	if err := r.update(u, ops); err != nil {
		u.Ops = ops[:0] // keep the backing for the next call
		return err
	}
	return nil
}

// update decodes into u, whose fields are zero. reuse, if not nil, is an op list whose
// backing (and its ops' path backings) u's ops may take.
func (r *Reader) update(u *Update, reuse []Op) error {
	n, err := r.ArrayLen()
	if err != nil {
		return err
	}
	if n < 4 {
		return wireErr("update of %d fields", n)
	}
	if u.Origin, err = r.strLike(r.origin); err != nil {
		return err
	}
	if u.Origin == "" {
		return wireErr("update without origin")
	}
	r.origin = u.Origin
	if u.Tick, err = r.Uint(); err != nil {
		return err
	}
	if u.Tick == 0 || u.Tick > MaxTick {
		return wireErr("update with tick %d", u.Tick)
	}
	if u.Tock, err = r.Uint(); err != nil {
		return err
	}
	if u.Tock > MaxTick {
		return wireErr("update with tock %d", u.Tock)
	}
	nops, err := r.ArrayLen()
	if err != nil {
		return err
	}
	// Sized by the bytes left, not the count alone (an op takes minOpSize bytes but 80 in
	// memory), and at most for as many ops as an honest update has, so that a lying count
	// costs little and an honest one no regrowth.
	prealloc := min(nops, r.Len()/minOpSize, maxPrealloc)
	reusing := reuse != nil && cap(reuse) >= prealloc
	switch {
	case reusing:
		u.Ops = reuse[:0]
	case r.batch:
		u.Ops = r.opBlock(prealloc)
	default:
		u.Ops = make([]Op, 0, prealloc)
	}
	for i := 0; i < nops; i++ {
		var dst Path
		if reusing && i < len(reuse) { // u.Ops[i] is reuse[i] until append regrows u.Ops
			dst = reuse[i].Path[:0]
		}
		u.Ops = append(u.Ops, Op{})
		if err := r.op(&u.Ops[i], dst); err != nil {
			return err
		}
	}
	for i := 4; i < n; i++ { // fields added by later versions
		if _, err := r.Raw(); err != nil {
			return err
		}
	}
	return nil
}

// op decodes one op into op (zero), its path into dst's backing if dst is not nil.
func (r *Reader) op(op *Op, dst Path) error {
	n, err := r.ArrayLen()
	if err != nil {
		return err
	}
	if n < 4 {
		return wireErr("op of %d fields", n)
	}
	if dst == nil && r.batch {
		dst = r.elemBlock()
	}
	if op.Path, err = r.pathInto(dst); err != nil {
		return err
	}
	if r.batch {
		op.Path = r.tookElems(op.Path)
	}
	if len(op.Path) == 0 {
		return wireErr("op on the root")
	}
	if op.Delete, err = r.Bool(); err != nil {
		return err
	}
	v, err := r.Raw()
	if err != nil {
		return err
	}
	if !op.Delete {
		op.Value = append([]byte(nil), v...)
	}
	if op.Chain, err = r.chain(r.origin); err != nil {
		return err
	}
	for i := 4; i < n; i++ {
		if _, err := r.Raw(); err != nil {
			return err
		}
	}
	return nil
}

// Chain decodes a chain in wire form.
func (r *Reader) Chain() (Chain, error) { return r.chain("") }

// chain decodes a chain; a link's origin equal to origin shares its string.
func (r *Reader) chain(origin string) (Chain, error) {
	n, err := r.ArrayLen()
	if err != nil {
		return nil, err
	}
	if n > MaxChain {
		return nil, wireErr("chain of %d links", n)
	}
	var c Chain
	if n > 0 {
		c = make(Chain, 0, n) // a link takes 4 bytes at least: ArrayLen checked n
	}
	for i := 0; i < n; i++ {
		m, err := r.ArrayLen()
		if err != nil {
			return nil, err
		}
		if m != 2 {
			return nil, wireErr("chain link of %d items", m)
		}
		var l Link
		if l.Origin, err = r.strLike(origin); err != nil {
			return nil, err
		}
		if l.Tick, err = r.Uint(); err != nil {
			return nil, err
		}
		if l.Tick == 0 || l.Tick > MaxTick {
			return nil, wireErr("chain link with tick %d", l.Tick)
		}
		c = append(c, l)
	}
	return c, nil
}

// DecodeUpdate decodes one update that must fill b.
func DecodeUpdate(b []byte) (*Update, error) {
	r := NewReader(b)
	u, err := r.Update()
	if err == nil {
		err = r.trailing()
	}
	return u, err
}

// DecodeUpdateInto decodes into u (as UpdateInto) one update that must fill b, sharing
// strings with the update r read before.
func (r *Reader) DecodeUpdateInto(b []byte, u *Update) error {
	r.Reset(b)
	err := r.UpdateInto(u)
	if err == nil {
		err = r.trailing()
	}
	return err
}

func (r *Reader) trailing() error {
	if r.Len() != 0 {
		return wireErr("%d trailing bytes after update", r.Len())
	}
	return nil
}

// descends reports whether a version whose previous links are prev (plus its own head) has the
// version l in its history.
func descends(prev Chain, l Link) bool {
	for _, p := range prev {
		if p.Origin == l.Origin {
			return p.Tick >= l.Tick
		}
	}
	return false
}

// extend returns the chain of the version written by (origin, tick) over a version whose full
// chain is head+prev: the new head first, the origin's older link dropped, at most max links.
func extend(head Link, prev Chain, max int) Chain { return extendInto(nil, head, prev, max) }

// extendInto is extend in dst's backing if it has room for the result.
func extendInto(dst Chain, head Link, prev Chain, max int) Chain {
	n := 0
	if head.Origin != "" {
		n++
	}
	for _, l := range prev {
		if l.Origin != head.Origin {
			n++
		}
	}
	c := dst[:0]
	if n = min(n, max); c == nil || cap(c) < n {
		c = make(Chain, 0, n)
	}
	if head.Origin != "" {
		c = append(c, head)
	}
	for _, l := range prev {
		if len(c) >= max {
			break
		}
		if l.Origin != head.Origin {
			c = append(c, l)
		}
	}
	return c
}
