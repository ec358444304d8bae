package wire

import (
	"fmt"

	"github.com/distkv/distkv/node"
)

// Messages of lost ticks (Settle), dead origins (Forget) and anti-entropy by digest
// (DigestReq, DigestReply, EntriesReq, Entries, Load); docs/replication.md.

// Settle declares ticks of an origin lost: every member marks them known.
type Settle struct {
	Origin string
	Ticks  node.RangeSet
}

// AppendSettles encodes `[[origin, rangeset]...]`.
func AppendSettles(b []byte, ss []Settle) []byte {
	b = node.AppendArrayLen(b, len(ss))
	for _, x := range ss {
		b = node.AppendString(node.AppendArrayLen(b, 2), x.Origin)
		b = x.Ticks.AppendMsgpack(b)
	}
	return b
}

func DecodeSettles(b []byte) ([]Settle, error) {
	r := node.NewReader(b)
	n, err := r.ArrayLen()
	if err != nil {
		return nil, err
	}
	out := make([]Settle, 0, min(n, 1024))
	for range n {
		var x Settle
		if err = fields(r, 2); err != nil {
			return nil, err
		}
		if x.Origin, err = r.Str(); err != nil {
			return nil, err
		}
		if x.Ticks, err = r.RangeSet(); err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, trailing(r)
}

// AppendOrigins encodes a list of origin names (Forget's body).
func AppendOrigins(b []byte, os []string) []byte {
	b = node.AppendArrayLen(b, len(os))
	for _, o := range os {
		b = node.AppendString(b, o)
	}
	return b
}

func DecodeOrigins(b []byte) ([]string, error) {
	r := node.NewReader(b)
	os, err := readOrigins(r)
	if err != nil {
		return nil, err
	}
	return os, trailing(r)
}

func readOrigins(r *node.Reader) ([]string, error) {
	n, err := r.ArrayLen()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, min(n, 1024))
	for range n {
		o, err := r.Str()
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// MaxDigestChildren bounds the children of one DigestReply; a larger directory is read in
// pages (DigestReq.After).
const MaxDigestChildren = 4096

// DigestReq asks for the digests of the children of Path, after the child After if HasAfter.
type DigestReq struct {
	Path     node.Path
	After    node.Element
	HasAfter bool
}

// Append encodes `[path, [after]|[]]`.
func (q DigestReq) Append(b []byte) []byte {
	b = node.AppendPath(node.AppendArrayLen(b, 2), q.Path)
	if !q.HasAfter {
		return node.AppendArrayLen(b, 0)
	}
	return node.AppendElement(node.AppendArrayLen(b, 1), q.After)
}

func DecodeDigestReq(b []byte) (q DigestReq, err error) {
	r := node.NewReader(b)
	if err = fields(r, 2); err != nil {
		return q, err
	}
	if q.Path, err = r.Path(); err != nil {
		return q, err
	}
	n, err := r.ArrayLen()
	if err != nil {
		return q, err
	}
	if n > 1 {
		return q, fmt.Errorf("%w: after of %d elements", node.ErrWire, n)
	}
	if n == 1 {
		q.HasAfter = true
		if q.After, err = r.Element(); err != nil {
			return q, err
		}
	}
	return q, nil
}

// DigestReply answers a DigestReq: the hash of the entry at the path itself (zero unless it
// holds a live value), a page of children with their subtree digests, and whether more follow.
type DigestReply struct {
	Own      [2]uint64
	Children []node.ChildDigest
	More     bool
}

// Append encodes `[[hi, lo], [[element, hi, lo, leaf]...], more]`.
func (d DigestReply) Append(b []byte) []byte {
	b = appendDigest(node.AppendArrayLen(b, 3), d.Own)
	b = node.AppendArrayLen(b, len(d.Children))
	for _, c := range d.Children {
		b = node.AppendElement(node.AppendArrayLen(b, 4), c.Name)
		b = node.AppendUint(node.AppendUint(b, c.Digest[0]), c.Digest[1])
		b = node.AppendBool(b, c.Leaf)
	}
	return node.AppendBool(b, d.More)
}

func appendDigest(b []byte, d [2]uint64) []byte {
	return node.AppendUint(node.AppendUint(node.AppendArrayLen(b, 2), d[0]), d[1])
}

func DecodeDigestReply(b []byte) (d DigestReply, err error) {
	r := node.NewReader(b)
	if err = fields(r, 3); err != nil {
		return d, err
	}
	if err = fields(r, 2); err != nil {
		return d, err
	}
	if d.Own[0], err = r.Uint(); err != nil {
		return d, err
	}
	if d.Own[1], err = r.Uint(); err != nil {
		return d, err
	}
	n, err := r.ArrayLen()
	if err != nil {
		return d, err
	}
	if n > MaxDigestChildren {
		return d, fmt.Errorf("%w: %d children, at most %d", node.ErrWire, n, MaxDigestChildren)
	}
	d.Children = make([]node.ChildDigest, 0, min(n, 256))
	for range n {
		var c node.ChildDigest
		if err = fields(r, 4); err != nil {
			return d, err
		}
		if c.Name, err = r.Element(); err != nil {
			return d, err
		}
		if c.Digest[0], err = r.Uint(); err != nil {
			return d, err
		}
		if c.Digest[1], err = r.Uint(); err != nil {
			return d, err
		}
		if c.Leaf, err = r.Bool(); err != nil {
			return d, err
		}
		d.Children = append(d.Children, c)
	}
	d.More, err = r.Bool()
	return d, err
}

// EntriesReq asks for the entries of the subtree at Path, the path itself included, after the
// absolute path After (nil: from the start).
type EntriesReq struct {
	Path  node.Path
	After node.Path
}

// Append encodes `[path, after path | nil]`.
func (q EntriesReq) Append(b []byte) []byte {
	b = node.AppendPath(node.AppendArrayLen(b, 2), q.Path)
	return appendOptPath(b, q.After)
}

func appendOptPath(b []byte, p node.Path) []byte {
	if p == nil {
		return node.AppendNil(b)
	}
	return node.AppendPath(b, p)
}

func readOptPath(r *node.Reader) (node.Path, error) {
	if r.IsNil() {
		return nil, nil
	}
	p, err := r.Path()
	if err == nil && p == nil {
		p = node.Path{}
	}
	return p, err
}

func DecodeEntriesReq(b []byte) (q EntriesReq, err error) {
	r := node.NewReader(b)
	if err = fields(r, 2); err != nil {
		return q, err
	}
	if q.Path, err = r.Path(); err != nil {
		return q, err
	}
	q.After, err = readOptPath(r)
	return q, err
}

// Entries answers an EntriesReq with a page of entries (each the current version of one path,
// as in a StateChunk) and the path to resume after, nil when done.
type Entries struct {
	Updates []*node.Update
	Next    node.Path
}

// Append encodes `[[update...], next path | nil]`.
func (e Entries) Append(b []byte) []byte {
	return appendOptPath(AppendUpdates(node.AppendArrayLen(b, 2), e.Updates), e.Next)
}

func DecodeEntries(b []byte) (e Entries, err error) {
	r := node.NewReader(b)
	if err = fields(r, 2); err != nil {
		return e, err
	}
	if e.Updates, err = readUpdates(r); err != nil {
		return e, err
	}
	e.Next, err = readOptPath(r)
	return e, err
}

func trailing(r *node.Reader) error {
	if r.Len() != 0 {
		return fmt.Errorf("%w: %d trailing bytes", node.ErrWire, r.Len())
	}
	return nil
}
