package main

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server"
	"github.com/distkv/distkv/server/servertest"
)

// TestBenchVisibilityCluster runs bench --visibility in-process (so -race sees the watchers)
// against an in-process three-node cluster, writers spread over the nodes. Few keys, so that
// concurrent writes to one path (superseded writes) happen too. No timing assertions.
func TestBenchVisibilityCluster(t *testing.T) { testBenchVisibilityCluster(t, watchersInline) }

// TestBenchVisibilityProcessWatchers is TestBenchVisibilityCluster with the watches in
// child processes (the distkv binary's bench-watcher); -race sees the parent's side.
func TestBenchVisibilityProcessWatchers(t *testing.T) {
	testBenchVisibilityCluster(t, watchersProcess)
}

func testBenchVisibilityCluster(t *testing.T, watchers string) {
	c := servertest.New(t, servertest.Options{N: 3})
	var addrs []string
	for i := range 3 {
		addrs = append(addrs, c.Node(i).Addr().String())
	}
	addr := strings.Join(addrs, ",")

	var out, errb strings.Builder
	code := run([]string{"distkv", "bench", "--addr", addr, "--visibility", "--visibility-watchers", watchers,
		"--clients", "6", "--keys", "20", "--count", "300", "--value-size", "64", "--json"}, strings.NewReader(""), &out, &errb)
	if code != 0 {
		t.Fatalf("bench --visibility --json: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	var res struct {
		Op         string
		Ops        int
		Errors     int
		OpsPerSec  float64 `json:"ops_per_sec"`
		Visibility struct {
			Nodes, Writes, Seen, Superseded, Mismatched int
			NotSeen                                     int                                  `json:"not_seen"`
			WatchErrors                                 []any                                `json:"watch_errors"`
			Latency                                     struct{ P50, P90, P99, Max float64 } `json:"latency_ms"`
			PerNode                                     []struct {
				Addr     string
				P50, P99 float64
			} `json:"per_node_ms"`
		}
	}
	if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
		t.Fatalf("bench --json: %v: %q", err, out.String())
	}
	v := res.Visibility
	if res.Op != "set" || res.Ops != 300 || res.Errors != 0 || res.OpsPerSec <= 0 {
		t.Errorf("bench: %s", out.String())
	}
	if v.Nodes != 3 || v.Writes != 300 || v.Seen != 300 || v.NotSeen != 0 || v.Mismatched != 0 ||
		len(v.WatchErrors) != 0 || v.Latency.Max < v.Latency.P50 || v.Latency.P50 < 0 {
		t.Errorf("visibility: %+v", v)
	}
	if len(v.PerNode) != 3 {
		t.Errorf("per node: %+v, want the 3 nodes", v.PerNode)
	}
	for _, n := range v.PerNode {
		// The slowest node makes the write's latency: no node's own is above it.
		if n.P50 < 0 || n.P99 > v.Latency.P99 || !slices.Contains(addrs, n.Addr) {
			t.Errorf("per node: %+v (all nodes p99 %v)", n, v.Latency.P99)
		}
	}
	t.Logf("visibility: %+v", v)

	// Text, one node named twice (watched once), plus the others; with a duration.
	out.Reset()
	errb.Reset()
	code = run([]string{"distkv", "bench", "--addr", addrs[0] + "," + addr, "--visibility", "--visibility-watchers", watchers,
		"--clients", "4", "--duration", "300ms", "--grace", "20s"}, strings.NewReader(""), &out, &errb)
	if code != 0 || benchLine.FindStringSubmatch(out.String()) == nil {
		t.Fatalf("bench --visibility: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	m := visLine.FindStringSubmatch(out.String())
	if m == nil || m[1] != "3" || m[2] != m[3] || m[4] != "0" || !strings.Contains(out.String(), "visibility ms: p50") {
		t.Errorf("bench --visibility text:\n%s", out.String())
	}
	c.WaitConverged(30 * time.Second)
	c.CheckIdentical()
}

var visLine = regexp.MustCompile(`(?m)^visibility on (\d+) node\(s\): (\d+) writes, (\d+) seen everywhere \(\d+ through a newer version\), (\d+) not within`)

func TestBenchVisibilityFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--visibility", "--op", "get"},
		{"--visibility", "--value-size", "8"},
		{"--grace", "1s"},
		{"--visibility", "--grace", "-1s"},
		{"--visibility", "--visibility-watchers", "threads"},
		{"--visibility-watchers", "process"},
	} {
		var out, errb strings.Builder
		code := run(append([]string{"distkv", "bench", "--addr", "127.0.0.1:1", "--count", "1"}, args...), strings.NewReader(""), &out, &errb)
		if code != exitUsage {
			t.Errorf("bench %v: exit %d, stderr %q; want %d", args, code, errb.String(), exitUsage)
		}
	}
}

// TestVisTag checks that tagged values round-trip through parseTag for every bin header size.
func TestVisTag(t *testing.T) {
	for _, size := range []int{visTagLen, 255, 256, 70000} {
		b := newBench(benchConfig{keys: 1, valueSize: size, clients: 1})
		v := newVisibility(b)
		raw := v.tagged(b, b.values[3], 7, 123456)
		if w, s, ok := v.parseTag(raw); !ok || w != 7 || s != 123456 {
			t.Errorf("size %d: parseTag = %d, %d, %v", size, w, s, ok)
		}
		if _, _, ok := v.parseTag(b.values[3]); ok {
			t.Errorf("size %d: an untagged value parsed", size)
		}
		other := newVisibility(b)
		if _, _, ok := other.parseTag(raw); ok {
			t.Errorf("size %d: another run's tag parsed", size)
		}
	}
}

// TestBenchVisibilityOverflow makes the servers end the bench's watches (a watch queue of 2
// events, and atomic writes of 3 paths at once): the bench must end, print its report and
// name the watch error, not hang.
func TestBenchVisibilityOverflow(t *testing.T) { testBenchVisibilityOverflow(t, watchersInline) }

// TestBenchVisibilityOverflowProcess: the same with the watches in child processes, whose
// end (and the server's reason) must reach the report and the exit code.
func TestBenchVisibilityOverflowProcess(t *testing.T) {
	testBenchVisibilityOverflow(t, watchersProcess)
}

func testBenchVisibilityOverflow(t *testing.T, watchers string) {
	c := servertest.New(t, servertest.Options{N: 2, Configure: func(_ int, cfg *server.Config) { cfg.WatchQueue = 2 }})
	addr := c.Node(0).Addr().String() + "," + c.Node(1).Addr().String()
	done := make(chan struct{})
	var out, errb strings.Builder
	var code int
	go func() {
		defer close(done)
		code = run([]string{"distkv", "bench", "--addr", addr, "--visibility", "--visibility-watchers", watchers,
			"--clients", "2", "--keys", "10", "--duration", "2s", "--grace", "1s"}, strings.NewReader(""), &out, &errb)
	}()
	ops := []client.Op{{Path: node.StringPath("bench", "0")}, {Path: node.StringPath("bench", "1")}, {Path: node.StringPath("bench", "2")}}
	for k := range ops {
		ops[k].Value = node.AppendBinString(nil, "x")
	}
	timeout := time.After(60 * time.Second)
loop:
	for {
		select {
		case <-done:
			break loop
		case <-timeout:
			t.Fatal("bench did not end")
		case <-time.After(20 * time.Millisecond):
			if _, err := c.Client(0).Multi(context.Background(), ops); err != nil {
				t.Fatalf("multi: %v", err)
			}
		}
	}
	if code != exitFailed || !strings.Contains(out.String()+errb.String(), "events pending") {
		t.Errorf("bench with overflowing watches: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	t.Logf("stdout:\n%sstderr: %s", out.String(), errb.String())
}

// TestBenchWatcherClock: a watcher child's event times share the parent's origin t0. An
// event cannot arrive before its write was sent, so its time is at least the parent's time
// just before the write (causality, not a timing bound).
func TestBenchWatcherClock(t *testing.T) {
	c := servertest.New(t, servertest.Options{N: 2})
	ctx := context.Background()
	b := newBench(benchConfig{addrs: []string{c.Node(0).Addr().String(), c.Node(1).Addr().String()},
		clients: 1, keys: 4, valueSize: 32, watchers: watchersProcess, grace: 10 * time.Second})
	if err := b.connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.close()
	v := newVisibility(b)
	if err := v.start(ctx, b); err != nil {
		t.Fatal(err)
	}
	defer v.stop()
	for i := range 5 {
		before := time.Since(v.t0)
		if _, err := b.workers[0].cl.Set(ctx, b.paths[0], v.tagged(b, b.values[0], 0, uint32(i))); err != nil {
			t.Fatal(err)
		}
		for _, w := range v.watches {
			deadline := time.Now().Add(30 * time.Second)
			for {
				w.mu.Lock()
				n, ev, werr := len(w.events[0]), visEvent{}, w.err
				if n > i {
					ev = w.events[0][i]
				}
				w.mu.Unlock()
				if werr != nil {
					t.Fatalf("watch on %s: %v", w.addr, werr)
				}
				if n > i {
					if !ev.tagged || ev.seq != uint32(i) || ev.at < before {
						t.Fatalf("watch on %s: event %+v for the write sent at %v", w.addr, ev, before)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("watch on %s: write %d not seen", w.addr, i)
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
}
