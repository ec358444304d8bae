package tests

// Durability through the real binary: kill -9 under load, damaged log segments and snapshots,
// and a backup restored into a new network. Helpers here are prefixed "dur" so that other test
// files of the package can have their own.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/eventlog"
	"github.com/distkv/distkv/internal/testport"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/snapshot"
)

// Deadlines are generous: the machine may be small and busy.
const (
	durStartDeadline = 90 * time.Second
	durStopDeadline  = 60 * time.Second
	durCmdDeadline   = 120 * time.Second
)

// durBuffer collects a process's output for failure reports.
type durBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *durBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *durBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// durEnv is the environment for the binary: ours without DISTKV_* settings.
func durEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DISTKV_") {
			env = append(env, kv)
		}
	}
	return env
}

// durProc is a running distkv process.
type durProc struct {
	cmd    *exec.Cmd
	stderr *durBuffer
	done   chan struct{}
	err    error // of Wait, once done is closed
}

// durNeedBin skips a test when TestMain built no binary.
func durNeedBin(t *testing.T) {
	t.Helper()
	if distkvBin == "" {
		t.Skip("no distkv binary was built")
	}
}

func durStart(t *testing.T, args ...string) *durProc {
	t.Helper()
	p := &durProc{stderr: &durBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(distkvBin, args...)
	p.cmd.Env = durEnv()
	p.cmd.Stdout = p.stderr
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// exitCode waits for the process to end and returns its exit code (-1 for a signal).
func (p *durProc) exitCode(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("%v did not end within %v; output:\n%s", p.cmd.Args, within, p.stderr)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatalf("%v: %v", p.cmd.Args, p.err)
	}
	return 0
}

// kill9 kills the process with SIGKILL and waits for it.
func (p *durProc) kill9(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.exitCode(t, durStopDeadline)
}

// stop ends the process with SIGTERM; it must exit 0.
func (p *durProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.exitCode(t, durStopDeadline); code != 0 {
		t.Fatalf("%v: exit %d after SIGTERM; output:\n%s", p.cmd.Args, code, p.stderr)
	}
}

// durRun runs the binary to completion and returns its stdout, stderr and exit code.
func durRun(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), durCmdDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, distkvBin, args...)
	cmd.Env = durEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errb.String(), 0
	case errors.As(err, &ee) && ee.Exited():
		return out.String(), errb.String(), ee.ExitCode()
	}
	t.Fatalf("distkv %s: %v (stderr %q)", strings.Join(args, " "), err, errb.String())
	return "", "", 0
}

// durOK runs the binary and fails the test unless it exits 0; it returns stdout.
func durOK(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := durRun(t, args...)
	if code != 0 {
		t.Fatalf("distkv %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// durConnect dials addr until it answers and the node reports ready; the process must not exit
// meanwhile.
func durConnect(t *testing.T, p *durProc, addr string) *client.Client {
	t.Helper()
	deadline := time.Now().Add(durStartDeadline)
	for {
		select {
		case <-p.done:
			t.Fatalf("%v exited early (%v); output:\n%s", p.cmd.Args, p.err, p.stderr)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		cl, err := client.Dial(ctx, addr)
		if err == nil {
			st, err := cl.State(ctx)
			cancel()
			if err == nil && st.Ready {
				t.Cleanup(func() { cl.Close() })
				return cl
			}
			cl.Close()
		} else {
			cancel()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v not ready on %s within %v (%v); output:\n%s", p.cmd.Args, addr, durStartDeadline, err, p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func durState(t *testing.T, cl *client.Client) *client.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := cl.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// durEntry is one live entry as a walk shows it.
type durEntry struct {
	value string
	head  node.Link
	tock  uint64
}

// durWalk returns every live entry of the node's tree by its path's string form.
func durWalk(t *testing.T, cl *client.Client) map[string]durEntry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), durCmdDeadline)
	defer cancel()
	out := map[string]durEntry{}
	err := cl.Walk(ctx, node.Path{}, client.TreeOptions{NChain: 1}, func(e client.Entry) error {
		if len(e.Chain) == 0 {
			return fmt.Errorf("%s: no chain", e.Path)
		}
		out[e.Path.String()] = durEntry{value: string(e.Value), head: e.Chain[0], tock: e.Tock}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// durAck is one write the server acknowledged.
type durAck struct {
	path  node.Path
	value []byte
	head  node.Link
}

// durCheckAcks checks that every acknowledged write is in the node's tree with its value and
// its version (origin, tick). Each path is written once.
func durCheckAcks(t *testing.T, cl *client.Client, acks []durAck) {
	t.Helper()
	tree := durWalk(t, cl)
	bad := 0
	for _, a := range acks {
		e, ok := tree[a.path.String()]
		if !ok || e.value != string(a.value) || e.head != a.head {
			if bad++; bad <= 10 {
				t.Errorf("acknowledged write %s = %x at %v: the node holds %+v (present %v)", a.path, a.value, a.head, e, ok)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d acknowledged writes lost or changed", bad, len(acks))
	}
}

func durSet(t *testing.T, cl *client.Client, p node.Path, v any) durAck {
	t.Helper()
	raw, err := client.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cl.Set(ctx, p, raw)
	if err != nil {
		t.Fatalf("set %s: %v", p, err)
	}
	return durAck{path: p, value: raw, head: res.Chain[0]}
}

// TestKill9UnderLoad kills a server (--fsync always) with SIGKILL while 8 clients write, three
// times: after each restart every acknowledged write is there with its version, the node keeps
// its origin, and its next tick is above every acknowledged one.
func TestKill9UnderLoad(t *testing.T) {
	durNeedBin(t)
	cycles, load := 3, 1500*time.Millisecond
	if testing.Short() {
		cycles, load = 2, 700*time.Millisecond
	}
	dir := t.TempDir()
	var acks []durAck
	origin := ""
	var maxTick uint64
	for cycle := 0; cycle <= cycles; cycle++ {
		addr := testport.Addr(t, "127.0.0.1", true)
		p := durStart(t, "server", "--name", "k9", "--data-dir", dir, "--fsync", "always", "--client-addr", addr)
		cl := durConnect(t, p, addr)
		st := durState(t, cl)
		if cycle == 0 {
			origin = st.Origin
		} else {
			if st.Origin != origin {
				t.Fatalf("restart %d: origin %s, was %s (fsync always must keep it)", cycle, st.Origin, origin)
			}
			if st.Tick < maxTick || len(st.Missing[origin].Ranges()) > 0 {
				t.Fatalf("restart %d: tick %d, missing %v; acknowledged up to %d", cycle, st.Tick, st.Missing[origin], maxTick)
			}
			durCheckAcks(t, cl, acks)
			// The next write takes a tick above every acknowledged one: none is reused.
			a := durSet(t, cl, node.StringPath("probe", fmt.Sprint(cycle)), cycle)
			if a.head.Origin != origin || a.head.Tick <= maxTick {
				t.Fatalf("restart %d: first write got %v; acknowledged ticks reach %d", cycle, a.head, maxTick)
			}
			acks = append(acks, a)
			maxTick = a.head.Tick
			t.Logf("restart %d: %d acknowledged writes intact; next tick %d", cycle, len(acks), a.head.Tick)
		}
		if cycle == cycles {
			p.stop(t)
			break
		}

		// Load: 8 clients writing unique keys; SIGKILL in the middle of it.
		var killed atomic.Bool
		var wg sync.WaitGroup
		got := make([][]durAck, 8)
		for w := range 8 {
			wcl := durConnect(t, p, addr)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					path := node.StringPath("w", fmt.Sprint(cycle), fmt.Sprint(w), fmt.Sprint(i))
					raw, _ := client.Encode(fmt.Sprintf("c%d-w%d-i%d", cycle, w, i))
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					res, err := wcl.Set(ctx, path, raw)
					cancel()
					if err != nil {
						if !killed.Load() {
							t.Errorf("writer %d before the kill: %v", w, err)
						}
						return
					}
					got[w] = append(got[w], durAck{path: path, value: raw, head: res.Chain[0]})
				}
			}()
		}
		time.Sleep(load)
		killed.Store(true)
		p.kill9(t)
		wg.Wait()
		n := 0
		for _, g := range got {
			n += len(g)
			acks = append(acks, g...)
		}
		if n < 50 {
			t.Fatalf("cycle %d: only %d writes acknowledged before the kill", cycle, n)
		}
		for _, a := range acks {
			maxTick = max(maxTick, a.head.Tick)
		}
	}
	// No two acknowledged writes share a version.
	seen := map[node.Link]node.Path{}
	for _, a := range acks {
		if p, dup := seen[a.head]; dup {
			t.Errorf("%s and %s were both acknowledged as %v", p, a.path, a.head)
		}
		seen[a.head] = a.path
	}
}

// ---- damaged files ----

// durRecord is one record of an event-log segment.
type durRecord struct {
	off, size int64 // of the whole record, header included
	typ       byte
	payload   []byte
}

// durSegment parses an event-log segment (docs/formats.md): a 16-byte header, then records of
// CRC 4 B | length 4 B LE | type 1 B | payload.
func durSegment(t *testing.T, path string) []durRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []durRecord
	for off := int64(16); off < int64(len(b)); {
		if int64(len(b))-off < 9 {
			t.Fatalf("%s: short record at %d", path, off)
		}
		n := int64(binary.LittleEndian.Uint32(b[off+4:]))
		if off+9+n > int64(len(b)) {
			t.Fatalf("%s: record at %d runs past the end", path, off)
		}
		recs = append(recs, durRecord{off: off, size: 9 + n, typ: b[off+8], payload: b[off+9 : off+9+n]})
		off += 9 + n
	}
	return recs
}

func durSegments(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if _, ok := eventlog.ParseSegmentName(e.Name()); ok {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(out)
	return out
}

// durWriteN writes n keys prefix.0 .. prefix.n-1 and returns the acknowledgements.
func durWriteN(t *testing.T, cl *client.Client, prefix string, n int) []durAck {
	t.Helper()
	acks := make([]durAck, n)
	for i := range n {
		acks[i] = durSet(t, cl, node.StringPath(prefix, fmt.Sprint(i)), fmt.Sprintf("%s-%d", prefix, i))
	}
	return acks
}

func durFlipByte(t *testing.T, path string, off int64) byte {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{b[0] ^ 0x5a}, off); err != nil {
		t.Fatal(err)
	}
	return b[0]
}

// TestTornTailAndCorruptLog: a newest segment cut in the middle of a record is a torn tail (the
// server starts, says so, and holds every record before it); a flipped byte in an older segment
// is corruption (the server refuses to start, clearly).
func TestTornTailAndCorruptLog(t *testing.T) {
	durNeedBin(t)
	dir := t.TempDir()
	logDir := filepath.Join(dir, "log")
	start := func() (*durProc, *client.Client) {
		addr := testport.Addr(t, "127.0.0.1", true)
		p := durStart(t, "server", "--name", "torn", "--data-dir", dir, "--client-addr", addr)
		return p, durConnect(t, p, addr)
	}

	// Two runs: two segments, each ending with the clean-close trailer.
	p, cl := start()
	origin := durState(t, cl).Origin
	acks := durWriteN(t, cl, "one", 60)
	p.stop(t)
	p, cl = start()
	acks = append(acks, durWriteN(t, cl, "two", 60)...)
	p.stop(t)
	segs := durSegments(t, logDir)
	if len(segs) != 2 {
		t.Fatalf("segments %v, want 2", segs)
	}

	// Cut the newest segment in the middle of its 50th data record.
	recs := durSegment(t, segs[1])
	var data []durRecord
	for _, r := range recs {
		if r.typ == 1 {
			data = append(data, r)
		}
	}
	if len(data) != 60 || recs[len(recs)-1].typ != 2 {
		t.Fatalf("newest segment: %d records, %d data; want 60 data and the close trailer", len(recs), len(data))
	}
	cut := data[49]
	u, err := node.DecodeUpdate(cut.payload)
	if err != nil {
		t.Fatal(err)
	}
	if !u.Ops[0].Path.Equal(acks[60+49].path) {
		t.Fatalf("record 50 of the newest segment is %v, want the write of %s", u, acks[60+49].path)
	}
	if err := os.Truncate(segs[1], cut.off+cut.size/2); err != nil {
		t.Fatal(err)
	}
	p, cl = start()
	if out := p.stderr.String(); !strings.Contains(out, "torn tail") {
		t.Errorf("the server did not report the torn tail:\n%s", out)
	}
	if st := durState(t, cl); st.Origin != origin || st.Tick != acks[60+48].head.Tick {
		t.Errorf("after the torn tail: origin %s tick %d; want %s and %d", st.Origin, st.Tick, origin, acks[60+48].head.Tick)
	}
	durCheckAcks(t, cl, acks[:60+49])
	tree := durWalk(t, cl)
	for _, a := range acks[60+49:] {
		if e, ok := tree[a.path.String()]; ok {
			t.Errorf("%s survived the cut: %+v", a.path, e)
		}
	}
	after := durSet(t, cl, node.StringPath("after"), 1)
	if after.head.Tick != acks[60+48].head.Tick+1 {
		t.Errorf("first write after the cut: %v, want tick %d (the cut ticks were never acknowledged)", after.head, acks[60+48].head.Tick+1)
	}
	p.stop(t)

	// Flip a byte inside the 20th record of the oldest segment: corruption, not a torn tail.
	segs = durSegments(t, logDir)
	old := durSegment(t, segs[0])
	off := old[19].off + old[19].size - 3
	orig := durFlipByte(t, segs[0], off)
	addr := testport.Addr(t, "127.0.0.1", true)
	p = durStart(t, "server", "--name", "torn", "--data-dir", dir, "--client-addr", addr)
	if code := p.exitCode(t, durStartDeadline); code == 0 {
		t.Errorf("the server started on a corrupt log; output:\n%s", p.stderr)
	}
	out := p.stderr.String()
	if !strings.Contains(out, "corrupt") || !strings.Contains(out, filepath.Base(segs[0])) || !strings.Contains(out, fmt.Sprintf("offset %d", old[19].off)) {
		t.Errorf("unclear error for a corrupt older segment:\n%s", out)
	}
	t.Logf("the server refused the corrupt log: %s", strings.TrimSpace(out))
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("the client port answered")
	}

	// Repaired, it starts and holds everything.
	f, err := os.OpenFile(segs[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{orig}, off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	p, cl = start()
	durCheckAcks(t, cl, append(acks[:60+49:60+49], after))
	p.stop(t)
}

// durSnapshotNow makes the server write a snapshot (`distkv snapshot save --server-side`) and
// checks that it is snapshot number seq in snapDir.
func durSnapshotNow(t *testing.T, addr, snapDir string, seq uint64) {
	t.Helper()
	want := filepath.Join(snapDir, snapshot.FileName(seq))
	if out := durOK(t, "snapshot", "save", "--server-side", "--addr", addr); out != want+"\n" {
		t.Fatalf("snapshot save --server-side printed %q, want %s", out, want)
	}
	if _, _, err := snapshot.Verify(want); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedSnapshotFallsBack: with the newest snapshot damaged, the server starts from the
// one before it and replays the log from there, losing nothing.
func TestDamagedSnapshotFallsBack(t *testing.T) {
	durNeedBin(t)
	dir := t.TempDir()
	snapDir := filepath.Join(dir, "snap")
	addr := testport.Addr(t, "127.0.0.1", true)
	p := durStart(t, "server", "--name", "fb", "--data-dir", dir, "--client-addr", addr)
	cl := durConnect(t, p, addr)
	origin := durState(t, cl).Origin
	acks := durWriteN(t, cl, "a", 40)
	durSnapshotNow(t, addr, snapDir, 1)
	acks = append(acks, durWriteN(t, cl, "b", 40)...)
	durSnapshotNow(t, addr, snapDir, 2)
	acks = append(acks, durWriteN(t, cl, "c", 40)...)
	p.stop(t)

	seqs, err := snapshot.List(snapDir)
	if err != nil || len(seqs) != 2 {
		t.Fatalf("snapshots %v %v", seqs, err)
	}
	newest := filepath.Join(snapDir, snapshot.FileName(seqs[1]))
	h, n, err := snapshot.Verify(newest)
	if err != nil || n != 80 {
		t.Fatalf("newest snapshot: %d entries, %v", n, err)
	}
	if segs := durSegments(t, filepath.Join(dir, "log")); len(segs) == 0 || filepath.Base(segs[0]) > eventlog.SegmentName(h.LogSegment) {
		t.Fatalf("log %v does not reach back to the newest snapshot's segment %d", segs, h.LogSegment)
	}
	fi, err := os.Stat(newest)
	if err != nil {
		t.Fatal(err)
	}
	durFlipByte(t, newest, fi.Size()/2)
	if _, errs, code := durRun(t, "snapshot", "verify", newest); code != 1 || !strings.Contains(errs, "is damaged") {
		t.Errorf("snapshot verify of the damaged snapshot: exit %d, %q", code, errs)
	}

	addr = testport.Addr(t, "127.0.0.1", true)
	p = durStart(t, "server", "--name", "fb", "--data-dir", dir, "--client-addr", addr)
	cl = durConnect(t, p, addr)
	if out := p.stderr.String(); !strings.Contains(out, "skipping a damaged snapshot") || !strings.Contains(out, filepath.Base(newest)) {
		t.Errorf("the server did not report the damaged snapshot:\n%s", out)
	}
	if st := durState(t, cl); st.Origin != origin || st.Entries != 120 {
		t.Errorf("after the fallback: origin %s, %d entries; want %s and 120", st.Origin, st.Entries, origin)
	}
	durCheckAcks(t, cl, acks)
	p.stop(t)
}

// ---- restore into a new network ----

// TestRestoreIntoNewNetwork saves a node holding 100k keys with `distkv snapshot save`,
// restores the file into a new data directory, starts a new network from it (B alone, then C
// with an empty directory joining B) and compares the trees and digests of A, B and C.
func TestRestoreIntoNewNetwork(t *testing.T) {
	durNeedBin(t)
	keys := 100000
	if testing.Short() {
		keys = 10000
	}
	tmp := t.TempDir()
	addrA := testport.Addr(t, "127.0.0.1", true)
	a := durStart(t, "server", "--name", "a", "--client-addr", addrA)
	clA := durConnect(t, a, addrA)

	// Fill A: Multi batches of 500 ops from 4 clients, then delete a few (tombstones travel
	// too), and overwrite some (chains of two versions).
	const batch = 500
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		cl := durConnect(t, a, addrA)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for first := w * batch; first < keys; first += 4 * batch {
				ops := make([]client.Op, 0, batch)
				for i := first; i < min(first+batch, keys); i++ {
					raw, _ := client.Encode(fmt.Sprintf("value-%d", i))
					ops = append(ops, client.Op{Path: node.Path{node.String("k"), node.Int(int64(i / 1000)), node.Int(int64(i))}, Value: raw})
				}
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				_, err := cl.Multi(ctx, ops)
				cancel()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		p := node.Path{node.String("k"), node.Int(int64(i / 1000)), node.Int(int64(i))}
		if i%2 == 0 {
			if _, err := clA.Delete(ctx, p); err != nil {
				t.Fatal(err)
			}
		} else if _, err := clA.SetValue(ctx, p, "again"); err != nil {
			t.Fatal(err)
		}
	}
	stA := durState(t, clA)
	if stA.Entries != uint64(keys-50) {
		t.Fatalf("A holds %d entries, want %d", stA.Entries, keys-50)
	}

	file := filepath.Join(tmp, "backup.dks")
	if out := durOK(t, "snapshot", "save", "--addr", addrA, file); out != fmt.Sprintf("saved %d entries to %s\n", keys, file) {
		t.Errorf("save printed %q", out)
	}
	if out := durOK(t, "snapshot", "verify", file); !strings.Contains(out, fmt.Sprintf("entries:     %d (%d values, 50 deleted)", keys, keys-50)) {
		t.Errorf("verify printed %q", out)
	}
	dirB, dirC := filepath.Join(tmp, "b"), filepath.Join(tmp, "c")
	if out := durOK(t, "snapshot", "restore", "--data-dir", dirB, file); !strings.Contains(out, fmt.Sprintf("restored %d entries", keys)) {
		t.Errorf("restore printed %q", out)
	}

	addrB, gossipB := testport.Addr(t, "127.0.0.1", true), testport.Addr(t, "127.0.0.2", true)
	b := durStart(t, "server", "--name", "b", "--data-dir", dirB, "--client-addr", addrB, "--gossip-addr", gossipB, "--profile", "test")
	clB := durConnect(t, b, addrB)
	addrC, gossipC := testport.Addr(t, "127.0.0.1", true), testport.Addr(t, "127.0.0.3", true)
	c := durStart(t, "server", "--name", "c", "--data-dir", dirC, "--client-addr", addrC, "--gossip-addr", gossipC,
		"--join", gossipB, "--profile", "test")
	clC := durConnect(t, c, addrC)

	stB := durState(t, clB)
	if stB.Origin == stA.Origin || !strings.HasPrefix(stB.Origin, "b~") {
		t.Errorf("B's origin %s (A's %s): a restored node takes a new one", stB.Origin, stA.Origin)
	}
	if !stB.Known[stA.Origin].Equal(stA.Known[stA.Origin]) || len(stB.Missing) != 0 {
		t.Errorf("B: known %v missing %v; A knows %v", stB.Known, stB.Missing, stA.Known)
	}
	// C is ready once it took B's state; the digests must agree (wait a little for the
	// housekeeper, should anything be pulled afterwards).
	deadline := time.Now().Add(60 * time.Second)
	var stC *client.State
	for {
		stC = durState(t, clC)
		if stC.Digest == stA.Digest && durState(t, clB).Digest == stA.Digest {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("digests differ: A %x, B %x, C %x (C holds %d entries); C's output:\n%s",
				stA.Digest, durState(t, clB).Digest, stC.Digest, stC.Entries, c.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	treeA := durWalk(t, clA)
	if len(treeA) != keys-50 {
		t.Errorf("A's walk: %d entries, want %d", len(treeA), keys-50)
	}
	for name, cl := range map[string]*client.Client{"B": clB, "C": clC} {
		tree := durWalk(t, cl)
		diff := 0
		for p, e := range treeA {
			if tree[p] != e {
				if diff++; diff <= 5 {
					t.Errorf("%s: %s = %+v, A has %+v", name, p, tree[p], e)
				}
			}
		}
		if diff > 0 || len(tree) != len(treeA) {
			t.Errorf("%s: %d of %d entries differ from A's; %d entries", name, diff, len(treeA), len(tree))
		}
	}
	for _, p := range []*durProc{c, b, a} {
		p.stop(t)
	}
}
