package server

import (
	"errors"
	"testing"

	"github.com/distkv/distkv/gossip/wire"
	"github.com/distkv/distkv/node"
)

func TestCheckPullReply(t *testing.T) {
	asked := node.NewRangeSet(node.Range{Start: 5, End: 10})
	up := func(origin string, tick uint64) *node.Update {
		return &node.Update{Origin: origin, Tick: tick, Tock: 1}
	}
	cases := []struct {
		name string
		r    wire.PullReply
		ok   bool
	}{
		{"as asked", wire.PullReply{Origin: "o", Updates: []*node.Update{up("o", 5), up("o", 9)}, Superseded: node.NewRangeSet(node.Range{Start: 6, End: 9})}, true},
		{"empty", wire.PullReply{Origin: "o"}, true},
		{"other origin", wire.PullReply{Origin: "p"}, false},
		{"update of another origin", wire.PullReply{Origin: "o", Updates: []*node.Update{up("p", 5)}}, false},
		{"tick not asked", wire.PullReply{Origin: "o", Updates: []*node.Update{up("o", 10)}}, false},
		{"superseded not asked", wire.PullReply{Origin: "o", Superseded: node.NewRangeSet(node.Range{Start: 9, End: 1 << 62})}, false},
	}
	for _, tc := range cases {
		err := checkPullReply(tc.r, "o", asked)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, node.ErrImplausible)) {
			t.Errorf("%s: err %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
