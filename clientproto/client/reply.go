package client

import (
	"fmt"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
)

// reply is one message from the server, with the fields any action uses.
type reply struct {
	Seq      uint64
	State    string
	Error    string
	Etype    string
	HasError bool
	Value    []byte
	HasValue bool
	Chain    node.Chain
	HasChain bool
	Changed  []byte // raw: bool, count, or list of bools
	Chains   []byte // raw list of chains (multi)
	Prev     []byte
	HasPrev  bool
	Path     node.Path
	HasPath  bool
	Depth    int
	Tock     uint64
	Result   []byte // raw
	Node     string
	Wseq     uint64 // flow control: the number of a stream message
	Qlen     int    // the greeting's flow-control window
	Raw      []byte // the whole message
}

func parseReply(b []byte) (*reply, error) {
	r := node.NewReader(b)
	m := &reply{Raw: b}
	n, err := r.MapLen()
	if err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		k, err := r.Str()
		if err != nil {
			return nil, err
		}
		switch k {
		case "seq":
			m.Seq, err = r.Uint()
		case "state":
			m.State, err = r.Str()
		case "error":
			m.HasError = true
			var v []byte
			if v, err = r.Raw(); err == nil {
				m.Error = rawString(v)
			}
		case "etype":
			m.Etype, err = r.Str()
		case "value":
			m.Value, err = r.Raw()
			m.HasValue = true
		case "chain":
			m.HasChain = true
			m.Chain, err = readChain(r)
		case "changed":
			m.Changed, err = r.Raw()
		case "chains":
			m.Chains, err = r.Raw()
		case "prev":
			m.Prev, err = r.Raw()
			m.HasPrev = true
		case "path":
			m.Path, err = r.Path()
			m.HasPath = true
		case "depth":
			var d uint64
			d, err = r.Uint()
			m.Depth = int(d)
		case "tock":
			m.Tock, err = r.Uint()
		case "result":
			m.Result, err = r.Raw()
		case "node":
			m.Node, err = r.Str()
		case "wseq":
			m.Wseq, err = r.Uint()
		case "qlen":
			var v int64
			v, err = r.Int()
			m.Qlen = int(max(v, 0))
		default:
			_, err = r.Raw()
		}
		if err != nil {
			return nil, fmt.Errorf("reply field %q: %w", k, err)
		}
	}
	return m, nil
}

func rawString(v []byte) string {
	if s, err := node.NewReader(v).Str(); err == nil {
		return s
	}
	return fmt.Sprintf("%x", v)
}

// readChain reads DistKV's nested chain {node, tick, prev}; nil ends it.
func readChain(r *node.Reader) (node.Chain, error) { return readChainDepth(r, 0) }

func readChainDepth(r *node.Reader, depth int) (node.Chain, error) {
	if r.IsNil() {
		return nil, nil
	}
	if depth > node.MaxChain {
		return nil, fmt.Errorf("chain longer than %d links", node.MaxChain)
	}
	n, err := r.MapLen()
	if err != nil {
		return nil, err
	}
	var l node.Link
	var rest node.Chain
	for i := 0; i < n; i++ {
		k, err := r.Str()
		if err != nil {
			return nil, err
		}
		switch k {
		case "node":
			l.Origin, err = r.Str()
		case "tick":
			l.Tick, err = r.Uint()
		case "prev":
			rest, err = readChainDepth(r, depth+1)
		default:
			_, err = r.Raw()
		}
		if err != nil {
			return nil, err
		}
	}
	return append(node.Chain{l}, rest...), nil
}

func (m *reply) err() error {
	if !m.HasError {
		return nil
	}
	return &clientproto.ServerError{Etype: m.Etype, Msg: m.Error}
}

// changedBool reads the changed field of a single write.
func (m *reply) changedBool() bool {
	if len(m.Changed) == 0 {
		return false
	}
	e, err := node.ParseElement(m.Changed)
	if err != nil {
		return false
	}
	if e.Kind() == node.KindInt {
		return e.IntVal() != 0
	}
	return e.Kind() == node.KindBool && e.BoolVal()
}
