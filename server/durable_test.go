package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/distkv/distkv/node"
)

// runServer starts a server on cfg and returns it with a stop function.
func runServer(t *testing.T, cfg Config) (*Server, func()) {
	t.Helper()
	cfg.ClientAddr = "127.0.0.1:0"
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	for s.Addr() == nil {
		select {
		case err := <-done:
			t.Fatal(err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return s, func() {
		s.Shutdown(context.Background())
		<-done
	}
}

func write(t *testing.T, s *Server, path string, v int64) {
	t.Helper()
	_, seq, send, _, err := s.Write([]node.Change{{Path: node.StringPath("d", path), Value: node.AppendInt(nil, v)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.finish(context.Background(), seq, send); err != nil {
		t.Fatal(err)
	}
}

func state(s *Server) (dump []node.Entry, origin string, tick uint64) {
	s.Node(func(n *node.Node) {
		n.Walk(nil, node.WalkOptions{MaxDepth: -1}, func(e node.Entry) bool { dump = append(dump, e); return true })
		origin, tick = n.Origin(), n.Tick()
	})
	return
}

func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Name: "d1", DataDir: dir, Fsync: "always", SnapshotEvery: 50}
	s, stop := runServer(t, cfg)
	for i := 0; i < 180; i++ { // several snapshots, then a log tail
		write(t, s, fmt.Sprint(i%40), int64(i))
	}
	s.Write([]node.Change{{Path: node.StringPath("d", "3"), Delete: true}})
	time.Sleep(100 * time.Millisecond) // let a requested snapshot run; correctness does not depend on it
	want, origin, tick := state(s)
	stop()

	s2, stop2 := runServer(t, cfg)
	defer stop2()
	got, origin2, tick2 := state(s2)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after restart the tree differs: %d vs %d entries", len(got), len(want))
	}
	checkGenFile(t, dir, origin2)
	if origin2 != origin || tick2 != tick {
		t.Fatalf("clean restart changed identity: %s/%d -> %s/%d", origin, tick, origin2, tick2)
	}
	write(t, s2, "new", 1)
	if _, _, t3 := state(s2); t3 != tick+1 {
		t.Fatalf("next tick %d, want %d", t3, tick+1)
	}
}

func TestDataDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	_, stop := runServer(t, Config{Name: "d1", DataDir: dir})
	defer stop()
	s, err := New(Config{Name: "d2", DataDir: dir, ClientAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err == nil {
		t.Fatal("a second server opened a data dir in use")
	}
}

// An unclean stop under a lazy fsync policy starts a new origin (acknowledged ticks may be
// lost from the log while peers have them) and keeps every entry. The crash is a copy of the
// data dir taken while the server runs: its log has no clean-close trailer.
func TestUncleanLazyStopStartsNewOrigin(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Name: "d1", DataDir: dir, Fsync: "interval"}
	s, stop := runServer(t, cfg)
	for i := 0; i < 20; i++ {
		write(t, s, fmt.Sprint(i), int64(i))
	}
	if err := s.store.log.Sync(); err != nil {
		t.Fatal(err)
	}
	want, origin, tick := state(s)
	checkGenFile(t, dir, origin)
	crashed := t.TempDir()
	if err := os.CopyFS(crashed, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(crashed, lockFile))
	stop()

	cfg.DataDir = crashed
	s2, stop2 := runServer(t, cfg)
	defer stop2()
	got, origin2, tick2 := state(s2)
	checkGenFile(t, crashed, origin2)
	if origin2 == origin || tick2 != 0 {
		t.Fatalf("after an unclean stop: origin %s tick %d, want a new origin (was %s) at tick 0", origin2, tick2, origin)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the tree changed: %d entries, want %d", len(got), len(want))
	}
	var known node.RangeSet
	s2.Node(func(n *node.Node) { known = n.Known()[origin] })
	if !known.Equal(node.Upto(tick)) {
		t.Fatalf("the old origin's known ticks: %s, want 1-%d", known, tick)
	}
	write(t, s2, "after", 1)
	if _, o, t3 := state(s2); o != origin2 || t3 != 1 {
		t.Fatalf("first write after the restart: %s/%d", o, t3)
	}
}

// checkGenFile fails unless the data dir's generation file names the node's origin.
func checkGenFile(t *testing.T, dir, origin string) {
	t.Helper()
	gen, ok, err := readGen(dir)
	if err != nil || !ok || OriginName("d1", gen) != origin {
		t.Fatalf("%s holds generation %d (%v, %v); the node's origin is %s", dir, gen, ok, err, origin)
	}
}

// A crash under a lazy policy that lost the whole log segment after a snapshot still starts a
// new origin: the log alone would look clean and empty, the running marker tells the crash.
// A clean stop keeps the origin.
func TestCrashLosingTheLogAfterASnapshotStartsNewOrigin(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Name: "d1", DataDir: dir, Fsync: "never"}
	s, stop := runServer(t, cfg)
	for i := 0; i < 20; i++ {
		write(t, s, fmt.Sprint(i), int64(i))
	}
	if _, err := s.store.snapshot(); err != nil {
		t.Fatal(err)
	}
	want, origin, _ := state(s)
	crashed := t.TempDir()
	if err := os.CopyFS(crashed, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(crashed, lockFile))
	stop()
	// The crash lost every segment the snapshot points at (nothing was synced after it).
	segs, _ := filepath.Glob(filepath.Join(crashed, logDir, "*"))
	hdrSeg := s.store.log.Segments()
	for _, p := range segs {
		os.Remove(p)
	}
	t.Logf("removed %d segments (the live log had %v)", len(segs), hdrSeg)

	cfg.DataDir = crashed
	s2, stop2 := runServer(t, cfg)
	got, origin2, tick2 := state(s2)
	if origin2 == origin || tick2 != 0 {
		t.Fatalf("after a crash: origin %s tick %d, want a new origin (was %s)", origin2, tick2, origin)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the tree changed: %d entries, want %d", len(got), len(want))
	}
	stop2()
	s3, stop3 := runServer(t, cfg)
	defer stop3()
	if _, origin3, _ := state(s3); origin3 != origin2 {
		t.Fatalf("after a clean stop: origin %s, want %s kept", origin3, origin2)
	}
}

// TestRestartSkipsImplausibleRecords: a node that logged a peer's update with tock 2^63-1 (or a
// chain naming tick 2^62 of another origin) before such input was refused starts again with
// a working clock, and without the far gap.
func TestRestartSkipsImplausibleRecords(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Name: "d1", DataDir: dir, Fsync: "always"}
	s, stop := runServer(t, cfg)
	write(t, s, "a", 1)
	for _, u := range []*node.Update{
		{Origin: "evil~1", Tick: 1, Tock: node.MaxTick, Ops: []node.Op{{Path: node.StringPath("x"), Value: []byte{1}}}},
		{Origin: "evil~1", Tick: 2, Tock: 5, Ops: []node.Op{{Path: node.StringPath("y"), Value: []byte{1}, Chain: node.Chain{{Origin: "other~1", Tick: 1 << 62}}}}},
	} {
		s.mu.Lock()
		s.node.Apply(u) // as the peer plane did before Plausible
		_, _, err := s.commitLocked()
		s.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, _, _, _, err := s.Write([]node.Change{{Path: node.StringPath("d", "b"), Value: node.AppendInt(nil, 2)}}); err == nil {
		t.Fatal("setup: the clock is not exhausted")
	}
	stop()

	s2, stop2 := runServer(t, cfg)
	defer stop2()
	write(t, s2, "c", 3)
	s2.Node(func(n *node.Node) {
		if n.Tock() > node.MaxPlausible || n.Highest()["other~1"] != 0 {
			t.Errorf("after restart: tock %d, highest of other~1 %d", n.Tock(), n.Highest()["other~1"])
		}
		if _, ok := n.Lookup(node.StringPath("d", "a")); !ok {
			t.Error("own write lost")
		}
	})
}
