package clientproto

import (
	"github.com/distkv/distkv/node"
)

// Msg builds one outgoing msgpack map. Keys are written in the order added.
type Msg struct {
	n   int
	buf []byte
	// pre: buf starts with mapHeadRoom bytes kept free for the map header (NewMsg), so that
	// the first Bytes needs no copy; taken: Bytes returned them.
	pre, taken bool
}

// mapHeadRoom is the longest map header (map32).
const mapHeadRoom = 5

// resetKeep is the largest buffer Reset keeps.
const resetKeep = 64 << 10

// NewMsg starts a message with its seq.
func NewMsg(seq uint64) *Msg {
	m := &Msg{buf: make([]byte, mapHeadRoom, 64), pre: true}
	return m.Uint("seq", seq)
}

// Reset starts m again as NewMsg(seq) does, keeping its buffer: a connection or a stream that
// builds many messages allocates none per message. What Bytes returned before is overwritten.
// A buffer that one large value grew past resetKeep is let go rather than held for the
// stream's life.
func (m *Msg) Reset(seq uint64) *Msg {
	if cap(m.buf) < mapHeadRoom || cap(m.buf) > resetKeep || !m.pre {
		m.buf = make([]byte, mapHeadRoom, 512)
	}
	m.n, m.buf, m.pre, m.taken = 0, m.buf[:mapHeadRoom], true, false
	return m.Uint("seq", seq)
}

func (m *Msg) key(k string) { m.n++; m.buf = node.AppendString(m.buf, k) }

func (m *Msg) Uint(k string, v uint64) *Msg    { m.key(k); m.buf = node.AppendUint(m.buf, v); return m }
func (m *Msg) Int(k string, v int64) *Msg      { m.key(k); m.buf = node.AppendInt(m.buf, v); return m }
func (m *Msg) Str(k, v string) *Msg            { m.key(k); m.buf = node.AppendString(m.buf, v); return m }
func (m *Msg) Bool(k string, v bool) *Msg      { m.key(k); m.buf = node.AppendBool(m.buf, v); return m }
func (m *Msg) Nil(k string) *Msg               { m.key(k); m.buf = node.AppendNil(m.buf); return m }
func (m *Msg) Path(k string, p node.Path) *Msg { m.key(k); m.buf = node.AppendPath(m.buf, p); return m }

// Raw adds a value that is already msgpack.
func (m *Msg) Raw(k string, v []byte) *Msg { m.key(k); m.buf = append(m.buf, v...); return m }

// Chain adds a chain in DistKV's nested form {node, tick, prev}; prev nil ends it. An empty
// chain is nil.
func (m *Msg) Chain(k string, c node.Chain) *Msg {
	m.key(k)
	m.buf = AppendChain(m.buf, c)
	return m
}

// ChainN adds at most n links of c, marking the chain cut if links were left out.
func (m *Msg) ChainN(k string, c node.Chain, n int) *Msg {
	m.key(k)
	m.buf = AppendChainCut(m.buf, c[:min(n, len(c))], len(c) > n)
	return m
}

// AppendChain appends c in DistKV's nested form. As in DistKV, the last link of a chain that
// was cut short has no "prev" key, while "prev": nil means the entry was created there.
func AppendChain(b []byte, c node.Chain) []byte { return AppendChainCut(b, c, false) }

// AppendChainCut is AppendChain for a chain that may have been cut short.
func AppendChainCut(b []byte, c node.Chain, cut bool) []byte {
	if len(c) == 0 {
		return node.AppendNil(b)
	}
	if len(c) == 1 && cut {
		b = node.AppendMapLen(b, 2)
	} else {
		b = node.AppendMapLen(b, 3)
	}
	b = node.AppendString(node.AppendString(b, "node"), c[0].Origin)
	b = node.AppendUint(node.AppendString(b, "tick"), c[0].Tick)
	if len(c) == 1 && cut {
		return b
	}
	b = node.AppendString(b, "prev")
	return AppendChainCut(b, c[1:], cut)
}

// Bytes returns the encoded map. The first call of a NewMsg puts the header in front of the
// fields in place (a reply is built once and sent); later calls, and a zero Msg, copy.
func (m *Msg) Bytes() []byte {
	body := m.buf
	if m.pre {
		body = m.buf[mapHeadRoom:]
	}
	var h [mapHeadRoom]byte
	hdr := node.AppendMapLen(h[:0], m.n)
	if m.pre && !m.taken {
		m.taken = true
		start := mapHeadRoom - len(hdr)
		copy(m.buf[start:], hdr)
		return m.buf[start:len(m.buf):len(m.buf)]
	}
	return append(append(make([]byte, 0, len(hdr)+len(body)), hdr...), body...)
}

// Key adds a key whose value the caller appends next with the Append* methods.
func (m *Msg) Key(k string) *Msg { m.key(k); return m }

// Array appends an array header (after Key, or inside an array).
func (m *Msg) Array(n int) *Msg { m.buf = node.AppendArrayLen(m.buf, n); return m }

// Map appends a map header (after Key, or inside an array).
func (m *Msg) Map(n int) *Msg { m.buf = node.AppendMapLen(m.buf, n); return m }

// AppendUint, AppendStr and AppendRaw append values after Key, Array or Map.
func (m *Msg) AppendUint(v uint64) *Msg { m.buf = node.AppendUint(m.buf, v); return m }
func (m *Msg) AppendStr(v string) *Msg  { m.buf = node.AppendString(m.buf, v); return m }
func (m *Msg) AppendRaw(v []byte) *Msg  { m.buf = append(m.buf, v...); return m }

// PeekSeq finds the seq of a request that failed to parse, so its error can be routed; 0 if
// there is none.
func PeekSeq(b []byte) uint64 {
	v, ok := RawField(b, "seq")
	if !ok {
		return 0
	}
	u, err := node.NewReader(v).Uint()
	if err != nil {
		return 0
	}
	return u
}

// PeekAction returns the action of a message that may not parse as a request, or "".
func PeekAction(b []byte) string {
	a, _ := node.StringField(b, "action")
	return a
}

// RawField returns the raw value of key in the msgpack map b, reading no further than it.
func RawField(b []byte, key string) ([]byte, bool) {
	r := node.NewReader(b)
	n, err := r.MapLen()
	if err != nil {
		return nil, false
	}
	for i := 0; i < n; i++ {
		k, err := r.Str()
		if err != nil {
			return nil, false
		}
		v, err := r.Raw()
		if err != nil {
			return nil, false
		}
		if k == key {
			return v, true
		}
	}
	return nil, false
}
