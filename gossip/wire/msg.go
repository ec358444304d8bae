// Package wire holds the messages of the peer data plane (framed TCP between servers; see
// gossip.WriteFrame) and their msgpack codec.
package wire

import (
	"fmt"
	"slices"

	"github.com/distkv/distkv/node"
)

// Peer data-plane message types: the type byte of a frame. Part of the wire format between
// servers. WARNING: ONLY APPEND TO THIS LIST.
const (
	MsgHello       byte = 1  // Hello: first frame of every connection
	MsgPush        byte = 2  // Updates: new updates, one way
	MsgPull        byte = 3  // Pull: "send me these ticks of this origin"
	MsgPullReply   byte = 4  // PullReply
	MsgVectorReq   byte = 5  // empty body
	MsgVector      byte = 6  // Vector
	MsgStateReq    byte = 7  // empty body: send me your whole state
	MsgStateHeader byte = 8  // Vector: the known ticks etc. taken before the entries
	MsgStateChunk  byte = 9  // Updates: entries, each the current version of one path
	MsgStateEnd    byte = 10 // empty body
	MsgRepair      byte = 11 // Repairs: pull these from those, one way
	MsgPurge       byte = 12 // Watermark: purge tombstones below it, one way
	MsgError       byte = 13 // Error text
	MsgSettle      byte = 14 // Settles: mark these lost ticks known, one way
	MsgForget      byte = 15 // Origins: forget these dead origins, one way
	MsgDigestReq   byte = 16 // DigestReq: the digests of a path's children
	MsgDigestReply byte = 17 // DigestReply
	MsgEntriesReq  byte = 18 // EntriesReq: the entries of a subtree, tombstones included
	MsgEntries     byte = 19 // Entries
	MsgLoad        byte = 20 // Updates: entries to load by the conflict rule, one way
	MsgDrop        byte = 21 // Updates: live versions to drop (their deletes were purged), one way
)

// Hello opens a connection.
type Hello struct {
	Name   string
	Origin string
}

// Pull asks for ticks of one origin.
type Pull struct {
	Origin string
	Ticks  node.RangeSet
}

// PullReply answers a Pull: the current versions of the ticks the peer knows, and the ticks
// it knows but that wrote nothing current any more.
type PullReply struct {
	Origin     string
	Updates    []*node.Update
	Superseded node.RangeSet
	// Purge is the peer's purge watermark when it answered: superseded ticks at or below it
	// may be deletes it purged, so a puller behind it must resync instead of marking them.
	Purge map[string]uint64
}

// Vector is a member's state summary, for the housekeeper and for state transfer headers.
type Vector struct {
	Name    string
	Origin  string
	Known   map[string]node.RangeSet
	Highest map[string]uint64
	Purge   map[string]uint64
	Digest  [2]uint64
	Tock    uint64
	Ready   bool
	// Forgotten lists the origins the member forgot (node.Forget), so that a node taking the
	// state forgets them too instead of missing their ticks.
	Forgotten []string
	// DigestVersion is the entry hash Digest was made with (node.DigestVersion); a vector
	// without the field comes from a build that hashed with version 1.
	DigestVersion uint64
	// Waiting: the member takes no writes until it hears from the network (it stopped
	// gracefully, and the others may have purged without it: server/alone.go); Remembers is
	// then the members its purge guard remembers, so that a group of waiting members can tell
	// whether it is the whole network.
	Waiting   bool
	Remembers []string
}

// Repair tells a member to pull ticks of an origin from a peer.
type Repair struct {
	Origin string
	Ticks  node.RangeSet
	From   string // member name
}

func (h Hello) Append(b []byte) []byte {
	b = node.AppendArrayLen(b, 2)
	return node.AppendString(node.AppendString(b, h.Name), h.Origin)
}

func DecodeHello(b []byte) (h Hello, err error) {
	r := node.NewReader(b)
	if err = fields(r, 2); err == nil {
		if h.Name, err = r.Str(); err == nil {
			h.Origin, err = r.Str()
		}
	}
	return h, err
}

// AppendUpdates encodes a batch of updates.
func AppendUpdates(b []byte, us []*node.Update) []byte {
	return appendArray(b, us, func(b []byte, u *node.Update) []byte { return u.AppendMsgpack(b) })
}

// DecodeUpdates decodes a batch of updates.
func DecodeUpdates(b []byte) ([]*node.Update, error) {
	r := node.NewReader(b)
	us, err := readUpdates(r)
	if err == nil {
		err = trailing(r)
	}
	return us, err
}

func readUpdates(r *node.Reader) ([]*node.Update, error) { return r.Updates(0) }

func (p Pull) Append(b []byte) []byte {
	b = node.AppendString(node.AppendArrayLen(b, 2), p.Origin)
	return p.Ticks.AppendMsgpack(b)
}

func DecodePull(b []byte) (p Pull, err error) {
	r := node.NewReader(b)
	if err = fields(r, 2); err == nil {
		if p.Origin, err = r.Str(); err == nil {
			p.Ticks, err = r.RangeSet()
		}
	}
	return p, err
}

func (p PullReply) Append(b []byte) []byte {
	b = node.AppendString(node.AppendArrayLen(b, 4), p.Origin)
	b = AppendUpdates(b, p.Updates)
	b = p.Superseded.AppendMsgpack(b)
	return appendTicks(b, p.Purge)
}

func DecodePullReply(b []byte) (p PullReply, err error) {
	r := node.NewReader(b)
	n, err := countFields(r, 3) // the purge watermark, 4th, came later
	if err != nil {
		return p, err
	}
	if p.Origin, err = r.Str(); err != nil {
		return p, err
	}
	if p.Updates, err = readUpdates(r); err != nil {
		return p, err
	}
	if p.Superseded, err = r.RangeSet(); err != nil {
		return p, err
	}
	if n >= 4 {
		p.Purge, err = r.TickMap()
	}
	return p, err
}

func appendTicks(b []byte, m map[string]uint64) []byte {
	keys := sortedKeys(m)
	b = node.AppendMapLen(b, len(keys))
	for _, k := range keys {
		b = node.AppendUint(node.AppendString(b, k), m[k])
	}
	return b
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (v Vector) Append(b []byte) []byte {
	b = node.AppendArrayLen(b, 12)
	b = node.AppendString(node.AppendString(b, v.Name), v.Origin)
	keys := sortedKeys(v.Known)
	b = node.AppendMapLen(b, len(keys))
	for _, k := range keys {
		b = v.Known[k].AppendMsgpack(node.AppendString(b, k))
	}
	b = appendTicks(b, v.Highest)
	b = appendTicks(b, v.Purge)
	b = node.AppendUint(appendDigest(b, v.Digest), v.Tock)
	b = node.AppendBool(b, v.Ready)
	b = AppendOrigins(b, v.Forgotten)
	b = node.AppendBool(node.AppendUint(b, v.DigestVersion), v.Waiting)
	return AppendOrigins(b, v.Remembers)
}

func DecodeVector(b []byte) (v Vector, err error) {
	r := node.NewReader(b)
	n, err := countFields(r, 8) // forgotten, the digest version, waiting and remembers came later
	if err != nil {
		return v, err
	}
	if v.Name, err = r.Str(); err != nil {
		return v, err
	}
	if v.Origin, err = r.Str(); err != nil {
		return v, err
	}
	if v.Known, err = r.VectorMap(); err != nil {
		return v, err
	}
	if v.Highest, err = r.TickMap(); err != nil {
		return v, err
	}
	if v.Purge, err = r.TickMap(); err != nil {
		return v, err
	}
	if v.Digest, err = readDigest(r); err != nil {
		return v, err
	}
	if v.Tock, err = r.Uint(); err != nil {
		return v, err
	}
	v.DigestVersion = 1
	if v.Ready, err = r.Bool(); err != nil || n < 9 {
		return v, err
	}
	if v.Forgotten, err = readOrigins(r); err != nil || n < 10 {
		return v, err
	}
	if v.DigestVersion, err = r.Uint(); err != nil || n < 12 {
		return v, err
	}
	if v.Waiting, err = r.Bool(); err != nil {
		return v, err
	}
	v.Remembers, err = readOrigins(r)
	return v, err
}

// AppendRepairs encodes a list of repairs.
func AppendRepairs(b []byte, rs []Repair) []byte {
	return appendArray(b, rs, func(b []byte, x Repair) []byte {
		b = node.AppendString(node.AppendArrayLen(b, 3), x.Origin)
		return node.AppendString(x.Ticks.AppendMsgpack(b), x.From)
	})
}

func DecodeRepairs(b []byte) ([]Repair, error) {
	return readArray(node.NewReader(b), 0, func(r *node.Reader) (x Repair, err error) {
		if err = fields(r, 3); err != nil {
			return x, err
		}
		if x.Origin, err = r.Str(); err != nil {
			return x, err
		}
		if x.Ticks, err = r.RangeSet(); err != nil {
			return x, err
		}
		x.From, err = r.Str()
		return x, err
	})
}

// AppendWatermark and DecodeWatermark carry a purge watermark.
func AppendWatermark(b []byte, wm map[string]uint64) []byte { return appendTicks(b, wm) }

func DecodeWatermark(b []byte) (map[string]uint64, error) { return node.NewReader(b).TickMap() }

// fields reads an array header that must have at least n items (later versions may add more
// at the end; readers of this version ignore them by decoding only what they know, which is
// why every message here ends with its last known field).
func fields(r *node.Reader, n int) error {
	_, err := countFields(r, n)
	return err
}

// countFields is fields returning how many items the array has, for a message that added
// fields at its end: it decodes them only when they are there.
func countFields(r *node.Reader, n int) (int, error) {
	m, err := r.ArrayLen()
	if err != nil {
		return 0, err
	}
	if m < n {
		return 0, fmt.Errorf("%w: %d fields, want %d", node.ErrWire, m, n)
	}
	return m, nil
}

// appendArray encodes xs as an array, each item by f.
func appendArray[T any](b []byte, xs []T, f func([]byte, T) []byte) []byte {
	b = node.AppendArrayLen(b, len(xs))
	for _, x := range xs {
		b = f(b, x)
	}
	return b
}

// readArray decodes an array, each item by read, of at most limit items (<= 0: any). It
// reserves room for no more than 1024 items before reading them: a count read from a peer
// costs memory only as its items arrive.
func readArray[T any](r *node.Reader, limit int, read func(*node.Reader) (T, error)) ([]T, error) {
	n, err := r.ArrayLen()
	if err != nil {
		return nil, err
	}
	if limit > 0 && n > limit {
		return nil, fmt.Errorf("%w: %d items, at most %d", node.ErrWire, n, limit)
	}
	out := make([]T, 0, min(n, 1024))
	for range n {
		x, err := read(r)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// appendDigest and readDigest carry a digest as `[hi, lo]`.
func appendDigest(b []byte, d [2]uint64) []byte {
	return node.AppendUint(node.AppendUint(node.AppendArrayLen(b, 2), d[0]), d[1])
}

func readDigest(r *node.Reader) (d [2]uint64, err error) {
	if err = fields(r, 2); err != nil {
		return d, err
	}
	if d[0], err = r.Uint(); err != nil {
		return d, err
	}
	d[1], err = r.Uint()
	return d, err
}

func trailing(r *node.Reader) error {
	if r.Len() != 0 {
		return fmt.Errorf("%w: %d trailing bytes", node.ErrWire, r.Len())
	}
	return nil
}
