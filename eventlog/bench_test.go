package eventlog

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
)

func BenchmarkAppendAlways(b *testing.B)   { benchmarkAppendWait(b, SyncAlways) }
func BenchmarkAppendInterval(b *testing.B) { benchmarkAppendWait(b, SyncInterval) }
func BenchmarkAppendNever(b *testing.B)    { benchmarkAppendWait(b, SyncNever) }

// benchmarkAppendWait: parallel writers of 300-byte records, each doing
// Append+Wait like a server handling client writes, on the real file system.
// recs/batch shows how many records group commit puts behind one write (and
// under SyncAlways one fsync).
func benchmarkAppendWait(b *testing.B, p SyncPolicy) {
	var batches atomic.Int64
	l, err := Open(Config{Dir: b.TempDir(), Sync: p, Observe: func(BatchStats) { batches.Add(1) }})
	if err != nil {
		b.Fatal(err)
	}
	rec := bytes.Repeat([]byte("x"), 300)
	b.SetBytes(int64(len(rec)))
	b.SetParallelism(16)
	b.ReportAllocs()
	before := batches.Load()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			seq, err := l.Append(rec)
			if err == nil {
				err = l.Wait(ctx, seq)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if n := batches.Load() - before; n > 0 {
		b.ReportMetric(float64(b.N)/float64(n), "recs/batch")
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}
