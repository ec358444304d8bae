package server

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/distkv/distkv/eventlog"
	"github.com/distkv/distkv/node"
)

// dtRecorder is a Replicator that records the ticks handed to it.
type dtRecorder struct {
	mu    sync.Mutex
	ticks []uint64
}

func (r *dtRecorder) Send(us []*node.Update) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range us {
		r.ticks = append(r.ticks, u.Tick)
	}
}

func (r *dtRecorder) has(t uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.ticks, t)
}

// dtFS is the OS file system with a hook run before every write to a log file.
type dtFS struct {
	eventlog.OSFS
	hook atomic.Pointer[func() error]
}

func (f *dtFS) OpenFile(name string, flag int, perm os.FileMode) (eventlog.File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return dtFile{file, f}, nil
}

type dtFile struct {
	eventlog.File
	fs *dtFS
}

func (d dtFile) Write(p []byte) (int, error) {
	if fn := d.fs.hook.Load(); fn != nil {
		if err := (*fn)(); err != nil {
			return 0, err
		}
	}
	return d.File.Write(p)
}

// dtFill writes n entries below t in updates of at most maxOpsPerUpdate ops.
func dtFill(t *testing.T, s *Server, n int) {
	t.Helper()
	for done := 0; done < n; {
		var chs []node.Change
		for ; done < n && len(chs) < maxOpsPerUpdate; done++ {
			chs = append(chs, node.Change{Path: node.StringPath("t", fmt.Sprint(done)), Value: node.AppendInt(nil, int64(done))})
		}
		_, seq, send, _, err := s.Write(chs)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.finish(context.Background(), seq, send); err != nil {
			t.Fatal(err)
		}
	}
}

func dtLive(s *Server) int {
	n := 0
	s.Node(func(nd *node.Node) {
		nd.Walk(node.StringPath("t"), node.WalkOptions{MaxDepth: -1}, func(node.Entry) bool { n++; return true })
	})
	return n
}

// delete_tree takes two chunks here; the log fails the first chunk's batch and takes the
// second's. The reply must say the delete is not durable (not wait for the last chunk only),
// the first chunk must reach the log later (store.recover) and only then the peers, and after
// a restart nothing below the path is back.
func TestDeleteTreeWaitsForEveryChunk(t *testing.T) {
	dir := t.TempDir()
	fs := &dtFS{}
	cfg := Config{Name: "dt", DataDir: dir, Fsync: "always", LogFS: fs}
	s, stop := runServer(t, cfg)
	dtFill(t, s, maxOpsPerUpdate+500)
	rec := &dtRecorder{}
	s.mu.Lock()
	s.repl = rec
	base := s.node.Tick()
	s.mu.Unlock()

	var armed atomic.Bool
	armed.Store(true)
	hook := func() error {
		if !armed.CompareAndSwap(true, false) {
			return nil
		}
		// The first chunk's batch: fail it once the second chunk is in the next batch.
		for deadline := time.Now().Add(ptTimeout); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			var tick uint64
			s.Node(func(n *node.Node) { tick = n.Tick() })
			if tick >= base+2 {
				break
			}
		}
		return syscall.ENOSPC
	}
	fs.hook.Store(&hook)

	c := (&ptSrv{S: s, Addr: s.Addr().String()}).dial(t)
	r := c.call(ptM{"action": "delete_tree", "path": ptA("t")})
	if r["etype"] != "unavailable" {
		t.Fatalf("delete_tree with its first chunk's log write failed: %v, want an unavailable error", r)
	}
	if !rec.has(base + 2) {
		t.Errorf("the second chunk (durable) was not handed to the peers")
	}
	// The store's recovery (every second) may have logged and sent it since: it clears
	// logErr before it sends. Sent with logErr still set is sent before the log took it.
	sent := rec.has(base + 1)
	s.mu.Lock()
	unlogged := s.logErr != nil
	s.mu.Unlock()
	if sent && unlogged {
		t.Errorf("the first chunk went to the peers although the log had not taken it")
	}
	deadline := time.Now().Add(ptTimeout)
	for !rec.has(base + 1) {
		if time.Now().After(deadline) {
			t.Fatalf("the first chunk never reached the log and the peers")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()

	s2, stop2 := runServer(t, Config{Name: "dt", DataDir: dir, Fsync: "always"})
	defer stop2()
	if n := dtLive(s2); n != 0 {
		t.Errorf("after a restart %d entries below t are back", n)
	}
}

// A chunk after the first fails (here the clock is exhausted): the chunk already applied must
// still go to the peers, and the reply is the error.
func TestDeleteTreeMidwayFailureSendsEarlierChunks(t *testing.T) {
	srv := ptStart(t, Config{})
	s := srv.S
	dtFill(t, s, maxOpsPerUpdate+500)
	rec := &dtRecorder{}
	s.mu.Lock()
	s.repl = rec
	base := s.node.Tick()
	// Room for exactly one more update (SeeTock ignores implausible tocks; Apply does not).
	s.node.Apply(&node.Update{Origin: "far~1", Tick: 1, Tock: node.MaxTick - 1})
	s.node.Ready()
	s.mu.Unlock()

	c := srv.dial(t)
	r := c.call(ptM{"action": "delete_tree", "path": ptA("t")})
	if _, ok := r["error"]; !ok {
		t.Fatalf("delete_tree with its second chunk refused: %v, want an error", r)
	}
	if !rec.has(base + 1) {
		t.Errorf("the first chunk, applied, was never handed to the peers")
	}
	if n := dtLive(s); n != 500 {
		t.Errorf("%d entries left below t, want the 500 of the refused chunk", n)
	}
}

// delete_tree with nchain streams one record per deleted entry, as DistKV's: the deletion's
// chain flattened into node, tick and prev, the old value, the path shortened as in get_tree.
func TestDeleteTreeNChainRecords(t *testing.T) {
	s := ptStart(t, Config{})
	c := s.dial(t)
	ptSet(c, ptA("d", "a"), 1)
	ptSet(c, ptA("d", "a", "b"), 2)
	ptSet(c, ptA("d", "c"), 3)
	seq := c.send(ptM{"action": "delete_tree", "path": ptA("d"), "nchain": 1})
	recs := c.streamUntil(seq, "end")
	want := []struct {
		path  []any
		depth uint64
		old   uint64
	}{{ptA("a"), 0, 1}, {ptA("b"), 1, 2}, {ptA("c"), 0, 3}}
	if len(recs) != len(want) {
		t.Fatalf("records %v", recs)
	}
	origin := c.Greeting["origin"]
	for i, w := range want {
		r := recs[i]
		if fmt.Sprint(r["path"]) != fmt.Sprint(w.path) || ptUint(r["depth"]) != w.depth || ptUint(r["old_value"]) != w.old {
			t.Errorf("record %d: %v, want path %v depth %d old_value %d", i, r, w.path, w.depth, w.old)
		}
		if r["node"] != origin || ptUint(r["tick"]) != 4 {
			t.Errorf("record %d: chain head %v %v, want %v 4 (the deletion)", i, r["node"], r["tick"], origin)
		}
		if _, has := r["prev"]; !has || r["prev"] != nil {
			t.Errorf("record %d: prev %v, want nil (the chain is complete at one link)", i, r["prev"])
		}
	}
	if es := c.streamUntil(c.send(ptM{"action": "get_tree", "path": ptA("d")}), "end"); len(es) != 0 {
		t.Errorf("entries left: %v", es)
	}
	// Without nchain, the count.
	ptSet(c, ptA("d", "x"), 1)
	if r := c.ok(ptM{"action": "delete_tree", "path": ptA("d"), "nchain": false}); ptUint(r["changed"]) != 1 {
		t.Errorf("count reply %v", r)
	}
}
