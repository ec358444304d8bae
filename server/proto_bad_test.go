package server

// Protocol tests with bad input: malformed msgpack, oversized requests, unknown actions,
// missing fields, non-map messages, oversized values and paths.

import (
	"bytes"
	"encoding/binary"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// ptMem returns the heap's total allocation so far and its current size, after a GC.
func ptMem() (total, heap uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc, ms.HeapAlloc
}

// ptStillServes checks that a connection still answers.
func ptStillServes(t *testing.T, c *ptConn, what string) {
	t.Helper()
	seq := c.send(ptM{"action": "get_tock"})
	r, err := c.tryNext(seq)
	if err != nil {
		t.Fatalf("%s: the connection no longer answers: %v", what, err)
	}
	if r["error"] != nil || r["tock"] == nil {
		t.Fatalf("%s: get_tock answered %v", what, r)
	}
}

// ptFindErr returns the first error message among msgs.
func ptFindErr(msgs []ptM) ptM {
	for _, m := range msgs {
		if m["error"] != nil {
			return m
		}
	}
	return nil
}

func TestProtoMalformedClosesOnlyThatConnection(t *testing.T) {
	srv := ptStart(t, Config{})
	good := srv.dial(t)
	ptSet(good, ptA("mf"), "kept")

	bad := srv.dial(t)
	bad.sendRaw([]byte{0xc1})
	got := bad.expectClosed()
	e := ptFindErr(got)
	if e == nil {
		t.Fatalf("malformed msgpack: no error reply before the close (got %v)", got)
	}
	ptCheckErr(t, e, 0, "malformed")

	// Inside a map, after a valid prefix.
	bad2 := srv.dial(t)
	b := ptMustEncode(t, ptM{"seq": 1, "action": "get_tock"})
	bad2.sendRaw(append([]byte{0x82, 0xa3, 's', 'e', 'q', 0x05, 0xa6, 'a', 'c', 't', 'i', 'o', 'n', 0xc1}, b...))
	got = bad2.expectClosed()
	if e := ptFindErr(got); e == nil {
		t.Errorf("0xc1 inside a map: no error reply before the close (got %v)", got)
	} else {
		ptCheckErr(t, e, 0, "malformed")
	}
	for _, m := range got {
		if ptUint(m["seq"]) == 1 {
			t.Errorf("a request after the malformed bytes was served: %v", m)
		}
	}

	ptStillServes(t, good, "the other client")
	if r := ptGet(good, ptA("mf")); r["value"] != "kept" {
		t.Errorf("other client: %v", r)
	}
}

// The error reply that explains a close must not be lost, nor the replies to the valid
// requests before the bad byte: the writer must send what was queued before the connection
// goes away. The replies here are large and the client reads only after sending
// everything, so that they are still queued when the bad byte is parsed.
func TestProtoMalformedErrorAlwaysDelivered(t *testing.T) {
	srv := ptStart(t, Config{})
	w := srv.dial(t)
	ptSet(w, ptA("big"), bytes.Repeat([]byte{'b'}, 16<<10))
	const rounds, pipelined = 3, 2000
	for i := 0; i < rounds; i++ {
		c := srv.dial(t)
		if tc, ok := c.nc.(*net.TCPConn); ok {
			tc.SetReadBuffer(256 << 10) // so that the socket cannot absorb all replies
		}
		var buf bytes.Buffer
		for j := 1; j <= pipelined; j++ {
			buf.Write(ptMustEncode(t, ptM{"seq": j, "action": "get_value", "path": ptA("big")}))
		}
		buf.WriteByte(0xc1)
		c.sendRaw(buf.Bytes())
		time.Sleep(100 * time.Millisecond) // let the replies pile up in the server
		got := c.expectClosed()
		replies := 0
		for _, m := range got {
			if s := ptUint(m["seq"]); s >= 1 && s <= pipelined && m["error"] == nil {
				replies++
			}
		}
		if e := ptFindErr(got); e == nil {
			t.Errorf("round %d: the connection was closed for malformed input without the error reply (and with %d of the %d replies before it)", i, replies, pipelined)
		} else {
			ptCheckErr(t, e, 0, "malformed")
		}
		if replies != pipelined {
			t.Errorf("round %d: the connection was closed with %d of the %d replies to the valid requests before the malformed byte", i, replies, pipelined)
		}
		c.nc.Close()
	}
}

func TestProtoTooLarge(t *testing.T) {
	const maxReq = 64 << 10
	srv := ptStart(t, Config{MaxRequest: maxReq, MaxValue: 16 << 10})
	good := srv.dial(t)
	ptSet(good, ptA("tl"), "kept")

	// A header that claims 2 GiB, followed by only a few bytes: refused at once, without
	// waiting for (or allocating) the claimed size.
	bad := srv.dial(t)
	var req bytes.Buffer
	req.WriteByte(0x83)
	req.Write(ptMustEncode(t, "seq"))
	req.Write(ptMustEncode(t, 7))
	req.Write(ptMustEncode(t, "action"))
	req.Write(ptMustEncode(t, "set_value"))
	req.Write(ptMustEncode(t, "value"))
	req.WriteByte(0xc6)
	req.Write(binary.BigEndian.AppendUint32(nil, 0x7fffffff))
	req.WriteString("abc")
	total0, heap0 := ptMem()
	bad.sendRaw(req.Bytes())
	start := time.Now()
	got := bad.expectClosed()
	total1, heap1 := ptMem()
	if e := ptFindErr(got); e == nil {
		t.Errorf("2 GiB claim: no error reply before the close (got %v)", got)
	} else {
		ptCheckErr(t, e, 0, "toolarge")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("2 GiB claim: took %v to refuse", d)
	}
	if grew := total1 - total0; grew > 32<<20 {
		t.Errorf("2 GiB claim: the process allocated %d MiB meanwhile", grew>>20)
	}
	if heap1 > heap0+32<<20 {
		t.Errorf("2 GiB claim: heap grew from %d to %d MiB", heap0>>20, heap1>>20)
	}

	// Array and map counts are claims too.
	for _, hdr := range [][]byte{
		{0x81, 0xa3, 'o', 'p', 's', 0xdd, 0x7f, 0xff, 0xff, 0xff, 0x80},
		{0xdf, 0x10, 0, 0, 0, 0xa3, 's', 'e', 'q'},
		{0x81, 0xa4, 'p', 'a', 't', 'h', 0xc9, 0x7f, 0xff, 0xff, 0xff, 3, 0xa1, 'x'},
	} {
		c := srv.dial(t)
		c.sendRaw(hdr)
		got := c.expectClosed()
		if e := ptFindErr(got); e == nil {
			t.Errorf("claim % x: no error reply before the close", hdr)
		} else {
			ptCheckErr(t, e, 0, "toolarge")
		}
	}

	// A request really sent in full, just over the limit: refused, the connection closed.
	// The server may close while the rest is in flight, so the client may see a reset
	// rather than the reply; only the refusal and the other client's service are checked.
	big := srv.dial(t)
	value := strings.Repeat("x", maxReq)
	b := ptMustEncode(t, ptM{"seq": 1, "action": "set_value", "path": ptA("tl", "big"), "value": value})
	_ = big.trySendRaw(b)
	for _, m := range big.expectClosed() {
		if m["error"] != nil {
			ptCheckErr(t, m, 0, "toolarge")
		} else if ptUint(m["seq"]) == 1 {
			t.Errorf("an oversized request was served: %v", m)
		}
	}
	if r := ptGet(good, ptA("tl", "big")); r["value"] != nil {
		t.Errorf("an oversized request was applied")
	}

	// Just under the limit is fine (the value is capped separately, at 16 KiB here).
	ok := srv.dial(t)
	r := ok.call(ptM{"action": "get_tree", "path": ptA(strings.Repeat("p", maxReq-200))})
	if r["error"] != nil {
		t.Errorf("a request under MaxRequest was refused: %v", r)
	}

	ptStillServes(t, good, "the other client")
	if r := ptGet(good, ptA("tl")); r["value"] != "kept" {
		t.Errorf("other client: %v", r)
	}
}

func TestProtoUnknownAction(t *testing.T) {
	srv := ptStart(t, Config{})
	c := srv.dial(t)
	r := c.callErr(ptM{"seq": 5, "action": "frobnicate", "path": ptA("x")}, "action")
	if e, _ := r["error"].(string); !strings.Contains(e, "frobnicate") {
		t.Errorf("unknown action: error %q does not name it", e)
	}
	c.seq.Store(5)
	// A request without an action is an unknown action too.
	c.callErr(ptM{"seq": 6}, "action")
	c.callErr(ptM{"seq": 7, "action": ""}, "action")
	// Actions DistKV has and distkv does not, and a known one misspelt.
	c.seq.Store(7)
	for _, a := range []string{"update", "fake_info", "Get_Value"} {
		c.callErr(ptM{"action": a, "path": ptA("x")}, "action")
	}
	ptStillServes(t, c, "after unknown actions")
	ptSet(c, ptA("ua"), 1)
}

// Fields the action needs but the request lacks are the client's fault: etype "request",
// every time (repeated: a nondeterministic etype would show up here).
func TestProtoMissingFields(t *testing.T) {
	srv := ptStart(t, Config{})
	c := srv.dial(t)
	ptSet(c, ptA("mfd"), "v")
	cases := []struct {
		name string
		req  ptM
	}{
		{"set_value without value", ptM{"action": "set_value", "path": ptA("mfd")}},
		{"set_value without path", ptM{"action": "set_value", "value": 1}},
		{"set_value at the root", ptM{"action": "set_value", "path": ptPath{}, "value": 1}},
		{"delete_value with value", ptM{"action": "delete_value", "path": ptA("mfd"), "value": 1}},
		{"delete_value without path", ptM{"action": "delete_value"}},
		{"delete_tree of the root", ptM{"action": "delete_tree", "path": ptA()}},
		{"multi without ops", ptM{"action": "multi"}},
	}
	for _, tc := range cases {
		counts := map[string]int{}
		for i := 0; i < 16; i++ {
			r := c.call(tc.req)
			delete(tc.req, "seq")
			if r["error"] == nil {
				t.Errorf("%s: no error: %v", tc.name, r)
				break
			}
			et, _ := r["etype"].(string)
			counts[et]++
		}
		if len(counts) != 1 || counts["request"] != 16 {
			t.Errorf("%s: etypes %v over 16 tries, want always \"request\"", tc.name, counts)
		}
	}
	if r := ptGet(c, ptA("mfd")); r["value"] != "v" {
		t.Errorf("a refused request changed data: %v", r)
	}
	if tick := ptTick(c); tick != 1 {
		t.Errorf("refused requests used ticks: tick %d", tick)
	}
}

// A message that is well-formed msgpack but not a request map gets an error, and the
// connection goes on.
func TestProtoNonMapMessage(t *testing.T) {
	srv := ptStart(t, Config{})
	c := srv.dial(t)
	for _, v := range []any{[]any{1, 2, 3}, "hello", 42, nil, true, []byte{1, 2}, ptM{}} {
		c.sendRaw(ptMustEncode(t, v))
		if _, isMap := v.(ptM); isMap {
			// {} is a map: a request with seq 0 and no action, like a client's greeting
			// reply; it needs no answer.
			continue
		}
		r, err := c.readMsg()
		if err != nil {
			t.Fatalf("%#v: no reply: %v", v, err)
		}
		ptCheckErr(t, r, 0, "request")
		ptStillServes(t, c, "after a non-map message")
	}
	// A map key that is not a string: ignored like any unknown key, or refused; either way
	// the reply has the request's seq.
	var raw bytes.Buffer
	raw.WriteByte(0x83)
	raw.Write(ptMustEncode(t, "seq"))
	raw.Write(ptMustEncode(t, 77))
	raw.Write(ptMustEncode(t, 1))
	raw.Write(ptMustEncode(t, 2))
	raw.Write(ptMustEncode(t, "action"))
	raw.Write(ptMustEncode(t, "get_tock"))
	c.sendRaw(raw.Bytes())
	if r := c.next(77); r["error"] != nil {
		ptCheckErr(t, r, 77, "request")
	}
	// Fields of the wrong type are refused with the request's seq.
	c.seq.Store(100)
	c.callErr(ptM{"action": "get_value", "path": "a.b"}, "request")
	c.callErr(ptM{"action": "get_value", "path": ptA(ptM{"x": 1})}, "request")
	c.callErr(ptM{"action": "get_value", "path": ptA("a"), "nchain": "three"}, "request")
	c.streamErr(ptM{"action": "watch", "path": ptA("a"), "fetch": "yes"}, "request") // framed, as any stream
	c.callErr(ptM{"action": "set_value", "path": ptA("a"), "value": 1, "chain": "head"}, "request")
	ptStillServes(t, c, "after bad fields")
	// No stray replies.
	for _, m := range c.held {
		t.Errorf("unexpected message: %v", m)
	}
}

func TestProtoValueTooLarge(t *testing.T) {
	const maxVal = 1024
	srv := ptStart(t, Config{MaxValue: maxVal})
	c := srv.dial(t)
	// A bin value of n payload bytes is n+3 bytes of msgpack (bin16 header).
	c.ok(ptM{"action": "set_value", "path": ptA("vt", "ok"), "value": make([]byte, maxVal-3)})
	c.callErr(ptM{"action": "set_value", "path": ptA("vt", "big"), "value": make([]byte, maxVal-2)}, "valuetoolarge")
	c.callErr(ptM{"action": "set_value", "path": ptA("vt", "big"), "value": strings.Repeat("x", 4*maxVal)}, "valuetoolarge")
	c.callErr(ptM{"action": "multi", "ops": []any{
		ptM{"path": ptA("vt", "small"), "value": 1},
		ptM{"path": ptA("vt", "big"), "value": make([]byte, 2*maxVal)},
	}}, "valuetoolarge")
	for _, p := range [][]any{{"vt", "big"}, {"vt", "small"}} {
		if r := ptGet(c, p); r["value"] != nil {
			t.Errorf("%v written despite the refusal: %v", p, r)
		}
	}
	if tick := ptTick(c); tick != 1 {
		t.Errorf("tick %d, want 1", tick)
	}
}

// A path is a list of tree levels, and each level is an entry (hundreds of bytes) and a
// level of recursion in every walk. A path of 100000 one-byte elements is a 100 KB request,
// far under MaxRequest, yet it builds 100000 nested entries and makes every walk from above
// it recurse as deep, under the node's lock. It must be refused as a bad request.
func TestProtoDeepPathRefused(t *testing.T) {
	srv := ptStart(t, Config{})
	c := srv.dial(t)
	const n = 100000
	p := make(ptPath, n)
	for i := range p {
		p[i] = i % 100
	}
	_, heap0 := ptMem()
	start := time.Now()
	r := c.call(ptM{"action": "set_value", "path": p, "value": 1})
	took := time.Since(start)
	_, heap1 := ptMem()
	if r["error"] == nil {
		t.Errorf("a path of %d elements (a %d byte request) was accepted: the heap grew by %d MiB, the write took %v", n, n+40, (int64(heap1)-int64(heap0))>>20, took)
		start = time.Now()
		seq := c.send(ptM{"action": "get_tree", "path": ptA()})
		c.streamUntil(seq, "end")
		t.Logf("a get_tree from the root then held the server for %v", time.Since(start))
	} else if r["etype"] != "request" {
		t.Errorf("deep path refused with etype %v, want request", r["etype"])
	}
}

// A stream request that does not parse is refused as its stream would be, between start and
// end (DistKV's client waits for start); get_tree_internal is one such stream.
func TestProtoBadStreamRequestFramed(t *testing.T) {
	srv := ptStart(t, Config{})
	c := srv.dial(t)
	for _, act := range []string{"get_tree", "watch", "get_tree_internal"} {
		refusedStream(t, c, ptM{"action": act, "path": 5}, "request")
	}
	ptStillServes(t, c, "after bad stream requests")
}
