package node

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// Seed corpora: f.Add here, plus committed files under testdata/fuzz/<FuzzName>/.

func FuzzDecodeUpdate(f *testing.F) {
	rng := newRng(100)
	for i := 0; i < 20; i++ {
		f.Add(randUpdate(rng).AppendMsgpack(nil))
	}
	f.Add([]byte{0x94, 0xa1, 0x61, 0x01, 0x01, 0x90})
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x95, 0xa1, 0x61, 0x02, 0xcd, 0x01, 0x2c, 0x91, 0x95, 0x91, 0xa1, 0x78, 0xc2, 0x07, 0x91, 0x92, 0xc4, 0x01, 0x62, 0x01, 0x81, 0xa1, 0x7a, 0x90, 0xc0})
	prime := randUpdate(newRng(7)).AppendMsgpack(nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := DecodeUpdate(b)
		// Decoding into scratch that held another update (a restore's reuse) decodes the same.
		var r Reader
		var w Update
		if err := r.DecodeUpdateInto(prime, &w); err != nil {
			t.Fatal(err)
		}
		if errInto := r.DecodeUpdateInto(b, &w); (errInto == nil) != (err == nil) {
			t.Fatalf("DecodeUpdate says %v, DecodeUpdateInto %v", err, errInto)
		} else if err == nil && !reflect.DeepEqual(*u, w) {
			t.Fatalf("decoded into scratch differs:\n%#v\n%#v", u, w)
		}
		if err != nil {
			return
		}
		if u.Origin == "" || u.Tick == 0 {
			t.Fatalf("decoded an invalid update %v", u)
		}
		enc := u.AppendMsgpack(nil)
		v, err := DecodeUpdate(enc)
		if err != nil {
			t.Fatalf("re-encoded update does not decode: %v\n% x", err, enc)
		}
		if !reflect.DeepEqual(u, v) {
			t.Fatalf("re-decoded update differs:\n%#v\n%#v", u, v)
		}
		if enc2 := v.AppendMsgpack(nil); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable:\n% x\n% x", enc, enc2)
		}
		// The node takes any decoded update without panicking, twice (idempotent).
		n := New(Config{Origin: "fuzz~1"})
		n.Plausible(u) // never panics, whatever it says
		n.Apply(u)
		d := n.Digest(nil)
		n.Apply(v)
		if n.Digest(nil) != d {
			t.Fatal("applying the same update twice changed the digest")
		}
	})
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{":", "a.b:42.c", ":t", ":n", ":e", ":x1f", ":b101", ":vabc", ":y00ff", ":sAP8=", ":1:.5",
		"a:.b", "a::b", "a:_b", "a..b", ".a", "a.", "a:", ":tb", ":zz", ":'q'", ":1e+20", ":-0:.0", ":18446744073709551615",
		":e.a:e", ":1:2.x:vq"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			if !errors.Is(err, ErrBadElement) {
				t.Fatalf("ParsePath(%q) error %v does not wrap ErrBadElement", s, err)
			}
			return
		}
		str := p.String()
		q, err := ParsePath(str)
		if err != nil {
			t.Fatalf("ParsePath(%q) = %#v, whose String %q does not parse: %v", s, p, str, err)
		}
		if !q.Equal(p) {
			t.Fatalf("ParsePath(%q) = %#v, String %q parses as %#v", s, p, str, q)
		}
		if q.String() != str {
			t.Fatalf("String not a fixed point: %q vs %q", str, q.String())
		}
		// The wire form round-trips too.
		r, err := ParsePathBytes(AppendPath(nil, p))
		if err != nil || !r.Equal(p) {
			t.Fatalf("wire round trip of %s: %v %v", p, r, err)
		}
	})
}

func FuzzReaderPath(f *testing.F) {
	rng := newRng(101)
	for i := 0; i < 20; i++ {
		p := randPath(rng, 5)
		f.Add(AppendPath(nil, p))
		b := AppendArrayLen(nil, len(p))
		for _, e := range p {
			b = AppendElement(b, e)
		}
		f.Add(b)
	}
	f.Add([]byte{0xc7, 0x00, 0x03})
	f.Add([]byte{0xd7, 0x03, 0xa5, 0x70, 0x72, 0x6f, 0x62, 0x65, 0xa1, 0x61})
	f.Add([]byte{0xc9, 0xff, 0xff, 0xff, 0xff, 0x03})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(b)
		p, err := r.Path()
		if err != nil {
			return
		}
		if r.Offset() > len(b) || r.Offset()+r.Len() != len(b) {
			t.Fatalf("offset %d len %d of %d bytes", r.Offset(), r.Len(), len(b))
		}
		enc := AppendPath(nil, p)
		q, err := ParsePathBytes(enc)
		if err != nil || !q.Equal(p) {
			t.Fatalf("path %#v re-encoded as % x decodes as %#v, %v", p, enc, q, err)
		}
		if !bytes.Equal(AppendPath(nil, q), enc) {
			t.Fatal("encoding not stable")
		}
		s, err := ParsePath(p.String())
		if err != nil || !s.Equal(p) {
			t.Fatalf("path %#v: string %q parses as %#v, %v", p, p.String(), s, err)
		}
		for i := 1; i < len(p); i++ {
			if ComparePaths(p[:i], p) >= 0 {
				t.Fatal("prefix does not sort first")
			}
		}
	})
}

func FuzzCanonical(f *testing.F) {
	rng := newRng(102)
	for i := 0; i < 20; i++ {
		f.Add(randValue(rng, 4))
	}
	f.Add([]byte{0x82, 0xa1, 0x62, 0x01, 0xa1, 0x61, 0xd3, 0, 0, 0, 0, 0, 0, 0, 2})
	f.Add([]byte{0xca, 0x3f, 0xc0, 0x00, 0x00})
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Canonical(b)
		if err != nil {
			return
		}
		c2, err := Canonical(c)
		if err != nil {
			t.Fatalf("Canonical output % x does not canonicalize: %v", c, err)
		}
		if !bytes.Equal(c, c2) {
			t.Fatalf("Canonical not idempotent:\n% x\n% x\n% x", b, c, c2)
		}
		if !ValuesEqual(b, c) || !ValuesEqual(c, b) {
			t.Fatal("value not equal to its canonical form")
		}
		if len(c) > len(b)+4*len(b) {
			t.Fatalf("canonical form of %d bytes is %d bytes", len(b), len(c))
		}
		r := NewReader(b)
		if raw, err := r.Raw(); err != nil || !bytes.Equal(raw, b) {
			t.Fatalf("Canonical accepts % x but Raw does not: %v", b, err)
		}
	})
}

func FuzzRangeSet(f *testing.F) {
	f.Add(Upto(5).AppendMsgpack(nil))
	f.Add(NewRangeSet(Range{3, 9}, Range{12, 13}).AppendMsgpack(nil))
	f.Add([]byte{0x93, 0x05, 0x92, 0x01, 0x04, 0x05})
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := NewReader(b).RangeSet()
		if err != nil {
			return
		}
		rs := s.Ranges()
		for i, r := range rs {
			if r.Start >= r.End || (i > 0 && rs[i-1].End >= r.Start) {
				t.Fatalf("not normalised: %v", rs)
			}
		}
		again, err := NewReader(s.AppendMsgpack(nil)).RangeSet()
		if err != nil || !again.Equal(s) {
			t.Fatalf("range set %v does not round-trip: %v %v", s, again, err)
		}
	})
}
