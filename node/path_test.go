package node

import (
	"errors"
	"math"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/quick"
)

// DistKV's string form, from its tutorial's table and util/_path.py.
func TestParsePathDistKVExamples(t *testing.T) {
	cases := []struct {
		in   string
		want Path
		out  string // String() of the parsed path; "" means the same as in
	}{
		{":", Path{}, ""},
		{"a", StringPath("a"), ""},
		{"a.b:42.c", Path{String("a"), String("b"), Int(42), String("c")}, ""},
		{":t", Path{Bool(true)}, ""},
		{":f", Path{Bool(false)}, ""},
		{":n", Path{Nil()}, ""},
		{":e", Path{String("")}, ""},
		{"a:e", Path{String("a"), String("")}, ""},
		{":e.a", Path{String(""), String("a")}, ""},
		{":e:e", Path{String(""), String("")}, ""},
		{":x1f", Path{Int(31)}, ":31"},
		{":xFF", Path{Int(255)}, ":255"},
		{":x-10", Path{Int(-16)}, ":-16"},
		{":b101", Path{Int(5)}, ":5"},
		{":vabc", Path{BytesStr("abc")}, ""},
		{":v", Path{BytesStr("")}, ""},
		{":va:.b", Path{BytesStr("a.b")}, ""},
		{":y00ff", Path{Bytes([]byte{0, 0xff})}, ":sAP8="},
		{":y", Path{Bytes(nil)}, ":v"},
		{":sAP8=", Path{Bytes([]byte{0, 0xff})}, ""},
		{":1:.5", Path{mustFloat(1.5)}, ""},
		{":-1:.5", Path{mustFloat(-1.5)}, ""},
		{":100:.0", Path{mustFloat(100)}, ""},
		{":1e+20", Path{mustFloat(1e20)}, ""},
		{":-0:.0", Path{mustFloat(0)}, ":0:.0"},
		{":-7", Path{Int(-7)}, ""},
		{":0x1f", Path{Int(31)}, ":31"},
		{":1_000", Path{Int(1000)}, ":1000"},
		{":9223372036854775807", Path{Int(math.MaxInt64)}, ""},
		{":-9223372036854775808", Path{Int(math.MinInt64)}, ""},
		{":18446744073709551615", Path{Uint(math.MaxUint64)}, ""},
		{":True", Path{Bool(true)}, ":t"},
		{":False", Path{Bool(false)}, ":f"},
		{":None", Path{Nil()}, ":n"},
		{":'q:.r'", Path{String("q.r")}, "q:.r"},
		{"a:.b", StringPath("a.b"), ""},
		{"a::b", StringPath("a:b"), ""},
		{"a:_b", StringPath("a b"), ""},
		{"::", StringPath(":"), ""},
		{":.", StringPath("."), ""},
		{":_", StringPath(" "), ""},
		{"_", StringPath("_"), ""},
		{"a.:..b", StringPath("a", ".", "b"), ""},
		{":t.:.", Path{Bool(true), String(".")}, ""},
		{":1.a", Path{Int(1), String("a")}, ""},
		{":1:2", Path{Int(1), Int(2)}, ""},
		{"a:1:vx:t:n", Path{String("a"), Int(1), BytesStr("x"), Bool(true), Nil()}, ""},
		{"a.:t", Path{String("a"), Bool(true)}, "a:t"}, // a dot before a typed element is tolerated
		{".distkv.config", nil, "-"},                   // a leading dot is not (see the rejection test)
	}
	for _, c := range cases {
		got, err := ParsePath(c.in)
		if c.want == nil {
			if err == nil {
				t.Errorf("ParsePath(%q) = %v, want an error", c.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParsePath(%q): %v", c.in, err)
			continue
		}
		if !got.Equal(c.want) {
			t.Errorf("ParsePath(%q) = %#v, want %#v", c.in, got, c.want)
		}
		out := c.out
		if out == "" {
			out = c.in
		}
		if s := got.String(); s != out {
			t.Errorf("ParsePath(%q).String() = %q, want %q", c.in, s, out)
		}
	}
	if s := (Path{}).String(); s != ":" {
		t.Errorf("root String = %q", s)
	}
	if s := Path(nil).String(); s != ":" {
		t.Errorf("nil path String = %q", s)
	}
	// The root parses to an empty, non-nil path.
	if p, err := ParsePath(":"); err != nil || p == nil || len(p) != 0 {
		t.Errorf("ParsePath(\":\") = %#v, %v", p, err)
	}
}

func TestParsePathRejects(t *testing.T) {
	bad := []string{
		"", "a..b", ".a", "a.", "a:", ":::", "a.:", ".", "..", ":e.", ":tb", ":ta", ":t:.", ":nx", ":e:.",
		":y0", ":yzz", ":yg0", ":x", ":xg", ":x1.", ":b", ":b2", ":sA", ":s!!!!", ":zz", ":foo", ":-",
		":1:.5:.5", ":nan", ":NaN", ":inf", ":-inf", ":1e400", ":-9223372036854775809", ":x" + strings.Repeat("f", 2*MaxBigIntBytes+1), ":'unterminated", "a.b..c", "a.b.",
	}
	for _, s := range bad {
		p, err := ParsePath(s)
		if err == nil {
			t.Errorf("ParsePath(%q) = %#v (%s), want an error", s, p, p)
			continue
		}
		if !errors.Is(err, ErrBadElement) {
			t.Errorf("ParsePath(%q) error %v does not wrap ErrBadElement", s, err)
		}
	}
}

// Found by this test (fixed in evalElement): an integer literal that does not fit 64 bits was
// silently turned into a float element by the strconv.ParseFloat fallback, so
// ":99999999999999999999999" named the float 1e+23, a different key from the one typed. Such
// literals are integers (DistKV's ext type 2); only those below -2^63 are refused, as DistKV
// cannot encode them.
func TestParsePathIntegerOverflowIsError(t *testing.T) {
	for _, s := range []string{":99999999999999999999999", ":18446744073709551616", ":0x10000000000000000"} {
		p, err := ParsePath(s)
		if err != nil || len(p) != 1 || p[0].Kind() != KindInt || !p[0].IsHuge() {
			t.Errorf("ParsePath(%q) = %#v, %v; want one huge integer", s, p, err)
		}
	}
	if p, err := ParsePath(":-9223372036854775809"); !errors.Is(err, ErrBadElement) {
		t.Errorf("below -2^63: %#v, %v; want ErrBadElement", p, err)
	}
}

func TestPathStringRoundTripRandom(t *testing.T) {
	rng := newRng(1)
	for i := 0; i < 20000; i++ {
		p := randPath(rng, 6)
		s := p.String()
		q, err := ParsePath(s)
		if err != nil {
			t.Fatalf("ParsePath(%q) of %#v: %v", s, p, err)
		}
		if !q.Equal(p) {
			t.Fatalf("round trip of %#v via %q gave %#v", p, s, q)
		}
		if len(p) == 1 && p[0].String() != s {
			t.Fatalf("Element.String %q != Path.String %q", p[0].String(), s)
		}
	}
}

// The same property through testing/quick, with quick's own generator of element lists.
func TestPathStringRoundTripQuick(t *testing.T) {
	type elem struct {
		Kind uint8
		I    int64
		U    uint64
		F    float64
		S    string
		B    []byte
	}
	toPath := func(es []elem) Path {
		p := make(Path, 0, len(es))
		for _, e := range es {
			switch e.Kind % 7 {
			case 0:
				p = append(p, Nil())
			case 1:
				p = append(p, Bool(e.I%2 == 0))
			case 2:
				p = append(p, Int(e.I))
			case 3:
				p = append(p, Uint(e.U))
			case 4:
				if f, err := Float(e.F); err == nil {
					p = append(p, f)
				}
			case 5:
				p = append(p, String(e.S))
			case 6:
				p = append(p, Bytes(e.B))
			}
		}
		return p
	}
	f := func(es []elem) bool {
		p := toPath(es)
		q, err := ParsePath(p.String())
		return err == nil && q.Equal(p)
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 3000, Rand: rand.New(rand.NewSource(4))}); err != nil {
		t.Fatal(err)
	}
}

func TestFloatElement(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := Float(f); !errors.Is(err, ErrBadElement) {
			t.Errorf("Float(%v) error = %v, want ErrBadElement", f, err)
		}
	}
	neg, err := Float(math.Copysign(0, -1))
	if err != nil {
		t.Fatal(err)
	}
	pos := mustFloat(0)
	if neg != pos || Compare(neg, pos) != 0 || math.Signbit(neg.FloatVal()) {
		t.Errorf("-0 and 0 are different elements: %#v %#v", neg, pos)
	}
	if (Path{neg}).Key() != (Path{pos}).Key() {
		t.Error("-0 and 0 have different keys")
	}
	// A float is never the integer of the same value.
	if mustFloat(1) == Int(1) || Compare(mustFloat(1), Int(1)) == 0 {
		t.Error("float 1.0 equals int 1")
	}
}

func TestIntUintElements(t *testing.T) {
	if Uint(5) != Int(5) || Uint(math.MaxInt64) != Int(math.MaxInt64) {
		t.Error("Uint below MaxInt64 differs from Int")
	}
	big := Uint(math.MaxInt64 + 1)
	if !big.IsUint() || big.UintVal() != math.MaxInt64+1 || big.Kind() != KindInt {
		t.Errorf("Uint(MaxInt64+1) = %#v", big)
	}
	if Compare(big, Int(math.MaxInt64)) <= 0 || Compare(Int(-1), big) >= 0 || Compare(Uint(math.MaxUint64), big) <= 0 {
		t.Error("uint order wrong")
	}
	if v := big.Value(); v != uint64(math.MaxInt64+1) {
		t.Errorf("Value() = %T %v", v, v)
	}
	if v := Int(-3).Value(); v != int64(-3) {
		t.Errorf("Value() = %T %v", v, v)
	}
	if v := Bytes([]byte("ab")).Value(); !reflect.DeepEqual(v, []byte("ab")) {
		t.Errorf("Value() = %T %v", v, v)
	}
	if Bytes([]byte("ab")) != BytesStr("ab") || Bytes([]byte("ab")) == String("ab") {
		t.Error("bytes/string identity wrong")
	}
}

// Compare is a total order: by kind (nil < bool < int < float < string < bytes), then by value;
// it is 0 exactly for equal elements.
func TestCompareTotalOrder(t *testing.T) {
	rng := newRng(2)
	els := make([]Element, 400)
	for i := range els {
		els[i] = randElement(rng)
	}
	kinds := []Element{Nil(), Bool(false), Bool(true), Int(math.MinInt64), Int(-1), Int(0), Int(math.MaxInt64),
		Uint(math.MaxUint64), mustFloat(-math.MaxFloat64), mustFloat(0), mustFloat(math.MaxFloat64),
		String(""), String("a"), String("b"), BytesStr(""), BytesStr("a")}
	for i := 1; i < len(kinds); i++ {
		if Compare(kinds[i-1], kinds[i]) >= 0 || Compare(kinds[i], kinds[i-1]) <= 0 {
			t.Errorf("Compare(%v, %v) does not order them", kinds[i-1], kinds[i])
		}
	}
	els = append(els, kinds...)
	for _, a := range els {
		if Compare(a, a) != 0 {
			t.Fatalf("Compare(%#v, itself) != 0", a)
		}
		for _, b := range els {
			c := Compare(a, b)
			if c != -Compare(b, a) {
				t.Fatalf("antisymmetry: %#v %#v", a, b)
			}
			if (c == 0) != (a == b) {
				t.Fatalf("Compare(%#v, %#v) = %d but == is %v", a, b, c, a == b)
			}
			if a.Kind() != b.Kind() && (c < 0) != (a.Kind() < b.Kind()) {
				t.Fatalf("kinds not ordered: %#v %#v", a, b)
			}
		}
	}
	// Transitivity, on a sample of triples.
	for i := 0; i < 50000; i++ {
		a, b, c := els[rng.IntN(len(els))], els[rng.IntN(len(els))], els[rng.IntN(len(els))]
		if Compare(a, b) <= 0 && Compare(b, c) <= 0 && Compare(a, c) > 0 {
			t.Fatalf("not transitive: %#v <= %#v <= %#v", a, b, c)
		}
	}
	// Sorting gives a sequence that is sorted pairwise.
	slices.SortFunc(els, Compare)
	for i := 1; i < len(els); i++ {
		if Compare(els[i-1], els[i]) > 0 {
			t.Fatal("sort result not ordered")
		}
	}
}

func TestComparePathsConsistent(t *testing.T) {
	rng := newRng(3)
	paths := make([]Path, 300)
	for i := range paths {
		paths[i] = randPath(rng, 3)
	}
	for _, p := range paths {
		for _, q := range paths {
			c := ComparePaths(p, q)
			if c != -ComparePaths(q, p) {
				t.Fatalf("antisymmetry %s %s", p, q)
			}
			if (c == 0) != p.Equal(q) || (c == 0) != (p.Key() == q.Key()) {
				t.Fatalf("ComparePaths(%s, %s) = %d, Equal %v", p, q, c, p.Equal(q))
			}
			if len(p) == 1 && len(q) == 1 && c != Compare(p[0], q[0]) {
				t.Fatalf("single-element paths disagree with Compare: %s %s", p, q)
			}
		}
		for _, e := range []Element{Nil(), Int(3), String("z")} {
			// a prefix sorts first; extending both sides keeps the element order
			if ComparePaths(p, p.Append(e)) >= 0 || !p.Append(e).HasPrefix(p) {
				t.Fatalf("prefix %s does not sort before %s", p, p.Append(e))
			}
			for _, f := range []Element{Nil(), Int(3), String("z")} {
				if ComparePaths(p.Append(e), p.Append(f)) != Compare(e, f) {
					t.Fatalf("ComparePaths(%s+%v, +%v) inconsistent", p, e, f)
				}
			}
		}
	}
}

func TestPathHelpers(t *testing.T) {
	p := StringPath("a", "b")
	q := p.Append(Int(1))
	if len(p) != 2 || !q.HasPrefix(p) || q.HasPrefix(StringPath("b")) || !p.HasPrefix(Path{}) || p.HasPrefix(q) {
		t.Error("Append/HasPrefix wrong")
	}
	// Append never writes into p's spare capacity.
	base := make(Path, 1, 8)
	base[0] = String("r")
	x, y := base.Append(Int(1)), base.Append(Int(2))
	if x[1] != Int(1) || y[1] != Int(2) {
		t.Error("Append aliases its receiver")
	}
	c := q.Clone()
	c[0] = String("zz")
	if q[0] != String("a") {
		t.Error("Clone shares memory")
	}
	if (Path{Int(1)}).Equal(Path{Int(1), Int(2)}) || !Path(nil).Equal(Path{}) {
		t.Error("Equal wrong")
	}
}
