package server_test

import (
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server"
	"github.com/distkv/distkv/server/servertest"
)

// metric returns the value of the series of s's /metrics that matches re, -1 without one.
func metric(s *server.Server, re string) float64 {
	w := httptest.NewRecorder()
	s.Metrics().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	m := regexp.MustCompile(`(?m)^` + re + ` (\S+)$`).FindStringSubmatch(w.Body.String())
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestPropagationInCluster: a write's beacon gives the other node a delay sample for the
// writer's origin; the writer, which serf hands its own beacon too, neither samples nor skips it.
func TestPropagationInCluster(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 2})
	c.MustWrite(0, node.StringPath("p"), 1)
	sample := `distkv_propagation_delay_seconds_count\{origin="` + regexp.QuoteMeta(c.Origin(0)) + `"\}`
	for end := time.Now().Add(30 * time.Second); metric(c.Node(1), sample) < 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("no propagation sample on node 1 after 30s")
		}
	}
	if got := metric(c.Node(0), `distkv_propagation_samples_skipped_total`); got != 0 {
		t.Errorf("the writer skipped %v samples of its own beacons, want 0", got)
	}
	if got := metric(c.Node(0), sample); got != -1 {
		t.Errorf("the writer sampled its own origin: %v", got)
	}
}
