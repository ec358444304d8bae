package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/clientproto/dh"
	"github.com/distkv/distkv/node"
)

// fixedServerPriv was the server's DH private exponent when the exchange was recorded.
var fixedServerPriv = []byte("distkv replay: the server's fixed DH private exponent, 32+ bytes")

// TestDistKVLoginRecorded checks a real DistKV client's login, recorded byte for byte
// (testdata/distkv_login.json): its requests parse, our DH math gives the public key it sent
// from its private exponent, the key agreed with the server's reply opens its secretbox to the
// sha256 of the password, and the server answered the auth stream with start and end only.
func TestDistKVLoginRecorded(t *testing.T) {
	raw, err := os.ReadFile("testdata/distkv_login.json")
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Password      string `json:"password"`
		ClientPrivate string `json:"client_private"`
		Frames        []struct{ Dir, Hex string }
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	var c2s, s2c []byte
	for _, f := range rec.Frames {
		b, err := hex.DecodeString(f.Hex)
		if err != nil {
			t.Fatal(err)
		}
		if f.Dir == "c2s" {
			c2s = append(c2s, b...)
		} else {
			s2c = append(s2c, b...)
		}
	}
	msgs := func(b []byte, parse bool) (out []map[string]any, reqs []*clientproto.Request) {
		d := msgpack.NewDecoder(bytes.NewReader(b))
		for {
			start := len(b) - d.Buffered().(*bytes.Reader).Len()
			v, err := ptDecodeAny(d, 0)
			if err != nil {
				return
			}
			m, _ := v.(map[string]any)
			out = append(out, m)
			if parse {
				end := len(b) - d.Buffered().(*bytes.Reader).Len()
				q, err := clientproto.ParseRequest(b[start:end])
				if err != nil {
					t.Fatalf("DistKV's request %v does not parse: %v", m, err)
				}
				reqs = append(reqs, q)
			}
		}
	}
	cm, reqs := msgs(c2s, true)
	sm, _ := msgs(s2c, false)
	bySeq := func(seq uint64) (r []map[string]any) {
		for _, m := range sm {
			if ptUint(m["seq"]) == seq {
				r = append(r, m)
			}
		}
		return r
	}
	var dhReq, authReq *clientproto.Request
	var dhMsg map[string]any
	for i, q := range reqs {
		switch q.Action {
		case "diffie_hellman":
			dhReq, dhMsg = q, cm[i]
		case "auth":
			authReq = q
		}
	}
	if dhReq == nil || authReq == nil {
		t.Fatalf("no diffie_hellman and auth in %v", cm)
	}
	priv, ok := new(big.Int).SetString(rec.ClientPrivate, 16)
	if !ok {
		t.Fatal("client_private")
	}
	k := dh.KeyFromPrivate(priv.Bytes())
	pub, _ := dhMsg["pubkey"].([]byte)
	if !bytes.Equal(k.Public(), pub) {
		t.Fatal("2^private mod p differs from the public key DistKV's client sent")
	}
	dhRep := bySeq(dhReq.Seq)
	if len(dhRep) != 1 {
		t.Fatalf("diffie_hellman replies %v", dhRep)
	}
	spub, _ := dhRep[0]["pubkey"].([]byte)
	key, err := k.Shared(spub)
	if err != nil {
		t.Fatal(err)
	}
	box, _ := extraStr(authReq, "password")
	got, err := dh.Open(key, []byte(box))
	if err != nil {
		t.Fatalf("DistKV's password box does not open with the agreed key: %v", err)
	}
	if want := sha256.Sum256([]byte(rec.Password)); !bytes.Equal(got, want[:]) {
		t.Fatal("the box does not hold the password's sha256")
	}
	if typ, _ := extraStr(authReq, "typ"); typ != MethodPassword {
		t.Fatalf("typ %q", typ)
	}
	ar := bySeq(authReq.Seq)
	if len(ar) != 2 || ar[0]["state"] != "start" || ar[1]["state"] != "end" {
		t.Fatalf("auth replies %v, want start, end", ar)
	}

	// Replay: the same bytes to a server with the same DH key and user get the same answers,
	// per seq, but for clocks and ids.
	old := newDHKey
	newDHKey = func(int) (*dh.Key, error) { return dh.KeyFromPrivate(fixedServerPriv), nil }
	defer func() { newDHKey = old }()
	for _, stored := range []string{rec.Password, "another-password"} {
		replayLogin(t, c2s, sm, stored, stored == rec.Password)
	}
}

// replayLogin sends DistKV's recorded bytes to a server whose user bob has the password
// stored, and compares the answers with the recorded ones (ok), or expects the login refused.
func replayLogin(t *testing.T, c2s []byte, sm []map[string]any, stored string, ok bool) {
	srv := ptStart(t, Config{Name: "pA"})
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	root, err := authDial(t, srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := root.SetUser(ctx, "bob", client.UserChange{Password: ptr(stored), Admin: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.SetValue(ctx, node.StringPath("pub", "x"), 42); err != nil {
		t.Fatal(err)
	}
	if err := root.SetAuthMethod(ctx, "password"); err != nil {
		t.Fatal(err)
	}
	c := srv.dial(t)
	if fmt.Sprint(c.Greeting["auth"]) != fmt.Sprint(sm[0]["auth"]) {
		t.Fatalf("greeting auth %v, recorded %v", c.Greeting["auth"], sm[0]["auth"])
	}
	c.sendRaw(c2s)
	for _, m := range sm[1:] {
		got := c.next(ptUint(m["seq"]))
		for _, k := range []string{"tock", "tick", "origin", "node"} {
			delete(got, k)
			delete(m, k)
		}
		if !ok {
			if ptUint(m["seq"]) == 2 && m["state"] == "end" && got["etype"] != "auth" {
				t.Errorf("login with the wrong password: %v, want an auth error", got)
			}
			if ptUint(m["seq"]) == 2 && m["state"] == "end" {
				return
			}
			continue
		}
		if fmt.Sprint(ptNorm(got)) != fmt.Sprint(ptNorm(m)) {
			t.Errorf("seq %v: got %v, recorded %v", m["seq"], got, m)
		}
	}
}
