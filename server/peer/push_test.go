package peer

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/distkv/distkv/gossip/wire"
	"github.com/distkv/distkv/node"
)

func pushUpdates(from, n int) []*node.Update {
	us := make([]*node.Update, n)
	for i := range us {
		t := uint64(from + i)
		us[i] = &node.Update{Origin: "a~1", Tick: t, Tock: t, Ops: []node.Op{{
			Path:  node.StringPath(fmt.Sprintf("k%d", t)),
			Value: node.AppendString(nil, "v"),
			Chain: node.Chain{{Origin: "a~1", Tick: t}},
		}}}
	}
	return us
}

// A push frame built from several shared batches is the Push body of all their updates, in
// order, and a batch shared by several streams is left as it was.
func TestCollectBatches(t *testing.T) {
	a, b, c := pushUpdates(1, 1), pushUpdates(2, 3), pushUpdates(5, 2)
	s := &stream{q: make(chan Batch, 4)}
	bb := NewBatch(b)
	before := bytes.Clone(bb.body)
	s.q <- bb
	s.q <- NewBatch(c)
	got := s.collect([]byte("stale")[:0], NewBatch(a))
	want := wire.AppendUpdates(nil, append(append(a, b...), c...))
	if !bytes.Equal(got, want) {
		t.Fatalf("push body differs from AppendUpdates:\n got %x\nwant %x", got, want)
	}
	if !bytes.Equal(bb.body, before) {
		t.Fatal("collect changed a shared batch")
	}
	if len(s.q) != 0 {
		t.Fatalf("%d batches left queued under the frame budget", len(s.q))
	}
}

// collect stops taking queued batches once the frame budget is reached.
func TestCollectBudget(t *testing.T) {
	big := pushUpdates(1, 1)
	big[0].Ops[0].Value = node.AppendString(nil, string(make([]byte, pushBatchBytes)))
	s := &stream{q: make(chan Batch, 4)}
	s.q <- NewBatch(pushUpdates(2, 1))
	got := s.collect(nil, NewBatch(big))
	if us, err := wire.DecodeUpdates(got); err != nil || len(us) != 1 {
		t.Fatalf("decoded %d updates, %v; want the big one alone", len(us), err)
	}
	if len(s.q) != 1 {
		t.Fatal("a batch past the frame budget was taken")
	}
}

// BenchmarkPushEncode is a write's push encode on a 3-node network: one batch per write
// (256-byte value), shared by two streams, each building its frame body from the queue.
func BenchmarkPushEncode(b *testing.B) {
	us := pushUpdates(1, 1)
	us[0].Ops[0].Value = node.AppendString(nil, string(make([]byte, 253)))
	streams := []*stream{{q: make(chan Batch, 1)}, {q: make(chan Batch, 1)}}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		batch := NewBatch(us)
		for _, s := range streams {
			buf = s.collect(buf[:0], batch)
		}
	}
	b.ReportMetric(float64(len(buf)), "body-bytes")
}

// TestCollectScratch: the frame's list of batches is reused from frame to frame, and emptied,
// so that it does not keep the bodies of sent batches alive.
func TestCollectScratch(t *testing.T) {
	s := &stream{q: make(chan Batch, 4)}
	s.q <- NewBatch(pushUpdates(2, 1))
	s.collect(nil, NewBatch(pushUpdates(1, 3)))
	if len(s.more) != 0 || cap(s.more) < 2 {
		t.Fatalf("scratch len %d cap %d after a frame of 2 batches", len(s.more), cap(s.more))
	}
	for i, b := range s.more[:2] {
		if b.body != nil || b.n != 0 {
			t.Errorf("scratch slot %d still holds a batch of %d updates", i, b.n)
		}
	}
}
