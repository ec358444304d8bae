package tests

import (
	"net"
	"testing"

	"github.com/distkv/distkv/internal/testport"
	"github.com/distkv/distkv/node"
)

// TestRealStartOnTakenPort: something else binds a node's port between the pick and the start
// (here: the test holds it); the cluster helper must still start the node, on fresh ports.
func TestRealStartOnTakenPort(t *testing.T) {
	needCluster(t)
	client := testport.Addr(t, "127.0.0.1", false)
	l, err := net.Listen("tcp", client)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	gossip := testport.Addr(t, "127.0.0.2", true)
	u, err := net.ListenPacket("udp", gossip) // gossip binds UDP and TCP: UDP alone is enough
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	c := clStartWith(t, 2, func(k int, nd *clNode) {
		if k == 0 {
			nd.client = client
		} else {
			nd.gossip = gossip
		}
	})
	for k, taken := range []string{client, gossip} {
		nd := c.nodes[k]
		if nd.client == taken || nd.gossip == taken || nd.portRetries != 1 {
			t.Errorf("%s: client %s, gossip %s after %d retries; %s was taken", nd.name, nd.client, nd.gossip, nd.portRetries, taken)
		}
	}
	if err := c.set(c.nodes[1].cl, 1, node.StringPath("after", "retry"), "v"); err != nil {
		t.Fatal(err)
	}
	c.waitConverged(clConvergeDeadline)
	if d := c.checkIdentical(); len(d) != 1 {
		t.Errorf("the nodes hold %d entries, want 1", len(d))
	}
}
