package housekeeper

import (
	"reflect"
	"testing"

	"github.com/distkv/distkv/node"
)

// During a rolling upgrade members hash with different entry hashes: their digests differ
// whatever they hold, and must be neither compared nor repaired.
func TestMixedDigestVersionsNotCompared(t *testing.T) {
	known := map[string]node.RangeSet{"a~1": node.Upto(5)}
	v := func(name string, version uint64, d uint64) Vector {
		return Vector{Member: name, Known: known, Digest: [2]uint64{d, d}, DigestVersion: version}
	}
	// Old members (version 1) agree among themselves, new ones (2) too.
	vs := []Vector{v("n1", 1, 7), v("n2", 2, 9), v("n3", 1, 7), v("n4", 2, 9)}
	if !Converged(vs) {
		t.Error("members equal within each digest version: not converged")
	}
	if p := Pairs(vs); len(p) != 0 {
		t.Errorf("pairs %v, want none across versions", p)
	}
	// A difference within one version is still found, and paired with that version's first.
	vs[3].Digest = [2]uint64{8, 8}
	if Converged(vs) {
		t.Error("n4 differs from n2 (both version 2): converged")
	}
	if p, want := Pairs(vs), [][2]int{{1, 3}}; !reflect.DeepEqual(p, want) {
		t.Errorf("pairs %v, want %v", p, want)
	}
	// Equal digests of different versions are no proof either way: only known ticks count.
	vs[2].Known = map[string]node.RangeSet{"a~1": node.Upto(4)}
	if Converged(vs) {
		t.Error("known ticks differ: converged")
	}
}

func TestDigestRef(t *testing.T) {
	vs := []Vector{{DigestVersion: 2}, {DigestVersion: 1}, {DigestVersion: 2}, {DigestVersion: 1}}
	for i, want := range []int{0, 1, 0, 1} {
		if got := DigestRef(vs, i); got != want {
			t.Errorf("DigestRef(%d) = %d, want %d", i, got, want)
		}
	}
}
