package server_test

import (
	"bufio"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/gossip"
	"github.com/distkv/distkv/gossip/wire"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server/servertest"
)

// TestDigestReqOfOtherVersionRefused: a member of an older build asks for digests without a
// version (its entry hash, version 1). They would differ from its own everywhere, so the node
// refuses, and the asker's pass ends at once instead of narrowing and fetching the whole tree
// every round. The connection stays open; a request of this node's version is answered, and
// the node's vector and state name the version.
func TestDigestReqOfOtherVersionRefused(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 2, Seed: 43})
	c.MustWrite(0, node.StringPath("dv", "a"), 1)
	c.WaitConverged(20 * time.Second)

	conn := peerDial(t, c, 0)
	bw, br := bufio.NewWriter(conn), bufio.NewReader(conn)
	ask := func(typ byte, body []byte) (byte, []byte) {
		t.Helper()
		if err := gossip.WriteFrame(bw, typ, body); err != nil || bw.Flush() != nil {
			t.Fatalf("send %d: %v", typ, err)
		}
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		rt, b, err := gossip.ReadFrame(br, 1<<20, nil)
		if err != nil {
			t.Fatalf("answer to %d: %v", typ, err)
		}
		return rt, b
	}
	if err := hello(bw); err != nil {
		t.Fatal(err)
	}
	// The previous encoding, `[path, []]`.
	old := node.AppendArrayLen(node.AppendPath(node.AppendArrayLen(nil, 2), node.Path{}), 0)
	if rt, b := ask(wire.MsgDigestReq, old); rt != wire.MsgError || !strings.Contains(string(b), "version 1") {
		t.Fatalf("old digest request answered %d %q, want a refusal", rt, b)
	}
	rt, b := ask(wire.MsgDigestReq, wire.DigestReq{Path: node.Path{}, Version: node.DigestVersion}.Append(nil))
	if rt != wire.MsgDigestReply {
		t.Fatalf("digest request answered %d %q", rt, b)
	}
	if d, err := wire.DecodeDigestReply(b); err != nil || d.Version != node.DigestVersion || len(d.Children) != 1 {
		t.Fatalf("digest reply %+v %v", d, err)
	}
	rt, b = ask(wire.MsgVectorReq, nil)
	if v, err := wire.DecodeVector(b); rt != wire.MsgVector || err != nil || v.DigestVersion != node.DigestVersion {
		t.Fatalf("vector %d %+v %v", rt, v, err)
	}
	st, err := c.State(0)
	if err != nil {
		t.Fatal(err)
	}
	if partUint(st["digest_version"]) != node.DigestVersion {
		t.Errorf("state digest_version %v, want %d", st["digest_version"], node.DigestVersion)
	}
}
