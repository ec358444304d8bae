package server

import (
	"fmt"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/snapshot"
)

// BenchmarkLoadSnapshot: a restart's snapshot load of 1M keys kvload.kNNNNNNNN with 16-byte
// values (issue 12: a 1M-key restart under 3 s), the collector paced as restore paces it.
// Run with -benchtime=1x. cpu-s/op (user+sys of the process) is steadier than ns/op on a busy
// machine.
func BenchmarkLoadSnapshot(b *testing.B) {
	const keys = 1_000_000
	dir := b.TempDir()
	w, err := snapshot.Create(dir, snapshot.FileName(1), snapshot.Header{Node: "n1", Origin: "n1~1", Tock: keys,
		Known: map[string]node.RangeSet{"n1~1": node.NewRangeSet(node.Range{Start: 1, End: keys + 1})}})
	if err != nil {
		b.Fatal(err)
	}
	value := node.AppendBinString(nil, "0123456789abcdef")
	for i := range keys {
		p := node.StringPath("kvload", fmt.Sprintf("k%08d", i))
		u := &node.Update{Origin: "n1~1", Tick: uint64(i + 1), Tock: uint64(i + 1), Ops: []node.Op{{Path: p, Value: value}}}
		if err := w.Add(u); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, snapshot.FileName(1))
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		n := node.New(node.Config{Origin: "n1~2"})
		done := slowLoadGC()
		_, count, err := loadSnapshot(n, path)
		done()
		if err != nil || count != keys || n.Len() != keys {
			b.Fatalf("loaded %d entries (%d live), err %v", count, n.Len(), err)
		}
	}
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	runtime.ReadMemStats(&ms1)
	// What a load allocates per entry beyond what it keeps is the collector's work.
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(b.N*keys), "alloc-B/entry")
	b.ReportMetric(float64(ms1.NumGC-ms0.NumGC)/float64(b.N), "gc/op")
}

// cpuTime is the process's user plus system time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
