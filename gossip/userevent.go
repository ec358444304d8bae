package gossip

import (
	"errors"
	"fmt"
	"math"

	"github.com/hashicorp/serf/serf"
)

// ErrEventTooLarge is returned by UserEvent for a name and payload that would
// not fit one gossip packet.
var ErrEventTooLarge = errors.New("gossip: user event too large")

// How serf encodes a user event, which is what the limits count: one message
// type byte, then serf's messageUserEvent{LTime, Name, Payload, CC} as a
// msgpack map with its field names as keys, by go-msgpack's default handle
// (old-spec raw strings: a 1-byte header up to 31 bytes, 3 bytes up to
// 65535). See serf/messages.go (encodeMessage) and serf.go (UserEvent).
const (
	// type byte 1 + fixmap header 1 + keys "LTime" 6, "Name" 5, "Payload" 8,
	// "CC" 3 + the CC bool 1.
	eventFixedBytes = 25
	// LTime is a uint64 taking 1 to 9 bytes as the clock grows. We count the
	// largest, so a payload that fits now still fits when the clock is huge.
	eventLTimeBytes = 9
)

// Memberlist's framing of a packet, which the event must fit beside
// (memberlist state.go gossip, broadcast.go getBroadcasts).
const (
	compoundHeaderOverhead = 2  // a compound message's type and count
	compoundOverhead       = 2  // each part's length inside a compound message
	userMsgOverhead        = 1  // the user-message type byte serf's payload rides in
	maxEncryptOverhead     = 45 // encryption version 0; version 1 needs 29
	labelHeaderOverhead    = 2  // a label's type and length bytes
)

// packetBudget is the largest encoded serf message that gossip sends: a larger
// one stays queued and reaches others only by push/pull.
func packetBudget(sc *serf.Config) int {
	ml := sc.MemberlistConfig
	b := ml.UDPBufferSize - compoundHeaderOverhead - compoundOverhead - userMsgOverhead
	if ml.Label != "" {
		b -= labelHeaderOverhead + len(ml.Label)
	}
	if ml.Keyring != nil || len(ml.SecretKey) > 0 {
		b -= maxEncryptOverhead
	}
	return b
}

// eventBudget is how many encoded bytes one user event may take: serf's own
// limit, or what fits a packet if that is smaller.
func eventBudget(sc *serf.Config) int {
	return min(sc.UserEventSizeLimit, packetBudget(sc))
}

// rawHeader is the size of the msgpack header of an n-byte raw string.
func rawHeader(n int) int {
	switch {
	case n < 32:
		return 1
	case n < 1<<16:
		return 3
	}
	return 5
}

// maxPayload is the largest payload that, with name, encodes to at most budget
// bytes; negative if even an empty payload does not fit.
func maxPayload(budget int, name string) int {
	rest := budget - eventFixedBytes - eventLTimeBytes - rawHeader(len(name)) - len(name)
	best := -1
	// Try each msgpack header size for the payload; the payload length must
	// be in that header's range.
	for _, r := range []struct{ hdr, lo, hi int }{{1, 0, 31}, {3, 32, 1<<16 - 1}, {5, 1 << 16, math.MaxInt}} {
		if p := min(rest-r.hdr, r.hi); p >= r.lo {
			best = max(best, p)
		}
	}
	return best
}

// MaxEventPayload returns the largest payload a user event with this name may
// carry and still travel by gossip: the encoded event must fit both serf's
// UserEventSizeLimit (1300) and one packet (1395 encoded bytes). With the
// default limits that is 1262 - len(name) for names under 32 bytes (1261 for
// "u"). The result is negative if the name alone is too long.
func (g *Gossip) MaxEventPayload(name string) int {
	return maxPayload(g.budget, name)
}

// UserEvent broadcasts a user event to the cluster, this node included. It
// returns once the event is queued; delivery is best effort (see UserEvent the
// type). Events are never coalesced: serf's coalescing keeps only the latest
// event per name. An event larger than MaxEventPayload fails with
// ErrEventTooLarge.
func (g *Gossip) UserEvent(name string, payload []byte) error {
	if g.closed.Load() {
		return ErrClosed
	}
	if limit := g.MaxEventPayload(name); len(payload) > limit {
		return fmt.Errorf("%w: name %d + payload %d bytes, the budget for this name is %d", ErrEventTooLarge, len(name), len(payload), limit)
	}
	if err := g.serf.UserEvent(name, payload, false); err != nil {
		return fmt.Errorf("gossip: user event: %w", err)
	}
	return nil
}
