package eventlog

import (
	"bytes"
	"context"
	"testing"
)

func BenchmarkAppendAlways(b *testing.B)   { benchmarkAppendWait(b, SyncAlways) }
func BenchmarkAppendInterval(b *testing.B) { benchmarkAppendWait(b, SyncInterval) }
func BenchmarkAppendNever(b *testing.B)    { benchmarkAppendWait(b, SyncNever) }

// benchmarkAppendWait: parallel writers of 300-byte records, each doing
// Append+Wait like a server handling client writes. recs/fsync shows how
// many records group commit puts behind one fsync.
func benchmarkAppendWait(b *testing.B, p SyncPolicy) {
	fsys := &faultFS{} // no faults: it counts fsyncs
	l, err := Open(Config{Dir: b.TempDir(), Sync: p, FS: fsys})
	if err != nil {
		b.Fatal(err)
	}
	rec := bytes.Repeat([]byte("x"), 300)
	b.SetBytes(int64(len(rec)))
	b.SetParallelism(16)
	b.ReportAllocs()
	syncs := fsys.fileSyncs()
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
	if n := fsys.fileSyncs() - syncs; n > 0 {
		b.ReportMetric(float64(b.N)/float64(n), "recs/fsync")
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}
