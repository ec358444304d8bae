package secure

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// rw serves a fixed input to a reader and swallows what is written.
type rw struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (f *rw) Read(p []byte) (int, error)  { return f.in.Read(p) }
func (f *rw) Write(p []byte) (int, error) { return f.out.Write(p) }

// FuzzServerHandshake feeds arbitrary bytes to the acceptor's handshake: it must never succeed
// without the key (the fuzzer cannot forge an HMAC) nor panic.
func FuzzServerHandshake(f *testing.F) {
	k, _ := memberlist.NewKeyring(nil, key(1))
	ch, _, _ := hello([8]byte{})
	f.Add(ch)
	f.Add([]byte("DKVS\x01"))
	f.Add(append(append([]byte{}, ch...), make([]byte, finishLen)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, _, err := serverHandshake(&rw{in: bytes.NewReader(b)}, k); err == nil {
			t.Fatal("handshake completed without the key")
		}
	})
}

// fakeConn is a net.Conn reading a fixed input.
type fakeConn struct {
	net.Conn
	in *bytes.Reader
}

func (f *fakeConn) Read(p []byte) (int, error)       { return f.in.Read(p) }
func (f *fakeConn) Write(p []byte) (int, error)      { return len(p), nil }
func (f *fakeConn) Close() error                     { return nil }
func (f *fakeConn) SetDeadline(time.Time) error      { return nil }
func (f *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (f *fakeConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzRecords feeds arbitrary bytes to an established connection's record reader: only records
// sealed with the session key and in order come out; everything else ends in ErrRecord.
func FuzzRecords(f *testing.F) {
	rk := bytes.Repeat([]byte{7}, 32)
	seal := func(typ byte, msgs ...string) []byte {
		aead, _ := newGCM(rk)
		var out []byte
		for i, m := range msgs {
			size := len(m) + tagLen
			hdr := []byte{0, 0, 0, byte(size), typ}
			out = append(out, aead.Seal(hdr, nonce(new([12]byte), uint64(i)), []byte(m), hdr)...)
		}
		return out
	}
	f.Add(seal(recData, "hello", "world"))
	f.Add(seal(recClose, ""))
	f.Add([]byte{0, 0, 0, 16, recClose})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := &Conn{Conn: &fakeConn{in: bytes.NewReader(b)}, nw: Wrap(nil, ring(t, key(1))), hsOK: true}
		c.ropen, _ = newGCM(rk)
		got, err := io.ReadAll(c)
		if err != nil && !errors.Is(err, ErrRecord) {
			t.Fatalf("error %v is not ErrRecord", err)
		}
		if len(got) > len(b) {
			t.Fatalf("%d bytes out of %d in", len(got), len(b))
		}
	})
}
