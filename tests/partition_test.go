package tests

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/node"
)

// TestPartitionRealProcesses runs five `distkv server` processes (--profile test), each in
// its own network namespace, splits them 3|2 by moving two nodes' links to another bridge,
// lets both sides write (10 000 updates each, 1 000 under -short; sets and deletes, to their
// own paths and to paths both sides write), heals, and waits until every node reports the
// same digest. Then every node's full tree must be identical, and every path must hold the
// acknowledged version with the highest (tock, origin) (nothing, if that is a delete). The
// time from the heal to identical digests is logged.
func TestPartitionRealProcesses(t *testing.T) {
	perSide := 10000
	if testing.Short() {
		perSide = 1000
	}
	const N = 5
	w := nsSetup(t, N)
	srv := make([]*nsServer, N)
	for i := range srv {
		srv[i] = w.start(i)
	}
	nsWaitMembers(t, srv, nil, 60*time.Second)
	t.Logf("%d servers up in namespaces, each sees every other alive and ready", N)

	a, b := []int{0, 1, 2}, []int{3, 4}
	w.partition(b...)
	took := nsWaitMembers(t, srv, [][]int{a, b}, 60*time.Second)
	t.Logf("split %v | %v: each side sees the other failed after %v", a, b, took.Round(time.Millisecond))

	acks := &nsAcks{}
	start := time.Now()
	var wg sync.WaitGroup
	for s, side := range [][]int{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nsLoad(t, srv, side, fmt.Sprintf("side%d", s), perSide, acks)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("both sides made %d writes each in %v (%d acknowledged versions in all: a delete of an absent path makes none)",
		perSide, time.Since(start).Round(time.Millisecond), len(acks.list))

	w.heal()
	digests, converged := nsWaitConverged(t, srv, 120*time.Second)
	t.Logf("heal with %d writes made on each side: every node reports the same digest %v after the heal, the same known ticks and nothing missing %v after",
		perSide, digests.Round(time.Millisecond), converged.Round(time.Millisecond))

	trees := make([]map[string]client.Entry, N)
	for i, s := range srv {
		trees[i] = nsTree(t, s)
	}
	for i := 1; i < N; i++ {
		nsCompareTrees(t, srv[0].name, trees[0], srv[i].name, trees[i])
	}
	nsCheckWinners(t, trees[0], acks)
	t.Logf("%d entries identical on all %d nodes; %d acknowledged writes checked", len(trees[0]), N, len(acks.list))
}

// nsMembers returns what a server reports about every member: name -> status, with
// " (not ready)" for alive members not ready.
func nsMembers(s *nsServer) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := s.cl.StateRaw(ctx)
	if err != nil {
		return nil, err
	}
	var st map[string]any
	if err := msgpack.Unmarshal(raw, &st); err != nil {
		return nil, err
	}
	out := map[string]string{}
	ms, _ := st["members"].([]any)
	for _, x := range ms {
		m, _ := x.(map[string]any)
		name, _ := m["name"].(string)
		status, _ := m["status"].(string)
		if status == "alive" && m["ready"] != true {
			status += " (not ready)"
		}
		out[name] = status
	}
	return out, nil
}

// nsWaitMembers waits until, for every group, its nodes see each other alive and ready and
// every node outside the group not alive. No groups: one group of all.
func nsWaitMembers(t *testing.T, srv []*nsServer, groups [][]int, timeout time.Duration) time.Duration {
	t.Helper()
	if groups == nil {
		var all []int
		for i := range srv {
			all = append(all, i)
		}
		groups = [][]int{all}
	}
	start := time.Now()
	for {
		why := ""
	check:
		for _, g := range groups {
			for _, i := range g {
				ms, err := nsMembers(srv[i])
				if err != nil {
					why = fmt.Sprintf("%s: %v", srv[i].name, err)
					break check
				}
				for j := range srv {
					in := slices.Contains(g, j)
					st := ms[srv[j].name]
					if in && st != "alive" {
						why = fmt.Sprintf("%s sees %s %q, want alive", srv[i].name, srv[j].name, st)
						break check
					}
					if !in && strings.HasPrefix(st, "alive") {
						why = fmt.Sprintf("%s still sees %s alive", srv[i].name, srv[j].name)
						break check
					}
				}
			}
		}
		if why == "" {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("membership not as expected within %v: %s", timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nsAck is one acknowledged write.
type nsAck struct {
	path    node.Path
	value   []byte
	deleted bool
	head    node.Link
	tock    uint64
}

type nsAcks struct {
	mu   sync.Mutex
	list []nsAck
}

func (a *nsAcks) add(x nsAck) {
	a.mu.Lock()
	a.list = append(a.list, x)
	a.mu.Unlock()
}

// nsLoad makes n writes spread over the nodes of one side, 8 connections per node: 70% to
// the side's own paths, 30% to paths both sides write; one in ten is a delete.
func nsLoad(t *testing.T, srv []*nsServer, side []int, name string, n int, acks *nsAcks) {
	const conns = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	per := n / (len(side) * conns)
	extra := n - per*len(side)*conns
	for k, i := range side {
		for c := 0; c < conns; c++ {
			count := per
			if k == 0 && c == 0 {
				count += extra
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				cl, err := client.Dial(ctx, srv[i].client)
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				defer cl.Close()
				rng := rand.New(rand.NewPCG(uint64(i), uint64(c)))
				for j := 0; j < count; j++ {
					p := node.StringPath(name, fmt.Sprint(rng.IntN(2000)))
					if rng.IntN(10) < 3 {
						p = node.StringPath("shared", fmt.Sprint(rng.IntN(500)))
					}
					raw, _ := client.Encode(fmt.Sprintf("%s.%s.%d.%d", name, srv[i].name, c, j))
					del := rng.IntN(10) == 0
					var r client.WriteResult
					var err error
					if del {
						r, err = cl.Delete(ctx, p)
						if err == nil && !r.Changed {
							continue // nothing to delete: no version made
						}
					} else {
						r, err = cl.Set(ctx, p, raw)
					}
					if err == nil && len(r.Chain) == 0 {
						err = fmt.Errorf("write acknowledged without a chain")
					}
					if err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = fmt.Errorf("set %s at %s: %w", p, srv[i].name, err)
						}
						mu.Unlock()
						return
					}
					if del {
						raw = nil
					}
					acks.add(nsAck{path: p, value: raw, deleted: del, head: r.Chain[0], tock: r.Tock})
				}
			}()
		}
	}
	wg.Wait()
	if firstErr != nil {
		t.Errorf("side %s: %v", name, firstErr)
	}
}

// nsWaitConverged polls every server until all report the same digest (returning how long
// that took), then until all report the same known ticks and miss nothing.
func nsWaitConverged(t *testing.T, srv []*nsServer, timeout time.Duration) (digests, converged time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		sts := make([]*client.State, len(srv))
		why := ""
		for i, s := range srv {
			st, err := s.state()
			if err != nil {
				why = fmt.Sprintf("%s: %v", s.name, err)
				break
			}
			sts[i] = st
		}
		if why == "" {
			same := true
			for _, st := range sts[1:] {
				if st.Digest != sts[0].Digest {
					same = false
					why = fmt.Sprintf("%s digest %x (%d entries), %s digest %x (%d entries)", sts[0].Node, sts[0].Digest, sts[0].Entries, st.Node, st.Digest, st.Entries)
				}
			}
			if same && digests == 0 {
				digests = time.Since(start)
			}
			if same {
				for _, st := range sts {
					if len(st.Missing) > 0 {
						why = fmt.Sprintf("%s misses %v", st.Node, st.Missing)
					}
					if !nsSameKnown(st.Known, sts[0].Known) {
						why = fmt.Sprintf("%s and %s know different ticks", st.Node, sts[0].Node)
					}
				}
				if why == "" {
					return digests, time.Since(start)
				}
			}
		}
		if time.Since(start) > timeout {
			t.Fatalf("no convergence within %v of the heal: %s", timeout, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func nsSameKnown(a, b map[string]node.RangeSet) bool {
	if len(a) != len(b) {
		return false
	}
	for o, rs := range a {
		if !rs.Equal(b[o]) {
			return false
		}
	}
	return true
}

// nsTree returns a server's whole tree (entries with a value), by path.
func nsTree(t *testing.T, s *nsServer) map[string]client.Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := map[string]client.Entry{}
	err := s.cl.Walk(ctx, node.Path{}, client.TreeOptions{NChain: -1}, func(e client.Entry) error {
		out[e.Path.Key()] = e
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", s.name, err)
	}
	return out
}

func nsCompareTrees(t *testing.T, na string, a map[string]client.Entry, nb string, b map[string]client.Entry) {
	t.Helper()
	bad := 0
	for k, ea := range a {
		eb, ok := b[k]
		switch {
		case !ok:
			bad++
			if bad <= 10 {
				t.Errorf("%s holds %s, %s does not", na, ea.Path, nb)
			}
		case !bytes.Equal(ea.Value, eb.Value) || ea.Tock != eb.Tock || !slices.Equal(ea.Chain, eb.Chain):
			bad++
			if bad <= 10 {
				t.Errorf("%s: %s has %x %v@%d, %s has %x %v@%d", ea.Path, na, ea.Value, ea.Chain, ea.Tock, nb, eb.Value, eb.Chain, eb.Tock)
			}
		}
	}
	for k, eb := range b {
		if _, ok := a[k]; !ok {
			bad++
			if bad <= 10 {
				t.Errorf("%s holds %s, %s does not", nb, eb.Path, na)
			}
		}
	}
	if bad > 10 {
		t.Errorf("%s and %s: %d differences in all", na, nb, bad)
	}
}

// nsCheckWinners checks that every path written holds the acknowledged version with the
// highest (tock, origin), or nothing if that is a delete, and nothing else is in the tree.
func nsCheckWinners(t *testing.T, tree map[string]client.Entry, acks *nsAcks) {
	t.Helper()
	win := map[string]nsAck{}
	for _, a := range acks.list {
		k := a.path.Key()
		w, ok := win[k]
		if !ok || a.tock > w.tock || (a.tock == w.tock && a.head.Origin > w.head.Origin) {
			win[k] = a
		}
	}
	bad, live := 0, 0
	for k, w := range win {
		e, ok := tree[k]
		why := ""
		switch {
		case w.deleted:
			if ok {
				why = fmt.Sprintf("deleted, but the path holds %v@%d", e.Chain, e.Tock)
			}
		case !ok:
			why = "the path holds nothing"
		case len(e.Chain) == 0 || e.Chain[0] != w.head || e.Tock != w.tock:
			why = fmt.Sprintf("the path holds %v@%d", e.Chain, e.Tock)
		case !bytes.Equal(e.Value, w.value):
			why = fmt.Sprintf("the value is %x", e.Value)
		}
		if !w.deleted {
			live++
		}
		if why != "" {
			if bad++; bad <= 10 {
				t.Errorf("%s: the winner is %v@%d (deleted %v): %s", w.path, w.head, w.tock, w.deleted, why)
			}
		}
	}
	if len(tree) != live {
		t.Errorf("the tree holds %d entries, %d paths were written and not deleted last", len(tree), live)
	}
	if bad > 10 {
		t.Errorf("%d wrong winners in all", bad)
	}
}
