// Package servertest runs in-process distkv clusters for tests: N server.Servers, each on its
// own gossip/memnet host (serf and the peer data plane both go through memnet, so SetLoss and
// Partition reach them), with client ports on real 127.0.0.1 sockets so that tests talk to the
// nodes through clientproto/client exactly as users do.
//
// A Cluster records every write it acknowledged (Write), and checks at the end that every node
// holds the same tree (CheckIdentical) and that no acknowledged write vanished (CheckAcked).
//
//	c := servertest.New(t, servertest.Options{N: 3})
//	c.MustWrite(0, node.StringPath("a"), "x")
//	c.WaitConverged(30 * time.Second)
//	c.CheckIdentical()
//	c.CheckAcked()
//
// Every server is shut down by t.Cleanup. Use Main in the package's TestMain to check for
// leaked goroutines once all tests ran.
package servertest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/gossip/memnet"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server"
)

// Options configure a Cluster. The zero value (plus N) is a working cluster.
type Options struct {
	// N is how many nodes New starts (at least 1).
	N int
	// Loss is the fraction of gossip packets memnet drops from the start (SetLoss changes it).
	Loss float64
	// Seed seeds memnet's loss pattern. 0 means 1.
	Seed int64
	// HousekeepInterval is the housekeeper's round interval. Default 200ms.
	HousekeepInterval time.Duration
	// MaxValue, MaxRequest and MaxPeerFrame are passed to every server (0: the server's
	// defaults).
	MaxValue     int
	MaxRequest   int
	MaxPeerFrame int
	// JoinTimeout bounds a node's first join (0: 15s).
	JoinTimeout time.Duration
	// LogLevel is the level of server logs kept for the failure report (default Info). The
	// environment variable DISTKV_TEST_LOG=debug|info|warn|error also streams them to stderr.
	LogLevel slog.Level
	// Configure, if set, edits each node's configuration before it starts (i is its index).
	Configure func(i int, cfg *server.Config)
	// StartTimeout bounds the start of one node, join and state transfer included. Default 60s.
	StartTimeout time.Duration
}

// Ack is one acknowledged write, as the client saw it.
type Ack struct {
	Node    int // index of the node that took it
	Path    node.Path
	Value   []byte // msgpack; nil for a delete
	Deleted bool
	Origin  string // the version's head: (Origin, Tick)
	Tick    uint64
	Tock    uint64
}

func (a Ack) String() string {
	what := "set"
	if a.Deleted {
		what = "delete"
	}
	return fmt.Sprintf("%s %s at n%d = %s/%d@%d", what, a.Path, a.Node, a.Origin, a.Tick, a.Tock)
}

// Member is one node of a Cluster.
type Member struct {
	Index int
	Name  string // the server's --name: "n<index>"
	Host  string // its memnet host (an IP)
	S     *server.Server

	cancel  context.CancelFunc
	done    chan error // Run's result
	dataDir string     // the configuration's DataDir of the last start
	stopped bool
	client  *client.Client
	clients []*client.Client
}

// Cluster is an in-process cluster on one memnet.Network.
type Cluster struct {
	t    testing.TB
	Net  *memnet.Network
	opts Options
	logs *logRing

	mu      sync.Mutex
	members []*Member
	acks    []Ack

	closeOnce sync.Once
}

// gossipPort and peerPort are the fixed ports every node binds on its own memnet host.
const (
	gossipPort = "7946"
	peerPort   = "7000"
)

// New starts opts.N nodes, node i joining node 0, and waits until every node serves clients
// and sees every other one alive and ready. Everything is stopped by t.Cleanup.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.N < 1 {
		opts.N = 1
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.HousekeepInterval <= 0 {
		opts.HousekeepInterval = 200 * time.Millisecond
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	c := &Cluster{t: t, Net: memnet.New(opts.Seed), opts: opts, logs: newLogRing(4000)}
	c.Net.SetLoss(opts.Loss)
	for i := 0; i < opts.N; i++ {
		c.AddNode()
	}
	c.WaitMembers(30 * time.Second)
	return c
}

// hostOf names node i's memnet host.
func hostOf(i int) string { return fmt.Sprintf("10.0.%d.%d", i/250, i%250+1) }

// AddNode starts one more node, joining the first running node, and returns its index once it
// serves clients (that is, once it joined and took the network's state). It is safe to call
// while other goroutines write.
func (c *Cluster) AddNode() int {
	c.t.Helper()
	c.mu.Lock()
	i := len(c.members)
	m := &Member{Index: i, Name: fmt.Sprintf("n%d", i), Host: hostOf(i), done: make(chan error, 1)}
	join := c.joinAddrLocked(m)
	c.members = append(c.members, m)
	c.mu.Unlock()
	c.start(m, join)
	return i
}

// Restart starts stopped node i again with the same name, host and configuration (so the same
// data directory, if Configure gives it one), joining the first running node, and returns once
// it serves clients.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	m := c.member(i)
	c.mu.Lock()
	if !m.stopped {
		c.mu.Unlock()
		c.t.Fatalf("servertest: Restart(%d): %s is running", i, m.Name)
	}
	m.stopped, m.client, m.clients, m.done = false, nil, nil, make(chan error, 1)
	join := c.joinAddrLocked(m)
	c.mu.Unlock()
	c.start(m, join)
}

// joinAddrLocked returns the gossip address of the first running member other than m.
func (c *Cluster) joinAddrLocked(m *Member) []string {
	for _, o := range c.members {
		if o != m && !o.stopped {
			return []string{net.JoinHostPort(o.Host, gossipPort)}
		}
	}
	return nil
}

// start runs m's server and waits until it serves clients.
func (c *Cluster) start(m *Member, join []string) {
	c.t.Helper()
	i := m.Index
	h := c.Net.Host(m.Host)
	tr, err := h.Transport(net.JoinHostPort(m.Host, gossipPort))
	if err != nil {
		c.t.Fatalf("servertest: %s: transport: %v", m.Name, err)
	}
	cfg := server.Config{
		Name:              m.Name,
		ClientAddr:        "127.0.0.1:0",
		GossipAddr:        net.JoinHostPort(m.Host, gossipPort),
		PeerAddr:          net.JoinHostPort(m.Host, peerPort),
		Join:              join,
		Network:           h,
		Transport:         tr,
		Profile:           "test",
		HousekeepInterval: c.opts.HousekeepInterval,
		MaxValue:          c.opts.MaxValue,
		MaxRequest:        c.opts.MaxRequest,
		MaxPeerFrame:      c.opts.MaxPeerFrame,
		JoinTimeout:       c.opts.JoinTimeout,
		Logger:            slog.New(c.logs.handler(m.Name, c.opts.LogLevel)),
	}
	if c.opts.Configure != nil {
		c.opts.Configure(i, &cfg)
	}
	// t.Cleanup runs the last registered first: registered at every start, after whatever
	// directory the test made for it (t.TempDir, in Configure too), the close stops every
	// server before that directory is removed, which would fail while a server still writes
	// into it (a snapshot, the members file).
	c.t.Cleanup(c.close)
	s, err := server.New(cfg)
	if err != nil {
		tr.Shutdown()
		c.t.Fatalf("servertest: %s: %v", m.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.mu.Lock()
	m.S, m.cancel, m.dataDir = s, cancel, cfg.DataDir
	c.mu.Unlock()
	go func() { m.done <- s.Run(ctx) }()
	deadline := time.Now().Add(c.opts.StartTimeout)
	for s.Addr() == nil {
		select {
		case err := <-m.done:
			m.done <- err // for close
			c.t.Fatalf("servertest: %s did not start: %v", m.Name, err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("servertest: %s did not open its client port within %v", m.Name, c.opts.StartTimeout)
		}
	}
	cl, err := client.Dial(context.Background(), s.Addr().String())
	if err != nil {
		c.t.Fatalf("servertest: %s: dial: %v", m.Name, err)
	}
	c.mu.Lock()
	m.client = cl
	c.mu.Unlock()
}

// N returns how many nodes were ever started (stopped ones included).
func (c *Cluster) N() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.members)
}

// Running returns the indexes of the nodes not stopped.
func (c *Cluster) Running() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for _, m := range c.members {
		if !m.stopped {
			out = append(out, m.Index)
		}
	}
	return out
}

func (c *Cluster) member(i int) *Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i < 0 || i >= len(c.members) {
		c.t.Fatalf("servertest: no node %d", i)
	}
	return c.members[i]
}

// Node returns node i's server.
func (c *Cluster) Node(i int) *server.Server { return c.member(i).S }

// Member returns node i.
func (c *Cluster) Member(i int) *Member { return c.member(i) }

// Name returns node i's name.
func (c *Cluster) Name(i int) string { return c.member(i).Name }

// Origin returns node i's current origin.
func (c *Cluster) Origin(i int) string {
	var o string
	c.Node(i).Node(func(n *node.Node) { o = n.Origin() })
	return o
}

// Client returns the shared client of node i (safe for concurrent use).
func (c *Cluster) Client(i int) *client.Client {
	m := c.member(i)
	c.mu.Lock()
	defer c.mu.Unlock()
	return m.client
}

// Dial opens a new client to node i, closed by Stop or at cleanup.
func (c *Cluster) Dial(i int) (*client.Client, error) {
	m := c.member(i)
	cl, err := client.Dial(context.Background(), m.S.Addr().String())
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	m.clients = append(m.clients, cl)
	c.mu.Unlock()
	return cl, nil
}

// writeTimeout bounds one write through the client.
const writeTimeout = 30 * time.Second

// Write sets path to value (encoded with msgpack) at node i through its shared client, and
// records the write if it is acknowledged. Safe for concurrent use; it does not fail the test.
func (c *Cluster) Write(i int, path node.Path, value any) (Ack, error) {
	return c.WriteWith(c.Client(i), i, path, value)
}

// WriteWith is Write through a given client of node i.
func (c *Cluster) WriteWith(cl *client.Client, i int, path node.Path, value any) (Ack, error) {
	raw, err := client.Encode(value)
	if err != nil {
		return Ack{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	r, err := cl.Set(ctx, path, raw)
	if err != nil {
		return Ack{}, err
	}
	return c.record(i, path, raw, false, r)
}

// Delete deletes path at node i and records the delete if it is acknowledged and changed
// something (deleting nothing makes no version: the returned Ack is then zero).
func (c *Cluster) Delete(i int, path node.Path) (Ack, error) {
	return c.DeleteWith(c.Client(i), i, path)
}

// DeleteWith is Delete through a given client of node i.
func (c *Cluster) DeleteWith(cl *client.Client, i int, path node.Path) (Ack, error) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	r, err := cl.Delete(ctx, path)
	if err != nil {
		return Ack{}, err
	}
	if !r.Changed {
		return Ack{}, nil // nothing to delete: no version made
	}
	return c.record(i, path, nil, true, r)
}

func (c *Cluster) record(i int, path node.Path, raw []byte, del bool, r client.WriteResult) (Ack, error) {
	if len(r.Chain) == 0 {
		return Ack{}, fmt.Errorf("servertest: write at n%d acknowledged without a chain", i)
	}
	a := Ack{Node: i, Path: path.Clone(), Value: raw, Deleted: del, Origin: r.Chain[0].Origin, Tick: r.Chain[0].Tick, Tock: r.Tock}
	c.mu.Lock()
	c.acks = append(c.acks, a)
	c.mu.Unlock()
	return a, nil
}

// MustWrite is Write failing the test on error; call it from the test's goroutine.
func (c *Cluster) MustWrite(i int, path node.Path, value any) Ack {
	c.t.Helper()
	a, err := c.Write(i, path, value)
	if err != nil {
		c.t.Fatalf("write %s at n%d: %v", path, i, err)
	}
	return a
}

// Acks returns the acknowledged writes so far.
func (c *Cluster) Acks() []Ack {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.acks)
}

// Stop shuts node i down gracefully (it leaves the network) and waits for it.
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	m := c.member(i)
	c.mu.Lock()
	if m.stopped {
		c.mu.Unlock()
		return
	}
	m.stopped = true
	cls := append([]*client.Client{m.client}, m.clients...)
	c.mu.Unlock()
	if err := stopMember(m, cls); err != nil {
		c.t.Errorf("servertest: stopping %s: %v", m.Name, err)
	}
}

// Kill stops node i as kill -9 would: its data directory is left as it was while the node
// ran (no clean-close trailer, the running marker still there, what a wait left on disk), so
// that its next start, by Restart, is the start after a crash. What the node had written is
// kept, as after a killed process; a test that models a machine crash also takes away what
// was not fsynced. Its shutdown still sends serf's leave: Partition it off first for the others
// to find it failed, as after a real crash. Kill needs a data directory (Configure's DataDir).
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	m := c.member(i)
	c.mu.Lock()
	dir, stopped := m.dataDir, m.stopped
	c.mu.Unlock()
	if stopped || dir == "" {
		c.t.Fatalf("servertest: Kill(%d): %s is stopped or has no data directory", i, m.Name)
	}
	img := c.t.TempDir()
	if err := copyDir(img, dir); err != nil {
		c.t.Fatalf("servertest: Kill(%d): copying %s: %v", i, dir, err)
	}
	c.Stop(i)
	if err := os.RemoveAll(dir); err != nil {
		c.t.Fatalf("servertest: Kill(%d): %v", i, err)
	}
	if err := copyDir(dir, img); err != nil {
		c.t.Fatalf("servertest: Kill(%d): restoring %s: %v", i, dir, err)
	}
}

// copyDir copies the tree of files below src into dst while a server may still change it: a
// file removed meanwhile is skipped, and one being appended to is copied as far as it got.
func copyDir(dst, src string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		info, err := d.Info()
		if err == nil {
			var b []byte
			if b, err = os.ReadFile(path); err == nil {
				return os.WriteFile(to, b, info.Mode().Perm())
			}
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	})
}

// stopTimeout bounds one node's shutdown.
const stopTimeout = 30 * time.Second

func stopMember(m *Member, cls []*client.Client) error {
	for _, cl := range cls {
		if cl != nil {
			cl.Close()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	err := m.S.Shutdown(ctx)
	m.cancel()
	select {
	case rerr := <-m.done:
		if !errors.Is(rerr, server.ErrClosed) && err == nil {
			err = fmt.Errorf("run returned %v, want ErrClosed", rerr)
		}
	case <-ctx.Done():
		if err == nil {
			err = fmt.Errorf("run did not return within %v of Shutdown", stopTimeout)
		}
	}
	return err
}

// close is the cleanup every start registers (start): the first to run stops every running
// node and reports the logs if the test failed; the others find nothing left to do.
func (c *Cluster) close() { c.closeOnce.Do(c.stopAll) }

// stopAll stops every running server, in parallel, and reports the logs if the test failed.
func (c *Cluster) stopAll() {
	// Shutdown leaves the network: with loss or partitions the leave waits for timeouts.
	c.Net.SetLoss(0)
	c.Net.Heal()
	c.mu.Lock()
	var ms []*Member
	var cls [][]*client.Client
	for _, m := range c.members {
		if !m.stopped && m.S != nil {
			m.stopped = true
			ms = append(ms, m)
			cls = append(cls, append([]*client.Client{m.client}, m.clients...))
		}
	}
	c.mu.Unlock()
	// In parallel: each leave waits a few gossip rounds; sequentially that adds up.
	var wg sync.WaitGroup
	errs := make([]error, len(ms))
	for k, m := range ms {
		wg.Add(1)
		go func() { defer wg.Done(); errs[k] = stopMember(m, cls[k]) }()
	}
	wg.Wait()
	for k, err := range errs {
		if err != nil {
			c.t.Errorf("servertest: stopping %s: %v", ms[k].Name, err)
		}
	}
	if c.t.Failed() {
		c.t.Logf("servertest: last server log lines:\n%s", c.logs.tail(400))
	}
}

// Logs returns the last n lines the servers logged (at the options' level).
func (c *Cluster) Logs(n int) string { return c.logs.tail(n) }

func (c *Cluster) hosts(idx []int) []string {
	out := make([]string, len(idx))
	for k, i := range idx {
		out[k] = c.member(i).Host
	}
	return out
}

// Partition splits the network: each group is a list of node indexes; nodes named in no
// group form one more group. Packets and dials across groups fail, open streams across them
// are reset.
func (c *Cluster) Partition(groups ...[]int) {
	hs := make([][]string, len(groups))
	for k, g := range groups {
		hs[k] = c.hosts(g)
	}
	c.Net.Partition(hs...)
}

// Heal ends any partition.
func (c *Cluster) Heal() { c.Net.Heal() }

// SetLoss sets the fraction of gossip packets dropped.
func (c *Cluster) SetLoss(f float64) { c.Net.SetLoss(f) }

// nodeState is what convergence compares.
type nodeState struct {
	digest  [2]uint64
	known   map[string]node.RangeSet
	missing map[string]node.RangeSet
	entries int
}

func (c *Cluster) state(i int) nodeState {
	var st nodeState
	c.Node(i).Node(func(n *node.Node) {
		st = nodeState{digest: n.Digest(nil), known: n.Known(), missing: n.Missing(), entries: n.Len()}
	})
	return st
}

func sameKnown(a, b map[string]node.RangeSet) bool {
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

// Converged reports whether every running node has the same digest and known vector and
// misses nothing, and if not, why.
func (c *Cluster) Converged() (bool, string) {
	run := c.Running()
	if len(run) == 0 {
		return true, ""
	}
	sts := make([]nodeState, len(run))
	for k, i := range run {
		sts[k] = c.state(i)
	}
	var why []string
	for k, st := range sts {
		name := c.Name(run[k])
		if len(st.missing) > 0 {
			why = append(why, fmt.Sprintf("%s misses %s", name, fmtVector(st.missing)))
		}
		if k > 0 && st.digest != sts[0].digest {
			why = append(why, fmt.Sprintf("%s digest %x (%d entries) != %s digest %x (%d entries)",
				name, st.digest, st.entries, c.Name(run[0]), sts[0].digest, sts[0].entries))
		}
		if k > 0 && !sameKnown(st.known, sts[0].known) {
			why = append(why, fmt.Sprintf("%s knows %s, %s knows %s", name, fmtVector(st.known), c.Name(run[0]), fmtVector(sts[0].known)))
		}
	}
	return len(why) == 0, strings.Join(why, "; ")
}

// treeDiffs describes how the running nodes' trees differ from the first one's.
func (c *Cluster) treeDiffs() string {
	run := c.Running()
	ds := c.Dumps()
	var b strings.Builder
	for k := 1; k < len(ds); k++ {
		if diff := DiffDumps(ds[0], ds[k], 10); len(diff) > 0 {
			fmt.Fprintf(&b, "\n  %s vs %s:\n    %s", c.Name(run[0]), c.Name(run[k]), strings.Join(diff, "\n    "))
		}
	}
	return b.String()
}

func fmtVector(v map[string]node.RangeSet) string {
	keys := make([]string, 0, len(v))
	for o := range v {
		keys = append(keys, o)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for k, o := range keys {
		if k > 0 {
			b.WriteString(", ")
		}
		s := v[o].String()
		if len(s) > 80 {
			s = s[:80] + "..."
		}
		fmt.Fprintf(&b, "%s: %s", o, s)
	}
	b.WriteByte('}')
	return b.String()
}

// WaitConverged polls until Converged holds, and fails the test if it does not within
// timeout. It returns how long it waited.
func (c *Cluster) WaitConverged(timeout time.Duration) time.Duration {
	c.t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		ok, why := c.Converged()
		if ok {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("servertest: no convergence within %v: %s%s", timeout, why, c.treeDiffs())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// State returns node i's get_state reply decoded into a map.
func (c *Cluster) State(i int) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := c.Client(i).StateRaw(ctx)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := msgpack.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// Members returns what node i believes about every member: name -> status ("alive",
// "failed", "left", ...), with " (not ready)" appended to the alive ones not ready.
func (c *Cluster) Members(i int) (map[string]string, error) {
	st, err := c.State(i)
	if err != nil {
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

// WaitStatus waits until node i sees node j with the given status (see Members), and fails
// the test after timeout.
func (c *Cluster) WaitStatus(i, j int, status string, timeout time.Duration) time.Duration {
	c.t.Helper()
	start := time.Now()
	for {
		ms, err := c.Members(i)
		if err == nil && ms[c.Name(j)] == status {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			c.t.Fatalf("servertest: %s does not see %s %s within %v: %v (err %v)", c.Name(i), c.Name(j), status, timeout, ms, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// WaitMembers waits until every running node sees every running node alive and ready, and
// fails the test if that takes longer than timeout.
func (c *Cluster) WaitMembers(timeout time.Duration) time.Duration {
	c.t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		ok, why := c.membersAgree()
		if ok {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("servertest: members do not agree within %v: %s", timeout, why)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (c *Cluster) membersAgree() (bool, string) {
	run := c.Running()
	want := map[string]bool{}
	for _, i := range run {
		want[c.Name(i)] = true
	}
	for _, i := range run {
		st, err := c.State(i)
		if err != nil {
			return false, fmt.Sprintf("%s: get_state: %v", c.Name(i), err)
		}
		ms, _ := st["members"].([]any)
		seen := map[string]bool{}
		for _, x := range ms {
			m, _ := x.(map[string]any)
			name, _ := m["name"].(string)
			if m["status"] == "alive" && m["ready"] == true {
				seen[name] = true
			}
		}
		for name := range want {
			if !seen[name] {
				return false, fmt.Sprintf("%s does not see %s alive and ready", c.Name(i), name)
			}
		}
	}
	return true, ""
}

// Dump is one node's tree: every live entry in canonical order.
type Dump []node.Entry

// Dumps returns the full tree of every running node, in the order of Running.
func (c *Cluster) Dumps() []Dump {
	var out []Dump
	for _, i := range c.Running() {
		out = append(out, c.Dump(i))
	}
	return out
}

// Dump returns node i's full tree (live entries only).
func (c *Cluster) Dump(i int) Dump {
	var d Dump
	c.Node(i).Node(func(n *node.Node) {
		n.Walk(node.Path{}, node.WalkOptions{MaxDepth: -1}, func(e node.Entry) bool {
			d = append(d, e)
			return true
		})
	})
	return d
}

// entryDiff describes how two entries differ, or returns "".
func entryDiff(a, b node.Entry) string {
	switch {
	case !a.Path.Equal(b.Path):
		return fmt.Sprintf("path %s vs %s", a.Path, b.Path)
	case a.Origin != b.Origin || a.Tick != b.Tick || a.Tock != b.Tock:
		return fmt.Sprintf("%s: version %s/%d@%d vs %s/%d@%d", a.Path, a.Origin, a.Tick, a.Tock, b.Origin, b.Tick, b.Tock)
	case string(a.Value) != string(b.Value) || a.Deleted != b.Deleted:
		return fmt.Sprintf("%s: value %x vs %x", a.Path, trunc(a.Value), trunc(b.Value))
	case !slices.Equal(a.Chain, b.Chain):
		return fmt.Sprintf("%s: chain %v vs %v", a.Path, a.Chain, b.Chain)
	}
	return ""
}

func trunc(b []byte) []byte {
	if len(b) > 16 {
		return b[:16]
	}
	return b
}

// DiffDumps returns the differences between two dumps (at most max of them), empty if they
// are identical.
func DiffDumps(a, b Dump, max int) []string {
	var out []string
	i, j := 0, 0
	for (i < len(a) || j < len(b)) && len(out) < max {
		switch {
		case j >= len(b) || (i < len(a) && node.ComparePaths(a[i].Path, b[j].Path) < 0):
			out = append(out, fmt.Sprintf("%s only in the first (%s/%d)", a[i].Path, a[i].Origin, a[i].Tick))
			i++
		case i >= len(a) || node.ComparePaths(a[i].Path, b[j].Path) > 0:
			out = append(out, fmt.Sprintf("%s only in the second (%s/%d)", b[j].Path, b[j].Origin, b[j].Tick))
			j++
		default:
			if d := entryDiff(a[i], b[j]); d != "" {
				out = append(out, d)
			}
			i++
			j++
		}
	}
	return out
}

// CheckIdentical fails the test unless every running node's Dump is identical (paths,
// values, versions and chains). It returns the number of entries.
func (c *Cluster) CheckIdentical() int {
	c.t.Helper()
	run := c.Running()
	ds := c.Dumps()
	if len(ds) == 0 {
		return 0
	}
	for k := 1; k < len(ds); k++ {
		if diff := DiffDumps(ds[0], ds[k], 10); len(diff) > 0 {
			c.t.Errorf("servertest: %s (%d entries) and %s (%d entries) differ:\n  %s",
				c.Name(run[0]), len(ds[0]), c.Name(run[k]), len(ds[k]), strings.Join(diff, "\n  "))
		}
	}
	return len(ds[0])
}

// CheckAcked fails the test unless no two acknowledged writes share a version (origin, tick),
// and every acknowledged write is present at every running node, or its path holds a version with a higher (tock, origin) (the write lost a conflict, or was
// overwritten). A delete may also have left no entry at all (its tombstone was purged), and
// so may a set that an acknowledged delete with a higher version followed. It returns how many
// acknowledged writes it checked.
func (c *Cluster) CheckAcked() int {
	c.t.Helper()
	acks := c.Acks()
	// The newest acknowledged delete per path, for sets whose path is now empty.
	delAt := map[string]Ack{}
	for _, a := range acks {
		if a.Deleted {
			k := a.Path.Key()
			if d, ok := delAt[k]; !ok || node.CompareVersion(a.Tock, a.Origin, d.Tock, d.Origin) > 0 {
				delAt[k] = a
			}
		}
	}
	bad := 0
	// A tick is used once per origin: two acknowledged writes with the same (origin, tick)
	// mean a node reused a tick, which the others take for a duplicate and ignore.
	seen := map[node.Link]Ack{}
	for _, a := range acks {
		l := node.Link{Origin: a.Origin, Tick: a.Tick}
		if b, dup := seen[l]; dup {
			bad++
			if bad <= 20 {
				c.t.Errorf("servertest: tick %s/%d acknowledged twice: %s and %s", a.Origin, a.Tick, b, a)
			}
			continue
		}
		seen[l] = a
	}
	for _, i := range c.Running() {
		name := c.Name(i)
		c.Node(i).Node(func(n *node.Node) {
			for _, a := range acks {
				why := checkAck(n, a, delAt)
				if why == "" {
					continue
				}
				bad++
				if bad <= 20 {
					c.t.Errorf("servertest: acknowledged write lost at %s: %s: %s", name, a, why)
				}
			}
		})
	}
	if bad > 20 {
		c.t.Errorf("servertest: ... %d lost in all", bad)
	}
	return len(acks)
}

func checkAck(n *node.Node, a Ack, delAt map[string]Ack) string {
	e, ok := n.Lookup(a.Path)
	if !ok || !e.HasData {
		if a.Deleted {
			return "" // its tombstone may be purged
		}
		if d, ok := delAt[a.Path.Key()]; ok && node.CompareVersion(d.Tock, d.Origin, a.Tock, a.Origin) > 0 {
			return ""
		}
		return "the path holds nothing"
	}
	if e.Origin == a.Origin && e.Tick == a.Tick {
		switch {
		case e.Tock != a.Tock:
			return fmt.Sprintf("the version is there with tock %d", e.Tock)
		case a.Deleted != e.Deleted:
			return fmt.Sprintf("deleted is %v", e.Deleted)
		case !a.Deleted && string(e.Value) != string(a.Value):
			return fmt.Sprintf("the value is %x", trunc(e.Value))
		}
		return ""
	}
	if node.CompareVersion(e.Tock, e.Origin, a.Tock, a.Origin) > 0 {
		return ""
	}
	return fmt.Sprintf("the path holds an older version %s/%d@%d", e.Origin, e.Tick, e.Tock)
}

// logRing keeps the last lines the servers logged.
type logRing struct {
	mu    sync.Mutex
	lines []string
	next  int
	full  bool
	echo  slog.Level
	doEco bool
}

func newLogRing(n int) *logRing {
	r := &logRing{lines: make([]string, n)}
	if v := os.Getenv("DISTKV_TEST_LOG"); v != "" {
		if err := r.echo.UnmarshalText([]byte(v)); err == nil {
			r.doEco = true
		}
	}
	return r
}

func (r *logRing) add(s string) {
	r.mu.Lock()
	r.lines[r.next] = s
	r.next++
	if r.next == len(r.lines) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

func (r *logRing) tail(n int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all []string
	if r.full {
		all = append(all, r.lines[r.next:]...)
	}
	all = append(all, r.lines[:r.next]...)
	if len(all) > n {
		all = all[len(all)-n:]
	}
	return strings.Join(all, "\n")
}

func (r *logRing) handler(name string, level slog.Level) slog.Handler {
	min := level
	if r.doEco && r.echo < min {
		min = r.echo
	}
	return &ringHandler{r: r, name: name, keep: level, min: min}
}

// ringHandler formats records as text lines into the ring (and stderr when asked).
type ringHandler struct {
	r     *logRing
	name  string
	keep  slog.Level
	min   slog.Level
	attrs []slog.Attr
	group string
}

func (h *ringHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.min }

func (h *ringHandler) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-5s [%s] %s", rec.Time.Format("15:04:05.000"), rec.Level, h.name, rec.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	rec.Attrs(func(a slog.Attr) bool {
		k := a.Key
		if h.group != "" {
			k = h.group + "." + k
		}
		fmt.Fprintf(&b, " %s=%v", k, a.Value)
		return true
	})
	line := b.String()
	if rec.Level >= h.keep {
		h.r.add(line)
	}
	if h.r.doEco && rec.Level >= h.r.echo {
		fmt.Fprintln(os.Stderr, line)
	}
	return nil
}

func (h *ringHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(slices.Clone(h.attrs), as...)
	return &n
}

func (h *ringHandler) WithGroup(g string) slog.Handler {
	n := *h
	if n.group != "" {
		g = n.group + "." + g
	}
	n.group = g
	return &n
}
