package gossip

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/gossip/memnet"
	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/serf/serf"
)

// serfUserEvent mirrors serf's unexported messageUserEvent (serf/messages.go),
// field names and types included: they are what the encoding counts.
type serfUserEvent struct {
	LTime   serf.LamportTime
	Name    string
	Payload []byte
	CC      bool
}

// encodedSize encodes an event as serf's encodeMessage does: a type byte and
// the struct through go-msgpack's MsgpackHandle.
func encodedSize(t *testing.T, ltime uint64, name string, payload int) int {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteByte(0) // message type
	var h codec.MsgpackHandle
	h.TimeNotBuiltin = true // as serf sets it; no time field here, so no effect
	msg := serfUserEvent{LTime: serf.LamportTime(ltime), Name: name, Payload: make([]byte, payload)}
	if err := codec.NewEncoder(&buf, &h).Encode(&msg); err != nil {
		t.Fatal(err)
	}
	return buf.Len()
}

// TestMaxPayloadMatchesSerfEncoding checks the overhead model against serf's
// real encoder at the largest clock: the maximum payload fits the budget
// exactly, and one more byte does not.
func TestMaxPayloadMatchesSerfEncoding(t *testing.T) {
	names := []string{"", "u", "kv", strings.Repeat("n", 31), strings.Repeat("n", 32), strings.Repeat("n", 200)}
	for _, budget := range []int{40, 60, 512, 1300, 1395, 9216} {
		for _, name := range names {
			p := maxPayload(budget, name)
			if p < 0 {
				if got := encodedSize(t, math.MaxUint64, name, 0); got <= budget {
					t.Errorf("budget %d, name %d bytes: said nothing fits, but an empty payload is %d bytes", budget, len(name), got)
				}
				continue
			}
			if got := encodedSize(t, math.MaxUint64, name, p); got > budget {
				t.Errorf("budget %d, name %d bytes: payload %d encodes to %d", budget, len(name), p, got)
			}
			if got := encodedSize(t, math.MaxUint64, name, p+1); got <= budget {
				t.Errorf("budget %d, name %d bytes: payload %d+1 still fits (%d): budget not tight", budget, len(name), p, got)
			}
		}
	}
	// The figures quoted in the docs, for the default limits.
	if got := maxPayload(1300, "u"); got != 1261 {
		t.Errorf("maxPayload(1300, u) = %d, want 1261", got)
	}
	if got := maxPayload(1300, "kv"); got != 1260 {
		t.Errorf("maxPayload(1300, kv) = %d, want 1260", got)
	}
}

// noPushPull isolates gossip: no periodic push/pull can deliver an event that
// gossip did not.
func noPushPull(sc *serf.Config) { sc.MemberlistConfig.PushPullInterval = 0 }

// TestUserEventAtBudget checks that an event of exactly MaxEventPayload bytes
// travels by gossip within seconds, and one byte more is refused.
func TestUserEventAtBudget(t *testing.T) {
	nodes := memNodes(t, memnet.New(5), 3, func(c *Config) { c.tune = noPushPull })
	joinAll(t, nodes)
	waitFor(t, "converge", func() (bool, string) { return seesAs(nodes, nodes, StatusAlive) })

	max := nodes[0].MaxEventPayload("u")
	t.Logf("MaxEventPayload(%q) = %d", "u", max)
	payload := bytes.Repeat([]byte{0xA5}, max)
	start := time.Now()
	if err := nodes[0].UserEvent("u", payload); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, "event at budget gossiped", func() (bool, string) {
		for _, n := range nodes[1:] {
			if !n.gotUser("u", payload) {
				return false, n.name + " has not got it"
			}
		}
		return true, ""
	})
	t.Logf("a %d-byte event reached both peers by gossip in %v", max, took)
	if took > 5*time.Second {
		t.Errorf("took %v: that is push/pull's pace, not gossip's", time.Since(start))
	}
	err := nodes[0].UserEvent("u", append(payload, 0))
	if !errors.Is(err, ErrEventTooLarge) {
		t.Errorf("one byte over the budget: %v, want ErrEventTooLarge", err)
	}
	leaveAll(t, nodes)
}

// TestPacketBoundIsExact checks the packet part of the budget to the byte,
// with serf's own limit raised out of the way: an event that encodes to
// exactly the packet budget is gossiped, one a byte larger never leaves the
// sender's queue.
func TestPacketBoundIsExact(t *testing.T) {
	raise := func(sc *serf.Config) {
		noPushPull(sc)
		sc.UserEventSizeLimit = serf.UserEventSizeLimit
	}
	nodes := memNodes(t, memnet.New(6), 3, func(c *Config) { c.tune = raise })
	joinAll(t, nodes)
	waitFor(t, "converge", func() (bool, string) { return seesAs(nodes, nodes, StatusAlive) })
	sender := nodes[0].serf
	if got, want := nodes[0].MaxEventPayload("u"), 1395-25-9-2-3; got != want {
		t.Errorf("MaxEventPayload with only the packet bound = %d, want %d", got, want)
	}

	// Size the payloads for the clock the next events will carry.
	ltime, _ := strconv.ParseUint(sender.Stats()["event_time"], 10, 64)
	budget := nodes[0].budget
	if budget != 1395 {
		t.Fatalf("packet budget %d, want 1395 for UDPBufferSize 1400", budget)
	}
	fits := budget - encodedSize(t, ltime, "u", 0) - 2 // payload header grows from 1 to 3 bytes
	if encodedSize(t, ltime, "u", fits) != budget || encodedSize(t, ltime+1, "u", fits+1) != budget+1 {
		t.Fatalf("payload sizing is off: %d -> %d", fits, encodedSize(t, ltime, "u", fits))
	}
	big := bytes.Repeat([]byte{1}, fits)
	tooBig := bytes.Repeat([]byte{2}, fits+1)
	if err := sender.UserEvent("u", big, false); err != nil {
		t.Fatal(err)
	}
	if err := sender.UserEvent("u", tooBig, false); err != nil {
		t.Fatal(err)
	}
	if err := sender.UserEvent("after", []byte("x"), false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "event of exactly the packet budget gossiped", func() (bool, string) {
		for _, n := range nodes[1:] {
			if !n.gotUser("u", big) || !n.gotUser("after", []byte("x")) {
				return false, n.name + " lacks an event"
			}
		}
		return true, ""
	})
	// The queue serves the largest message that fits first, so had the
	// oversized event fitted it would have gone out before "after" arrived.
	waitFor(t, "oversized event stuck in the queue", func() (bool, string) {
		q := sender.Stats()["event_queue"]
		return q == "1", "event_queue=" + q
	})
	for _, n := range nodes[1:] {
		if n.gotUser("u", tooBig) {
			t.Errorf("%s got the event a byte over the packet budget", n.name)
		}
	}
	leaveAll(t, nodes)
}
