package server

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/distkv/distkv/gossip/wire"
	"github.com/distkv/distkv/node"
)

func serfUpdates(n int) []*node.Update {
	us := make([]*node.Update, n)
	for i := range us {
		t := uint64(i + 1)
		us[i] = &node.Update{Origin: "n1~1", Tick: t, Tock: t,
			Ops: []node.Op{{Path: node.StringPath(fmt.Sprintf("k%d", t)), Value: node.AppendString(nil, "v")}}}
	}
	return us
}

// Updates go inline exactly when their encoding fits the event budget, and then as
// wire.AppendUpdates encodes them.
func TestInlineUpdatesBudget(t *testing.T) {
	for _, n := range []int{1, 2, 20} {
		us := serfUpdates(n)
		want := wire.AppendUpdates(nil, us)
		if got, ok := inlineUpdates(us, len(want)); !ok || !bytes.Equal(got, want) {
			t.Fatalf("%d updates, budget %d: inline %v %x, want %x", n, len(want), ok, got, want)
		}
		if _, ok := inlineUpdates(us, len(want)-1); ok {
			t.Fatalf("%d updates went inline over a budget of %d", n, len(want)-1)
		}
	}
}

// Send keeps only the newest update once more are pending than an event can hold, and says so:
// the announcement is then the head.
func TestSendBoundsPendingEvents(t *testing.T) {
	c := &cluster{}
	us := serfUpdates(maxInline + 10)
	c.Send(us[:maxInline])
	if len(c.events) != maxInline || c.eventsOver {
		t.Fatalf("after %d updates: %d pending, over %v", maxInline, len(c.events), c.eventsOver)
	}
	c.Send(us[maxInline:])
	if len(c.events) != 1 || c.events[0] != us[len(us)-1] || !c.eventsOver {
		t.Fatalf("after %d updates: %d pending, over %v; want the newest alone", len(us), len(c.events), c.eventsOver)
	}
	if held := c.events[1:cap(c.events)]; len(held) > 0 && held[0] != nil {
		t.Fatal("the dropped updates are still referenced by the pending slice's backing array")
	}
}

// BenchmarkAnnounce is the serf event build once per announceEvery: 3 updates fit inline; with
// 100 pending it gives up at the budget and sends the head (past maxInline it does not encode).
func BenchmarkAnnounce(b *testing.B) {
	for _, n := range []int{3, 100} {
		b.Run(fmt.Sprintf("pending=%d", n), func(b *testing.B) {
			us := serfUpdates(n)
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := inlineUpdates(us, 1261); ok != (n == 3) {
					b.Fatal("inline", ok)
				}
			}
		})
	}
}
