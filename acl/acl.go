// Package acl matches paths against DistKV-style ACLs: a tree of path patterns, each with a
// string of mode letters, where "+" stands for one path element and "#" for one or more, as
// in MQTT. It keeps DistKV's precedence: at every step an exact name is tried before "+",
// and "+" before "#"; the first pattern that matches the whole path and has a value wins.
//
// Unlike DistKV, a path that no pattern matches is denied (DistKV allows it).
package acl

import (
	"fmt"
	"strings"

	"github.com/distkv/distkv/node"
)

// Letters are the mode letters an ACL entry may hold:
// a (read the ACL), r (read), w (write), c (create), d (delete), x (access below),
// e (enumerate), n (new nodes below).
const Letters = "arwcdxen"

var (
	plus = node.String("+")
	hash = node.String("#")
)

// ACL is one named ACL: patterns with their modes. The zero value matches nothing.
type ACL struct{ root trie }

type trie struct {
	mode string
	has  bool
	kids map[node.Element]*trie
}

// Valid reports whether mode holds only ACL letters.
func Valid(mode string) error {
	for _, c := range mode {
		if !strings.ContainsRune(Letters, c) {
			return fmt.Errorf("acl: %q is not a mode letter (want some of %q)", c, Letters)
		}
	}
	return nil
}

// Set gives the pattern p the mode letters in mode.
func (a *ACL) Set(p node.Path, mode string) {
	t := &a.root
	for _, e := range p {
		if t.kids == nil {
			t.kids = make(map[node.Element]*trie)
		}
		k := t.kids[e]
		if k == nil {
			k = &trie{}
			t.kids[e] = k
		}
		t = k
	}
	t.mode, t.has = mode, true
}

type step struct {
	t    *trie
	keep bool // reached through "#": it matches further elements too
}

// Match returns the mode of the entry that matches p, and whether one does.
func (a *ACL) Match(p node.Path) (string, bool) {
	_, m, ok := a.walk(p)
	return m, ok
}

// walk matches p and all its prefixes in one pass over the trie: mode and ok are Match(p),
// reach is Reach(p).
func (a *ACL) walk(p node.Path) (reach bool, mode string, ok bool) {
	if a == nil {
		return true, "", false
	}
	reach = true
	steps := []step{{t: &a.root}}
	for _, e := range p {
		if m, ok := first(steps); ok && strings.IndexByte(m, 'x') < 0 {
			reach = false
		}
		var next []step
		for _, s := range steps {
			if k := s.t.kids[e]; k != nil {
				next = append(next, step{t: k})
			}
			if e.Kind() == node.KindNil {
				continue // wildcards never match the meta area's nil
			}
			if k := s.t.kids[plus]; k != nil {
				next = append(next, step{t: k})
			}
			if k := s.t.kids[hash]; k != nil {
				next = append(next, step{t: k, keep: true})
			}
			if s.keep {
				next = append(next, s)
			}
		}
		if len(next) == 0 {
			return reach, "", false // no longer prefix matches: they impose nothing
		}
		steps = next
	}
	mode, ok = first(steps)
	return reach, mode, ok
}

// first is the mode of the first step, in precedence order, whose pattern has one.
func first(steps []step) (string, bool) {
	for _, s := range steps {
		if s.t.has {
			return s.t.mode, true
		}
	}
	return "", false
}

// Allows reports whether the entry matching p holds letter. A nil ACL allows everything.
func (a *ACL) Allows(p node.Path, letter byte) bool {
	if a == nil {
		return true
	}
	m, ok := a.Match(p)
	return ok && strings.IndexByte(m, letter) >= 0
}

// Reach reports whether the path p may be reached: every proper prefix of p that an entry
// matches must hold x (a prefix no entry matches imposes nothing). A nil ACL reaches all.
func (a *ACL) Reach(p node.Path) bool {
	reach, _, _ := a.walk(p)
	return reach
}

// Permits is Check without the error: p is reachable and its entry holds letter.
func (a *ACL) Permits(p node.Path, letter byte) bool {
	if a == nil {
		return true
	}
	reach, m, ok := a.walk(p)
	return reach && ok && strings.IndexByte(m, letter) >= 0
}

// Check is Reach and Allows together: the access an action needs at p.
func (a *ACL) Check(p node.Path, letter byte) error {
	if a.Permits(p, letter) {
		return nil
	}
	if !a.Reach(p) {
		return fmt.Errorf("acl: %s: not accessible (x)", p)
	}
	return fmt.Errorf("acl: %s: mode %q not granted", p, letter)
}
