package server_test

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server"
	"github.com/distkv/distkv/server/servertest"
)

// TestGossipBytesMetric: the server exports the gossip transport's counters, both ways, on
// each node of a 2-node cluster, and they go on moving after a write. Background gossip moves
// them too, so this does not tell a write's user event from the rest: gossip's
// TestLoopbackCluster checks the counting itself (the bytes sent and received add up).
func TestGossipBytesMetric(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 2})
	var before [2]float64
	for i := range 2 {
		in, out := gossipBytes(t, c.Node(i))
		if in <= 0 || out <= 0 {
			t.Fatalf("n%d: gossip bytes in %v, out %v after the join: want both > 0", i, in, out)
		}
		before[i] = in
	}
	_, out0 := gossipBytes(t, c.Node(0))
	c.MustWrite(0, node.StringPath("gm"), "a value the user event carries")
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, out := gossipBytes(t, c.Node(0))
		in1, _ := gossipBytes(t, c.Node(1))
		if out > out0 && in1 > before[1] {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a write: n0 out %v (was %v), n1 in %v (was %v)", out, out0, in1, before[1])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gossipBytes scrapes s's distkv_gossip_bytes_total.
func gossipBytes(t *testing.T, s *server.Server) (in, out float64) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.Metrics().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		rest, ok := strings.CutPrefix(line, "distkv_gossip_bytes_total{direction=")
		if !ok {
			continue
		}
		dir, val, _ := strings.Cut(rest, "} ")
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		switch dir {
		case `"in"`:
			in = v
		case `"out"`:
			out = v
		}
	}
	return in, out
}
