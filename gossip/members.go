package gossip

import (
	"maps"
	"net"
	"strconv"

	"github.com/hashicorp/serf/serf"
)

// MemberStatus is what this node believes about a member. The zero value means
// unknown and does not occur in members returned by this package.
type MemberStatus int

// Member statuses, as serf reports them.
const (
	StatusAlive   MemberStatus = iota + 1 // reachable, or not yet found failed
	StatusLeaving                         // announced a graceful leave
	StatusLeft                            // left gracefully; reaped later
	StatusFailed                          // failure detected; reconnects are tried until reaped
)

func (s MemberStatus) String() string {
	switch s {
	case StatusAlive:
		return "alive"
	case StatusLeaving:
		return "leaving"
	case StatusLeft:
		return "left"
	case StatusFailed:
		return "failed"
	}
	return "unknown(" + strconv.Itoa(int(s)) + ")"
}

// Member is one node of the cluster as this node sees it.
type Member struct {
	Name   string
	Addr   string // "ip:port" of its gossip endpoint
	Status MemberStatus
	Tags   map[string]string // a copy, the caller's to keep
}

func memberFromSerf(m serf.Member) Member {
	var st MemberStatus
	switch m.Status {
	case serf.StatusAlive:
		st = StatusAlive
	case serf.StatusLeaving:
		st = StatusLeaving
	case serf.StatusLeft:
		st = StatusLeft
	case serf.StatusFailed:
		st = StatusFailed
	}
	return Member{
		Name:   m.Name,
		Addr:   net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))),
		Status: st,
		Tags:   maps.Clone(m.Tags), // serf shares its map with later updates
	}
}
