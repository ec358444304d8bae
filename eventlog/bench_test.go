package eventlog

import (
	"bytes"
	"context"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkAppendAlways(b *testing.B)   { benchmarkAppendWait(b, SyncAlways, 16) }
func BenchmarkAppendInterval(b *testing.B) { benchmarkAppendWait(b, SyncInterval, 16) }
func BenchmarkAppendNever(b *testing.B)    { benchmarkAppendWait(b, SyncNever, 16) }

// BenchmarkAppendAlwaysSerial is one writer: every record waits for a batch of its own, so
// ns/op is one write and fsync, and cpu-us/op what the process spends on it.
func BenchmarkAppendAlwaysSerial(b *testing.B) { benchmarkAppendWait(b, SyncAlways, 0) }

// benchmarkAppendWait: parallel writers of 300-byte records, each doing
// Append+Wait like a server handling client writes, on the real file system.
// recs/batch shows how many records group commit puts behind one write (and
// under SyncAlways one fsync).
func benchmarkAppendWait(b *testing.B, p SyncPolicy, parallel int) {
	var batches atomic.Int64
	l, err := Open(Config{Dir: b.TempDir(), Sync: p, Observe: func(BatchStats) { batches.Add(1) }})
	if err != nil {
		b.Fatal(err)
	}
	rec := bytes.Repeat([]byte("x"), 300)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	one := func(ctx context.Context) bool {
		seq, err := l.Append(rec)
		if err == nil {
			err = l.Wait(ctx, seq)
		}
		if err != nil {
			b.Error(err)
		}
		return err == nil
	}
	before, cpu := batches.Load(), cpuTime()
	b.ResetTimer()
	if parallel > 0 {
		b.SetParallelism(parallel)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() && one(context.Background()) {
			}
		})
	} else {
		for i := 0; i < b.N && one(context.Background()); i++ {
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-us/op")
	if n := batches.Load() - before; n > 0 {
		b.ReportMetric(float64(b.N)/float64(n), "recs/batch")
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}
