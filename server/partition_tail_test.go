package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server/servertest"
)

// TestPartitionTailLoss: an origin's last update reaches only itself (it is cut off from
// everyone right before writing it; the value is too big for a serf event, so only its head
// would travel by gossip, and that is lost too), and then the origin goes idle. Once the
// network heals, every node must get the update without any further write: by the idle head
// re-announcement when the partition was shorter than the idle delay, else by the
// housekeeper's repair (with the production round interval, 2 s).
func TestPartitionTailLoss(t *testing.T) {
	cases := []struct {
		name   string
		origin int
		hold   time.Duration
	}{
		// Healed before the origin's idle re-announcement (1 s after its last write), and
		// before anyone declares it failed.
		{"short_nonhousekeeper", 2, 300 * time.Millisecond},
		// Healed long after the re-announcement was lost and the origin was declared failed;
		// the origin is the housekeeper (n0) on both sides of the split.
		{"long_housekeeper", 0, 4 * time.Second},
		{"long_nonhousekeeper", 2, 4 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := servertest.New(t, servertest.Options{N: 3, Seed: 51, HousekeepInterval: 2 * time.Second})
			o := tc.origin
			origin := c.Origin(o)
			c.MustWrite(o, node.StringPath("tail", "0"), "warm up the push streams")
			c.WaitConverged(20 * time.Second)

			c.Partition([]int{o})
			a := c.MustWrite(o, node.StringPath("tail", "1"), strings.Repeat("t", 4000))
			time.Sleep(tc.hold)
			var others []int
			for _, j := range c.Running() {
				if j != o {
					others = append(others, j)
					if knows(c, j, origin, a.Tick) {
						t.Fatalf("n%d got %s/%d across the partition", j, origin, a.Tick)
					}
				}
			}
			c.Heal()
			start := time.Now()
			for _, j := range others {
				waitKnows(t, c, j, origin, a.Tick, 20*time.Second)
			}
			t.Logf("every node got the lost tail %s/%d %v after the heal (partition held %v)",
				origin, a.Tick, time.Since(start).Round(time.Millisecond), tc.hold)
			c.WaitConverged(20 * time.Second)
			c.CheckIdentical()
			c.CheckAcked()
		})
	}
}
