package server_test

// Helpers of the partition tests (partition_*_test.go): workloads that write on both sides of
// a split, waits on what the nodes' get_state replies say, and checks that go beyond
// servertest's (the winner of every path written on both sides, ticks never reused).

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server/servertest"
)

// partMember is one entry of a get_state reply's members list.
type partMember struct {
	Name, Status, Origin string
	Ready                bool
}

func partMembersOf(st map[string]any) (map[string]partMember, error) {
	raw, ok := st["members"].([]any)
	if !ok {
		return nil, fmt.Errorf("get_state reply without a members list: %v", st["members"])
	}
	out := map[string]partMember{}
	for _, x := range raw {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("member %v is not a map", x)
		}
		pm := partMember{}
		pm.Name, _ = m["name"].(string)
		pm.Status, _ = m["status"].(string)
		pm.Origin, _ = m["origin"].(string)
		pm.Ready, _ = m["ready"].(bool)
		out[pm.Name] = pm
	}
	return out, nil
}

// partWaitSplit waits until every node of every group sees every node outside its group as
// not alive, and names the first node of its own group as the housekeeper: each side then
// runs on its own, with its own housekeeper.
func partWaitSplit(t *testing.T, c *servertest.Cluster, groups [][]int, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		why := partSplitWhy(c, groups)
		if why == "" {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("the sides do not see each other as gone within %v: %s", timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func partSplitWhy(c *servertest.Cluster, groups [][]int) string {
	for _, g := range groups {
		in := map[int]bool{}
		for _, i := range g {
			in[i] = true
		}
		hk := c.Name(slices.Min(g))
		for _, i := range g {
			st, err := c.State(i)
			if err != nil {
				return fmt.Sprintf("n%d: get_state: %v", i, err)
			}
			if st["housekeeper"] != hk {
				return fmt.Sprintf("n%d names housekeeper %v, want %s", i, st["housekeeper"], hk)
			}
			ms, err := partMembersOf(st)
			if err != nil {
				return err.Error()
			}
			for _, j := range c.Running() {
				if !in[j] && ms[c.Name(j)].Status == "alive" {
					return fmt.Sprintf("n%d still sees n%d alive", i, j)
				}
			}
		}
	}
	return ""
}

// partSide is one side's workload. Every writer of every node of the side makes Writes
// operations on its own connection: sets of this side's own paths (<Name>/<k>) and of the
// paths both sides write (shared/<k>), and every DeleteEvery-th operation a delete, in turn:
// of a path written before the split (old/<k> with k%2 == OldParity, any k if OldParity < 0;
// present on both sides),
// of a shared path (if DeleteShared, else an own path), of an own path.
type partSide struct {
	Name         string
	Nodes        []int
	Writers      int
	Writes       int
	Private      int // own paths: <Name>/<k>
	Shared       int // shared/<k>
	Old          int // old/<k> written before the split (0: no deletes of them)
	OldParity    int
	DeleteShared bool
	DeleteEvery  int
	Pace         time.Duration
}

// partCount is what one side's writers achieved.
type partCount struct {
	sets, deletes atomic.Int64
	mu            sync.Mutex
	errs          []error
}

func (p *partCount) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errs) < 10 {
		p.errs = append(p.errs, err)
	}
}

// total is the number of versions the side made (sets and deletes that changed something).
func (p *partCount) total() int64 { return p.sets.Load() + p.deletes.Load() }

// partRun runs every side's writers at once and waits for them.
func partRun(t *testing.T, c *servertest.Cluster, sides ...partSide) []*partCount {
	t.Helper()
	counts := make([]*partCount, len(sides))
	var wg sync.WaitGroup
	for s, side := range sides {
		counts[s] = &partCount{}
		cnt := counts[s]
		for _, i := range side.Nodes {
			for w := 0; w < side.Writers; w++ {
				cl, err := c.Dial(i)
				if err != nil {
					t.Fatalf("dial n%d: %v", i, err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(i)*1000+uint64(w), uint64(s)))
					for j := 0; j < side.Writes; j++ {
						if side.DeleteEvery > 0 && j%side.DeleteEvery == side.DeleteEvery-1 {
							var p node.Path
							switch k := j / side.DeleteEvery; {
							case k%3 == 0 && side.Old > 1 && side.OldParity < 0:
								p = node.StringPath("old", fmt.Sprint(rng.IntN(side.Old)))
							case k%3 == 0 && side.Old > 1:
								p = node.StringPath("old", fmt.Sprint(rng.IntN(side.Old/2)*2+side.OldParity))
							case k%3 == 1 && side.Shared > 0 && side.DeleteShared:
								p = node.StringPath("shared", fmt.Sprint(rng.IntN(side.Shared)))
							default:
								p = node.StringPath(side.Name, fmt.Sprint(rng.IntN(side.Private)))
							}
							a, err := c.DeleteWith(cl, i, p)
							if err != nil {
								cnt.fail(fmt.Errorf("delete %s at n%d: %w", p, i, err))
								continue
							}
							if a.Tick > 0 {
								cnt.deletes.Add(1)
							}
							continue
						}
						p := node.StringPath(side.Name, fmt.Sprint(rng.IntN(side.Private)))
						if side.Shared > 0 && rng.IntN(5) < 2 {
							p = node.StringPath("shared", fmt.Sprint(rng.IntN(side.Shared)))
						}
						if _, err := c.WriteWith(cl, i, p, fmt.Sprintf("%s.n%d.w%d.%d", side.Name, i, w, j)); err != nil {
							cnt.fail(fmt.Errorf("write %s at n%d: %w", p, i, err))
							continue
						}
						cnt.sets.Add(1)
						if side.Pace > 0 {
							time.Sleep(side.Pace)
						}
					}
				}()
			}
		}
	}
	wg.Wait()
	for s, cnt := range counts {
		for _, err := range cnt.errs {
			t.Errorf("side %s: %v", sides[s].Name, err)
		}
	}
	return counts
}

// partSeedOld writes old/0..n-1 at node i and waits until every node holds them.
func partSeedOld(t *testing.T, c *servertest.Cluster, i, n int) {
	t.Helper()
	for k := 0; k < n; k++ {
		c.MustWrite(i, node.StringPath("old", fmt.Sprint(k)), fmt.Sprintf("old.%d", k))
	}
	c.WaitConverged(30 * time.Second)
}

// partNodeInfo is what a node holds about purging, for the logs and the diagnosis of a lost
// delete.
type partNodeInfo struct {
	purge  map[string]uint64
	contig map[string]uint64 // per origin, the ticks known without a gap
	purged uint64
	tombs  int
}

func partInfo(c *servertest.Cluster, i int) partNodeInfo {
	var in partNodeInfo
	c.Node(i).Node(func(n *node.Node) {
		in.purge = n.PurgeWatermark()
		in.contig = map[string]uint64{}
		for o, rs := range n.Known() {
			in.contig[o] = rs.Contig()
		}
		in.purged = n.Stats().Purged
		n.Walk(node.Path{}, node.WalkOptions{MaxDepth: -1, Empty: true}, func(e node.Entry) bool {
			if e.Deleted {
				in.tombs++
			}
			return true
		})
	})
	return in
}

func (in partNodeInfo) String() string {
	return fmt.Sprintf("purged %d tombstones (%d left), watermark %s", in.purged, in.tombs, partFmtTicks(in.purge))
}

func partFmtTicks(m map[string]uint64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for k, o := range keys {
		if k > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %d", o, m[o])
	}
	b.WriteByte('}')
	return b.String()
}

// partWaitWatermark waits (up to timeout) until every node of nodes has a purge watermark
// that covers every tick of the nodes' own origins (their side's housekeeper purged all it
// could), and reports whether it happened. Once it has, with no more writes, the side's
// watermark stays where it is until the heal.
func partWaitWatermark(c *servertest.Cluster, nodes []int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		ok := true
		for _, i := range nodes {
			in := partInfo(c, i)
			for _, j := range nodes {
				var o string
				var tick uint64
				c.Node(j).Node(func(n *node.Node) { o, tick = n.Origin(), n.Tick() })
				if in.purge[o] < tick {
					ok = false
				}
			}
		}
		if ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// partDigestsEqual reports whether every running node holds the same root digest.
func partDigestsEqual(c *servertest.Cluster) bool {
	var first [2]uint64
	for k, i := range c.Running() {
		var d [2]uint64
		c.Node(i).Node(func(n *node.Node) { d = n.Digest(nil) })
		if k == 0 {
			first = d
		} else if d != first {
			return false
		}
	}
	return true
}

// partHeal heals the network and waits until every node holds the same digest, then until
// the cluster converged (same known ticks, nothing missing). It reports a failure to converge
// as an error, not fatally, so that the checks that follow can say what differs. It returns
// the time from the heal to identical digests and to convergence.
func partHeal(t *testing.T, c *servertest.Cluster, timeout time.Duration) (digests, converged time.Duration, ok bool) {
	t.Helper()
	start := time.Now()
	c.Heal()
	deadline := start.Add(timeout)
	for digests == 0 || converged == 0 {
		if digests == 0 && partDigestsEqual(c) {
			digests = time.Since(start)
		}
		if ok, _ := c.Converged(); ok {
			converged = time.Since(start)
			if digests == 0 {
				digests = converged
			}
		}
		if time.Now().After(deadline) {
			_, why := c.Converged()
			t.Errorf("no convergence within %v of the heal: %s", timeout, why)
			return digests, converged, false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return digests, converged, true
}

// cmpAck orders versions by (tock, origin): the conflict rule.
func cmpAck(a, b servertest.Ack) int {
	if a.Tock != b.Tock {
		if a.Tock < b.Tock {
			return -1
		}
		return 1
	}
	return strings.Compare(a.Origin, b.Origin)
}

// partCheckWinners checks, for every path, that every running node holds the acknowledged
// version with the highest (tock, origin) (for a delete: its tombstone, or nothing once
// purged). It assumes every version was acknowledged and recorded (the writers report any
// failed write). sideOf maps a node to its side of the split, pre is every node's state just
// before the heal: a wrong winner is classified (see the causes below). It returns how many
// paths it checked and how many of them were written on more than one side.
func partCheckWinners(t *testing.T, c *servertest.Cluster, sideOf func(node int) int, pre map[int]partNodeInfo) (paths, overlapping int) {
	t.Helper()
	byPath := map[string][]servertest.Ack{}
	for _, a := range c.Acks() {
		byPath[a.Path.Key()] = append(byPath[a.Path.Key()], a)
	}
	keys := slices.Sorted(maps.Keys(byPath))
	run := c.Running()
	classes := map[string]int{}
	for _, k := range keys {
		as := byPath[k]
		sides := map[int]bool{}
		for _, a := range as {
			sides[sideOf(a.Node)] = true
		}
		paths++
		if len(sides) > 1 {
			overlapping++
		}
		w := slices.MaxFunc(as, cmpAck)
		held := map[string][]int{} // what the nodes hold -> which nodes
		var wrongAt []int
		var wrong node.Entry
		var found bool
		for _, i := range run {
			var e node.Entry
			var ok bool
			c.Node(i).Node(func(n *node.Node) { e, ok = n.Lookup(w.Path) })
			if !ok || !e.HasData {
				held["nothing"] = append(held["nothing"], i)
			} else {
				d := fmt.Sprintf("%s/%d@%d deleted=%v", e.Origin, e.Tick, e.Tock, e.Deleted)
				held[d] = append(held[d], i)
			}
			if partHoldsWinner(w, e, ok) {
				continue
			}
			if wrongAt == nil {
				wrong, found = e, ok
			}
			wrongAt = append(wrongAt, i)
		}
		if len(wrongAt) == 0 {
			continue
		}
		class := partDiverged
		if len(held) == 1 {
			class = partWhyLost(c, w, wrong, found, sideOf, pre)
		}
		if classes[class] < 3 {
			report := t.Errorf
			if class == partLostOlderTomb {
				report = t.Logf
			}
			var hs []string
			for _, d := range slices.Sorted(maps.Keys(held)) {
				hs = append(hs, fmt.Sprintf("%v hold %s", held[d], d))
			}
			report("%s (written on %d sides): the winner is %s/%d@%d (%s at n%d), but nodes %s\n    [%s]\n    acknowledged versions, oldest first: %s",
				w.Path, len(sides), w.Origin, w.Tick, w.Tock, map[bool]string{true: "delete", false: "set"}[w.Deleted], w.Node,
				strings.Join(hs, ", "), class, partVersions(as))
		}
		classes[class]++
	}
	if len(classes) > 0 {
		t.Logf("paths whose winner is wrong, by cause:")
		for _, cl := range slices.Sorted(maps.Keys(classes)) {
			t.Logf("  %4d  %s", classes[cl], cl)
		}
	}
	return paths, overlapping
}

// partHoldsWinner reports whether a node holding e (ok: anything at all) holds w.
func partHoldsWinner(w servertest.Ack, e node.Entry, ok bool) bool {
	if !ok || !e.HasData {
		return w.Deleted // a purged tombstone
	}
	return e.Origin == w.Origin && e.Tick == w.Tick && e.Tock == w.Tock && e.Deleted == w.Deleted &&
		(w.Deleted || string(e.Value) == string(w.Value))
}

// partVersions lists the acknowledged versions of one path, oldest first.
func partVersions(as []servertest.Ack) string {
	as = slices.Clone(as)
	slices.SortFunc(as, cmpAck)
	var b strings.Builder
	for k, a := range as {
		if k > 0 {
			b.WriteString(", ")
		}
		what := "set"
		if a.Deleted {
			what = "del"
		}
		fmt.Fprintf(&b, "%s@n%d %s/%d@%d", what, a.Node, a.Origin, a.Tick, a.Tock)
	}
	return b.String()
}

// Causes of a wrong winner.
const (
	partDiverged        = "(d) the nodes disagree: some took the winning delete's tick as known without its tombstone (purged where they pulled it) and kept an older version"
	partLostResurrected = "(a) the winning delete's tombstone was purged on its own side during the split; an older version (from the other side's copy, or replayed by serf at the merge) came back everywhere"
	partLostOlderWrite  = "(b) the winning delete, made on the side of the merged network's housekeeper, was purged there during the split; an older write made on the other side during the split survives (the consequence docs/housekeeping.md accepts)"
	partLostOlderTomb   = "(e) deleted as it should be, but under an older tombstone than the winning delete's (purged): readers see no difference"
	partLostOther       = "(c) other"
)

// partWhyLost classifies why every node holds e (found: anything at all) instead of the
// winner w.
func partWhyLost(c *servertest.Cluster, w servertest.Ack, e node.Entry, found bool, sideOf func(int) int, pre map[int]partNodeInfo) string {
	if !w.Deleted || !found || !e.HasData || pre == nil {
		return partLostOther
	}
	if e.Deleted {
		return partLostOlderTomb
	}
	purged := false
	var contig uint64 // how far w's side knew e's origin before the heal
	for _, i := range c.Running() {
		if sideOf(i) != sideOf(w.Node) {
			continue
		}
		if pre[i].purge[w.Origin] >= w.Tick {
			purged = true
		}
		contig = max(contig, pre[i].contig[e.Origin])
	}
	if !purged {
		return partLostOther
	}
	other := -1
	for _, i := range c.Running() {
		if c.Origin(i) == e.Origin {
			other = sideOf(i)
		}
	}
	// The documented consequence is about the side that resynchronises at the heal (the
	// side without the merged network's housekeeper, the lowest name): its writes survive
	// deletes the other side purged meanwhile.
	lead := sideOf(slices.Min(c.Running()))
	if sideOf(w.Node) == lead && other >= 0 && other != lead && e.Tick > contig {
		return partLostOlderWrite
	}
	return partLostResurrected
}

// partCheckTicks checks that no (origin, tick) was acknowledged for two different writes (a
// reused tick), and that every running node knows exactly ticks 1..highest of every origin.
func partCheckTicks(t *testing.T, c *servertest.Cluster) {
	t.Helper()
	type ot struct {
		o string
		t uint64
	}
	seen := map[ot]servertest.Ack{}
	reused := 0
	for _, a := range c.Acks() {
		k := ot{a.Origin, a.Tick}
		if b, ok := seen[k]; ok {
			reused++
			if reused <= 10 {
				t.Errorf("tick reused: %s and %s were both acknowledged as %s/%d", b, a, a.Origin, a.Tick)
			}
			continue
		}
		seen[k] = a
	}
	if reused > 10 {
		t.Errorf("... %d ticks reused in all", reused)
	}
	for _, i := range c.Running() {
		c.Node(i).Node(func(n *node.Node) {
			h := n.Highest()
			for o, rs := range n.Known() {
				if !rs.Equal(node.Upto(h[o])) {
					t.Errorf("n%d knows %s of %s, highest %d: not 1..highest", i, rs, o, h[o])
				}
			}
		})
	}
}

// partLogInfo logs every running node's purge state.
func partLogInfo(t *testing.T, c *servertest.Cluster, when string) map[int]partNodeInfo {
	t.Helper()
	out := map[int]partNodeInfo{}
	for _, i := range c.Running() {
		out[i] = partInfo(c, i)
		t.Logf("%s: n%d (%s): %s", when, i, c.Origin(i), out[i])
	}
	return out
}
