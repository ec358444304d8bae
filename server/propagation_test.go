package server

import (
	"testing"
	"time"

	"github.com/distkv/distkv/node"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// samples returns how many delays were observed for origin.
func samples(t *testing.T, m *metrics, origin string) uint64 {
	t.Helper()
	var d dto.Metric
	if err := m.prop.WithLabelValues(origin).(prometheus.Metric).Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetHistogram().GetSampleCount()
}

// TestPropagationBeacon: an origin's beacon names its newest tick and write time; a receiver
// observes the delay whether the tick came before or after the beacon, skips a tick it never
// saw applied, and forgets idle origins.
func TestPropagationBeacon(t *testing.T) {
	src, dst := newPropagation(newMetrics(&Server{})), newPropagation(newMetrics(&Server{}))
	if _, ok := src.next(); ok {
		t.Fatal("a beacon before any write")
	}
	src.committed("a~1", []*node.Update{{Origin: "a~1", Tick: 1}, {Origin: "a~1", Tick: 2}})
	b, ok := src.next()
	if !ok {
		t.Fatal("no beacon after a write")
	}
	if _, again := src.next(); again {
		t.Fatal("a second beacon for the same tick")
	}
	bc, err := decodeBeacon(b)
	if err != nil || bc.origin != "a~1" || bc.tick != 2 || time.Since(time.Unix(0, bc.wall)) > time.Minute {
		t.Fatalf("beacon %+v, %v", bc, err)
	}
	h := func(m *metrics) uint64 { return samples(t, m, "a~1") }
	// Applied before the beacon comes: observed at once.
	dst.committed("b~1", []*node.Update{{Origin: "a~1", Tick: 1}, {Origin: "a~1", Tick: 2}})
	dst.heard(bc, node.NewRangeSet(node.Range{Start: 1, End: 3}))
	if got := h(dst.m); got != 1 {
		t.Fatalf("%d samples after a beacon for an applied tick, want 1", got)
	}
	// Beacon first, tick later: observed when it is applied.
	src.committed("a~1", []*node.Update{{Origin: "a~1", Tick: 3}})
	b, _ = src.next()
	bc, _ = decodeBeacon(b)
	dst.heard(bc, node.NewRangeSet(node.Range{Start: 1, End: 3}))
	if got := h(dst.m); got != 1 {
		t.Fatalf("observed before the tick came")
	}
	dst.committed("b~1", []*node.Update{{Origin: "a~1", Tick: 3}})
	if got := h(dst.m); got != 2 {
		t.Fatalf("%d samples once the tick came, want 2", got)
	}
	// Known but never seen applied (a state transfer): skipped.
	dst.heard(beacon{origin: "a~1", tick: 99, wall: 1}, node.NewRangeSet(node.Range{Start: 1, End: 100}))
	if got := testutil.ToFloat64(dst.m.propSkip); got != 1 {
		t.Fatalf("skipped %v, want 1", got)
	}
	// Beacons waiting for ticks that became known without an apply here (superseded in a
	// pull) do not hold their places: a later beacon still waits, and is observed.
	for i := uint64(0); i < maxPending; i++ {
		dst.heard(beacon{origin: "a~1", tick: 200 + i, wall: 1}, node.NewRangeSet(node.Range{Start: 1, End: 100}))
	}
	dst.heard(beacon{origin: "a~1", tick: 300, wall: 1}, node.NewRangeSet(node.Range{Start: 1, End: 300}))
	dst.committed("b~1", []*node.Update{{Origin: "a~1", Tick: 300}})
	if got := h(dst.m); got != 3 {
		t.Fatalf("%d samples after superseded ticks filled the waiting beacons, want 3", got)
	}
	if got := testutil.ToFloat64(dst.m.propSkip); got != 1+maxPending {
		t.Fatalf("skipped %v, want %d", got, 1+maxPending)
	}
	// Idle origins are forgotten.
	dst.applied["a~1"].at[(dst.applied["a~1"].next+applyMemory-1)%applyMemory] = time.Now().Add(-2 * idleOrigin).UnixNano()
	dst.next()
	if _, ok := dst.applied["a~1"]; ok {
		t.Fatal("an idle origin's apply times are kept")
	}
	for _, bad := range [][]byte{nil, {0}, {5}, {5, 2}} {
		if _, err := decodeBeacon(bad); err == nil {
			t.Errorf("decodeBeacon(%v) accepted", bad)
		}
	}
}

// TestPropagationSummary: the status page's figures per origin (samples, mean, p99 bucket) come
// from the delay histogram alone.
func TestPropagationSummary(t *testing.T) {
	s := &Server{}
	s.met = newMetrics(s)
	for range 99 {
		s.met.prop.WithLabelValues("a~1").Observe(0.003)
	}
	s.met.prop.WithLabelValues("a~1").Observe(0.010)
	s.met.prop.WithLabelValues("b~1").Observe(100) // above the largest bucket
	s.met.prop.WithLabelValues("c~1")              // no sample yet: not listed
	got := s.propagationSummary()
	want := map[string]propStat{
		"a~1": {count: 100, mean: "3.1ms", p99: "≤ 4ms"},
		"b~1": {count: 1, mean: "1m40s", p99: "> largest bucket"},
	}
	if len(got) != len(want) {
		t.Fatalf("summary %+v, want %+v", got, want)
	}
	for o, w := range want {
		if got[o] != w {
			t.Errorf("%s: %+v, want %+v", o, got[o], w)
		}
	}
}
