package node

// Decoding a batch of updates (a push frame, a pull reply) from few allocations: the Update
// structs, op lists and paths of the batch are carved from shared blocks. They live as long as
// the batch's updates (logged, forwarded, then dropped together); what the tree keeps of an
// update (its value, its chain, the names of new children) is never carved, so the blocks do
// not outlive the batch.

// Blocks are at most this many items (Updates, Ops, Elements), so an idle block wastes little.
const batchBlock = 64

// Updates reads an array of at most limit updates (0: any number), as Update does each.
func (r *Reader) Updates(limit int) ([]*Update, error) {
	n, err := r.ArrayLen()
	if err != nil {
		return nil, err
	}
	if limit > 0 && n > limit {
		return nil, wireErr("%d updates, at most %d", n, limit)
	}
	r.batch = true
	defer func() { r.batch, r.left, r.ups, r.ops, r.elems = false, 0, nil, nil, nil }()
	out := make([]*Update, 0, min(n, 1024))
	for i := range n {
		r.left = n - i
		if len(r.ups) == 0 {
			// An update takes 8 bytes at least; n was checked against the bytes left.
			r.ups = make([]Update, min(n-i, batchBlock, r.Len()/8+1))
		}
		u := &r.ups[0]
		r.ups = r.ups[1:]
		if err := r.update(u, nil); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// opBlock returns an empty op list with room for n ops, from the batch's block if they fit.
// A new block has room for an op per update left (most updates hold one), not for all the
// ops the bytes left could hold: a block is kept whole while any of its ops is.
func (r *Reader) opBlock(n int) []Op {
	if n > batchBlock/4 {
		return make([]Op, 0, n)
	}
	if cap(r.ops)-len(r.ops) < n {
		r.ops = make([]Op, 0, min(batchBlock, max(n, min(r.left, r.Len()/minOpSize))))
	}
	k := len(r.ops)
	r.ops = r.ops[:k+n]
	return r.ops[k : k : k+n]
}

// elemBlock returns the free part of the batch's element block to decode a path into. A new
// block has room for a path as long as the last one (at least 2) per update left, bounded by
// the bytes left (an element takes one at least); a longer path than the free part holds is
// decoded into its own slice.
func (r *Reader) elemBlock() Path {
	per := max(2, len(r.last))
	if cap(r.elems)-len(r.elems) < per {
		r.elems = make([]Element, 0, min(batchBlock, max(4, min(r.left*per, r.Len()))))
	}
	return r.elems[len(r.elems):]
}

// tookElems marks p's elements used if p was decoded into the element block, and caps p so
// that appending to it cannot overwrite the next path.
func (r *Reader) tookElems(p Path) Path {
	k := len(r.elems)
	if len(p) == 0 || cap(r.elems) == k || &p[0] != &r.elems[:k+1][k] {
		return p
	}
	r.elems = r.elems[:k+len(p)]
	return p[:len(p):len(p)]
}
