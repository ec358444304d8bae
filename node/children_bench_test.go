package node

import (
	"fmt"
	"runtime"
	"strconv"
	"syscall"
	"testing"
)

// cpuTime returns the process's user and system CPU time so far, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func kidName(i int) Element { return String("k" + strconv.Itoa(i)) }

// BenchmarkChildrenBytes reports the heap bytes per child of the children structure alone
// (the entries are allocated beforehand), for directories of a few sizes, as a sorted slice
// (the default below smallKids) and as a B-tree.
func BenchmarkChildrenBytes(b *testing.B) {
	for _, size := range []int{1, 4, 16, 128, 100000} {
		for _, mode := range []string{"slice", "btree"} {
			if mode == "slice" && size > smallKids {
				continue
			}
			b.Run(fmt.Sprintf("n=%d/%s", size, mode), func(b *testing.B) {
				old := smallKids
				if mode == "btree" {
					smallKids = 0
				}
				defer func() { smallKids = old }()
				dirs := max(1, 200000/size)
				es := make([]entry, dirs*size)
				for i := range es {
					es[i] = *newEntry(kidName(i%size), nil)
				}
				kids := make([]children, dirs)
				var before, after runtime.MemStats
				for b.Loop() {
					clear(kids)
					runtime.GC()
					runtime.ReadMemStats(&before)
					for d := range kids {
						for i := range size {
							kids[d].insert(&es[d*size+i])
						}
					}
					runtime.GC()
					runtime.ReadMemStats(&after)
				}
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(es)), "bytes/child")
				runtime.KeepAlive(kids)
			})
		}
	}
}

// BenchmarkChildrenInsertResume is the work of a write to a new key and a snapshot chunk in a
// directory of n children: insert a child, walk 16 children resumed at a random one, remove
// the child again. Flat in n, up to the log of n.
func BenchmarkChildrenInsertResume(b *testing.B) {
	for _, n := range []int{10000, 100000, 1000000} {
		b.Run(fmt.Sprint("n=", n), func(b *testing.B) {
			var k children
			for i := range n {
				k.insert(newEntry(kidName(i), nil))
			}
			rng := newRng(1)
			fresh := newEntry(String("new"), nil)
			// CPU time is less disturbed than wall time by other load on the machine.
			cpu0 := cpuTime()
			for b.Loop() {
				k.insert(fresh)
				from := kidName(rng.IntN(n))
				seen := 0
				k.ascend(&from, false, func(*entry) bool { seen++; return seen < 16 })
				k.remove(fresh.name())
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkChildrenLookup: a lookup by name in a big directory (every write does one per
// path element), by the hash index the directory keeps (index), by a map from Element to
// child (map, what the index replaced) and by the B-tree alone (btree), with the bytes each
// spends per child beside the B-tree.
func BenchmarkChildrenLookup(b *testing.B) {
	for _, n := range []int{1000, 100000, 1000000} {
		es := make([]*entry, n)
		for i := range es {
			es[i] = newEntry(kidName(i), nil)
		}
		var k children
		for _, e := range es {
			k.insert(e)
		}
		for _, mode := range []string{"index", "map", "btree"} {
			b.Run(fmt.Sprintf("n=%d/%s", n, mode), func(b *testing.B) {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				var get func(Element) *entry
				var x kidIndex
				var m map[Element]*entry
				switch mode {
				case "index":
					for _, e := range es {
						x.insert(e)
					}
					get = x.get
				case "map":
					m = make(map[Element]*entry)
					for _, e := range es {
						m[e.name()] = e
					}
					get = func(name Element) *entry { return m[name] }
				case "btree":
					get = func(name Element) *entry { c, _ := k.p.big.t.Get(newEntry(name, nil)); return c }
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				rng := newRng(1)
				names := make([]Element, 4096)
				for i := range names {
					names[i] = kidName(rng.IntN(n))
				}
				cpu0 := cpuTime()
				i := 0
				for b.Loop() {
					if get(names[i&4095]) == nil {
						b.Fatal("not found")
					}
					i++
				}
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
				b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(n), "bytes/child")
				runtime.KeepAlive(m)
				runtime.KeepAlive(&x)
			})
		}
	}
}
