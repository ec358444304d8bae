package server_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/server/servertest"
)

// TestMsgCluster: a message sent on node 0 reaches the monitors of its topic on both nodes
// exactly once, a monitor of another topic (a prefix) none, and one over the gossip limit is
// refused with ErrValueTooLarge.
func TestMsgCluster(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := []string{"home", "door"}
	var mons []*client.MsgStream
	for i := 0; i < 2; i++ {
		m, err := c.Client(i).MsgMonitor(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		mons = append(mons, m)
	}
	prefix, err := c.Client(1).MsgMonitor(ctx, topic[:1])
	if err != nil {
		t.Fatal(err)
	}
	// A monitor's registration is not acknowledged: send until one message has arrived on both.
	first := enc(t, "first")
	got := make([]chan []byte, 2)
	for i, m := range mons {
		got[i] = make(chan []byte, 100)
		go func(m *client.MsgStream, ch chan []byte) {
			for {
				msg, err := m.Next(ctx)
				if err != nil {
					close(ch)
					return
				}
				ch <- msg.Data
			}
		}(m, got[i])
	}
	for i := range mons {
		for seen := false; !seen; {
			if err := c.Client(0).MsgSend(ctx, topic, first); err != nil {
				t.Fatal(err)
			}
			select {
			case d := <-got[i]:
				seen = bytes.Equal(d, first)
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	// Drain the extra firsts (retries), then send three distinct messages: each arrives once.
	want := [][]byte{enc(t, "one"), enc(t, "two"), enc(t, map[string]int{"three": 3})}
	for _, w := range want {
		if err := c.Client(0).MsgSend(ctx, topic, w); err != nil {
			t.Fatal(err)
		}
	}
	for i := range mons {
		counts := make([]int, len(want))
		for done := 0; done < len(want); {
			d, ok := <-got[i]
			if !ok {
				t.Fatalf("node %d: monitor ended", i)
			}
			for j, w := range want {
				if bytes.Equal(d, w) {
					counts[j]++
					if counts[j] == 1 {
						done++
					}
				}
			}
		}
		for j, n := range counts {
			if n != 1 {
				t.Errorf("node %d: message %d arrived %d times", i, j, n)
			}
		}
	}
	// The prefix monitor saw none of them: the first it gets is one sent to its own topic.
	marker := enc(t, "marker")
	go func() {
		for ctx.Err() == nil {
			_ = c.Client(0).MsgSend(ctx, topic[:1], marker)
			time.Sleep(300 * time.Millisecond)
		}
	}()
	if m, err := prefix.Next(ctx); err != nil || !bytes.Equal(m.Data, marker) {
		t.Fatalf("prefix monitor: %x, %v; want the marker only", m.Data, err)
	}
	t.Logf("message budget: %d bytes", c.Node(0).MaxMsgPayload())
	big := enc(t, bytes.Repeat([]byte{1}, c.Node(0).MaxMsgPayload()))
	if err := c.Client(0).MsgSend(ctx, topic, big); !errors.Is(err, clientproto.ErrValueTooLarge) {
		t.Fatalf("oversized message: %v, want ErrValueTooLarge", err)
	}
}

func enc(t *testing.T, v any) []byte {
	t.Helper()
	b, err := client.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
