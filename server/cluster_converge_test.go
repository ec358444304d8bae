package server_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server/servertest"
)

// loadSpec describes concurrent writers: Writers goroutines per node, each with its own client
// connection, making Writes writes over Paths shared paths (so nodes write the same paths at
// the same time: real conflicts). Every DeleteEvery-th op of a writer is a delete (0: none).
type loadSpec struct {
	Writers     int
	Writes      int
	Paths       int
	DeleteEvery int
	Prefix      string
	Pace        time.Duration // pause between a writer's writes
}

type loadResult struct {
	acked, deletes atomic.Int64
	errs           []error
	mu             sync.Mutex
	took           time.Duration
}

func (r *loadResult) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) < 20 {
		r.errs = append(r.errs, err)
	}
}

// startLoad starts the writers at the given nodes and returns a function that waits for them.
func startLoad(t *testing.T, c *servertest.Cluster, nodes []int, spec loadSpec) func() *loadResult {
	t.Helper()
	if spec.Prefix == "" {
		spec.Prefix = "load"
	}
	res := &loadResult{}
	var wg sync.WaitGroup
	start := time.Now()
	for _, i := range nodes {
		for w := 0; w < spec.Writers; w++ {
			cl, err := c.Dial(i)
			if err != nil {
				t.Fatalf("dial n%d: %v", i, err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(i), uint64(w)))
				for j := 0; j < spec.Writes; j++ {
					p := node.StringPath(spec.Prefix, fmt.Sprint(rng.IntN(spec.Paths)))
					if spec.DeleteEvery > 0 && j%spec.DeleteEvery == spec.DeleteEvery-1 {
						a, err := c.DeleteWith(cl, i, p)
						if err != nil {
							res.fail(fmt.Errorf("delete %s at n%d: %w", p, i, err))
							continue
						}
						if a.Tick > 0 {
							res.deletes.Add(1)
						}
						continue
					}
					if _, err := c.WriteWith(cl, i, p, fmt.Sprintf("n%d.w%d.%d", i, w, j)); err != nil {
						res.fail(fmt.Errorf("write %s at n%d: %w", p, i, err))
						continue
					}
					res.acked.Add(1)
					if spec.Pace > 0 {
						time.Sleep(spec.Pace)
					}
				}
			}()
		}
	}
	return func() *loadResult {
		wg.Wait()
		res.took = time.Since(start)
		return res
	}
}

// conflicts sums the concurrent writes every running node detected.
func conflicts(c *servertest.Cluster) uint64 {
	var n uint64
	for _, i := range c.Running() {
		c.Node(i).Node(func(nd *node.Node) { n += nd.Stats().Conflicts })
	}
	return n
}

func all(c *servertest.Cluster) []int { return c.Running() }

// checkCluster waits for convergence and compares everything.
func checkCluster(t *testing.T, c *servertest.Cluster, timeout time.Duration) {
	t.Helper()
	took := c.WaitConverged(timeout)
	entries := c.CheckIdentical()
	acks := c.CheckAcked()
	t.Logf("converged %v after the writers ended: %d nodes, %d entries, %d acknowledged writes checked, %d conflicts detected",
		took.Round(time.Millisecond), len(c.Running()), entries, acks, conflicts(c))
}

// startChaos cuts one node after the other off the network for hold, every every: its pushes
// to the others, and theirs to it, fail (dials fail, open data-plane streams are reset), and
// its gossip packets are dropped. It returns a function that stops, heals, and says how many
// cuts it made.
func startChaos(c *servertest.Cluster, every, hold time.Duration) func() int {
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		cuts := 0
		defer func() { c.Heal(); done <- cuts }()
		run := c.Running()
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			case <-time.After(every):
			}
			c.Partition([]int{run[k%len(run)]})
			cuts++
			select {
			case <-stop:
				return
			case <-time.After(hold):
			}
			c.Heal()
		}
	}()
	return func() int { close(stop); return <-done }
}

func TestClusterConcurrentWriters(t *testing.T) {
	cases := []struct {
		name  string
		n     int
		loss  float64
		flaky bool // cut nodes off briefly while the writers run
		spec  loadSpec
		short bool // run under -short too
	}{
		{"3nodes", 3, 0, false, loadSpec{Writers: 2, Writes: 300, Paths: 40, DeleteEvery: 10}, true},
		{"3nodes_loss30_flaky", 3, 0.3, true, loadSpec{Writers: 2, Writes: 300, Paths: 40, DeleteEvery: 10, Pace: 3 * time.Millisecond}, true},
		{"10nodes", 10, 0, false, loadSpec{Writers: 1, Writes: 100, Paths: 60, DeleteEvery: 10}, false},
		{"10nodes_loss30_flaky", 10, 0.3, true, loadSpec{Writers: 1, Writes: 100, Paths: 60, DeleteEvery: 10, Pace: 10 * time.Millisecond}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && !tc.short {
				t.Skip("heavy: skipped under -short")
			}
			c := servertest.New(t, servertest.Options{N: tc.n, Loss: tc.loss, Seed: int64(tc.n)})
			wait := startLoad(t, c, all(c), tc.spec)
			stopChaos := func() int { return 0 }
			if tc.flaky {
				stopChaos = startChaos(c, 150*time.Millisecond, 80*time.Millisecond)
			}
			res := wait()
			cuts := stopChaos()
			for _, err := range res.errs {
				t.Errorf("writer: %v", err)
			}
			t.Logf("%d writes acknowledged (%d deletes) in %v, %d brief partitions, loss %v",
				res.acked.Load(), res.deletes.Load(), res.took.Round(time.Millisecond), cuts, tc.loss)
			checkCluster(t, c, 60*time.Second)
		})
	}
}

// TestClusterWritersPartitionedNodes cuts nodes off long enough for the others to declare them
// failed (and stop pushing to them), while writers keep writing on both sides; with 10%
// gossip loss on top. After each heal serf merges the sides again, and gap pulls and the
// housekeeper must bring every node to the same tree.
func TestClusterWritersPartitionedNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: skipped under -short")
	}
	c := servertest.New(t, servertest.Options{N: 4, Loss: 0.1, Seed: 7})
	wait := startLoad(t, c, all(c), loadSpec{Writers: 1, Writes: 200, Paths: 30, DeleteEvery: 12, Pace: 15 * time.Millisecond})
	stopChaos := startChaos(c, 300*time.Millisecond, 1500*time.Millisecond)
	res := wait()
	cuts := stopChaos()
	for _, err := range res.errs {
		t.Errorf("writer: %v", err)
	}
	t.Logf("%d writes acknowledged (%d deletes) in %v, %d partitions of 1.5s", res.acked.Load(), res.deletes.Load(), res.took.Round(time.Millisecond), cuts)
	checkCluster(t, c, 60*time.Second)
}
