package wire

import (
	"testing"

	"github.com/distkv/distkv/node"
)

// The digest version travels as a trailing field of Vector, DigestReq and DigestReply: a
// message of a build before it means version 1, and a build before it reads the new message
// as it read the old one (readers skip trailing array fields).
func TestDigestVersionFields(t *testing.T) {
	v := Vector{Name: "n", Digest: [2]uint64{1, 2}, Forgotten: []string{"x~1"}, DigestVersion: 2}
	q := DigestReq{Path: node.StringPath("a"), Version: 2}
	d := DigestReply{Own: [2]uint64{3, 4}, More: true, Version: 2}
	if got, err := DecodeVector(v.Append(nil)); err != nil || got.DigestVersion != 2 || got.Digest != v.Digest {
		t.Errorf("vector: %+v %v", got, err)
	}
	if got, err := DecodeDigestReq(q.Append(nil)); err != nil || got.Version != 2 {
		t.Errorf("digest req: %+v %v", got, err)
	}
	if got, err := DecodeDigestReply(d.Append(nil)); err != nil || got.Version != 2 || !got.More {
		t.Errorf("digest reply: %+v %v", got, err)
	}

	// The previous encodings, without the field: version 1.
	oldV := v.Append(nil)
	oldV = append([]byte{0x99}, oldV[1:len(oldV)-3]...) // 9 fields: version, waiting, remembers (a byte each) cut
	if got, err := DecodeVector(oldV); err != nil || got.DigestVersion != 1 || len(got.Forgotten) != 1 {
		t.Errorf("9-field vector: %+v %v", got, err)
	}
	oldQ := q.Append(nil)
	oldQ = append([]byte{0x92}, oldQ[1:len(oldQ)-1]...)
	if got, err := DecodeDigestReq(oldQ); err != nil || got.Version != 1 || !got.Path.Equal(q.Path) {
		t.Errorf("2-field digest req: %+v %v", got, err)
	}
	oldD := d.Append(nil)
	oldD = append([]byte{0x93}, oldD[1:len(oldD)-1]...)
	if got, err := DecodeDigestReply(oldD); err != nil || got.Version != 1 || got.Own != d.Own || !got.More {
		t.Errorf("3-field digest reply: %+v %v", got, err)
	}

	// What an old reader does with the new messages: it reads the fields it knows, in place,
	// and stops; the version comes after everything it knew (in a vector, the wait's two
	// fields came later still).
	for name, c := range map[string]struct {
		b     []byte
		old   int // fields the old reader knew
		after int // fields after the version
	}{
		"vector": {v.Append(nil), 9, 2},
		"req":    {q.Append(nil), 2, 0},
		"reply":  {d.Append(nil), 3, 0},
	} {
		r := node.NewReader(c.b)
		n, err := r.ArrayLen()
		if err != nil || n != c.old+1+c.after {
			t.Fatalf("%s: %d fields %v, want %d", name, n, err, c.old+1+c.after)
		}
		for range c.old {
			if _, err := r.Raw(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		ver, err := r.Uint()
		for range c.after {
			if _, err := r.Raw(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if err != nil || ver != 2 || r.Len() != 0 {
			t.Errorf("%s: last field %d %v, %d bytes left; want the version alone", name, ver, err, r.Len())
		}
	}
}
