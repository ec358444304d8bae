package clientproto

import (
	"fmt"

	"github.com/distkv/distkv/node"
)

// Actions. The wire names are DistKV's; "multi" is distkv's own. Append only.
const (
	ActGetValue    = "get_value"
	ActSetValue    = "set_value"
	ActDeleteValue = "delete_value"
	ActDeleteTree  = "delete_tree"
	ActGetTree     = "get_tree"
	ActEnum        = "enum"
	ActEnumerate   = "enumerate" // DistKV's alias of enum
	ActWatch       = "watch"
	ActGetState    = "get_state"
	ActGetTock     = "get_tock"
	ActStop        = "stop"
	ActMulti       = "multi"
	ActSnapshot    = "snapshot" // distkv: write a snapshot now (server-local)
	ActKeyring     = "keyring"  // distkv: list, install, use, remove cluster keys (cluster-wide)
	ActEnumNode    = "enum_node"
	ActMsgSend     = "msg_send"
	ActMsgMonitor  = "msg_monitor"
	ActSave        = "save"
	ActKillNode    = "kill_node"
	ActRoot        = "root"
	ActAuthInfo    = "auth_info"
	ActLog         = "log"
)

// Stream states.
const (
	StateStart    = "start"
	StateEnd      = "end"
	StateUptodate = "uptodate"
	StateAck      = "ack"
)

// Op is one change of a multi request.
type Op struct {
	Path     node.Path
	Value    []byte
	HasValue bool
	Delete   bool
	HasChain bool
	Chain    node.Link // zero: the entry must not exist
	HasPrev  bool
	Prev     []byte
	Idem     bool
}

// MaxOps bounds the ops of one multi request: one update must fit a peer frame and a log record.
const MaxOps = 4096

// Request is a client message. Fields the action does not use are ignored, as are unknown keys.
type Request struct {
	Seq       uint64
	Action    string
	State     string
	Path      node.Path
	HasPath   bool
	Op        Op // value, chain, prev, idem of set_value / delete_value
	NChain    int
	HasNChain bool
	MinDepth  int
	MaxDepth  int
	Empty     bool
	Fetch     bool
	WithData  bool
	Task      uint64
	Node      string
	Tick      uint64
	Ops       []Op
	Qlen      int
	Ack       uint64 // {state: ack, ack: wseq}: flow control
	Max       int    // enum_node: at most this many ticks (0: all)
	Current   bool   // enum_node: only ticks that head an entry
	// get_state flags
	Flags map[string]bool
	// keyring: the operation ("op") and the base64 key ("key")
	KeyringOp string
	Key       string
	// File is save's and log's path: a server-side file name, where the other actions have a
	// node.Path.
	File    string
	HasFile bool
	pathErr error // a string path, an error unless the action is save
	owned   bool  // values may alias the input (ParseOwnedRequest)
	// Extra holds the raw values of the keys not parsed above (auth, ACL and meta-area
	// actions read theirs from here).
	Extra map[string][]byte
}

// ParseRequest decodes one client message (a msgpack map) from b, which must hold exactly it.
// Values stay raw msgpack; nothing is decoded into interface{}. The request owns its memory:
// the caller may reuse b.
func ParseRequest(b []byte) (*Request, error) { return parseRequest(b, false) }

// ParseOwnedRequest is ParseRequest for a b the caller hands over and never changes again (the
// server reads each message into a new buffer): prev and the Extra values, which only live as
// long as the request, alias b instead of being copied. Values are still copied: the tree keeps
// them, and an alias would keep the whole message.
func ParseOwnedRequest(b []byte) (*Request, error) { return parseRequest(b, true) }

func parseRequest(b []byte, owned bool) (*Request, error) {
	req := new(Request)
	if err := ParseRequestInto(req, b, owned); err != nil {
		return nil, err
	}
	return req, nil
}

// ParseRequestInto is ParseRequest (owned: ParseOwnedRequest) into *req, which it overwrites,
// for a connection's reader that parses one request at a time: it saves allocating a Request
// per message, and the path's string elements equal to those of the path *req held before, at
// the same index, share their strings (a client's requests often name one directory). On an
// error *req holds a partial request.
func ParseRequestInto(req *Request, b []byte, owned bool) error {
	var r node.Reader
	r.Reset(b)
	like := req.Path
	*req = Request{MaxDepth: -1, owned: owned}
	err := parseMap(&r, func(key []byte) error { return req.field(&r, key, like) })
	switch {
	case err != nil:
		return err
	case r.Len() != 0:
		return fmt.Errorf("%w: %d trailing bytes", ErrBadRequest, r.Len())
	case req.pathErr != nil && req.Action != ActSave && req.Action != ActLog:
		return fmt.Errorf("%w: field %q: %v", ErrBadRequest, "path", req.pathErr)
	}
	return nil
}

// parseMap iterates a map with string keys, calling fn with the reader positioned at each value.
// The key aliases the input: fn must copy what it keeps.
func parseMap(r *node.Reader, fn func(key []byte) error) error {
	n, err := r.MapLen()
	if err != nil {
		return fmt.Errorf("%w: want a map: %v", ErrBadRequest, err)
	}
	for i := 0; i < n; i++ {
		key, err := strBytes(r)
		if err != nil {
			return fmt.Errorf("%w: key: %v", ErrBadRequest, err)
		}
		if err := fn(key); err != nil {
			return fmt.Errorf("%w: field %q: %v", ErrBadRequest, key, err)
		}
	}
	return nil
}

// strBytes reads a str or bin as r.Str does, but returns its bytes within the input instead of
// a new string: keys and actions are only compared. Anything else is left to r.Str, for its
// error.
func strBytes(r *node.Reader) ([]byte, error) {
	save := *r
	if raw, err := r.Raw(); err == nil {
		if s, ok := strPayload(raw); ok {
			return s, nil
		}
	}
	*r = save
	s, err := r.Str()
	return []byte(s), err
}

// strPayload returns the bytes of the complete str or bin encoding raw.
func strPayload(raw []byte) ([]byte, bool) {
	hdr := 0
	switch c := raw[0]; {
	case c&0xe0 == 0xa0:
		hdr = 1
	case c == 0xd9 || c == 0xc4:
		hdr = 2
	case c == 0xda || c == 0xc5:
		hdr = 3
	case c == 0xdb || c == 0xc6:
		hdr = 5
	default:
		return nil, false
	}
	return raw[hdr:], true
}

// knownStrs are the action and state names: reading one returns the constant, not a new string.
var knownStrs = func() map[string]string {
	m := make(map[string]string)
	for _, s := range []string{ActGetValue, ActSetValue, ActDeleteValue, ActDeleteTree, ActGetTree,
		ActEnum, ActEnumerate, ActWatch, ActGetState, ActGetTock, ActStop, ActMulti, ActSnapshot,
		ActKeyring, ActEnumNode, ActMsgSend, ActMsgMonitor, ActSave, ActKillNode, ActRoot,
		ActAuthInfo, ActLog, StateStart, StateEnd, StateUptodate, StateAck} {
		m[s] = s
	}
	return m
}()

// name reads a string as r.Str does, sharing the known names.
func name(r *node.Reader) (string, error) {
	b, err := strBytes(r)
	if err != nil {
		return "", err
	}
	if s, ok := knownStrs[string(b)]; ok {
		return s, nil
	}
	return string(b), nil
}

var stateFlags = map[string]bool{"nodes": true, "known": true, "superseded": true, "present": true,
	"deleted": true, "missing": true, "remote_missing": true, "node_drop": true, "debug": true}

// field reads the value of key; a path shares the strings equal to like's (see ParseRequestInto).
func (q *Request) field(r *node.Reader, key []byte, like node.Path) error {
	var err error
	switch string(key) {
	case "seq":
		q.Seq, err = r.Uint()
	case "action":
		q.Action, err = name(r)
	case "state":
		if r.IsNil() {
			return nil
		}
		q.State, err = name(r)
	case "path":
		var v []byte
		if v, err = r.Raw(); err != nil {
			return err
		}
		var pr node.Reader
		pr.Reset(v)
		q.Path, err = pr.PathLike(like)
		q.HasPath = err == nil
		if err != nil { // a file name? (only then: a failed Str costs an error's allocations)
			pr.Reset(v)
			if s, e := pr.Str(); e == nil {
				q.File, q.HasFile, q.pathErr, err = s, true, err, nil // decided once the action is known
			}
		}
	case "nchain":
		if r.IsNil() {
			return nil
		}
		var v int64
		v, err = intish(r)
		q.NChain, q.HasNChain = int(v), true
	case "min_depth":
		err = intField(r, &q.MinDepth)
	case "max_depth":
		err = intField(r, &q.MaxDepth)
	case "empty":
		q.Empty, err = boolish(r)
	case "fetch":
		q.Fetch, err = boolish(r)
	case "with_data":
		q.WithData, err = boolish(r)
	case "task":
		q.Task, err = r.Uint()
	case "node":
		if r.IsNil() {
			return nil
		}
		q.Node, err = r.Str()
	case "tick":
		if r.IsNil() {
			return nil
		}
		q.Tick, err = r.Uint()
	case "qlen":
		err = intField(r, &q.Qlen)
	case "ack":
		q.Ack, err = r.Uint()
	case "max":
		err = intField(r, &q.Max)
	case "current":
		q.Current, err = boolish(r)
	case "ops":
		var n int
		if n, err = r.ArrayLen(); err != nil {
			return err
		}
		if n > MaxOps {
			return fmt.Errorf("%w: %d ops, at most %d", ErrBadRequest, n, MaxOps)
		}
		q.Ops = make([]Op, n)
		for i := range q.Ops {
			op := &q.Ops[i]
			if err = parseMap(r, func(k []byte) error {
				if string(k) == "path" {
					var e error
					op.Path, e = r.Path()
					return e
				}
				if string(k) == "delete" {
					var e error
					op.Delete, e = boolish(r)
					return e
				}
				return op.field(r, k, q.owned)
			}); err != nil {
				return err
			}
		}
	case "value", "chain", "prev", "idem":
		return q.Op.field(r, key, q.owned)
	case "op", "key": // keyring's; other types are ignored, as unknown keys are
		var v []byte
		if v, err = r.Raw(); err == nil {
			var kr node.Reader
			kr.Reset(v)
			if str, e := kr.Str(); e == nil && string(key) == "op" {
				q.KeyringOp = str
			} else if e == nil {
				q.Key = str
			}
		}
	default:
		if stateFlags[string(key)] {
			if q.Flags == nil {
				q.Flags = make(map[string]bool)
			}
			q.Flags[string(key)], err = boolish(r)
			return err
		}
		var v []byte // unknown keys are ignored, as in DistKV, but kept for the actions that want them
		if v, err = r.Raw(); err == nil {
			if q.Extra == nil {
				q.Extra = make(map[string][]byte)
			}
			q.Extra[string(key)] = q.own(v)
		}
	}
	return err
}

// own returns v, or a copy of it unless the request owns its input (for the fields that do not
// outlive the request).
func (q *Request) own(v []byte) []byte { return ownBytes(v, q.owned) }

func ownBytes(v []byte, owned bool) []byte {
	if owned {
		return v
	}
	return append([]byte(nil), v...)
}

func (op *Op) field(r *node.Reader, key []byte, owned bool) error {
	var err error
	switch string(key) {
	case "value":
		var v []byte
		if v, err = r.Raw(); err == nil {
			op.Value, op.HasValue = append([]byte(nil), v...), true
		}
	case "prev":
		var v []byte
		if v, err = r.Raw(); err == nil {
			op.Prev, op.HasPrev = ownBytes(v, owned), true
		}
	case "idem":
		op.Idem, err = boolish(r)
	case "chain":
		op.HasChain = true
		op.Chain, err = readChainHead(r)
	default:
		_, err = r.Raw()
	}
	return err
}

// readChainHead reads DistKV's nested chain {node, tick, prev} (or nil) and keeps its head;
// conditions compare heads only.
func readChainHead(r *node.Reader) (node.Link, error) {
	var l node.Link
	if r.IsNil() {
		return l, nil
	}
	err := parseMap(r, func(k []byte) error {
		var err error
		switch string(k) {
		case "node":
			if !r.IsNil() {
				l.Origin, err = r.Str()
			}
		case "tick":
			if !r.IsNil() {
				l.Tick, err = r.Uint()
			}
		default:
			_, err = r.Raw()
		}
		return err
	})
	return l, err
}

func intField(r *node.Reader, dst *int) error {
	if r.IsNil() {
		return nil
	}
	v, err := intish(r)
	*dst = int(v)
	return err
}

// intish reads an integer, accepting a bool as Python does (false is 0, true is 1): DistKV's
// CLI sends nchain: false, and DistKV's server compares it as a number.
func intish(r *node.Reader) (int64, error) {
	e, err := r.Element()
	if err != nil {
		return 0, err
	}
	switch {
	case e.Kind() == node.KindBool && e.BoolVal():
		return 1, nil
	case e.Kind() == node.KindBool:
		return 0, nil
	case e.Kind() == node.KindInt && !e.IsUint() && !e.IsHuge():
		return e.IntVal(), nil
	}
	return 0, fmt.Errorf("want integer, got %s", e.Kind())
}

// boolish reads a bool, accepting nil as false and integers as Python truthiness.
func boolish(r *node.Reader) (bool, error) {
	if r.IsNil() {
		return false, nil
	}
	e, err := r.Element()
	if err != nil {
		return false, err
	}
	switch e.Kind() {
	case node.KindBool:
		return e.BoolVal(), nil
	case node.KindInt:
		return e.IsHuge() || e.UintVal() != 0, nil
	}
	return false, fmt.Errorf("want bool, got %s", e.Kind())
}
