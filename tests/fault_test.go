package tests

// TestFault: a randomized fault schedule on real processes in network namespaces, checked
// against every client operation's outcome. See docs/operations.md (Testing) for replaying a
// seed and for `make soak`.

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/node"
)

const (
	faultShortSteps    = 8
	faultDefaultSteps  = 12
	faultConverge      = 120 * time.Second
	faultHandoff       = 30 * time.Second
	faultStartDeadline = 90 * time.Second
)

// faultNode is what runs in a slot: one name and data dir, restarted any number of times.
type faultNode struct {
	slot  int
	name  string
	dir   string
	fsync string
	srv   *nsServer // the running process; nil when down
	procs []*nsServer
}

// faultNet is the cluster of TestFault.
type faultNet struct {
	t      *testing.T
	w      *nsNet
	slots  [faultSlots]*faultNode
	seed   uint64
	fresh  int // names given so far
	leaver string
	split  []int                            // the slots cut off now
	gone   []*faultNode                     // nodes that left for good
	chains map[string]map[string]node.Chain // of the dumps: node -> key -> chain
	paths  map[string]string                // key -> printable path
	ops    []faultOp

	root     string // the data dirs' parent
	mu       sync.Mutex
	targets  []faultTarget // nodes up, for the workers
	problems []string      // failures seen along the way (shutdowns), reported at the end
}

// faultEnvInt reads a positive integer from the environment (0 if unset).
func faultEnvInt(t *testing.T, name string) uint64 {
	s := os.Getenv(name)
	if s == "" {
		return 0
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return v
}

// TestFault runs five (sometimes four or six) `distkv server` processes with data dirs (most
// with --fsync always, some interval or never: all survive kill -9), each in its own network
// namespace, through a seeded schedule of partitions, kill -9 and SIGTERM restarts, gracefully
// stopped nodes restarted cut off (they must wait), fresh nodes joining and nodes leaving,
// while clients do sets, deletes and conditional sets on 20 keys. Then it heals, restarts what is down, waits until every node
// reports the same digest and known ticks, and checks that every node's dump is identical and
// that every key holds what the conflict rule makes of the acknowledged and indeterminate ops.
//
// DISTKV_FAULT_SEED replays a seed; DISTKV_FAULT_STEPS sets the schedule's length.
func TestFault(t *testing.T) {
	needCluster(t)
	seed := faultEnvInt(t, "DISTKV_FAULT_SEED")
	if os.Getenv("DISTKV_FAULT_SEED") == "" {
		seed = rand.Uint64() % 1_000_000
	}
	steps := int(faultEnvInt(t, "DISTKV_FAULT_STEPS"))
	if steps == 0 {
		steps = faultDefaultSteps
		if testing.Short() {
			steps = faultShortSteps
		}
	}
	replay := fmt.Sprintf("DISTKV_FAULT_SEED=%d DISTKV_FAULT_STEPS=%d go test -run 'TestFault$' ./tests/", seed, steps)
	t.Logf("seed %d, %d steps; replay: %s", seed, steps, replay)
	fmt.Fprintf(os.Stderr, "TestFault: seed %d, %d steps\n", seed, steps)
	sched := faultSchedule(seed, steps)
	t.Logf("schedule:\n%s", faultFormat(sched))

	// The data dirs live under root, made before the cleanup below is registered, so that they
	// are still there when it saves them.
	f := &faultNet{t: t, seed: seed, w: nsSetup(t, faultSlots), chains: map[string]map[string]node.Chain{}, paths: map[string]string{}, root: t.TempDir()}
	t.Cleanup(func() {
		f.stopAll()
		if t.Failed() {
			t.Logf("FAILED with seed %d; replay: %s", seed, replay)
			f.saveLogs(seed)
		}
	})
	t0 := time.Now()
	for i := 0; i < faultInitial; i++ {
		f.slots[i] = f.newNode(i)
	}
	if err := f.launch(0, false); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, faultInitial)
	for i := 1; i < faultInitial; i++ {
		go func() { errs <- f.launch(i, true) }()
	}
	for i := 1; i < faultInitial; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d servers up in %v: %v", faultInitial, time.Since(t0).Round(time.Millisecond), f.upNames())

	load := newFaultLoad(seed, f.liveTargets)
	load.start()
	t.Cleanup(func() { load.finish() }) // when the test ends early
	for k, st := range sched {
		ts := time.Now()
		f.do(k, st, load)
		// After the fault: the keys deleted as they leave the hot set are deleted while a
		// node just stopped is away.
		load.rotate(k + 1)
		t.Logf("step %2d %-28v done in %v; up: %v", k, st, time.Since(ts).Round(time.Millisecond), f.upNames())
		time.Sleep(st.dwell)
	}
	ops := load.finish()
	f.ops = ops

	// Heal everything and bring back what is down; the heal time runs from here.
	healStart := time.Now()
	f.w.heal()
	for _, nd := range f.slots {
		if nd != nil && nd.srv == nil {
			if err := f.launch(nd.slot, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	why := f.waitConverged(faultConverge)
	heal := time.Since(healStart)
	if why != "" {
		t.Errorf("no convergence within %v of the heal: %s", faultConverge, why)
		f.logStates(t)
	} else {
		t.Logf("heal: every node reports the same digest and known ticks %v after the last heal", heal.Round(time.Millisecond))
	}

	dumps, names := f.dumps()
	f.compareDumps(dumps, names)
	// Every node's dump is checked; a problem is reported once, for the first node that has it.
	seen := map[string]bool{}
	for i, d := range dumps {
		probs, cs := faultCheck(ops, d)
		if i == 0 {
			t.Logf("checked %d ops on %d keys: %d acknowledged (%d overwritten by a higher version), %d noops, %d refused, %d indeterminate (%d keys end with an indeterminate op's value)",
				cs.ops, cs.keys, cs.acked, cs.overwritten, cs.noop, cs.refused, cs.indet, cs.byIndet)
			// Writes a node refused while it waited to hear from the network (server/alone.go).
			alone := 0
			for _, o := range ops {
				if o.out == foRefused && strings.Contains(o.err, "waiting to hear from the network") {
					alone++
				}
			}
			t.Logf("%d writes refused by a node waiting to hear from the network", alone)
		}
		shown := 0
		for _, p := range probs {
			if seen[p] {
				continue
			}
			seen[p] = true
			if shown++; shown > 5 {
				t.Errorf("%s: %d bad keys in all", names[i], len(probs))
				break
			}
			t.Errorf("%s: %s", names[i], p)
		}
	}
	f.report()
	f.mu.Lock()
	for _, p := range f.problems {
		t.Error(p)
	}
	f.mu.Unlock()
}

func (f *faultNet) newNode(slot int) *faultNode {
	name := fmt.Sprintf("n%d", f.fresh)
	// Lazy policies lose nothing acknowledged to kill -9 (the OS keeps the page cache), and
	// their unclean stops start a new origin: a path worth exercising too.
	fsync := [...]string{"always", "always", "always", "interval", "never"}[rand.New(rand.NewPCG(f.seed, uint64(f.fresh))).IntN(5)]
	f.fresh++
	dir, err := os.MkdirTemp(f.root, name+"-")
	if err != nil {
		f.t.Fatal(err)
	}
	return &faultNode{slot: slot, name: name, dir: dir, fsync: fsync}
}

func (f *faultNet) problem(format string, args ...any) {
	f.mu.Lock()
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

// liveTargets returns the nodes up (and not about to leave) for the workers.
func (f *faultNet) liveTargets() []faultTarget {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.targets
}

func (f *faultNet) refreshTargets() {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ts []faultTarget
	for _, nd := range f.slots {
		if nd != nil && nd.srv != nil && nd.name != f.leaver {
			ts = append(ts, faultTarget{name: nd.name, addr: nd.srv.client})
		}
	}
	f.targets = ts
}

// upNames names the running nodes, with their fsync policy unless it is always.
func (f *faultNet) upNames() []string {
	var out []string
	for _, nd := range f.slots {
		if nd != nil && nd.srv != nil {
			name := nd.name
			if nd.fsync != "always" {
				name += "(" + nd.fsync + ")"
			}
			out = append(out, name)
		}
	}
	return out
}

// launch starts slot's node and returns once it serves clients (which it does once it has
// caught up). Safe to call for different slots at once.
func (f *faultNet) launch(slot int, join bool) error {
	w, nd := f.w, f.slots[slot]
	args := []string{"--data-dir", nd.dir, "--fsync", nd.fsync, "--log-level", "info",
		// Rounds often, so that tombstones are purged between the faults.
		"--housekeep-interval", "500ms"}
	if join {
		var js []string
		for j := 0; j < faultSlots; j++ {
			if j != slot {
				js = append(js, net.JoinHostPort(w.dataIP(j), "7946"))
			}
		}
		args = append(args, "--join", strings.Join(js, ","))
	}
	s, err := w.spawn(slot, nd.name, args...)
	if err != nil {
		return err
	}
	f.mu.Lock()
	nd.procs = append(nd.procs, s)
	f.mu.Unlock()
	if err := s.await(faultStartDeadline); err != nil {
		return fmt.Errorf("slot %d: %w", slot, err)
	}
	f.mu.Lock()
	nd.srv = s
	f.mu.Unlock()
	f.refreshTargets()
	return nil
}

// halt stops slot's node: SIGKILL, or SIGTERM (which must end it with exit 0 in bounded time).
func (f *faultNet) halt(slot int, sig syscall.Signal) {
	nd := f.slots[slot]
	s := nd.srv
	s.cl.Close()
	t0 := time.Now()
	// The workers keep using the node until it is gone: ops in flight become indeterminate.
	defer func() {
		f.mu.Lock()
		nd.srv = nil
		f.mu.Unlock()
		f.refreshTargets()
	}()
	if !s.signal(sig) {
		f.problem("shutdown: %s did not stop within %v of signal %d (killed)%s\n%s", nd.name, nsStopDeadline, sig, f.during(slot), s.log.tail(20))
		return
	}
	if sig == syscall.SIGTERM {
		if code := s.cmd.ProcessState.ExitCode(); code != 0 {
			f.problem("shutdown: %s exited %d %v after SIGTERM%s\n%s", nd.name, code, time.Since(t0).Round(time.Millisecond), f.during(slot), s.log.tail(20))
		} else if d := time.Since(t0); d > 5*time.Second {
			f.t.Logf("%s took %v to stop after SIGTERM", nd.name, d.Round(time.Millisecond))
		}
	}
}

// during says whether a partition holds, and on which side slot is.
func (f *faultNet) during(slot int) string {
	switch {
	case f.split == nil:
		return ""
	case slices.Contains(f.split, slot):
		return fmt.Sprintf(" (during a partition: slots %v, its own among them, cut off)", f.split)
	}
	return fmt.Sprintf(" (during a partition: slots %v cut off, not its own)", f.split)
}

// do carries out one step of the schedule.
func (f *faultNet) do(k int, st faultStep, load *faultLoad) {
	t := f.t
	switch st.kind {
	case fkSplit:
		f.w.heal()
		f.w.partition(st.side...)
		f.split = st.side
	case fkHeal:
		f.w.heal()
		f.split = nil
	case fkKill:
		f.halt(st.slot, syscall.SIGKILL)
	case fkTerm:
		f.halt(st.slot, syscall.SIGTERM)
	case fkRestart:
		if err := f.launch(st.slot, true); err != nil {
			t.Fatalf("step %d (%v): %v", k, st, err)
		}
	case fkRestartCut:
		f.restartCut(k, st)
	case fkJoin:
		f.slots[st.slot] = f.newNode(st.slot)
		if err := f.launch(st.slot, true); err != nil {
			t.Fatalf("step %d (%v): %v", k, st, err)
		}
	case fkLeave:
		f.leave(k, st.slot, load)
	}
}

// restartCut starts a node that stopped gracefully while every other node is out of its
// reach. The others may have purged tombstones of deletes it never saw, so it must serve reads
// and refuse writes until the heal lets it hear from them.
func (f *faultNet) restartCut(k int, st faultStep) {
	f.w.heal()
	f.w.partition(st.side...)
	f.split = st.side
	if err := f.launch(st.slot, true); err != nil {
		f.t.Fatalf("step %d (%v): %v", k, st, err)
	}
	nd := f.slots[st.slot]
	if s, err := nd.srv.state(); err != nil {
		f.problem("step %d: %s: get_state: %v", k, nd.name, err)
	} else if !s.Waiting {
		f.problem("step %d: %s restarted after a graceful stop, cut off from every other node, and does not wait: it takes writes on a clock older than the others' purges\n%s", k, nd.name, nd.srv.log.tail(20))
	}
}

// leave takes a node out for good. Writes it acknowledged but no one else has yet would go
// with its data dir, so first the workers leave it and the others must learn all it knows.
func (f *faultNet) leave(k, slot int, load *faultLoad) {
	nd := f.slots[slot]
	f.leaver = nd.name
	f.refreshTargets()
	deadline := time.Now().Add(faultHandoff)
	for load.inFlight(nd.name) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	why := ""
	for {
		why = f.handedOver(nd)
		if why == "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if why != "" {
		f.problem("step %d: before %s leaves, the others do not learn what it knows within %v: %s", k, nd.name, faultHandoff, why)
	}
	f.halt(slot, syscall.SIGTERM)
	f.leaver = ""
	if err := os.RemoveAll(nd.dir); err != nil {
		f.t.Fatalf("removing %s's data dir: %v", nd.name, err)
	}
	f.slots[slot] = nil
	f.gone = append(f.gone, nd)
}

// handedOver returns "" once every other node knows every tick nd knows.
func (f *faultNet) handedOver(nd *faultNode) string {
	mine, err := nd.srv.state()
	if err != nil {
		return fmt.Sprintf("%s: get_state: %v", nd.name, err)
	}
	for _, o := range f.slots {
		if o == nil || o == nd || o.srv == nil {
			continue
		}
		st, err := o.srv.state()
		if err != nil {
			return fmt.Sprintf("%s: get_state: %v", o.name, err)
		}
		for origin, rs := range mine.Known {
			if lack := rs.Minus(st.Known[origin]); !lack.Empty() {
				return fmt.Sprintf("%s lacks %s %v", o.name, origin, lack)
			}
		}
	}
	return ""
}

// up returns the running nodes in slot order.
func (f *faultNet) up() []*faultNode {
	var out []*faultNode
	for _, nd := range f.slots {
		if nd != nil && nd.srv != nil {
			out = append(out, nd)
		}
	}
	return out
}

// waitConverged polls every running node until all report the same digest and known ticks
// and miss nothing; it returns "" then, or what still differed at the deadline.
func (f *faultNet) waitConverged(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		why := f.converged()
		if why == "" {
			return ""
		}
		if time.Now().After(deadline) {
			return why
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (f *faultNet) converged() string {
	nodes := f.up()
	var first *client.State
	for _, nd := range nodes {
		st, err := nd.srv.state()
		if err != nil {
			return fmt.Sprintf("%s: get_state: %v", nd.name, err)
		}
		if len(st.Missing) > 0 {
			return fmt.Sprintf("%s misses %v", nd.name, st.Missing)
		}
		if st.Waiting {
			return fmt.Sprintf("%s still waits to hear from the network", nd.name)
		}
		if first == nil {
			first = st
			continue
		}
		if st.Digest != first.Digest {
			return fmt.Sprintf("%s digest %x (%d entries), %s digest %x (%d entries)", first.Node, first.Digest, first.Entries, st.Node, st.Digest, st.Entries)
		}
		if !nsSameKnown(st.Known, first.Known) {
			return fmt.Sprintf("%s and %s know different ticks: %s", first.Node, st.Node, faultKnownDiff(first.Known, st.Known))
		}
	}
	return ""
}

// logStates logs what every running node reports of its state: which ticks it knows, has
// heard of and misses, its purge watermark and its housekeeper. A node that knows less than
// another without missing anything never heard of the ticks it lacks; only a repair brings them.
func (f *faultNet) logStates(t *testing.T) {
	t.Helper()
	for _, nd := range f.up() {
		st, err := nd.srv.state()
		if err != nil {
			t.Logf("%s: get_state: %v", nd.name, err)
			continue
		}
		var origins []string
		for o := range st.Known {
			origins = append(origins, o)
		}
		for o := range st.Highest {
			if _, ok := st.Known[o]; !ok {
				origins = append(origins, o)
			}
		}
		slices.Sort(origins)
		var b strings.Builder
		for _, o := range origins {
			fmt.Fprintf(&b, "\n\t%s known %v highest %d missing %v purge %d", o, st.Known[o], st.Highest[o], st.Missing[o], st.Purge[o])
		}
		t.Logf("%s: digest %x, %d entries, waiting %v, housekeeper %s, converged %v:%s",
			nd.name, st.Digest, st.Entries, st.Waiting, st.Housekeeper, st.Converged, b.String())
	}
}

func faultKnownDiff(a, b map[string]node.RangeSet) string {
	var out []string
	for o, rs := range a {
		if !rs.Equal(b[o]) {
			out = append(out, fmt.Sprintf("%s: %v vs %v", o, rs, b[o]))
		}
	}
	for o, rs := range b {
		if _, ok := a[o]; !ok {
			out = append(out, fmt.Sprintf("%s: none vs %v", o, rs))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}

// dumps returns every running node's whole tree (tombstones included), and the node names.
// It dumps until no node's digest moved while it dumped, so that the dumps are one cut.
func (f *faultNet) dumps() ([]map[string]faultVersion, []string) {
	var out []map[string]faultVersion
	var names []string
	for try := 0; try < 5; try++ {
		before := f.digests()
		out, names = nil, nil
		for _, nd := range f.up() {
			out = append(out, f.dump(nd))
			names = append(names, nd.name)
		}
		if slices.Equal(before, f.digests()) {
			break
		}
	}
	return out, names
}

func (f *faultNet) digests() []string {
	var out []string
	for _, nd := range f.up() {
		st, err := nd.srv.state()
		if err != nil {
			out = append(out, err.Error())
			continue
		}
		out = append(out, fmt.Sprint(st.Digest))
	}
	return out
}

func (f *faultNet) dump(nd *faultNode) map[string]faultVersion {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := map[string]faultVersion{}
	f.chains[nd.name] = map[string]node.Chain{}
	err := nd.srv.cl.Walk(ctx, node.Path{}, client.TreeOptions{Empty: true, NChain: -1}, func(e client.Entry) error {
		if len(e.Chain) == 0 {
			return nil // an inner node never written
		}
		d[e.Path.Key()] = faultVersion{deleted: e.Deleted, value: e.Value, origin: e.Chain[0].Origin, tick: e.Chain[0].Tick, tock: e.Tock}
		f.chains[nd.name][e.Path.Key()] = e.Chain
		f.paths[e.Path.Key()] = e.Path.String()
		return nil
	})
	if err != nil {
		f.t.Fatalf("dumping %s: %v", nd.name, err)
	}
	return d
}

// compareDumps fails for every key two nodes hold differently. A tombstone one node holds and
// another has purged is no difference (tombstones are not in the digest, and purges are not
// simultaneous); two different versions, or a value against nothing, are.
func (f *faultNet) compareDumps(dumps []map[string]faultVersion, names []string) {
	t := f.t
	tombs := 0
	for i := 1; i < len(dumps); i++ {
		a, b := dumps[0], dumps[i]
		bad := 0
		keys := map[string]bool{}
		for k := range a {
			keys[k] = true
		}
		for k := range b {
			keys[k] = true
		}
		sorted := slices.Sorted(func(yield func(string) bool) {
			for k := range keys {
				if !yield(k) {
					return
				}
			}
		})
		for _, k := range sorted {
			va, oka := a[k]
			vb, okb := b[k]
			same := oka && okb && va.deleted == vb.deleted && bytes.Equal(va.value, vb.value) &&
				va.origin == vb.origin && va.tick == vb.tick && va.tock == vb.tock &&
				slices.Equal(f.chains[names[0]][k], f.chains[names[i]][k])
			if same {
				continue
			}
			if (!oka && vb.deleted) || (!okb && va.deleted) {
				tombs++
				continue
			}
			if bad++; bad <= 10 {
				t.Errorf("dumps differ at %s: %s has %s, %s has %s", f.paths[k], names[0], faultDesc(va, oka, f.chains[names[0]][k]),
					names[i], faultDesc(vb, okb, f.chains[names[i]][k]))
			}
		}
		if bad > 10 {
			t.Errorf("dumps of %s and %s: %d keys differ in all", names[0], names[i], bad)
		}
	}
	live := 0
	if len(dumps) > 0 {
		for _, v := range dumps[0] {
			if !v.deleted {
				live++
			}
		}
		t.Logf("dumps of %d nodes compared: %d keys, %d with a value (%d tombstones purged on one node and not on another)", len(dumps), len(dumps[0]), live, tombs)
	}
}

func faultDesc(v faultVersion, ok bool, ch node.Chain) string {
	if !ok {
		return "nothing"
	}
	return fmt.Sprintf("%v chain %v", v, ch)
}

// report logs what the nodes counted (conflicts, purges, divergences) and what their logs say.
func (f *faultNet) report() {
	var conflicts, purged uint64
	var per []string
	for _, nd := range f.up() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		raw, err := nd.srv.cl.StateRaw(ctx)
		cancel()
		if err != nil {
			continue
		}
		var m map[string]any
		if msgpack.Unmarshal(raw, &m) != nil {
			continue
		}
		stats, _ := m["stats"].(map[string]any)
		c, p := faultUint(stats["conflicts"]), faultUint(stats["purged"])
		conflicts, purged = conflicts+c, purged+p
		per = append(per, fmt.Sprintf("%s %d/%d", nd.name, c, p))
	}
	f.t.Logf("conflicts/purged per node (since each one's start): %s; %d conflicts and %d tombstones purged in all", strings.Join(per, ", "), conflicts, purged)
	var differ, errs, panics int
	var firstErr string
	for _, nd := range f.allNodes() {
		for _, s := range nd.procs {
			for _, line := range strings.Split(s.log.tail(1<<30), "\n") {
				switch {
				case strings.Contains(line, "trees differ"):
					differ++
				case strings.Contains(line, "panic:") || strings.Contains(line, "DATA RACE"):
					panics++
					f.problem("%s logged %q", nd.name, line)
				case strings.Contains(line, "level=ERROR"):
					errs++
					if firstErr == "" {
						firstErr = nd.name + ": " + line
					}
				}
			}
		}
	}
	f.t.Logf("server logs: %d \"trees differ\" lines, %d errors (first: %s), %d panics", differ, errs, firstErr, panics)
}

// faultUint reads a count from a decoded reply: msgpack gives small ones narrow types.
func faultUint(v any) uint64 {
	switch x := v.(type) {
	case uint64:
		return x
	case int64:
		return uint64(x)
	case uint8:
		return uint64(x)
	case uint16:
		return uint64(x)
	case uint32:
		return uint64(x)
	case int8:
		return uint64(x)
	case int16:
		return uint64(x)
	case int32:
		return uint64(x)
	}
	return 0
}

// allNodes returns every node the test ran, those that left too.
func (f *faultNet) allNodes() []*faultNode {
	out := slices.Clone(f.gone)
	for _, nd := range f.slots {
		if nd != nil {
			out = append(out, nd)
		}
	}
	return out
}

// stopAll ends every process still running (SIGTERM, then SIGKILL).
func (f *faultNet) stopAll() {
	var wg sync.WaitGroup
	for _, nd := range f.allNodes() {
		for _, s := range nd.procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if s.cl != nil {
					s.cl.Close()
				}
				select {
				case <-s.done:
				default:
					s.signal(syscall.SIGTERM)
				}
			}()
		}
	}
	wg.Wait()
}

// saveLogs writes every process's whole log to a directory that outlives the test, and says
// where; it also logs the last lines of each running node's log.
func (f *faultNet) saveLogs(seed uint64) {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("distkv-fault-%d-%d", seed, time.Now().Unix()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.t.Logf("saving logs: %v", err)
		return
	}
	for _, nd := range f.allNodes() {
		for i, s := range nd.procs {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s.%d.log", nd.name, i)), []byte(s.log.tail(1<<30)), 0o644)
		}
	}
	var b strings.Builder
	for i := range f.ops {
		fmt.Fprintln(&b, &f.ops[i])
	}
	os.WriteFile(filepath.Join(dir, "ops.txt"), []byte(b.String()), 0o644)
	// The data dirs too (sparse: the log preallocates), for `distkv snapshot` tools.
	for _, nd := range f.allNodes() {
		if out, err := exec.Command("cp", "-r", "--sparse=always", nd.dir, filepath.Join(dir, nd.name+".data")).CombinedOutput(); err != nil {
			f.t.Logf("copying %s's data dir: %v: %s", nd.name, err, out)
		}
	}
	f.t.Logf("every server's log, data dir, and every op (ops.txt), is in %s", dir)
}
