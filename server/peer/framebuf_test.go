package peer

import (
	"bufio"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/gossip"
	"github.com/distkv/distkv/gossip/wire"
)

// bodies records the first byte's address of every frame body it is handed.
type bodies struct {
	mu    sync.Mutex
	addrs []*byte
}

func (h *bodies) Handle(_ wire.Hello, _ byte, body []byte, _ *Replier) error {
	h.mu.Lock()
	h.addrs = append(h.addrs, &body[0])
	h.mu.Unlock()
	return nil
}

// TestServeConnReusesFrameBuffer: a connection reads each frame into the buffer of the last
// one (a push stream: one allocation for the stream, not one per frame), and a frame larger
// than maxKeptFrame into a buffer of its own that it does not keep.
func TestServeConnReusesFrameBuffer(t *testing.T) {
	h := &bodies{}
	_, b := testPlane(t, "b", h, 8)
	conn, err := net.Dial("tcp", b.Peer)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bw := bufio.NewWriter(conn)
	send := func(n int) {
		if err := gossip.WriteFrame(bw, wire.MsgPush, make([]byte, n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := gossip.WriteFrame(bw, wire.MsgHello, wire.Hello{Name: "a", Origin: "a~1"}.Append(nil)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{4000, 3000, 4000, 2 * maxKeptFrame, 100, 5000, 5000} {
		send(n)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		n := len(h.addrs)
		h.mu.Unlock()
		if n == 7 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handled %d frames of 7", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	a := h.addrs
	if a[1] != a[0] || a[2] != a[0] || a[4] != a[0] {
		t.Errorf("frames that fit the kept buffer were read into new ones: %p", a)
	}
	if a[3] == a[0] {
		t.Error("a frame above maxKeptFrame was read into the kept buffer")
	}
	if a[6] != a[5] {
		t.Errorf("the buffer grown for a larger frame is not reused: %p %p", a[5], a[6])
	}
}
