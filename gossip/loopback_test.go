package gossip

import (
	"fmt"
	"net"
	"testing"

	"go.uber.org/goleak"
)

// TestLoopbackCluster runs 3 nodes on real UDP/TCP sockets on 127.0.0.1 with
// port 0: they join, exchange a user event, and see each other's tag changes.
func TestLoopbackCluster(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	var nodes []*node
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, startNode(t, Config{
			Name:     fmt.Sprintf("lo%d", i),
			BindAddr: "127.0.0.1:0",
			Tags:     map[string]string{"data": "none"},
			Profile:  ProfileTest,
		}, true))
	}
	for _, n := range nodes {
		host, port, err := net.SplitHostPort(n.LocalMember().Addr)
		if err != nil || host != "127.0.0.1" || port == "0" {
			t.Fatalf("%s bound %q: port 0 must be replaced by the real port", n.name, n.LocalMember().Addr)
		}
	}
	joinAll(t, nodes)
	took := waitFor(t, "converge", func() (bool, string) { return seesAs(nodes, nodes, StatusAlive) })
	t.Logf("3 loopback nodes converged in %v", took)

	payload := []byte("hello over UDP")
	if err := nodes[0].UserEvent("greeting", payload); err != nil {
		t.Fatal(err)
	}
	took = waitFor(t, "user event everywhere", func() (bool, string) {
		for _, n := range nodes {
			if !n.gotUser("greeting", payload) {
				return false, n.name + " has not got it"
			}
		}
		return true, ""
	})
	t.Logf("user event reached all 3 (sender included) in %v", took)
	checkCounted(t, nodes)

	tags := map[string]string{"data": "127.0.0.1:9000", "ready": "1"}
	if err := nodes[1].SetTags(tags); err != nil {
		t.Fatal(err)
	}
	tags["ready"] = "0" // SetTags must have copied the map
	took = waitFor(t, "tags propagated", func() (bool, string) {
		for _, n := range []*node{nodes[0], nodes[2]} {
			for _, m := range n.Members() {
				if m.Name == "lo2" && (m.Tags["data"] != "127.0.0.1:9000" || m.Tags["ready"] != "1") {
					return false, fmt.Sprintf("%s sees lo2 tags %v", n.name, m.Tags)
				}
			}
		}
		return true, ""
	})
	t.Logf("tags reached the others in %v", took)
	if got := nodes[1].LocalMember().Tags["ready"]; got != "1" {
		t.Errorf("LocalMember tags ready=%q, want 1", got)
	}
	waitFor(t, "update event", func() (bool, string) {
		nodes[0].mu.Lock()
		defer nodes[0].mu.Unlock()
		for _, e := range nodes[0].member {
			if e.Kind == MemberUpdate && e.Members[0].Name == "lo2" && e.Members[0].Tags["ready"] == "1" {
				return true, ""
			}
		}
		return false, "no MemberUpdate for lo2"
	})

	leaveAll(t, nodes)
	noLeaks(t, opt)
}

// checkCounted: the transport wrapper counted packets both ways on every node, and the join's
// push/pull streams on both ends.
func checkCounted(t *testing.T, nodes []*node) {
	t.Helper()
	var streamsIn, streamsOut, bytesIn, bytesOut uint64
	for _, n := range nodes {
		c := n.Counters()
		if c.PacketsIn.Load() == 0 || c.PacketsOut.Load() == 0 || c.BytesIn.Load() == 0 || c.BytesOut.Load() == 0 {
			t.Errorf("%s counted packets in/out %d/%d, bytes %d/%d: want all > 0", n.name,
				c.PacketsIn.Load(), c.PacketsOut.Load(), c.BytesIn.Load(), c.BytesOut.Load())
		}
		streamsIn += c.StreamsIn.Load()
		streamsOut += c.StreamsOut.Load()
		bytesIn += c.BytesIn.Load()
		bytesOut += c.BytesOut.Load()
	}
	// What one node sends another receives: on loopback the sums match up to what is in
	// flight, far better than the factor allowed here.
	if bytesIn > 2*bytesOut || bytesOut > 2*bytesIn {
		t.Errorf("all nodes: %d bytes out, %d in: one direction is not counted in full", bytesOut, bytesIn)
	}
	t.Logf("all nodes: %d bytes out, %d in, %d/%d streams", bytesOut, bytesIn, streamsOut, streamsIn)
	if streamsIn == 0 || streamsOut == 0 {
		t.Errorf("streams counted in/out %d/%d: the joins' push/pulls are streams", streamsIn, streamsOut)
	}
}
