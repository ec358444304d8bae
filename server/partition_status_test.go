package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server/servertest"
)

// partStatus is what `distkv client status` shows of a node's cluster view, read through the
// Go client (State for the typed fields, StateRaw for the members list).
type partStatus struct {
	st           *client.State
	members      map[string]partMember
	hasConverged bool
}

func partGetStatus(c *servertest.Cluster, i int) (partStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.Client(i).State(ctx)
	if err != nil {
		return partStatus{}, err
	}
	raw, err := c.State(i) // StateRaw, decoded
	if err != nil {
		return partStatus{}, err
	}
	ms, err := partMembersOf(raw)
	if err != nil {
		return partStatus{}, err
	}
	_, has := raw["converged"]
	return partStatus{st: st, members: ms, hasConverged: has}, nil
}

// partWaitStatus polls node i's status until check returns "" or timeout passes.
func partWaitStatus(t *testing.T, c *servertest.Cluster, i int, timeout time.Duration, check func(partStatus) string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s, err := partGetStatus(c, i)
		why := ""
		if err != nil {
			why = err.Error()
		} else {
			why = check(s)
		}
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("n%d's status: %s", i, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPartitionClusterStatus checks the cluster part of the get_state reply (what `distkv
// client status` shows) through the Go client: the members with status, ready and origin, the
// housekeeper, converged (reported by the housekeeper, which alone compares every member) and
// the purge watermark; and how they change when a node is cut off and when it is back.
func TestPartitionClusterStatus(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 3, Seed: 71})
	var last [3]servertest.Ack
	for i := 0; i < 3; i++ {
		for k := 0; k < 5; k++ {
			last[i] = c.MustWrite(i, node.StringPath("st", fmt.Sprint(i), fmt.Sprint(k)), k)
		}
	}
	c.WaitConverged(20 * time.Second)
	origins := map[string]string{}
	for i := 0; i < 3; i++ {
		origins[c.Name(i)] = c.Origin(i)
	}

	// Whole network.
	for i := 0; i < 3; i++ {
		partWaitStatus(t, c, i, 20*time.Second, func(s partStatus) string {
			if s.st.Housekeeper != "n0" {
				return fmt.Sprintf("housekeeper %q, want n0", s.st.Housekeeper)
			}
			if len(s.members) != 3 {
				return fmt.Sprintf("%d members, want 3: %v", len(s.members), s.members)
			}
			for name, o := range origins {
				m := s.members[name]
				if m.Status != "alive" || !m.Ready || m.Origin != o {
					return fmt.Sprintf("member %s is %+v, want alive, ready, origin %s", name, m, o)
				}
			}
			// Everything written is known everywhere: the watermark covers it.
			for j := 0; j < 3; j++ {
				if s.st.Purge[last[j].Origin] < last[j].Tick {
					return fmt.Sprintf("purge %v does not cover %s", s.st.Purge, last[j])
				}
			}
			if i == 0 && (!s.hasConverged || !s.st.Converged) {
				return "the housekeeper does not report converged"
			}
			if i != 0 && s.hasConverged {
				return "a node that is not the housekeeper reports converged"
			}
			return ""
		})
	}

	// n2 cut off: each side names its own housekeeper and sees the other side failed.
	c.Partition([]int{2})
	for _, i := range []int{0, 1} {
		partWaitStatus(t, c, i, 30*time.Second, func(s partStatus) string {
			if s.members["n2"].Status != "failed" {
				return fmt.Sprintf("n2 is %q, want failed", s.members["n2"].Status)
			}
			if s.st.Housekeeper != "n0" {
				return fmt.Sprintf("housekeeper %q, want n0", s.st.Housekeeper)
			}
			return ""
		})
	}
	partWaitStatus(t, c, 2, 30*time.Second, func(s partStatus) string {
		for _, n := range []string{"n0", "n1"} {
			if s.members[n].Status != "failed" {
				return fmt.Sprintf("%s is %q, want failed", n, s.members[n].Status)
			}
		}
		if s.st.Housekeeper != "n2" {
			return fmt.Sprintf("housekeeper %q, want n2 (alone on its side)", s.st.Housekeeper)
		}
		if !s.hasConverged {
			return "n2, housekeeper of its own side, does not report converged at all"
		}
		return ""
	})
	a := c.MustWrite(0, node.StringPath("st", "during"), "split")
	// Whether a side reports itself converged, and purges, while members are missing is the
	// housekeeper's policy (docs/housekeeping.md): logged, not checked.
	time.Sleep(time.Second)
	for _, i := range []int{0, 2} {
		if s, err := partGetStatus(c, i); err == nil {
			t.Logf("during the split n%d (housekeeper of its side) reports converged=%v, purge %v", i, s.st.Converged, s.st.Purge)
		}
	}

	// Healed: one network again, one housekeeper, converged.
	c.Heal()
	c.WaitMembers(30 * time.Second)
	c.WaitConverged(20 * time.Second)
	for i := 0; i < 3; i++ {
		partWaitStatus(t, c, i, 20*time.Second, func(s partStatus) string {
			if s.st.Housekeeper != "n0" {
				return fmt.Sprintf("housekeeper %q after the heal, want n0", s.st.Housekeeper)
			}
			for name := range origins {
				if m := s.members[name]; m.Status != "alive" || !m.Ready {
					return fmt.Sprintf("member %s is %+v after the heal", name, m)
				}
			}
			if i == 0 && !s.st.Converged {
				return "the housekeeper does not report converged after the heal"
			}
			if s.st.Purge[a.Origin] < a.Tick {
				return fmt.Sprintf("purge %v does not cover %s after the heal", s.st.Purge, a)
			}
			return ""
		})
	}
	c.CheckIdentical()
	c.CheckAcked()
}
