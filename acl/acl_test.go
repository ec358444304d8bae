package acl

import (
	"strings"
	"testing"

	"github.com/distkv/distkv/node"
)

func TestMatchPrecedence(t *testing.T) {
	var a ACL
	a.Set(node.StringPath("one"), "rxnc")
	a.Set(node.StringPath("one", "two"), "rc")
	a.Set(node.StringPath("one", "+"), "r")
	a.Set(node.StringPath("one", "#"), "e")
	a.Set(node.StringPath("+", "x"), "w")
	a.Set(node.StringPath("deep", "#", "z"), "d")
	for _, c := range []struct {
		path []string
		mode string
		ok   bool
	}{
		{[]string{"one"}, "rxnc", true},
		{[]string{"one", "two"}, "rc", true},   // exact before +
		{[]string{"one", "three"}, "r", true},  // + before #
		{[]string{"one", "a", "b"}, "e", true}, // # is one or more levels
		{[]string{"two", "x"}, "w", true},      // + at the first level
		{[]string{"one", "x"}, "r", true},      // one.+ before +.x: the earlier level decides
		{[]string{"deep", "a", "b", "z"}, "d", true},
		{[]string{"deep", "z"}, "", false}, // # needs at least one level
		{[]string{"other"}, "", false},     // unmatched
		{nil, "", false},
	} {
		m, ok := a.Match(node.StringPath(c.path...))
		if m != c.mode || ok != c.ok {
			t.Errorf("Match(%v) = %q, %v; want %q, %v", c.path, m, ok, c.mode, c.ok)
		}
	}
}

func TestCheck(t *testing.T) {
	var a ACL
	a.Set(node.StringPath("pub"), "r") // no x: nothing below is reachable
	a.Set(node.StringPath("pub", "#"), "rw")
	a.Set(node.StringPath("home"), "x")
	a.Set(node.StringPath("home", "#"), "rwcdx")
	if a.Check(node.StringPath("pub", "a"), 'r') == nil {
		t.Error("pub.a readable although pub lacks x")
	}
	if err := a.Check(node.StringPath("home", "a", "b"), 'd'); err != nil {
		t.Errorf("home.a.b: %v", err)
	}
	if a.Check(node.StringPath("home", "a"), 'e') == nil {
		t.Error("home.a: e granted")
	}
	if a.Check(node.StringPath("elsewhere"), 'r') == nil {
		t.Error("unmatched path readable")
	}
	var none *ACL
	if none.Check(node.StringPath("x"), 'd') != nil {
		t.Error("a nil ACL denies")
	}
	if Valid("rwq") == nil || Valid(Letters) != nil {
		t.Error("Valid")
	}
}

// Reach and Permits, computed in one pass, agree with their definitions prefix by prefix.
func TestReachOnePass(t *testing.T) {
	var a ACL
	for pat, m := range map[string]string{"one": "r", "one.#": "rx", "one.a": "xr", "+": "x", "+.a.#": "r",
		"two.+.z": "rx", "#": "ex", "a.b": "x", "a.b.+": "r"} {
		a.Set(node.StringPath(strings.Split(pat, ".")...), m)
	}
	elems := []node.Element{node.String("one"), node.String("two"), node.String("a"), node.String("b"), node.String("z"), node.Nil()}
	var paths []node.Path
	var grow func(p node.Path)
	grow = func(p node.Path) {
		paths = append(paths, p)
		if len(p) < 4 {
			for _, e := range elems {
				grow(append(p[:len(p):len(p)], e))
			}
		}
	}
	grow(nil)
	for _, p := range paths {
		want := true
		for i := 0; i < len(p); i++ {
			if m, ok := a.Match(p[:i]); ok && !strings.Contains(m, "x") {
				want = false
			}
		}
		if got := a.Reach(p); got != want {
			t.Fatalf("Reach(%s) = %v, want %v", p, got, want)
		}
		for _, l := range []byte("rex") {
			if got := a.Permits(p, l); got != (want && a.Allows(p, l)) {
				t.Fatalf("Permits(%s, %c) = %v, want %v", p, l, got, !got)
			}
			if (a.Check(p, l) == nil) != a.Permits(p, l) {
				t.Fatalf("Check(%s, %c) disagrees with Permits", p, l)
			}
		}
	}
}

func BenchmarkPermits(b *testing.B) {
	var a ACL
	a.Set(node.StringPath("home"), "x")
	a.Set(node.StringPath("home", "#"), "rwcdx")
	a.Set(node.StringPath("home", "+", "secret"), "x")
	p := node.StringPath("home", "alice", "docs", "2026", "notes")
	for i := 0; i < b.N; i++ {
		a.Permits(p, 'r')
	}
}
