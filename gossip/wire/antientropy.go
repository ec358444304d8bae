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
	return appendArray(b, ss, func(b []byte, x Settle) []byte {
		return x.Ticks.AppendMsgpack(node.AppendString(node.AppendArrayLen(b, 2), x.Origin))
	})
}

func DecodeSettles(b []byte) ([]Settle, error) {
	r := node.NewReader(b)
	out, err := readArray(r, 0, func(r *node.Reader) (x Settle, err error) {
		if err = fields(r, 2); err != nil {
			return x, err
		}
		if x.Origin, err = r.Str(); err != nil {
			return x, err
		}
		x.Ticks, err = r.RangeSet()
		return x, err
	})
	if err != nil {
		return nil, err
	}
	return out, trailing(r)
}

// AppendOrigins encodes a list of origin names (Forget's body).
func AppendOrigins(b []byte, os []string) []byte { return appendArray(b, os, node.AppendString) }

func DecodeOrigins(b []byte) ([]string, error) {
	r := node.NewReader(b)
	os, err := readOrigins(r)
	if err != nil {
		return nil, err
	}
	return os, trailing(r)
}

func readOrigins(r *node.Reader) ([]string, error) { return readArray(r, 0, (*node.Reader).Str) }

// MaxDigestChildren bounds the children of one DigestReply; a larger directory is read in
// pages (DigestReq.After).
const MaxDigestChildren = 4096

// DigestReq asks for the digests of the children of Path, after the child After if HasAfter,
// made with the entry hash Version (node.DigestVersion; 1 when the field is absent).
type DigestReq struct {
	Path     node.Path
	After    node.Element
	HasAfter bool
	Version  uint64
}

// Append encodes `[path, [after]|[], version]`.
func (q DigestReq) Append(b []byte) []byte {
	b = node.AppendPath(node.AppendArrayLen(b, 3), q.Path)
	if !q.HasAfter {
		b = node.AppendArrayLen(b, 0)
	} else {
		b = node.AppendElement(node.AppendArrayLen(b, 1), q.After)
	}
	return node.AppendUint(b, q.Version)
}

func DecodeDigestReq(b []byte) (q DigestReq, err error) {
	r := node.NewReader(b)
	nf, err := countFields(r, 2) // the version, 3rd, came later
	if err != nil {
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
	q.Version = 1
	if nf >= 3 {
		q.Version, err = r.Uint()
	}
	return q, err
}

// DigestReply answers a DigestReq: the hash of the entry at the path itself (zero unless it
// holds a live value), a page of children with their subtree digests, whether more follow,
// and the entry hash they were made with (1 when the field is absent).
type DigestReply struct {
	Own      [2]uint64
	Children []node.ChildDigest
	More     bool
	Version  uint64
}

// Append encodes `[[hi, lo], [[element, hi, lo, leaf]...], more, version]`.
func (d DigestReply) Append(b []byte) []byte {
	b = appendDigest(node.AppendArrayLen(b, 4), d.Own)
	b = appendArray(b, d.Children, func(b []byte, c node.ChildDigest) []byte {
		b = node.AppendElement(node.AppendArrayLen(b, 4), c.Name)
		b = node.AppendUint(node.AppendUint(b, c.Digest[0]), c.Digest[1])
		return node.AppendBool(b, c.Leaf)
	})
	return node.AppendUint(node.AppendBool(b, d.More), d.Version)
}

func DecodeDigestReply(b []byte) (d DigestReply, err error) {
	r := node.NewReader(b)
	nf, err := countFields(r, 3) // the version, 4th, came later
	if err != nil {
		return d, err
	}
	if d.Own, err = readDigest(r); err != nil {
		return d, err
	}
	d.Children, err = readArray(r, MaxDigestChildren, func(r *node.Reader) (c node.ChildDigest, err error) {
		if err = fields(r, 4); err != nil {
			return c, err
		}
		if c.Name, err = r.Element(); err != nil {
			return c, err
		}
		if c.Digest[0], err = r.Uint(); err != nil {
			return c, err
		}
		if c.Digest[1], err = r.Uint(); err != nil {
			return c, err
		}
		c.Leaf, err = r.Bool()
		return c, err
	})
	if err != nil {
		return d, err
	}
	if d.More, err = r.Bool(); err != nil {
		return d, err
	}
	d.Version = 1
	if nf >= 4 {
		d.Version, err = r.Uint()
	}
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
