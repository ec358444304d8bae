package server_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server/servertest"
)

const maxValue = 1 << 20 // the server's default MaxValue

// bigValue returns bytes whose msgpack encoding (bin 32: 5 header bytes) is exactly size bytes,
// filled with a pattern depending on seed.
func bigValue(size int, seed byte) []byte {
	b := make([]byte, size-5)
	for k := range b {
		b[k] = seed + byte(k*7)
	}
	if raw, _ := msgpack.Marshal(b); len(raw) != size {
		panic(fmt.Sprintf("bigValue: encoded %d bytes, want %d", len(raw), size))
	}
	return b
}

// TestClusterBigValues: values of exactly MaxValue bytes (too big for any serf event, so they
// travel only over the data plane) replicate to every node, also when a push is lost and the
// value must be pulled; a value one byte over MaxValue is refused at the client with
// ErrValueTooLarge.
func TestClusterBigValues(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 3, Seed: 21})
	for i := 0; i < 3; i++ {
		c.MustWrite(i, node.StringPath("big", fmt.Sprint(i)), bigValue(maxValue, byte(i)))
	}
	took := c.WaitConverged(30 * time.Second)
	t.Logf("3 values of %d bytes everywhere %v after the last write", maxValue, took.Round(time.Millisecond))

	// A lost push: n2 is cut off while n0 writes, then n0 writes a small value that reveals
	// the gap.
	c.Partition([]int{2})
	c.MustWrite(0, node.StringPath("big", "pulled"), bigValue(maxValue, 9))
	time.Sleep(300 * time.Millisecond)
	c.Heal()
	c.MustWrite(0, node.StringPath("big", "after"), "small")
	took = c.WaitConverged(30 * time.Second)
	t.Logf("a pulled value of %d bytes everywhere %v after the heal", maxValue, took.Round(time.Millisecond))
	c.CheckIdentical()
	c.CheckAcked()
	for _, i := range c.Running() {
		var v []byte
		c.Node(i).Node(func(n *node.Node) {
			e, _ := n.Lookup(node.StringPath("big", "pulled"))
			v = e.Value
		})
		want, _ := msgpack.Marshal(bigValue(maxValue, 9))
		if !bytes.Equal(v, want) {
			t.Errorf("n%d: big.pulled holds %d bytes, want the %d written", i, len(v), len(want))
		}
	}

	_, err := c.Write(1, node.StringPath("big", "too"), bigValue(maxValue+1, 1))
	if !errors.Is(err, clientproto.ErrValueTooLarge) {
		t.Fatalf("writing %d bytes: err = %v, want ErrValueTooLarge", maxValue+1, err)
	}
	// The connection survives the refusal.
	c.MustWrite(1, node.StringPath("big", "ok"), "still connected")
	c.WaitConverged(30 * time.Second)
}

// TestClusterBigValuesStateTransfer: a node joins a network holding more big values than one
// peer frame can carry. The state transfer must split its chunks by bytes, not only by entry
// count, or the joining node cannot take the network's state before it opens its client port.
// Here MaxPeerFrame is 8 MiB (eight max-size values) to keep the test small; with the defaults
// (64 MiB frames, 1 MiB values) the same happens once the network holds about 64 max-size
// values. The values come from three origins, four each, so that pulling one origin's ticks
// fits a frame: only the state transfer is at stake here.
func TestClusterBigValuesStateTransfer(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 3, Seed: 22, MaxPeerFrame: 8 << 20, StartTimeout: 30 * time.Second})
	for k := 0; k < 12; k++ {
		c.MustWrite(k%3, node.StringPath("big", fmt.Sprint(k)), bigValue(maxValue, byte(k)))
	}
	c.WaitConverged(30 * time.Second)
	n := c.AddNode()
	// The client port opens once the node holds the network's state.
	if got := len(c.Dump(n)); got != 12 {
		t.Errorf("the new node n%d serves clients holding %d entries, want 12", n, got)
	}
	c.WaitConverged(15 * time.Second)
	c.CheckIdentical()
	c.CheckAcked()
}

// TestClusterBigValuesPull: many big values are lost on their way to one node (it is cut off
// while they are written), so it must pull them. A pull reply must be split by bytes too, or
// it exceeds the peer frame limit and the node never gets them. MaxPeerFrame 8 MiB as above.
// The gap is pulled once, not once per housekeeping round: gap pulls and the housekeeper's
// repairs of the same ticks wait for each other, or dozens of transfers of the same 12 MiB run
// side by side on a slow machine and time out together.
func TestClusterBigValuesPull(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 2, Seed: 23, MaxPeerFrame: 8 << 20})
	c.MustWrite(0, node.StringPath("big", "warm"), "up")
	c.WaitConverged(10 * time.Second)
	c.Partition([]int{1})
	for k := 0; k < 12; k++ {
		c.MustWrite(0, node.StringPath("big", fmt.Sprint(k)), bigValue(maxValue, byte(k)))
	}
	time.Sleep(300 * time.Millisecond)
	pulls := func() float64 {
		return max(0, metric(c.Node(1), `distkv_gap_pulls_total\{result="ok"\}`)) +
			max(0, metric(c.Node(1), `distkv_gap_pulls_total\{result="error"\}`))
	}
	before := pulls()
	c.Heal()
	c.MustWrite(0, node.StringPath("big", "reveal"), "the gap")
	c.WaitConverged(60 * time.Second)
	c.CheckIdentical()
	c.CheckAcked()
	// Three replies of at most 4 MiB carry the 12 values; a few more may fail and be retried.
	n := pulls() - before
	t.Logf("n1 made %v pull requests for 12 missing ticks", n)
	if n > 10 {
		t.Errorf("n1 made %v pull requests for 12 missing ticks, want at most 10", n)
	}
}
