package client

import (
	"context"
	"fmt"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
	"github.com/vmihailenco/msgpack/v5"
)

// Value is an entry as the server returned it.
type Value struct {
	Raw   []byte     // the msgpack value
	Chain node.Chain // newest version first
	Tock  uint64
}

// Decode unmarshals the value into v.
func (v Value) Decode(dst any) error { return msgpack.Unmarshal(v.Raw, dst) }

// Any returns the value as a plain Go value.
func (v Value) Any() (any, error) {
	var x any
	err := v.Decode(&x)
	return x, err
}

// Encode turns a Go value into msgpack for Set.
func Encode(v any) ([]byte, error) { return msgpack.Marshal(v) }

// Get returns the value at p, or an error wrapping clientproto.ErrNotFound.
func (c *Client) Get(ctx context.Context, p node.Path) (Value, error) {
	m, seq := c.newReq(clientproto.ActGetValue)
	m.Path("path", p).Int("nchain", node.MaxChain)
	r, err := c.request(ctx, m, seq)
	if err != nil {
		return Value{}, err
	}
	if !r.HasValue {
		return Value{}, fmt.Errorf("%w: %s", clientproto.ErrNotFound, p)
	}
	return Value{Raw: r.Value, Chain: r.Chain, Tock: r.Tock}, nil
}

// WriteOption adds a condition to a write.
type WriteOption func(*clientproto.Msg)

// IfChain makes a write conditional on the entry's current version (the head of its chain).
func IfChain(l node.Link) WriteOption {
	return func(m *clientproto.Msg) { m.Chain("chain", node.Chain{l}) }
}

// IfAbsent makes a write conditional on the entry having no value.
func IfAbsent() WriteOption { return func(m *clientproto.Msg) { m.Nil("chain") } }

// IfPrev makes a write conditional on the current value (msgpack).
func IfPrev(raw []byte) WriteOption { return func(m *clientproto.Msg) { m.Raw("prev", raw) } }

// Idem makes writing an equal value a no-op.
func Idem() WriteOption { return func(m *clientproto.Msg) { m.Bool("idem", true) } }

// WriteResult reports a write.
type WriteResult struct {
	Changed bool
	Chain   node.Chain // of the entry after the write
	Prev    []byte     // the previous value, when the write had no condition
	Tock    uint64
}

// Set writes the msgpack value raw at p. Condition failures wrap clientproto.ErrChain or
// clientproto.ErrCondition.
func (c *Client) Set(ctx context.Context, p node.Path, raw []byte, opts ...WriteOption) (WriteResult, error) {
	return c.write(ctx, clientproto.ActSetValue, p, raw, opts)
}

// SetValue encodes v with msgpack and writes it.
func (c *Client) SetValue(ctx context.Context, p node.Path, v any, opts ...WriteOption) (WriteResult, error) {
	raw, err := Encode(v)
	if err != nil {
		return WriteResult{}, err
	}
	return c.Set(ctx, p, raw, opts...)
}

// Delete deletes the value at p.
func (c *Client) Delete(ctx context.Context, p node.Path, opts ...WriteOption) (WriteResult, error) {
	return c.write(ctx, clientproto.ActDeleteValue, p, nil, opts)
}

func (c *Client) write(ctx context.Context, action string, p node.Path, raw []byte, opts []WriteOption) (WriteResult, error) {
	m, seq := c.newReq(action)
	m.Path("path", p).Int("nchain", node.MaxChain)
	if raw != nil {
		m.Raw("value", raw)
	}
	for _, o := range opts {
		o(m)
	}
	r, err := c.request(ctx, m, seq)
	if err != nil {
		return WriteResult{}, err
	}
	return WriteResult{Changed: r.changedBool(), Chain: r.Chain, Prev: r.Prev, Tock: r.Tock}, nil
}

// Op is one change of an atomic Multi write.
type Op struct {
	Path   node.Path
	Value  []byte // msgpack; ignored for Delete
	Delete bool
	If     []WriteOption
}

// Multi applies ops atomically as one update: all conditions hold and all changes are made,
// or nothing is. It returns which ops changed something.
func (c *Client) Multi(ctx context.Context, ops []Op) ([]bool, error) {
	m, seq := c.newReq(clientproto.ActMulti)
	m.Key("ops").Array(len(ops))
	for _, op := range ops {
		sub := &clientproto.Msg{}
		sub.Path("path", op.Path)
		if op.Delete {
			sub.Bool("delete", true)
		} else {
			sub.Raw("value", op.Value)
		}
		for _, o := range op.If {
			o(sub)
		}
		m.AppendRaw(sub.Bytes())
	}
	r, err := c.request(ctx, m, seq)
	if err != nil {
		return nil, err
	}
	rd := node.NewReader(r.Changed)
	n, err := rd.ArrayLen()
	if err != nil {
		return nil, fmt.Errorf("multi reply: %w", err)
	}
	out := make([]bool, n)
	for i := range out {
		if out[i], err = rd.Bool(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// DeleteTree deletes every value at and below p and returns how many it deleted.
func (c *Client) DeleteTree(ctx context.Context, p node.Path) (int, error) {
	m, seq := c.newReq(clientproto.ActDeleteTree)
	m.Path("path", p)
	r, err := c.request(ctx, m, seq)
	if err != nil {
		return 0, err
	}
	e, err := node.ParseElement(r.Changed)
	if err != nil {
		return 0, err
	}
	return int(e.IntVal()), nil
}

// List returns the names of p's children.
func (c *Client) List(ctx context.Context, p node.Path) ([]node.Element, error) {
	return c.list(ctx, clientproto.ActEnum, p)
}

func (c *Client) list(ctx context.Context, action string, p node.Path) ([]node.Element, error) {
	m, seq := c.newReq(action)
	m.Path("path", p).Bool("empty", true) // every child, also those holding only children
	r, err := c.request(ctx, m, seq)
	if err != nil {
		return nil, err
	}
	rd := node.NewReader(r.Result)
	n, err := rd.ArrayLen()
	if err != nil {
		return nil, err
	}
	out := make([]node.Element, n)
	for i := range out {
		if out[i], err = rd.Element(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Tock returns the server's Lamport clock.
func (c *Client) Tock(ctx context.Context) (uint64, error) {
	m, seq := c.newReq(clientproto.ActGetTock)
	r, err := c.request(ctx, m, seq)
	if err != nil {
		return 0, err
	}
	return r.Tock, nil
}

// StateRaw returns the server's get_state reply as raw msgpack (a map), for tools that show it.
func (c *Client) StateRaw(ctx context.Context) ([]byte, error) {
	m, seq := c.newReq(clientproto.ActGetState)
	r, err := c.request(ctx, m, seq)
	if err != nil {
		return nil, err
	}
	return r.Raw, nil
}

// SnapshotNow makes the server write a snapshot into its data directory and returns its path.
func (c *Client) SnapshotNow(ctx context.Context) (string, error) {
	m, seq := c.newReq(clientproto.ActSnapshot)
	r, err := c.request(ctx, m, seq)
	if err != nil {
		return "", err
	}
	if f, ok := node.StringField(r.Raw, "file"); ok {
		return f, nil
	}
	return "", fmt.Errorf("%w: snapshot reply without file", clientproto.ErrServer)
}

// Save makes the server write the whole tree as a snapshot file at path, an absolute name on
// the server's file system that must not exist yet (DistKV's save). It returns the entries
// written.
func (c *Client) Save(ctx context.Context, path string) (uint64, error) {
	m, seq := c.newReq(clientproto.ActSave)
	m.Str("path", path)
	r, err := c.request(ctx, m, seq)
	if err != nil {
		return 0, err
	}
	n, _ := clientproto.RawField(r.Raw, "entries")
	v, err := node.NewReader(n).Uint()
	if err != nil {
		return 0, fmt.Errorf("%w: save reply without entries", clientproto.ErrServer)
	}
	return v, nil
}
