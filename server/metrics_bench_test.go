package server

import (
	"testing"
	"time"
)

// BenchmarkMetricsRequest: what counting one write costs the write path.
func BenchmarkMetricsRequest(b *testing.B) {
	m := newMetrics(&Server{})
	start := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.request("set_value", "write", start, nil)
		}
	})
}
