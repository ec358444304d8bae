package tests

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/gossip"
	"github.com/distkv/distkv/gossip/wire"
	"github.com/distkv/distkv/node"
)

func secKey(t *testing.T) string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func secKeyID(t *testing.T, b64 string) string {
	k, err := gossip.ParseKey(b64)
	if err != nil {
		t.Fatal(err)
	}
	return gossip.KeyIDString(k)
}

// secKeyring runs `distkv keyring OP [KEY]` against node k and returns its output.
func (c *clCluster) secKeyring(k int, args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clOpDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, distkvBin, append([]string{"keyring", "--addr", c.nodes[k].client}, args...)...)
	cmd.Env = clEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		c.t.Fatalf("distkv keyring %v: %v: %s", args, err, out)
	}
	return string(out)
}

// secMembers returns the names node k sees alive.
func (c *clCluster) secMembers(k int) map[string]bool {
	c.t.Helper()
	st, err := c.state(k)
	if err != nil {
		c.t.Fatal(err)
	}
	seen := map[string]bool{}
	ms, _ := st["members"].([]any)
	for _, x := range ms {
		if m, _ := x.(map[string]any); m["status"] == "alive" {
			seen[fmt.Sprint(m["name"])] = true
		}
	}
	return seen
}

func (c *clCluster) secHas(k int, p node.Path) bool {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clOpDeadline)
	defer cancel()
	_, err := c.nodes[k].cl.Get(ctx, p)
	return err == nil
}

// Three nodes share a key. A fourth without it cannot join and its writes reach nobody. The key
// is rotated (install, use, remove) while writes go on; every node converges to the same tree.
func TestRealGossipKeyRotation(t *testing.T) {
	k1, k2 := secKey(t), secKey(t)
	c := clStartWith(t, 3, func(k int, nd *clNode) { nd.extra = []string{"--gossip-key", k1} })

	// The outsider starts alone once its join fails (after the join timeout).
	out := c.add(nil)
	if m := c.secMembers(out); len(m) != 1 {
		t.Fatalf("the node without the key sees %v", m)
	}
	intruder := node.StringPath("intruder")
	if err := c.set(c.nodes[out].cl, out, intruder, "x"); err != nil {
		t.Fatal(err)
	}
	c.kill(out)
	c.acks = nil // its write is not meant to arrive

	var stop atomic.Bool
	var wg sync.WaitGroup
	for _, k := range []int{0, 1, 2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; !stop.Load(); j++ {
				p := node.StringPath("rot", fmt.Sprint(j%50))
				if err := c.set(c.nodes[k].cl, k, p, fmt.Sprintf("n%d.%d", k, j)); err != nil {
					t.Errorf("write at n%d during the rotation: %v", k, err)
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	id1, id2 := secKeyID(t, k1), secKeyID(t, k2)
	if l := c.secKeyring(1, "list"); !strings.Contains(l, "key "+id1+": installed on 3, primary on 3") {
		t.Fatalf("keyring list before the rotation:\n%s", l)
	}
	c.secKeyring(0, "install", k2)
	time.Sleep(300 * time.Millisecond)
	c.secKeyring(1, "use", k2)
	time.Sleep(300 * time.Millisecond)
	c.secKeyring(2, "remove", k1)
	time.Sleep(time.Second) // writes go on over data-plane connections made with the new key
	stop.Store(true)
	wg.Wait()
	l := c.secKeyring(0, "list")
	if !strings.Contains(l, "key "+id2+": installed on 3, primary on 3") || strings.Contains(l, id1) {
		t.Fatalf("keyring list after the rotation:\n%s", l)
	}
	c.waitMembers(clStartDeadline)
	c.waitConverged(clConvergeDeadline)
	d := c.checkIdentical()
	n := c.checkAcked(d, every)
	for k := 0; k < 3; k++ {
		if c.secHas(k, intruder) {
			t.Errorf("n%d holds the outsider's write", k)
		}
	}
	t.Logf("%d acknowledged writes during the rotation, all on 3 identical nodes", n)

	// A node holding only the removed key cannot join any more.
	old := c.add(func(k int, nd *clNode) { nd.extra = []string{"--gossip-key", k1} })
	if m := c.secMembers(old); len(m) != 1 {
		t.Fatalf("a node with the removed key sees %v", m)
	}
	if m := c.secMembers(0); m[c.nodes[old].name] {
		t.Fatalf("n0 sees the node with the removed key: %v", m)
	}
	c.kill(old)
}

// secForge connects to a peer port as a plaintext peer and sends a hello and a push of one
// update writing p, then reads until the node hangs up (a keyed node does at its handshake
// deadline, 10 s; one without a key keeps the connection).
func secForge(addr string, p node.Path) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	bw := bufio.NewWriter(conn)
	val, _ := client.Encode("forged")
	u := &node.Update{Origin: "mallory~1", Tick: 1, Tock: 1, Ops: []node.Op{{Path: p, Value: val}}}
	gossip.WriteFrame(bw, wire.MsgHello, wire.Hello{Name: "mallory", Origin: "mallory~1"}.Append(nil))
	gossip.WriteFrame(bw, wire.MsgPush, wire.AppendUpdates(nil, []*node.Update{u}))
	if err := bw.Flush(); err != nil {
		return err
	}
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	var buf bytes.Buffer
	buf.ReadFrom(conn)
	return nil
}

// A plaintext connection to a keyed node's peer port, sending a valid push, is refused and
// changes nothing. The same push to a node without a key is applied: the forgery is real.
func TestRealForgedPeerRefused(t *testing.T) {
	key := secKey(t)
	c := clStartWith(t, 2, func(k int, nd *clNode) { nd.extra = []string{"--gossip-key", key} })
	p := node.StringPath("forged")
	if err := secForge(c.nodes[0].peer, p); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	for k := 0; k < 2; k++ {
		if c.secHas(k, p) {
			t.Fatalf("n%d took the forged push", k)
		}
	}
	open := c.add(func(k int, nd *clNode) {}) // no key: a separate one-node network
	done := make(chan error, 1)
	go func() { done <- secForge(c.nodes[open].peer, p) }() // the node keeps the connection
	deadline := time.Now().Add(clOpDeadline)
	for !c.secHas(open, p) {
		if time.Now().After(deadline) {
			t.Fatal("the control node without a key did not take the forged push either: the forgery is broken")
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.kill(open)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
