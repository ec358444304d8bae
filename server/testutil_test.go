package server

// Helpers for the protocol tests (proto_test.go and friends): a real server on a loopback
// port, and a raw msgpack client that speaks to it like a foreign (DistKV) client would.
// Everything here is prefixed pt so that it cannot collide with other tests of the package.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"reflect"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/distkv/distkv/node"
)

type nodeT = node.Node

// ptRemoteUpdate is an update from another origin writing one string-path entry with a
// one-byte msgpack value (a positive fixint), for Server.Node(... Apply ...).
func ptRemoteUpdate(origin string, tick, tock uint64, path string, v byte) *node.Update {
	return &node.Update{Origin: origin, Tick: tick, Tock: tock,
		Ops: []node.Op{{Path: node.StringPath(path), Value: []byte{v}}}}
}

// ptTimeout bounds every single read; generous, so that a slow CI machine under -race does
// not produce false failures, while a hung server still fails the test instead of the run.
const ptTimeout = 20 * time.Second

type ptSrv struct {
	S    *Server
	Addr string
}

// ptStart starts a RAM-only server on 127.0.0.1:0 and stops it when the test ends.
func ptStart(tb testing.TB, cfg Config) *ptSrv {
	tb.Helper()
	if cfg.Name == "" {
		cfg.Name = "t"
	}
	if cfg.ClientAddr == "" {
		cfg.ClientAddr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	if err := s.Listen(); err != nil {
		tb.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, ErrClosed) {
				tb.Errorf("Run returned %v, want ErrClosed", err)
			}
		case <-time.After(ptTimeout):
			tb.Errorf("server did not stop within %v", ptTimeout)
		}
	})
	return &ptSrv{S: s, Addr: s.Addr().String()}
}

// ptConn is a raw client connection. It is used by one goroutine at a time.
type ptConn struct {
	tb       testing.TB
	nc       net.Conn
	dec      *msgpack.Decoder
	seq      atomic.Uint64
	held     []map[string]any // messages read while looking for another seq
	Greeting map[string]any
}

// dial connects and reads the greeting.
func (s *ptSrv) dial(tb testing.TB) *ptConn {
	tb.Helper()
	c := s.dialNoGreeting(tb)
	g, err := c.readMsg()
	if err != nil {
		tb.Fatalf("greeting: %v", err)
	}
	c.Greeting = g
	return c
}

func (s *ptSrv) dialNoGreeting(tb testing.TB) *ptConn {
	tb.Helper()
	nc, err := net.DialTimeout("tcp", s.Addr, ptTimeout)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	tb.Cleanup(func() { nc.Close() })
	return &ptConn{tb: tb, nc: nc, dec: msgpack.NewDecoder(bufio.NewReaderSize(nc, 64<<10))}
}

// nextSeq returns a fresh, strictly increasing seq (DistKV's rule).
func (c *ptConn) nextSeq() uint64 { return c.seq.Add(1) }

// ptEncode encodes v as msgpack the way DistKV's Python client does: compact integers,
// str for strings, bin for []byte, maps for maps.
func ptEncode(v any) ([]byte, error) {
	var b bytes.Buffer
	e := msgpack.NewEncoder(&b)
	e.UseCompactInts(true)
	e.UseCompactFloats(true)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func ptMustEncode(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := ptEncode(v)
	if err != nil {
		tb.Fatalf("encode %v: %v", v, err)
	}
	return b
}

func (c *ptConn) trySendRaw(b []byte) error {
	c.nc.SetWriteDeadline(time.Now().Add(ptTimeout))
	_, err := c.nc.Write(b)
	return err
}

func (c *ptConn) sendRaw(b []byte) {
	c.tb.Helper()
	if err := c.trySendRaw(b); err != nil {
		c.tb.Fatalf("write: %v", err)
	}
}

// send sends a request map; it sets seq if the map has none and returns it.
func (c *ptConn) send(m map[string]any) uint64 {
	c.tb.Helper()
	seq, err := c.trySend(m)
	if err != nil {
		c.tb.Fatal(err)
	}
	return seq
}

func (c *ptConn) trySend(m map[string]any) (uint64, error) {
	if _, ok := m["seq"]; !ok {
		m["seq"] = c.nextSeq()
	}
	seq := ptUint(m["seq"])
	b, err := ptEncode(m)
	if err != nil {
		return 0, err
	}
	return seq, c.trySendRaw(b)
}

// readMsg reads the next message from the socket, whatever its seq.
func (c *ptConn) readMsg() (map[string]any, error) {
	return c.readMsgTimeout(ptTimeout)
}

func (c *ptConn) readMsgTimeout(d time.Duration) (map[string]any, error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	v, err := ptDecodeAny(c.dec, 0)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("reply is not a map with string keys: %#v", v)
	}
	return m, nil
}

// next returns the next message for seq, keeping others for later.
func (c *ptConn) tryNext(seq uint64) (map[string]any, error) {
	for i, m := range c.held {
		if ptUint(m["seq"]) == seq {
			c.held = append(c.held[:i:i], c.held[i+1:]...)
			return m, nil
		}
	}
	for {
		m, err := c.readMsg()
		if err != nil {
			return nil, fmt.Errorf("waiting for seq %d: %w", seq, err)
		}
		if ptUint(m["seq"]) == seq {
			return m, nil
		}
		c.held = append(c.held, m)
	}
}

func (c *ptConn) next(seq uint64) map[string]any {
	c.tb.Helper()
	m, err := c.tryNext(seq)
	if err != nil {
		c.tb.Fatal(err)
	}
	return m
}

// call sends a request and returns its (single) reply.
func (c *ptConn) call(m map[string]any) map[string]any {
	c.tb.Helper()
	return c.next(c.send(m))
}

func (c *ptConn) tryCall(m map[string]any) (map[string]any, error) {
	seq, err := c.trySend(m)
	if err != nil {
		return nil, err
	}
	return c.tryNext(seq)
}

// ok calls and fails the test on an error reply.
func (c *ptConn) ok(m map[string]any) map[string]any {
	c.tb.Helper()
	r := c.call(m)
	if e, has := r["error"]; has {
		c.tb.Fatalf("%v: error %v (etype %v)", m, e, r["etype"])
	}
	return r
}

// callErr calls and expects an error reply with the given etype.
func (c *ptConn) callErr(m map[string]any, etype string) map[string]any {
	c.tb.Helper()
	seq := c.send(m)
	r := c.next(seq)
	ptCheckErr(c.tb, r, seq, etype)
	return r
}

// streamErr sends a stream request and expects start, an error with the etype, then end.
func (c *ptConn) streamErr(m map[string]any, etype string) map[string]any {
	c.tb.Helper()
	seq := c.send(m)
	if first := c.next(seq); first["state"] != "start" {
		c.tb.Fatalf("stream %d: first message %v, want state start", seq, first)
	}
	r := c.next(seq)
	ptCheckErr(c.tb, r, seq, etype)
	if last := c.next(seq); last["state"] != "end" {
		c.tb.Errorf("stream %d: after the error %v, want state end", seq, last)
	}
	return r
}

func ptCheckErr(tb testing.TB, r map[string]any, seq uint64, etype string) {
	tb.Helper()
	if ptUint(r["seq"]) != seq {
		tb.Errorf("error reply has seq %v, want %d: %v", r["seq"], seq, r)
	}
	if _, ok := r["error"].(string); !ok {
		tb.Errorf("want an error reply with a string error, got %v", r)
	}
	if r["etype"] != etype {
		tb.Errorf("etype %v, want %q; reply %v", r["etype"], etype, r)
	}
}

// stream collects the messages of a streamed reply: after {state: start}, until the message
// with state end (not included); the state messages in between (uptodate) are included.
func (c *ptConn) streamUntil(seq uint64, last string) []map[string]any {
	c.tb.Helper()
	first := c.next(seq)
	if first["state"] != "start" {
		c.tb.Fatalf("stream %d: first message %v, want state start", seq, first)
	}
	var out []map[string]any
	for {
		m := c.next(seq)
		if _, has := m["error"]; has {
			c.tb.Fatalf("stream %d: error %v", seq, m)
		}
		if m["state"] == last {
			return out
		}
		out = append(out, m)
	}
}

// expectClosed reads until EOF (or a reset) and returns the messages read before it.
func (c *ptConn) expectClosed() []map[string]any {
	c.tb.Helper()
	var got []map[string]any
	for {
		m, err := c.readMsg()
		if err == nil {
			got = append(got, m)
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.tb.Fatalf("connection not closed by the server after %d messages: %v", len(got), got)
		}
		return got
	}
}

// ptDecodeAny decodes one msgpack value generically: maps with only string keys become
// map[string]any (others map[any]any), arrays []any, every integer int64 (uint64 above
// MaxInt64), bin []byte, str string, ext 3 (a DistKV path) the []any of its elements, other
// exts ptExt.
func ptDecodeAny(d *msgpack.Decoder, depth int) (any, error) {
	if depth > 100 {
		return nil, errors.New("reply nested too deep")
	}
	c, err := d.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := d.DecodeMapLen()
		if err != nil {
			return nil, err
		}
		keys := make([]any, n)
		vals := make([]any, n)
		allStr := true
		for i := 0; i < n; i++ {
			if keys[i], err = ptDecodeAny(d, depth+1); err != nil {
				return nil, err
			}
			if vals[i], err = ptDecodeAny(d, depth+1); err != nil {
				return nil, err
			}
			if _, ok := keys[i].(string); !ok {
				allStr = false
			}
		}
		if allStr {
			m := make(map[string]any, n)
			for i := range keys {
				k := keys[i].(string)
				if _, dup := m[k]; dup {
					return nil, fmt.Errorf("duplicate map key %q", k)
				}
				m[k] = vals[i]
			}
			return m, nil
		}
		m := make(map[any]any, n)
		for i := range keys {
			if b, ok := keys[i].([]byte); ok {
				keys[i] = ptBin(b) // bytes keys (enum with_data of bytes names)
			}
			if keys[i] != nil && !reflect.TypeOf(keys[i]).Comparable() {
				return nil, fmt.Errorf("unhashable map key %#v", keys[i])
			}
			m[keys[i]] = vals[i]
		}
		return m, nil
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := d.DecodeArrayLen()
		if err != nil {
			return nil, err
		}
		a := make([]any, n)
		for i := range a {
			if a[i], err = ptDecodeAny(d, depth+1); err != nil {
				return nil, err
			}
		}
		return a, nil
	case msgpcode.IsExt(c):
		id, n, err := d.DecodeExtHeader()
		if err != nil {
			return nil, err
		}
		data := make([]byte, n)
		if err := d.ReadFull(data); err != nil {
			return nil, err
		}
		if id != 3 {
			return ptExt{ID: id, Data: data}, nil
		}
		sub := msgpack.NewDecoder(bytes.NewReader(data))
		p := []any{}
		for {
			if _, err := sub.PeekCode(); err == io.EOF {
				return p, nil
			}
			e, err := ptDecodeAny(sub, depth+1)
			if err != nil {
				return nil, fmt.Errorf("path element: %w", err)
			}
			p = append(p, e)
		}
	}
	v, err := d.DecodeInterface()
	if err != nil {
		return nil, err
	}
	return ptNorm(v), nil
}

// ptNorm turns every integer into int64 (uint64 when above MaxInt64) and float32 into
// float64.
func ptNorm(v any) any {
	switch x := v.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint:
		return ptNorm(uint64(x))
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
		return x
	case float32:
		return float64(x)
	}
	return v
}

// ptUint reads a non-negative integer field; -1 if it is not one.
func ptUint(v any) uint64 {
	switch x := ptNorm(v).(type) {
	case int64:
		if x >= 0 {
			return uint64(x)
		}
	case uint64:
		return x
	}
	return math.MaxUint64
}

func ptInt(v any) int64 {
	if x, ok := ptNorm(v).(int64); ok {
		return x
	}
	return math.MinInt64
}

// ptBin is a bytes map key.
type ptBin string

type ptExt struct {
	ID   int8
	Data []byte
}

// ptPath is a path sent as DistKV's ext type 3: the concatenated msgpack encodings of its
// elements (compact, as Python's msgpack writes them).
type ptPath []any

func (p ptPath) payload() ([]byte, error) {
	var b []byte
	for _, e := range p {
		x, err := ptEncode(e)
		if err != nil {
			return nil, err
		}
		b = append(b, x...)
	}
	return b, nil
}

func (p ptPath) EncodeMsgpack(e *msgpack.Encoder) error {
	data, err := p.payload()
	if err != nil {
		return err
	}
	if err := e.EncodeExtHeader(3, len(data)); err != nil {
		return err
	}
	_, err = e.Writer().Write(data)
	return err
}

// ptA builds a path sent as a plain array.
func ptA(elems ...any) []any {
	if elems == nil {
		return []any{}
	}
	return elems
}

// ptChain is a decoded chain: its links, newest first, and whether it ended with prev: nil
// (true) or with the prev key absent (truncated).
type ptChain struct {
	Links []ptLink
	Ended bool
}

type ptLink struct {
	Node string
	Tick uint64
}

// ptParseChain decodes DistKV's nested chain {node, tick, prev}; nil gives a nil chain.
func ptParseChain(tb testing.TB, v any) *ptChain {
	tb.Helper()
	if v == nil {
		return nil
	}
	c := &ptChain{}
	for depth := 0; ; depth++ {
		if depth > 100 {
			tb.Fatalf("chain too long: %v", v)
		}
		m, ok := v.(map[string]any)
		if !ok {
			tb.Fatalf("chain link is %#v, want a map {node, tick, prev}", v)
		}
		node, ok := m["node"].(string)
		if !ok {
			tb.Fatalf("chain link without string node: %v", m)
		}
		tick := ptUint(m["tick"])
		if tick == math.MaxUint64 {
			tb.Fatalf("chain link without tick: %v", m)
		}
		for k := range m {
			if k != "node" && k != "tick" && k != "prev" {
				tb.Errorf("chain link has unexpected key %q: %v", k, m)
			}
		}
		c.Links = append(c.Links, ptLink{node, tick})
		prev, has := m["prev"]
		if !has {
			return c
		}
		if prev == nil {
			c.Ended = true
			return c
		}
		v = prev
	}
}

// ptLongener rebuilds full paths from get_tree / watch replies as DistKV's PathLongener does:
// each reply's path is its tail after the first depth elements of the previous (relative)
// path; the relative path is then prefixed with the request's path.
type ptLongener struct {
	prefix []any
	prev   []any
}

func (l *ptLongener) full(tb testing.TB, m map[string]any) []any {
	tb.Helper()
	tail, ok := m["path"].([]any)
	if !ok {
		tb.Fatalf("entry without path (array or ext 3): %v", m)
	}
	d := ptInt(m["depth"])
	if d < 0 || int(d) > len(l.prev) {
		tb.Fatalf("entry depth %v with a previous relative path of %d elements: %v", m["depth"], len(l.prev), m)
	}
	rel := append(append([]any{}, l.prev[:d]...), tail...)
	l.prev = rel
	return append(append([]any{}, l.prefix...), rel...)
}

// ptKey renders a decoded path for comparisons and messages.
func ptKey(p []any) string {
	parts := make([]string, len(p))
	for i, e := range p {
		parts[i] = fmt.Sprintf("%T:%v", e, e)
	}
	return "(" + strings.Join(parts, ",") + ")"
}

// ptRangeSet expands a RangeSet in DistKV's wire form (items x or [start, end)) into its
// sorted ticks.
func ptRangeSet(tb testing.TB, v any) []uint64 {
	tb.Helper()
	items, ok := v.([]any)
	if !ok {
		tb.Fatalf("range set %#v is not a list", v)
	}
	var out []uint64
	for _, it := range items {
		switch x := it.(type) {
		case []any:
			if len(x) != 2 {
				tb.Fatalf("range %v is not a pair", x)
			}
			a, b := ptUint(x[0]), ptUint(x[1])
			if a >= b || b-a > 1<<20 {
				tb.Fatalf("bad range %v", x)
			}
			for t := a; t < b; t++ {
				out = append(out, t)
			}
		default:
			out = append(out, ptUint(x))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
