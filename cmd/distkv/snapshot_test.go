package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server"
	"github.com/distkv/distkv/snapshot"
)

// The snapshot commands run in-process (run), against files made with the snapshot package and
// against in-process servers, so that -race sees them.

type snapRun struct {
	code        int
	out, stderr string
}

func (r snapRun) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.out, r.stderr)
}

func runSnap(args ...string) snapRun {
	var out, errb strings.Builder
	code := run(append([]string{"distkv"}, args...), strings.NewReader(""), &out, &errb)
	return snapRun{code, out.String(), errb.String()}
}

// inProcServer starts a server.Server on 127.0.0.1:0 and returns it with its client address.
func inProcServer(t *testing.T, cfg server.Config) (*server.Server, string) {
	t.Helper()
	cfg.ClientAddr = "127.0.0.1:0"
	if cfg.Name == "" {
		cfg.Name = "snaptest"
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, server.ErrClosed) {
			t.Errorf("run: %v", err)
		}
	})
	return srv, srv.Addr().String()
}

func dialT(t *testing.T, addr string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func mustEncode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := client.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serverEntries returns the server's entries as Load updates, in path order.
func serverEntries(srv *server.Server) (ups []*node.Update, digest [2]uint64, known map[string]node.RangeSet) {
	srv.Node(func(n *node.Node) {
		var after node.Path
		for {
			after = n.Entries(after, 1<<20, func(u *node.Update) { ups = append(ups, u) })
			if after == nil {
				break
			}
		}
		digest, known = n.Digest(nil), n.Known()
	})
	return ups, digest, known
}

// fileEntries reads a whole snapshot file.
func fileEntries(t *testing.T, path string) (snapshot.Header, []*node.Update) {
	t.Helper()
	r, err := snapshot.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var ups []*node.Update
	for {
		u, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r.Header(), ups
		}
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, u)
	}
}

func sameUpdate(a, b *node.Update) bool {
	if a.Origin != b.Origin || a.Tick != b.Tick || a.Tock != b.Tock || len(a.Ops) != len(b.Ops) {
		return false
	}
	for i := range a.Ops {
		x, y := a.Ops[i], b.Ops[i]
		if !x.Path.Equal(y.Path) || x.Delete != y.Delete || string(x.Value) != string(y.Value) ||
			!slices.Equal(entryChain(a, x.Chain), entryChain(b, y.Chain)) {
			return false
		}
	}
	return true
}

// entryChain is the chain an entry has once u's op with chain c is applied: u's link, then c
// without the link of u's own origin (a chain holds one link per origin), at most 8 links (the
// node's default). An op's chain is the replaced version's; a tree walk shows the entry's, so a
// snapshot saved from a walk (client.Dump) may lack that same-origin link, which the entry's
// chain drops anyway.
func entryChain(u *node.Update, c node.Chain) node.Chain {
	out := node.Chain{{Origin: u.Origin, Tick: u.Tick}}
	for _, l := range c {
		if l.Origin != u.Origin {
			out = append(out, l)
		}
	}
	return out[:min(len(out), 8)]
}

func diffUpdates(t *testing.T, what string, got, want []*node.Update) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d entries, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range min(len(got), len(want)) {
		if !sameUpdate(got[i], want[i]) {
			if bad++; bad <= 5 {
				t.Errorf("%s: entry %d: %v %v, want %v %v", what, i, got[i], got[i].Ops, want[i], want[i].Ops)
			}
		}
	}
}

// loadFile builds a node from a snapshot file as the server's restore does.
func loadFile(t *testing.T, path string) *node.Node {
	t.Helper()
	h, ups := fileEntries(t, path)
	n := node.New(node.Config{Origin: "loader~1"})
	for _, u := range ups {
		n.Load(u)
	}
	for o, rs := range h.Known {
		n.MarkKnown(o, rs)
	}
	n.Ready()
	return n
}

// fillServer writes a mix of values, deletes and an atomic multi-path write.
func fillServer(t *testing.T, cl *client.Client) {
	t.Helper()
	ctx := context.Background()
	vals := []any{"text", int64(42), 1.5, true, nil, []byte{0, 1, 2}, []any{"x", int64(2)}, map[string]any{"k": "v"}}
	for i, v := range vals {
		if _, err := cl.SetValue(ctx, node.StringPath("v", fmt.Sprint(i)), v); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		p := node.Path{node.String("n"), node.Int(int64(i))}
		if _, err := cl.SetValue(ctx, p, i); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.SetValue(ctx, p, i*10); err != nil { // a chain of two versions
			t.Fatal(err)
		}
	}
	for i := range 5 {
		if _, err := cl.Delete(ctx, node.Path{node.String("n"), node.Int(int64(i))}); err != nil {
			t.Fatal(err)
		}
	}
	ops := []client.Op{{Path: node.StringPath("m", "a"), Value: mustEncode(t, "a")}, {Path: node.StringPath("m", "b"), Value: mustEncode(t, "b")}}
	if _, err := cl.Multi(ctx, ops); err != nil {
		t.Fatal(err)
	}
}

var savedLine = regexp.MustCompile(`^saved (\d+) entries to (.+)\n$`)

func TestSnapshotSave(t *testing.T) {
	srv, addr := inProcServer(t, server.Config{Name: "saver"})
	cl := dialT(t, addr)
	fillServer(t, cl)
	st, err := cl.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "backup.dks")
	r := runSnap("snapshot", "save", "--addr", addr, file)
	m := savedLine.FindStringSubmatch(r.out)
	if r.code != 0 || m == nil || m[2] != file || r.stderr != "" {
		t.Fatalf("save: %s", r)
	}
	want, digest, known := serverEntries(srv)
	if m[1] != fmt.Sprint(len(want)) {
		t.Errorf("save printed %s entries, the server holds %d", m[1], len(want))
	}
	h, got := fileEntries(t, file)
	diffUpdates(t, "saved file", got, want)
	if h.Node != "saver" || h.Origin != st.Origin || h.LogSegment != 0 || h.Tock != st.Tock || h.Entries != st.Entries {
		t.Errorf("header %+v, state %+v", h, st)
	}
	if len(h.Known) != 1 || !h.Known[st.Origin].Equal(known[st.Origin]) || h.Highest[st.Origin] != st.Tick {
		t.Errorf("header known %v highest %v, want %v and %d", h.Known, h.Highest, known, st.Tick)
	}
	if time.Since(time.Unix(h.Created, 0)) > time.Minute {
		t.Errorf("created %v", time.Unix(h.Created, 0))
	}
	if n := loadFile(t, file); n.Digest(nil) != digest || n.Len() != int(st.Entries) {
		t.Errorf("loaded file: digest %x, %d entries; server %x, %d", n.Digest(nil), n.Len(), digest, st.Entries)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("save left %v", ents)
	}

	// Saving again replaces the file atomically.
	if _, err := cl.SetValue(context.Background(), node.StringPath("later"), 1); err != nil {
		t.Fatal(err)
	}
	if r := runSnap("snapshot", "save", "--addr", addr, file); r.code != 0 {
		t.Fatalf("save over: %s", r)
	}
	if _, got := fileEntries(t, file); len(got) != len(want)+1 {
		t.Errorf("second save: %d entries, want %d", len(got), len(want)+1)
	}

	// Errors: usage (2), a server that is not there (3), a file that cannot be written (1).
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"save", "--addr", addr}, exitUsage, "want FILE"},
		{[]string{"save", "--addr", addr, "a", "b"}, exitUsage, "want FILE"},
		{[]string{"save", "--addr", addr, file, "--server-side"}, exitUsage, "flags go before arguments"},
		{[]string{"save", "--addr", addr, file + ".tmp"}, exitUsage, ".tmp"},
		{[]string{"save", "--addr", addr, dir}, exitUsage, "is a directory"},
		{[]string{"save", "--addr", "nohost", file}, exitUsage, "--addr"},
		{[]string{"save", "--server-side", "--addr", addr, file}, exitUsage, "takes no FILE"},
		{[]string{"save", "--addr", freePort(t), filepath.Join(dir, "x.dks")}, exitConn, "cannot connect"},
		{[]string{"save", "--addr", addr, filepath.Join(dir, "nodir", "x.dks")}, exitFailed, "no such file or directory"},
		{[]string{"save", "--addr", addr, filepath.Join(file, "x.dks")}, exitFailed, "is not a directory"},
	} {
		r := runSnap(append([]string{"snapshot"}, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("snapshot %s: %s; want exit %d and %q", strings.Join(tc.args, " "), r, tc.code, tc.msg)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.dks")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed save left x.dks: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("failed saves left %v", ents)
	}
}

// TestSnapshotSaveUnderLoad saves while writers run: the file must verify and hold every write
// acknowledged before the save began, and a node loading it must hold every tick it claims.
func TestSnapshotSaveUnderLoad(t *testing.T) {
	_, addr := inProcServer(t, server.Config{Name: "busy"})
	cl := dialT(t, addr)
	ctx := context.Background()
	for i := range 300 {
		if _, err := cl.SetValue(ctx, node.StringPath("before", fmt.Sprint(i)), i); err != nil {
			t.Fatal(err)
		}
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 3 {
		wcl := dialT(t, addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				if _, err := wcl.SetValue(ctx, node.StringPath("during", fmt.Sprint(w), fmt.Sprint(i%200)), i); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	file := filepath.Join(t.TempDir(), "busy.dks")
	r := runSnap("snapshot", "save", "--addr", addr, file)
	stop.Store(true)
	wg.Wait()
	if r.code != 0 {
		t.Fatalf("save: %s", r)
	}
	h, ups := fileEntries(t, file)
	paths := map[string]*node.Update{}
	for _, u := range ups {
		paths[u.Ops[0].Path.String()] = u
	}
	for i := range 300 {
		if u := paths[fmt.Sprintf("before.%d", i)]; u == nil {
			t.Errorf("before.%d missing", i)
		}
	}
	// Every tick the header claims is reflected: no entry of a claimed tick is older than the
	// entry of a later tick of the same origin at the same path (writes go to one origin here,
	// so it is enough that each claimed tick that wrote a path is either the entry's or older).
	n := loadFile(t, file)
	if miss := n.Missing(); len(miss) > 0 {
		t.Logf("ticks written during the save, not claimed by the header: %v (stderr %q)", miss, r.stderr)
		if !strings.Contains(r.stderr, "written while saving") {
			t.Errorf("save did not warn about entries newer than the header: %s", r)
		}
	}
	for o, rs := range h.Known {
		if rs.Max() > h.Highest[o] {
			t.Errorf("origin %s: known %v above highest %d", o, rs, h.Highest[o])
		}
	}
}

func TestSnapshotSaveServerSide(t *testing.T) {
	dataDir := t.TempDir()
	_, addr := inProcServer(t, server.Config{Name: "ss", DataDir: dataDir})
	cl := dialT(t, addr)
	fillServer(t, cl)
	ram, _ := inProcServer(t, server.Config{Name: "ram"})
	if r := runSnap("snapshot", "save", "--server-side", "--addr", ram.Addr().String()); r.code != exitFailed || !strings.Contains(r.stderr, "no data directory") {
		t.Errorf("save --server-side on a RAM-only node: %s", r)
	}
	r := runSnap("snapshot", "save", "--server-side", "--addr", addr)
	want := filepath.Join(dataDir, "snap", snapshot.FileName(1))
	if _, _, err := snapshot.Verify(want); err != nil {
		t.Errorf("the server's snapshot: %v", err)
	}
	if r.code != 0 || strings.TrimSpace(r.out) != want {
		t.Fatalf("save --server-side: %s; want the path %s", r, want)
	}
}

// ---- files made with the snapshot package ----

// testUpdates is a small state: values of several kinds, a typed path, a tombstone.
func testUpdates(t *testing.T) []*node.Update {
	mapVal := node.AppendString(node.AppendMapLen(nil, 1), "k")
	mapVal = node.AppendUint(mapVal, 7)
	return []*node.Update{
		{Origin: "a~1", Tick: 1, Tock: 1, Ops: []node.Op{{Path: node.StringPath("a"), Value: mustEncode(t, "hello")}}},
		{Origin: "a~1", Tick: 3, Tock: 4, Ops: []node.Op{{Path: node.StringPath("a", "b"), Value: mapVal, Chain: node.Chain{{Origin: "b~2", Tick: 1}}}}},
		{Origin: "b~2", Tick: 2, Tock: 3, Ops: []node.Op{{Path: node.Path{node.String("n"), node.Int(42)}, Value: mustEncode(t, []byte("xy"))}}},
		{Origin: "a~1", Tick: 2, Tock: 2, Ops: []node.Op{{Path: node.StringPath("gone"), Delete: true}}},
	}
}

func testHeader() snapshot.Header {
	return snapshot.Header{
		Node: "a", Origin: "a~1", Created: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC).Unix(), Tock: 4,
		Known:   map[string]node.RangeSet{"a~1": node.NewRangeSet(node.Range{Start: 1, End: 4}), "b~2": node.NewRangeSet(node.Range{Start: 1, End: 3})},
		Highest: map[string]uint64{"a~1": 3, "b~2": 2},
		Purge:   map[string]uint64{"b~2": 1},
		// A server's own snapshot names a log segment; a restored one must not.
		LogSegment: 7,
		Entries:    4,
	}
}

func writeSnap(t *testing.T, dir, name string, h snapshot.Header, ups []*node.Update) string {
	t.Helper()
	w, err := snapshot.Create(dir, name, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range ups {
		if err := w.Add(u); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// damage flips one byte in the middle of a file.
func damage(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x55
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotVerify(t *testing.T) {
	dir := t.TempDir()
	file := writeSnap(t, dir, "x.dks", testHeader(), testUpdates(t))
	r := runSnap("snapshot", "verify", file)
	if r.code != 0 {
		t.Fatalf("verify: %s", r)
	}
	for _, want := range []string{
		file + ": ok\n",
		"node:        a\n",
		"origin:      a~1\n",
		"created:     2024-05-06T07:08:09Z\n",
		"entries:     4 (3 values, 1 deleted)\n",
		"tock:        4\n",
		"log_segment: 7\n",
		"origins:\n  a~1  known 1-3  highest 3  purge -\n  b~2  known 1-2  highest 2  purge 1\n",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, r.out)
		}
	}
	r = runSnap("snapshot", "verify", "--json", file)
	var js struct {
		File    string
		OK      bool
		Node    string
		Created string
		Count   int
		Deleted int
		Known   map[string]string
		Purge   map[string]int
	}
	if err := json.Unmarshal([]byte(r.out), &js); r.code != 0 || err != nil {
		t.Fatalf("verify --json: %s (%v)", r, err)
	}
	if !js.OK || js.File != file || js.Node != "a" || js.Created != "2024-05-06T07:08:09Z" || js.Count != 4 || js.Deleted != 1 ||
		js.Known["a~1"] != "1-3" || js.Purge["b~2"] != 1 {
		t.Errorf("verify --json: %s", r.out)
	}

	// An empty snapshot verifies too.
	empty := writeSnap(t, dir, "empty.dks", snapshot.Header{Node: "e", Origin: "e~1"}, nil)
	if r := runSnap("snapshot", "verify", empty); r.code != 0 || !strings.Contains(r.out, "entries:     0 (0 values, 0 deleted)") || !strings.Contains(r.out, "origins:     none") {
		t.Errorf("verify empty: %s", r)
	}

	bad := filepath.Join(dir, "bad.dks")
	copyFile(t, file, bad)
	damage(t, bad)
	short := filepath.Join(dir, "short.dks")
	b, _ := os.ReadFile(file)
	if err := os.WriteFile(short, b[:len(b)-3], 0o644); err != nil {
		t.Fatal(err)
	}
	notSnap := filepath.Join(dir, "text.dks")
	if err := os.WriteFile(notSnap, []byte("hello, world\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{bad}, exitFailed, bad + " is damaged: snapshot: corrupt file: " + bad + " offset "},
		{[]string{short}, exitFailed, "truncated file"},
		{[]string{notSnap}, exitFailed, "bad magic"},
		{[]string{filepath.Join(dir, "none.dks")}, exitFailed, "no such file"},
		{nil, exitUsage, "want FILE"},
		{[]string{file, file}, exitUsage, "want FILE"},
	} {
		r := runSnap(append([]string{"snapshot", "verify"}, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) || r.out != "" {
			t.Errorf("verify %v: %s; want exit %d and %q", tc.args, r, tc.code, tc.msg)
		}
	}
}

func TestSnapshotDump(t *testing.T) {
	dir := t.TempDir()
	file := writeSnap(t, dir, "x.dks", testHeader(), testUpdates(t))
	r := runSnap("snapshot", "dump", file)
	want := "# snapshot " + file + "\n" +
		"# node: a  origin: a~1  created: 2024-05-06T07:08:09Z  tock: 4  log_segment: 7  entries: 4\n" +
		"# origins:\n#   a~1  known 1-3  highest 3  purge -\n#   b~2  known 1-2  highest 2  purge 1\n" +
		"a: hello\n" +
		"a.b: {k: 7}\n" +
		"n:42: !!binary eHk=\n" +
		"gone: <deleted>\n"
	if r.code != 0 || r.out != want {
		t.Errorf("dump: %s\nwant:\n%s", r, want)
	}
	r = runSnap("snapshot", "dump", "--json", file)
	wantJSON := `{"header":{"node":"a","origin":"a~1","created":"2024-05-06T07:08:09Z","tock":4,"log_segment":7,"entries":4,` +
		`"known":{"a~1":"1-3","b~2":"1-2"},"highest":{"a~1":3,"b~2":2},"purge":{"b~2":1}}}` + "\n" +
		`{"path":"a","value":"hello","origin":"a~1","tick":1,"tock":1,"deleted":false}` + "\n" +
		`{"path":"a.b","value":{"k":7},"origin":"a~1","tick":3,"tock":4,"deleted":false}` + "\n" +
		`{"path":"n:42","value":"eHk=","origin":"b~2","tick":2,"tock":3,"deleted":false}` + "\n" +
		`{"path":"gone","value":null,"origin":"a~1","tick":2,"tock":2,"deleted":true}` + "\n"
	if r.code != 0 || r.out != wantJSON {
		t.Errorf("dump --json: %s\nwant:\n%s", r, wantJSON)
	}
	for _, line := range strings.Split(strings.TrimSpace(r.out), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("dump --json line %q: %v", line, err)
		}
	}

	// A damaged file: what was read is printed, then exit 1.
	bad := filepath.Join(dir, "bad.dks")
	copyFile(t, file, bad)
	b, _ := os.ReadFile(bad)
	if err := os.WriteFile(bad, b[:len(b)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	r = runSnap("snapshot", "dump", bad)
	if r.code != exitFailed || !strings.Contains(r.stderr, "is damaged") || !strings.Contains(r.out, "gone: <deleted>\n") {
		t.Errorf("dump of a truncated file: %s", r)
	}
	if r := runSnap("snapshot", "dump"); r.code != exitUsage {
		t.Errorf("dump without FILE: %s", r)
	}
}

// ---- restore ----

func TestSnapshotRestore(t *testing.T) {
	tmp := t.TempDir()
	ups := testUpdates(t)
	file := writeSnap(t, tmp, "x.dks", testHeader(), ups)
	dir := filepath.Join(tmp, "data")

	r := runSnap("snapshot", "restore", "--data-dir", dir, file)
	restored := filepath.Join(dir, "snap", snapshot.FileName(1))
	if r.code != 0 || !strings.Contains(r.out, "restored 4 entries from "+file) || !strings.Contains(r.out, restored) {
		t.Fatalf("restore: %s", r)
	}
	if r.stderr != "" {
		t.Errorf("restore without a terminal printed %q on stderr", r.stderr)
	}
	h, got := fileEntries(t, restored)
	diffUpdates(t, "restored", got, ups)
	wantH := testHeader()
	if h.LogSegment != 0 || h.Node != wantH.Node || h.Origin != wantH.Origin || h.Created != wantH.Created ||
		h.Tock != wantH.Tock || len(h.Known) != 2 || !h.Known["a~1"].Equal(wantH.Known["a~1"]) || h.Purge["b~2"] != 1 || h.Highest["a~1"] != 3 {
		t.Errorf("restored header %+v", h)
	}
	for _, name := range []string{"origin", "log"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("restore made %s: %v", name, err)
		}
	}

	// A node started on the directory holds the state, under a new origin of its own.
	srv, addr := inProcServer(t, server.Config{Name: "a", DataDir: dir})
	cl := dialT(t, addr)
	st, err := cl.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Origin == "a~1" || !strings.HasPrefix(st.Origin, "a~") || st.Entries != 3 {
		t.Errorf("restored node: origin %s, %d entries", st.Origin, st.Entries)
	}
	if !st.Known["a~1"].Equal(wantH.Known["a~1"]) || !st.Known["b~2"].Equal(wantH.Known["b~2"]) || len(st.Missing) != 0 {
		t.Errorf("restored node: known %v, missing %v", st.Known, st.Missing)
	}
	if n := loadFile(t, file); n.Digest(nil) != st.Digest {
		t.Errorf("restored node's digest %x, the file's %x", st.Digest, n.Digest(nil))
	}
	v, err := cl.Get(context.Background(), node.StringPath("a", "b"))
	if err != nil || len(v.Chain) != 2 || v.Chain[0] != (node.Link{Origin: "a~1", Tick: 3}) || v.Tock != 4 {
		t.Errorf("get a.b: %+v %v", v, err)
	}
	res, err := cl.SetValue(context.Background(), node.StringPath("new"), 1)
	if err != nil || res.Chain[0] != (node.Link{Origin: st.Origin, Tick: 1}) || res.Tock <= 4 {
		t.Errorf("first write on the restored node: %+v %v", res, err)
	}

	// While the server runs, the directory is locked.
	if r := runSnap("snapshot", "restore", "--force", "--data-dir", dir, file); r.code != exitFailed || !strings.Contains(r.stderr, "in use by a running server") {
		t.Errorf("restore into a running server's directory: %s", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	// Now it holds an origin, a log and a snapshot, and (as a member of a network would) its
	// memory of the network: refused without --force, and untouched.
	for name, text := range map[string]string{"members": "peak 2\nb\n", "waiting": "5\n", "tock": "5\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const held = "origin, members, waiting, tock, log/, snap/"
	before := listTree(t, dir)
	r = runSnap("snapshot", "restore", "--data-dir", dir, file)
	if r.code != exitFailed || !strings.Contains(r.stderr, "already holds "+held) || !strings.Contains(r.stderr, "--force") {
		t.Errorf("restore over data: %s", r)
	}
	if after := listTree(t, dir); !slices.Equal(before, after) {
		t.Errorf("a refused restore changed %s:\n%v\n%v", dir, before, after)
	}

	// A damaged file is refused before anything moves, even with --force.
	bad := filepath.Join(tmp, "bad.dks")
	copyFile(t, file, bad)
	damage(t, bad)
	r = runSnap("snapshot", "restore", "--force", "--data-dir", dir, bad)
	if r.code != exitFailed || !strings.Contains(r.stderr, "is damaged") {
		t.Errorf("restore of a damaged file: %s", r)
	}
	if after := listTree(t, dir); !slices.Equal(before, after) {
		t.Errorf("a failed restore changed %s:\n%v\n%v", dir, before, after)
	}

	// --force moves the old data aside; the progress bar is drawn when asked for. The file is
	// the directory's own snapshot, which --force moves: it is read all the same.
	own := filepath.Join(dir, "snap", snapshot.FileName(1))
	r = runSnap("snapshot", "restore", "--force", "--progress", "--data-dir", dir, own)
	if r.code != 0 || !strings.Contains(r.out, "restored 4 entries") {
		t.Fatalf("restore --force: %s", r)
	}
	for _, want := range []string{"verifying", "writing", "100%", "moved " + held + " to " + filepath.Join(dir, "old-")} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("restore --force --progress: stderr lacks %q: %q", want, r.stderr)
		}
	}
	olds, _ := filepath.Glob(filepath.Join(dir, "old-*"))
	if len(olds) != 1 {
		t.Fatalf("old dirs: %v", olds)
	}
	for _, name := range []string{"origin", "members", "waiting", "tock", "log", filepath.Join("snap", snapshot.FileName(1))} {
		if _, err := os.Stat(filepath.Join(olds[0], name)); err != nil {
			t.Errorf("moved aside: %v", err)
		}
	}
	// The restored node is a new one: it must not wait for the old one's network.
	for _, name := range []string{"members", "waiting", "tock"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after --force: %v", name, err)
		}
	}
	if _, got := fileEntries(t, restored); len(got) != 4 {
		t.Errorf("restored again: %d entries", len(got))
	}
	if _, err := os.Stat(filepath.Join(dir, "origin")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("origin after --force: %v", err)
	}

	// Usage errors.
	for _, args := range [][]string{{"restore", file}, {"restore", "--data-dir", dir}, {"restore", "--data-dir", dir, file, "--force"}} {
		if r := runSnap(append([]string{"snapshot"}, args...)...); r.code != exitUsage {
			t.Errorf("snapshot %v: %s", args, r)
		}
	}
	if r := runSnap("snapshot", "restore", "--data-dir", filepath.Join(tmp, "d2"), filepath.Join(tmp, "none.dks")); r.code != exitFailed || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("restore of a missing file: %s", r)
	}
	if r := runSnap("snapshot"); r.code != 0 || !strings.Contains(r.out, "restore") {
		t.Errorf("snapshot alone: %s", r)
	}
	if r := runSnap("snapshot", "frob"); r.code != exitUsage {
		t.Errorf("snapshot frob: %s", r)
	}
}

// listTree lists the files under dir with their sizes.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %d", p, info.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestProgress(t *testing.T) {
	var b strings.Builder
	p := newProgress(&b, true, "copy")
	p.start(1000)
	p.update(10) // within progressEvery of the start: not drawn
	p.last = time.Time{}
	p.update(500)
	p.finish(1000)
	want := "\rcopy [..............................]   0%  0 B of 1000 B  " +
		"\rcopy [###############...............]  50%  500 B of 1000 B  " +
		"\rcopy [##############################] 100%  1000 B of 1000 B  \n"
	if b.String() != want {
		t.Errorf("progress:\n%q\nwant\n%q", b.String(), want)
	}
	var off *progress // disabled: every method is a no-op
	off.start(1)
	off.update(1)
	off.finish(1)
	off.abandon()
	if newProgress(&b, false, "x") != nil {
		t.Error("a disabled progress is not nil")
	}
	if isTerminal(&b) {
		t.Error("a strings.Builder is a terminal")
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.00 GiB"} {
		if got := sizeString(n); got != want {
			t.Errorf("sizeString(%d) = %q, want %q", n, got, want)
		}
	}
}
