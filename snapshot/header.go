package snapshot

import (
	"fmt"
	"maps"
	"slices"

	"github.com/distkv/distkv/node"
)

// Header is the first record of a snapshot: whose state it is and what it
// covers.
type Header struct {
	Node    string // the writing node's name
	Origin  string // the writing node's origin (name~gen) at the time
	Created int64  // unix seconds, set by the caller (the package reads no clock)
	Tock    uint64 // the node's Lamport clock
	// Known, Highest and Purge are the node's per-origin vectors: known
	// ticks, the highest tick heard of, and the purge watermark.
	Known   map[string]node.RangeSet
	Highest map[string]uint64
	Purge   map[string]uint64
	// LogSegment is the first event-log segment the snapshot does NOT
	// cover: replay starts there.
	LogSegment uint64
	// Entries is the number of entries the writer expected (0 if unknown),
	// a hint for progress displays; the trailer holds the real count.
	Entries uint64
	// Forgotten lists the origins the node forgot (node.Forget). Optional:
	// files written before it was added have none.
	Forgotten []string
}

// Header keys, part of the format. Their order is the order written, and a
// field's index is its bit in readFields' result.
var headerKeys = []string{"node", "origin", "created", "tock", "known", "highest", "purge", "log_segment", "entries", "forgotten"}

// optionalKeys are the header keys a file may lack: those added after the first version.
const optionalKeys = uint64(1) << 9

// appendMsgpack appends the header record's payload. Map keys are sorted so
// that equal headers make equal bytes.
func (h *Header) appendMsgpack(b []byte) []byte {
	keys := headerKeys
	if len(h.Forgotten) == 0 {
		keys = keys[:len(keys)-1] // written only when there is something to say
	}
	b = node.AppendMapLen(b, len(keys))
	for _, k := range keys {
		b = node.AppendString(b, k)
		switch k {
		case "node":
			b = node.AppendString(b, h.Node)
		case "origin":
			b = node.AppendString(b, h.Origin)
		case "created":
			b = node.AppendInt(b, h.Created)
		case "tock":
			b = node.AppendUint(b, h.Tock)
		case "known":
			b = appendMap(b, h.Known, func(b []byte, s node.RangeSet) []byte { return s.AppendMsgpack(b) })
		case "highest":
			b = appendMap(b, h.Highest, node.AppendUint)
		case "purge":
			b = appendMap(b, h.Purge, node.AppendUint)
		case "log_segment":
			b = node.AppendUint(b, h.LogSegment)
		case "entries":
			b = node.AppendUint(b, h.Entries)
		case "forgotten":
			b = node.AppendArrayLen(b, len(h.Forgotten))
			for _, o := range h.Forgotten {
				b = node.AppendString(b, o)
			}
		}
	}
	return b
}

func appendMap[V any](b []byte, m map[string]V, appendValue func([]byte, V) []byte) []byte {
	b = node.AppendMapLen(b, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b = appendValue(node.AppendString(b, k), m[k])
	}
	return b
}

// decodeHeader decodes the header record's payload. Maps come back non-nil,
// so a caller may add to them.
func decodeHeader(p []byte) (Header, error) {
	var h Header
	seen, err := readFields(node.NewReader(p), headerKeys, func(r *node.Reader, i int) (err error) {
		switch headerKeys[i] {
		case "node":
			h.Node, err = r.Str()
		case "origin":
			h.Origin, err = r.Str()
		case "created":
			h.Created, err = r.Int()
		case "tock":
			h.Tock, err = r.Uint()
		case "known":
			h.Known, err = readMap(r, (*node.Reader).RangeSet)
		case "highest":
			h.Highest, err = readMap(r, (*node.Reader).Uint)
		case "purge":
			h.Purge, err = readMap(r, (*node.Reader).Uint)
		case "log_segment":
			h.LogSegment, err = r.Uint()
		case "entries":
			h.Entries, err = r.Uint()
		case "forgotten":
			h.Forgotten, err = readStrings(r)
		}
		return err
	})
	if err != nil {
		return Header{}, fmt.Errorf("header: %w", err)
	}
	if all := uint64(1)<<len(headerKeys) - 1; seen|optionalKeys != all {
		for i, k := range headerKeys {
			if (seen|optionalKeys)&(1<<i) == 0 {
				return Header{}, fmt.Errorf("header: missing key %q", k)
			}
		}
	}
	return h, nil
}

// readMap reads a map from origin to V. MapLen bounds the count by the bytes
// left, and the map grows with what is read, so a hostile count cannot make it allocate.
func readMap[V any](r *node.Reader, value func(*node.Reader) (V, error)) (map[string]V, error) {
	n, err := r.MapLen()
	if err != nil {
		return nil, err
	}
	m := make(map[string]V, min(n, 1024)) // a pair takes 2 bytes, far more in a map
	for range n {
		k, err := r.Str()
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("origin %q twice", k)
		}
		if m[k], err = value(r); err != nil {
			return nil, fmt.Errorf("origin %q: %w", k, err)
		}
	}
	return m, nil
}

// readStrings reads an array of strings; ArrayLen bounds the count by the bytes left.
func readStrings(r *node.Reader) ([]string, error) {
	n, err := r.ArrayLen()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, n)
	for range n {
		s, err := r.Str()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
