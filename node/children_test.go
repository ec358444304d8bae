package node

import (
	"fmt"
	"slices"
	"testing"
)

// withSmallKids runs f with directories turning into B-trees above max children.
func withSmallKids(t *testing.T, max int, f func(t *testing.T)) {
	t.Helper()
	old := smallKids
	smallKids = max
	defer func() { smallKids = old }()
	f(t)
}

func kidNames(k *children, from *Element, inclusive bool) []Element {
	var out []Element
	k.ascend(from, inclusive, func(c *entry) bool { out = append(out, c.name()); return true })
	return out
}

// Random inserts and deletes agree with a sorted reference: lookups, length, the order, and a
// walk resumed at every child and between children, inclusive or not, across the conversions
// between slice and B-tree.
func TestChildrenMatchSortedReference(t *testing.T) {
	for _, max := range []int{1, 4, 128} {
		t.Run(fmt.Sprint("small", max), func(t *testing.T) {
			withSmallKids(t, max, func(t *testing.T) {
				rng := newRng(uint64(max))
				var pool []Element
				for len(pool) < 600 {
					if e := randElement(rng); !slices.ContainsFunc(pool, func(x Element) bool { return x == e }) {
						pool = append(pool, e)
					}
				}
				var k children
				var ref []Element // sorted
				for step := range 4000 {
					name := pool[rng.IntN(len(pool))]
					i, found := slices.BinarySearchFunc(ref, name, Compare)
					// Grow for the first half, then mostly shrink, to cross both conversions.
					if grow := step < 2000; (grow && rng.IntN(4) > 0) || (!grow && rng.IntN(4) == 0) {
						if !found {
							k.insert(newEntry(name, nil))
							ref = slices.Insert(ref, i, name)
						}
					} else {
						k.remove(name)
						if found {
							ref = slices.Delete(ref, i, i+1)
						}
					}
					if k.len() != len(ref) {
						t.Fatalf("step %d: len %d, want %d", step, k.len(), len(ref))
					}
					if step%97 == 0 || step == 3999 {
						checkChildren(t, &k, ref, pool)
					}
				}
			})
		})
	}
}

func checkChildren(t *testing.T, k *children, ref, pool []Element) {
	t.Helper()
	if got := kidNames(k, nil, true); !slices.Equal(got, ref) {
		t.Fatalf("order %v, want %v", got, ref)
	}
	for _, name := range pool {
		i, found := slices.BinarySearchFunc(ref, name, Compare)
		if c := k.get(name); (c != nil) != found || (c != nil && c.name() != name) {
			t.Fatalf("get %v = %v, present %v", name, c, found)
		}
		j := i
		if found {
			j++
		}
		if got := kidNames(k, &name, true); !slices.Equal(got, ref[i:]) {
			t.Fatalf("from %v inclusive: %v, want %v", name, got, ref[i:])
		}
		if got := kidNames(k, &name, false); !slices.Equal(got, ref[j:]) {
			t.Fatalf("from %v exclusive: %v, want %v", name, got, ref[j:])
		}
	}
}

// ascend stops when fn returns false, and says so.
func TestChildrenAscendStop(t *testing.T) {
	for _, max := range []int{2, 128} {
		withSmallKids(t, max, func(t *testing.T) {
			var k children
			for i := range 10 {
				k.insert(newEntry(Int(int64(i)), nil))
			}
			var seen int
			from := Int(3)
			if k.ascend(&from, false, func(*entry) bool { seen++; return seen < 2 }) || seen != 2 {
				t.Fatalf("small %d: stopped %d", max, seen)
			}
			if !k.ascend(&from, true, func(*entry) bool { return true }) {
				t.Fatalf("small %d: a full walk reports a stop", max)
			}
		})
	}
}

// The tree's walks behave the same with every directory a B-tree.
func TestWalksWithBigDirectories(t *testing.T) {
	withSmallKids(t, 1, func(t *testing.T) {
		t.Run("CanonicalOrder", TestWalkCanonicalOrder)
		t.Run("After", TestWalkAfter)
		t.Run("EntriesChunks", TestEntriesChunks)
		t.Run("ResumeAcrossChanges", TestEntriesResumeAcrossChanges)
		t.Run("DigestChildren", TestDigestChildren)
		t.Run("SubtreeEntries", TestSubtreeEntries)
		t.Run("Purge", TestPurgeTombstones)
		t.Run("PurgeInner", TestPurgeInnerTombstone)
		t.Run("Children", TestChildrenLiveOnly)
		t.Run("ChildrenWatch", TestChildrenIgnoresWatchOnlyNodes)
	})
}

// A walk resumed at every entry of one large directory gives the rest of it, in order.
func TestWalkResumedInLargeDirectory(t *testing.T) {
	n := New(Config{Origin: "me~1"})
	rng := newRng(7)
	var want []Path
	for range 3 * smallKids {
		p := Path{String("d"), randElement(rng)}
		if _, ok := n.Lookup(p); !ok {
			want = append(want, p)
		}
		write(t, n, p, enc(1))
	}
	n.Ready()
	slices.SortFunc(want, ComparePaths)
	for i, after := range want {
		var got []Path
		next := n.Entries(after, 5, func(u *Update) { got = append(got, u.Ops[0].Path) })
		end := min(i+1+5, len(want))
		if !slices.EqualFunc(got, want[i+1:end], Path.Equal) {
			t.Fatalf("after %s: %v, want %v", after, got, want[i+1:end])
		}
		if (next == nil) != (end == len(want)) || (next != nil && !next.Equal(want[end-1])) {
			t.Fatalf("after %s: resume at %v, want %s", after, next, want[end-1])
		}
	}
}
