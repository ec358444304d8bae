package gossip

import (
	"bytes"
	"strconv"

	"github.com/hashicorp/serf/serf"
)

// Event is what Events delivers: a MemberEvent or a UserEvent.
type Event interface{ isEvent() }

// MemberEventKind says what happened to the members of a MemberEvent.
type MemberEventKind int

// Member event kinds, as serf reports them.
const (
	MemberJoin   MemberEventKind = iota + 1 // joined, or came back after a failure
	MemberLeave                             // left gracefully
	MemberFailed                            // failure detected
	MemberUpdate                            // tags changed
	MemberReap                              // forgotten after ReconnectTimeout or TombstoneTimeout
)

func (k MemberEventKind) String() string {
	switch k {
	case MemberJoin:
		return "join"
	case MemberLeave:
		return "leave"
	case MemberFailed:
		return "failed"
	case MemberUpdate:
		return "update"
	case MemberReap:
		return "reap"
	}
	return "unknown(" + strconv.Itoa(int(k)) + ")"
}

// MemberEvent reports a membership change of one or more members.
type MemberEvent struct {
	Kind    MemberEventKind
	Members []Member
}

// UserEvent is a serf user event. Delivery is best effort and unordered, may
// repeat (after joins and heals serf replays its event ring), and includes this
// node's own events. LTime is serf's event clock: not an order between origins.
type UserEvent struct {
	Name    string
	Payload []byte // a copy, the receiver's to keep
	LTime   uint64
}

func (MemberEvent) isEvent() {}
func (UserEvent) isEvent()   {}

// convert turns a serf event into ours. Queries are dropped: distkv sends
// none, and serf answers its internal ones itself.
func convert(e serf.Event) (Event, bool) {
	switch e := e.(type) {
	case serf.MemberEvent:
		var kind MemberEventKind
		switch e.Type {
		case serf.EventMemberJoin:
			kind = MemberJoin
		case serf.EventMemberLeave:
			kind = MemberLeave
		case serf.EventMemberFailed:
			kind = MemberFailed
		case serf.EventMemberUpdate:
			kind = MemberUpdate
		case serf.EventMemberReap:
			kind = MemberReap
		default:
			return nil, false
		}
		ms := make([]Member, len(e.Members))
		for i, m := range e.Members {
			ms[i] = memberFromSerf(m)
		}
		return MemberEvent{Kind: kind, Members: ms}, true
	case serf.UserEvent:
		// Our own events carry the slice the caller passed to UserEvent.
		return UserEvent{Name: e.Name, Payload: bytes.Clone(e.Payload), LTime: uint64(e.LTime)}, true
	}
	return nil, false
}

// pump moves events from serf to the consumer through an unbounded queue, so
// that serf never blocks on a slow consumer: serf sends events synchronously,
// some while holding its member lock, and a blocked send stalls gossip,
// Members(), Leave and Shutdown (serf-memberlist-notes.md section 1.4). It
// runs until stop is closed, then closes out; queued events are dropped then.
func pump(in <-chan serf.Event, out chan<- Event, stop <-chan struct{}) {
	defer close(out)
	var queue []Event
	for {
		var send chan<- Event // nil (never ready) while the queue is empty
		var next Event
		if len(queue) > 0 {
			send, next = out, queue[0]
		}
		select {
		case e := <-in:
			if ev, ok := convert(e); ok {
				queue = append(queue, ev)
			}
		case send <- next:
			queue[0] = nil // let the event be collected
			queue = queue[1:]
		case <-stop:
			return
		}
	}
}
