package node

import (
	"bytes"
	"math"
	"math/big"
	"slices"
	"testing"
)

func mustBig(t *testing.T, s string) Element {
	t.Helper()
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		t.Fatalf("bad number %q", s)
	}
	e, err := bigElement(n, s)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// DistKV's codec writes 2^64 as ext type 2 with the magnitude in the fewest bytes.
func TestBigIntWire(t *testing.T) {
	e := mustBig(t, "18446744073709551616")
	want := []byte{0xc7, 0x09, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 0, 0}
	if got := AppendElement(nil, e); !bytes.Equal(got, want) {
		t.Fatalf("2^64 encodes as % x, want % x", got, want)
	}
	back, err := ParseElement(want)
	if err != nil || back != e {
		t.Fatalf("decode: %#v, %v", back, err)
	}
	// In a path (ext 3 holding ext 2), through the string form, and as a map key.
	p := Path{String("a"), e}
	q, err := ParsePathBytes(AppendPath(nil, p))
	if err != nil || !q.Equal(p) {
		t.Fatalf("path round trip: %v, %v", q, err)
	}
	if s := p.String(); s != "a:18446744073709551616" {
		t.Errorf("String = %q", s)
	}
	if r, err := ParsePath(p.String()); err != nil || !r.Equal(p) {
		t.Errorf("ParsePath(String) = %v, %v", r, err)
	}
	// A payload with leading zeros, or one that fits 64 bits, is the same element as the
	// plain integer: DistKV decodes both to the same Python int.
	if e2, err := ParseElement([]byte{0xc7, 0x0a, 0x02, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0}); err != nil || e2 != e {
		t.Errorf("leading zero: %#v, %v", e2, err)
	}
	if e3, err := ParseElement([]byte{0xd4, 0x02, 0x05}); err != nil || e3 != Int(5) {
		t.Errorf("small ext 2: %#v, %v", e3, err)
	}
	// Other ext types are not elements; an oversized integer is refused.
	if _, err := ParseElement([]byte{0xd4, 0x07, 0x05}); err == nil {
		t.Error("ext type 7 accepted as an element")
	}
	huge := append([]byte{0xc8, 0x01, 0x01, 0x02}, bytes.Repeat([]byte{0xff}, MaxBigIntBytes+1)...)
	if _, err := ParseElement(huge); err == nil {
		t.Error("oversized integer accepted")
	}
}

// Huge integers sort numerically after every 64-bit integer and before floats.
func TestBigIntOrder(t *testing.T) {
	f, _ := Float(-1)
	want := []Element{Int(math.MinInt64), Int(-1), Int(0), Int(math.MaxInt64), Uint(math.MaxUint64),
		mustBig(t, "18446744073709551616"), mustBig(t, "18446744073709551617"),
		mustBig(t, "36893488147419103232"), mustBig(t, "340282366920938463463374607431768211456"), f}
	got := slices.Clone(want)
	slices.Reverse(got)
	slices.SortFunc(got, Compare)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %d: got %v, want %v", i, got[i], want[i])
		}
	}
	// The canonical order of paths agrees with their keys' equality.
	a, b := Path{want[5]}, Path{mustBig(t, "18446744073709551616")}
	if a.Key() != b.Key() || ComparePaths(a, b) != 0 {
		t.Error("equal huge integers differ")
	}
}

// A node stores, walks and finds entries under huge integer elements.
func TestBigIntEntries(t *testing.T) {
	n := New(Config{Origin: "a~1"})
	k := []Element{mustBig(t, "18446744073709551617"), Uint(math.MaxUint64), mustBig(t, "18446744073709551616")}
	for i, e := range k {
		if _, _, err := n.Write([]Change{{Path: Path{String("t"), e}, Value: AppendInt(nil, int64(i))}}); err != nil {
			t.Fatal(err)
		}
	}
	var order []Element
	n.Walk(Path{String("t")}, WalkOptions{MinDepth: 1, MaxDepth: -1}, func(e Entry) bool {
		order = append(order, e.Path[1])
		return true
	})
	if len(order) != 3 || order[0] != k[1] || order[1] != k[2] || order[2] != k[0] {
		t.Errorf("walk order %v", order)
	}
	if e, ok := n.Lookup(Path{String("t"), mustBig(t, "18446744073709551616")}); !ok || !bytes.Equal(e.Value, AppendInt(nil, 2)) {
		t.Errorf("lookup: %v %v", e, ok)
	}
}
