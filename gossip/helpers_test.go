package gossip

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/gossip/memnet"
	"go.uber.org/goleak"
)

// waitLong bounds every "eventually" in these tests. It is generous because a
// loaded 2-core CI machine running -race can be many times slower than a
// laptop; the tests log how long things actually took.
const waitLong = 30 * time.Second

// testLogger sends serf's and memberlist's lines from level up to t.Log (all
// of them with GOSSIP_TEST_DEBUG=1), and nothing once the test is over: t.Log
// panics after the test has completed.
func testLogger(t *testing.T, level slog.Level) *slog.Logger {
	if os.Getenv("GOSSIP_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// waitFor polls cond until it holds or waitLong passes, and returns how long
// it took. cond describes the state when it does not hold.
func waitFor(t *testing.T, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, state := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > waitLong {
			t.Fatalf("%s: not reached after %v: %s", what, waitLong, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// node is a Gossip under test plus a goroutine recording its events.
type node struct {
	*Gossip
	name string

	mu     sync.Mutex
	user   []UserEvent
	member []MemberEvent
	done   chan struct{} // closed when Events is closed
}

// startNode starts a node and, unless drain is false, a consumer of its events.
func startNode(t *testing.T, cfg Config, drain bool) *node {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t, slog.LevelWarn)
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.Name, err)
	}
	n := &node{Gossip: g, name: cfg.Name, done: make(chan struct{})}
	t.Cleanup(func() { _ = g.Shutdown() })
	if drain {
		go n.record()
	}
	return n
}

func (n *node) record() {
	defer close(n.done)
	for ev := range n.Events() {
		n.mu.Lock()
		switch ev := ev.(type) {
		case UserEvent:
			n.user = append(n.user, ev)
		case MemberEvent:
			n.member = append(n.member, ev)
		}
		n.mu.Unlock()
	}
}

// gotUser reports whether the node received a user event with this name and
// payload.
func (n *node) gotUser(name string, payload []byte) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, e := range n.user {
		if e.Name == name && string(e.Payload) == string(payload) {
			return true
		}
	}
	return false
}

// memNodes starts count nodes n1..n<count> on net at 10.0.0.<i>:7946 with
// the test profile.
func memNodes(t *testing.T, net *memnet.Network, count int, tune func(*Config)) []*node {
	t.Helper()
	var nodes []*node
	for i := 1; i <= count; i++ {
		tr, err := net.Transport(fmt.Sprintf("10.0.0.%d:7946", i))
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{Name: fmt.Sprintf("n%d", i), Transport: tr, Profile: ProfileTest}
		if tune != nil {
			tune(&cfg)
		}
		nodes = append(nodes, startNode(t, cfg, true))
	}
	return nodes
}

// joinAll joins every node to the first.
func joinAll(t *testing.T, nodes []*node) {
	t.Helper()
	seed := nodes[0].LocalMember().Addr
	for _, n := range nodes[1:] {
		if _, err := n.Join([]string{seed}); err != nil {
			t.Fatalf("%s join %s: %v", n.name, seed, err)
		}
	}
}

// statuses is how node n sees every member: name -> status.
func statuses(n *node) map[string]MemberStatus {
	out := make(map[string]MemberStatus)
	for _, m := range n.Members() {
		out[m.Name] = m.Status
	}
	return out
}

// seesAs reports whether every node in observers sees every node in targets
// with status want.
func seesAs(observers, targets []*node, want MemberStatus) (bool, string) {
	for _, o := range observers {
		st := statuses(o)
		for _, tg := range targets {
			if st[tg.name] != want {
				return false, fmt.Sprintf("%s sees %v", o.name, st)
			}
		}
	}
	return true, ""
}

// leaveAll leaves and then shuts down all nodes, checking both return. The
// leaves are sequential: when all leave at once, each waits the full broadcast
// timeout for a leave message nobody is left to receive.
func leaveAll(t *testing.T, nodes []*node) {
	t.Helper()
	for _, n := range nodes {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		if err := n.Leave(ctx); err != nil {
			t.Errorf("%s Leave: %v", n.name, err)
		}
		cancel()
	}
	for _, n := range nodes {
		if err := n.Shutdown(); err != nil {
			t.Errorf("%s Shutdown: %v", n.name, err)
		}
	}
}

// noLeaks waits until no goroutine started since opt was taken is left.
// goleak's own retries give up after about half a second, while memberlist's
// handlers may need a few timer ticks to notice a shutdown on a busy machine.
func noLeaks(t *testing.T, opt goleak.Option) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		err := goleak.Find(opt)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("leaked goroutines: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
