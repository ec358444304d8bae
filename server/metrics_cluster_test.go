package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server/servertest"
)

// waitMetric polls until node i's series (a regexp, see metric) satisfies ok.
func waitMetric(t *testing.T, c *servertest.Cluster, i int, series string, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for v := metric(c.Node(i), series); !ok(v); v = metric(c.Node(i), series) {
		if time.Now().After(deadline) {
			t.Fatalf("n%d: %s is %v", i, series, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMetricsMoveInCluster: the metrics no other test sees move do when what they count
// happens: an open watch, a failed member, and concurrent writes from two sides of a
// partition (a conflict, once they merge).
func TestMetricsMoveInCluster(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 2, Seed: 5})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := c.Client(1).Watch(ctx, node.StringPath("m"), client.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitMetric(t, c, 1, `distkv_watches`, func(v float64) bool { return v == 1 })
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, c, 1, `distkv_watches`, func(v float64) bool { return v == 0 })

	conflicts := func() float64 {
		return max(0, metric(c.Node(0), `distkv_conflicts_total`)) + max(0, metric(c.Node(1), `distkv_conflicts_total`))
	}
	before := conflicts()
	c.Partition([]int{0}, []int{1})
	waitMetric(t, c, 0, `distkv_members\{state="failed"\}`, func(v float64) bool { return v == 1 })
	c.MustWrite(0, node.StringPath("m", "x"), "from n0")
	c.MustWrite(1, node.StringPath("m", "x"), "from n1")
	c.Heal()
	waitMetric(t, c, 0, `distkv_members\{state="failed"\}`, func(v float64) bool { return v == 0 })
	c.WaitConverged(30 * time.Second)
	if d := conflicts() - before; d < 1 {
		t.Errorf("distkv_conflicts_total moved by %v over both nodes, want at least 1", d)
	}
}
