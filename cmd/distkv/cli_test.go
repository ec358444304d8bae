package main

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestSetGetValues(t *testing.T) {
	s := startServer(t)
	for _, tc := range []struct {
		name     string
		set      []string // flags and VALUE after PATH... flags first
		stdin    string
		wantText string
		wantJSON string
	}{
		{"word", []string{"hello"}, "", "hello\n", `"hello"`},
		{"sentence", []string{"hello world"}, "", "hello world\n", `"hello world"`},
		{"int", []string{"42"}, "", "42\n", `42`},
		{"negative", []string{"-7"}, "", "-7\n", `-7`},
		{"float", []string{"1.5"}, "", "1.5\n", `1.5`},
		{"bool", []string{"true"}, "", "true\n", `true`},
		{"null", []string{"null"}, "", "null\n", `null`},
		{"list", []string{"[1, 2]"}, "", "- 1\n- 2\n", `[1,2]`},
		{"map", []string{"{a: 1, b: [x, 2.5]}"}, "", "a: 1\nb:\n  - x\n  - 2.5\n", `{"a":1,"b":["x",2.5]}`},
		{"intkeys", []string{"{1: one, 2: two}"}, "", "1: one\n2: two\n", `{"1":"one","2":"two"}`},
		{"binary", []string{"!!binary aGVsbG8="}, "", "!!binary aGVsbG8=\n", `"aGVsbG8="`},
		{"forced", []string{"--string", "42"}, "", "\"42\"\n", `"42"`},
		{"forcedlist", []string{"--string", "[1, 2]"}, "", "'[1, 2]'\n", `"[1, 2]"`},
		{"quoted", []string{"'true'"}, "", "\"true\"\n", `"true"`},
		{"stdin", []string{"-"}, "a: 1\nb: [1, 2]\n", "a: 1\nb:\n  - 1\n  - 2\n", `{"a":1,"b":[1,2]}`},
		{"stdinstring", []string{"--string", "-"}, "two\nlines\n", "|\n  two\n  lines\n", `"two\nlines\n"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "v." + tc.name
			args := []string{"client", "--addr", s.addr, "set"}
			n := len(tc.set)
			args = append(append(append(args, tc.set[:n-1]...), path), tc.set[n-1])
			r := runCLI(t, tc.stdin, args...)
			if r.code != 0 {
				t.Fatalf("set: %s", r)
			}
			if !regexp.MustCompile(`^t1~\d+:\d+\n$`).MatchString(r.stdout) {
				t.Errorf("set printed %q, want the chain head ORIGIN:TICK", r.stdout)
			}
			if got := s.ok(t, "get", path); got != tc.wantText {
				t.Errorf("get: %q, want %q", got, tc.wantText)
			}
			if got := s.ok(t, "--json", "get", path); got != tc.wantJSON+"\n" {
				t.Errorf("--json get: %q, want %q", got, tc.wantJSON+"\n")
			}
		})
	}

	// --json at the subcommand level too.
	if got := s.ok(t, "get", "--json", "v.map"); got != `{"a":1,"b":["x",2.5]}`+"\n" {
		t.Errorf("get --json: %q", got)
	}

	// get --chain
	head := strings.TrimSpace(s.ok(t, "set", "c", "1"))
	var got struct {
		Value any
		Chain []struct {
			Origin string
			Tick   uint64
		}
		Tock uint64
	}
	if err := json.Unmarshal([]byte(s.ok(t, "--json", "get", "--chain", "c")), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Chain) != 1 || got.Chain[0].Origin+":"+strconv.FormatUint(got.Chain[0].Tick, 10) != head || got.Value != 1.0 {
		t.Errorf("get --chain --json: %+v, head %s", got, head)
	}
	if text := s.ok(t, "get", "--chain", "c"); !strings.Contains(text, "value: 1\n") || !strings.Contains(text, "- "+head+"\n") {
		t.Errorf("get --chain: %q", text)
	}

	// set --json
	var w struct {
		Changed bool
		Chain   []map[string]any
	}
	if err := json.Unmarshal([]byte(s.ok(t, "--json", "set", "c", "2")), &w); err != nil || !w.Changed || len(w.Chain) == 0 {
		t.Errorf("set --json: %+v, %v", w, err)
	}
	// --idem with an equal value changes nothing and prints nothing.
	if out := s.ok(t, "set", "--idem", "c", "2"); out != "" {
		t.Errorf("set --idem of an equal value printed %q", out)
	}
}

func TestErrors(t *testing.T) {
	s := startServer(t)
	s.ok(t, "set", "a.b", "x")
	check := func(name string, r result, code int, stderr string) {
		t.Helper()
		if r.code != code || !strings.Contains(r.stderr, stderr) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%s: %s; want exit %d and a one-line message with %q", name, r, code, stderr)
		}
		if strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stdout, "USAGE") {
			t.Errorf("%s: stack trace or help dump: %s", name, r)
		}
	}
	check("not found", s.client(t, "get", "a.nope"), 1, "not found: a.nope")
	check("bad path", s.client(t, "get", "a..b"), 2, "empty element")
	check("bad path 2", s.client(t, "set", "a.b:zz", "1"), 2, "bad path element")
	check("unknown flag", s.client(t, "get", "--bogus", "a.b"), 2, "flag provided but not defined: -bogus")
	check("unknown client flag", s.client(t, "--bogus", "get", "a.b"), 2, "-bogus")
	check("unknown server flag", runCLI(t, "", "server", "--bogus"), 2, "-bogus")
	check("flag after args", s.client(t, "get", "a.b", "--json"), 2, "flags go before arguments")
	check("missing arg", s.client(t, "set", "a.b"), 2, "want PATH VALUE")
	check("bad value", s.client(t, "set", "a.c", "{a: 1, a: 2}"), 2, "bad VALUE")
	check("bad yaml", s.client(t, "set", "a.c", "[1"), 2, "bad VALUE")
	check("bad tag", s.client(t, "set", "a.c", "!foo x"), 2, "not supported")
	check("bad if-chain", s.client(t, "set", "--if-chain", "nonsense", "a.c", "1"), 2, "ORIGIN:TICK")
	check("unknown command", s.client(t, "frobnicate"), 2, "unknown command")
	check("unknown top command", runCLI(t, "", "frobnicate"), 2, "unknown command")
	check("bad fsync", runCLI(t, "", "server", "--fsync", "sometimes"), 2, "--fsync")
	check("bad addr", runCLI(t, "", "client", "--addr", "nope", "get", "a"), 2, "--addr")
	check("bad bench op", runCLI(t, "", "bench", "--op", "put"), 2, "--op")

	// Connection refused: a port nobody listens on.
	r := runCLI(t, "", "client", "--addr", freePort(t), "get", "a.b")
	check("connection refused", r, 3, "cannot connect")

	// Conditions.
	check("if-absent", s.client(t, "set", "--if-absent", "a.b", "y"), 1, "condition failed")
	check("stale if-chain", s.client(t, "set", "--if-chain", "t1~1:999", "a.b", "y"), 1, "condition failed")
	head := strings.TrimSpace(s.ok(t, "set", "a.b", "y"))
	if out := s.ok(t, "set", "--if-chain", head, "a.b", "z"); strings.TrimSpace(out) == head || out == "" {
		t.Errorf("set --if-chain %s printed %q, want a new head", head, out)
	}
	check("old if-chain", s.client(t, "set", "--if-chain", head, "a.b", "w"), 1, "condition failed")
	if got := s.ok(t, "get", "a.b"); got != "z\n" {
		t.Errorf("after failed conditions: %q", got)
	}
	s.ok(t, "set", "--if-absent", "a.new", "1")
}

func TestListTreeDelete(t *testing.T) {
	s := startServer(t)
	s.ok(t, "set", "x.a", "1")
	s.ok(t, "set", "x.b.c", "[1, 2]")
	s.ok(t, "set", "x:42", "answer")
	s.ok(t, "set", "x.d:.e", "dotted")
	s.ok(t, "set", "y", "other")

	if got, want := s.ok(t, "list", "x"), "a\nb\nd:.e\n:42\n"; !sameLines(got, want) {
		t.Errorf("list x: %q, want %q (any order)", got, want)
	}
	if got := s.ok(t, "list", ":"); !sameLines(got, "x\ny\n") {
		t.Errorf("list ':': %q", got)
	}
	wantTree := "x.a: 1\nx.b.c: [1, 2]\nx.d:.e: dotted\nx:42: answer\n"
	if got := s.ok(t, "tree", "x"); !sameLines(got, wantTree) {
		t.Errorf("tree x: %q, want %q", got, wantTree)
	}
	if got := s.ok(t, "tree", "--max-depth", "1", "x"); !sameLines(got, "x.a: 1\nx.d:.e: dotted\nx:42: answer\n") {
		t.Errorf("tree --max-depth 1: %q", got)
	}
	if got := s.ok(t, "tree", "--min-depth", "2", "x"); got != "x.b.c: [1, 2]\n" {
		t.Errorf("tree --min-depth 2: %q", got)
	}
	lines := strings.Split(strings.TrimSpace(s.ok(t, "--json", "tree", "x")), "\n")
	if len(lines) != 4 {
		t.Fatalf("tree --json: %q", lines)
	}
	paths := map[string]any{}
	for _, l := range lines {
		var e struct {
			Path  string
			Value any
			Tock  uint64
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.Tock == 0 {
			t.Fatalf("tree --json line %q: %v", l, err)
		}
		paths[e.Path] = e.Value
	}
	if paths["x.a"] != 1.0 || paths["x:42"] != "answer" || len(paths["x.b.c"].([]any)) != 2 {
		t.Errorf("tree --json: %v", paths)
	}

	// delete
	if out := s.ok(t, "delete", "x.a"); !strings.HasPrefix(out, "t1~") {
		t.Errorf("delete printed %q, want the chain head", out)
	}
	if r := s.client(t, "get", "x.a"); r.code != 1 {
		t.Errorf("get after delete: %s", r)
	}
	if out := s.ok(t, "delete", "--tree", "x"); out != "3\n" {
		t.Errorf("delete --tree x printed %q, want 3", out)
	}
	if out := s.ok(t, "tree", "x"); out != "" {
		t.Errorf("tree after delete --tree: %q", out)
	}
	if got := s.ok(t, "get", "y"); got != "other\n" {
		t.Errorf("y after deleting x: %q", got)
	}
}

func sameLines(a, b string) bool {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(la) != len(lb) {
		return false
	}
	count := map[string]int{}
	for _, l := range la {
		count[l]++
	}
	for _, l := range lb {
		count[l]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestStatus(t *testing.T) {
	s := startServer(t)
	for i := range 3 {
		s.ok(t, "set", "k"+strconv.Itoa(i), strconv.Itoa(i))
	}
	out := s.ok(t, "status")
	m := regexp.MustCompile(`(?m)^tick:\s+(\d+)$`).FindStringSubmatch(out)
	if m == nil || m[1] != "3" {
		t.Errorf("status does not show tick 3:\n%s", out)
	}
	for _, want := range []string{"node:     t1\n", "origin:   t1~", "entries:  3\n", "digest:", "known 1-3", "stats:"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(s.ok(t, "--json", "status")), &st); err != nil {
		t.Fatal(err)
	}
	if st["tick"] != 3.0 || st["node"] != "t1" || st["entries"] != 3.0 {
		t.Errorf("status --json: %v", st)
	}
	if _, ok := st["stats"].(map[string]any); !ok {
		t.Errorf("status --json has no stats map: %v", st)
	}
}

func TestWatch(t *testing.T) {
	s := startServer(t)
	s.ok(t, "set", "w.a", "1")
	s.ok(t, "set", "w.b", "{x: y}")
	s.ok(t, "set", "other", "1")

	pr, pw := io.Pipe()
	p := startProc(t, t.TempDir(), testEnv(), pw, "client", "--addr", s.addr, "watch", "--fetch", "w")
	lr := newLineReader(pr)
	t.Cleanup(func() { pw.Close() })

	got := []string{lr.next(t), lr.next(t)}
	if !sameLines(strings.Join(got, "\n"), "w.a: 1\nw.b: {x: y}") {
		t.Errorf("fetched %q", got)
	}
	if l := lr.next(t); l != "--- uptodate" {
		t.Fatalf("after the fetch: %q, want --- uptodate", l)
	}
	s.ok(t, "set", "other", "2") // not watched
	s.ok(t, "set", "w.c", "[1, 2]")
	if l := lr.next(t); l != "w.c: [1, 2]" {
		t.Errorf("change: %q", l)
	}
	s.ok(t, "delete", "w.a")
	if l := lr.next(t); l != "w.a: <deleted>" {
		t.Errorf("delete: %q", l)
	}
	if code := p.stop(t, os.Interrupt); code != 0 {
		t.Errorf("watch exit code %d after SIGINT; stderr: %s", code, p.stderr)
	}

	// --json
	pr2, pw2 := io.Pipe()
	p2 := startProc(t, t.TempDir(), testEnv(), pw2, "client", "--addr", s.addr, "--json", "watch", "--fetch", "w")
	lr2 := newLineReader(pr2)
	t.Cleanup(func() { pw2.Close() })
	for range 2 { // w.b, w.c
		if l := lr2.next(t); !strings.HasPrefix(l, `{"path":"w.`) {
			t.Errorf("json fetch line %q", l)
		}
	}
	if l := lr2.next(t); l != `{"uptodate":true}` {
		t.Errorf("json uptodate line %q", l)
	}
	s.ok(t, "delete", "w.b")
	var ev map[string]any
	if err := json.Unmarshal([]byte(lr2.next(t)), &ev); err != nil || ev["path"] != "w.b" || ev["deleted"] != true {
		t.Errorf("json delete event %v, %v", ev, err)
	}
	if code := p2.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("watch exit code %d after SIGTERM", code)
	}
}

func TestWatchConnectionLost(t *testing.T) {
	s := startServer(t)
	pr, pw := io.Pipe()
	p := startProc(t, t.TempDir(), testEnv(), pw, "client", "--addr", s.addr, "watch", "--fetch", "w")
	lr := newLineReader(pr)
	t.Cleanup(func() { pw.Close() })
	if l := lr.next(t); l != "--- uptodate" {
		t.Fatalf("got %q", l)
	}
	s.p.stop(t, syscall.SIGTERM)
	<-p.done
	code := 0
	if p.err != nil {
		code = p.cmd.ProcessState.ExitCode()
	}
	if code != 3 || !strings.Contains(p.stderr.String(), "lost") {
		t.Errorf("watch after the server stopped: exit %d, stderr %q; want 3", code, p.stderr)
	}
}

var benchLine = regexp.MustCompile(`(?m)^(\d+) ops in [0-9.]+s: ([0-9.]+) ops/s, (\d+) errors$`)

func TestBench(t *testing.T) {
	s := startServer(t)
	r := runCLI(t, "", "bench", "--addr", s.addr, "--count", "200", "--clients", "4", "--keys", "50")
	if r.code != 0 {
		t.Fatalf("bench: %s", r)
	}
	m := benchLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("bench output does not parse:\n%s", r.stdout)
	}
	if ops, _ := strconv.ParseFloat(m[2], 64); m[1] != "200" || ops <= 0 || m[3] != "0" {
		t.Errorf("bench: %q", m[0])
	}
	if !strings.Contains(r.stdout, "p99") {
		t.Errorf("bench output has no latencies:\n%s", r.stdout)
	}

	// get, JSON, over a list of addresses.
	r = runCLI(t, "", "bench", "--addr", s.addr+","+s.addr, "--op", "get", "--keys", "100", "--count", "200", "--clients", "4", "--json")
	if r.code != 0 {
		t.Fatalf("bench get: %s", r)
	}
	var res struct {
		Op        string
		Ops       int
		Errors    int
		OpsPerSec float64                              `json:"ops_per_sec"`
		Latency   struct{ P50, P90, P99, Max float64 } `json:"latency_ms"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("bench --json: %v: %q", err, r.stdout)
	}
	if res.Op != "get" || res.Ops != 200 || res.Errors != 0 || res.OpsPerSec <= 0 || res.Latency.Max < res.Latency.P50 {
		t.Errorf("bench --json: %+v", res)
	}
	// get populated the keys.
	if got := s.ok(t, "list", "bench"); strings.Count(got, "\n") != 100 {
		t.Errorf("bench get wrote %d keys, want 100", strings.Count(got, "\n"))
	}

	r = runCLI(t, "", "bench", "--addr", freePort(t), "--count", "10")
	if r.code != 3 {
		t.Errorf("bench without a server: %s", r)
	}
}

// TestBenchInProcess runs bench inside the test binary, so that -race checks its workers.
func TestBenchInProcess(t *testing.T) {
	s := startServer(t)
	for _, op := range []string{"set", "get"} {
		var out, errb strings.Builder
		code := run([]string{"distkv", "bench", "--addr", s.addr, "--op", op, "--keys", "20", "--clients", "3", "--count", "100"},
			strings.NewReader(""), &out, &errb)
		m := benchLine.FindStringSubmatch(out.String())
		if code != 0 || m == nil || m[1] != "100" || m[3] != "0" {
			t.Errorf("bench --op %s: exit %d, stdout %q, stderr %q", op, code, out.String(), errb.String())
		}
	}
	var out, errb strings.Builder
	code := run([]string{"distkv", "bench", "--addr", s.addr, "--clients", "2", "--duration", "200ms", "--json"},
		strings.NewReader(""), &out, &errb)
	if code != 0 || !strings.Contains(out.String(), `"errors":0`) {
		t.Errorf("bench --duration: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}

func TestVersion(t *testing.T) {
	r := runCLI(t, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "distkv ") || !strings.Contains(r.stdout, "protocol") {
		t.Errorf("version: %s", r)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"client", "--help"}, {"client", "set", "--help"}, {}, {"client"}} {
		r := runCLI(t, "", args...)
		if r.code != 0 || !strings.Contains(r.stdout, "USAGE") {
			t.Errorf("distkv %v: %s", args, r)
		}
	}
}

// TestServerNoFlags runs `distkv server` exactly as a user would first try it.
func TestServerNoFlags(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:27586")
	if err != nil {
		t.Skipf("the default port is busy: %v", err)
	}
	l.Close()
	home := t.TempDir()
	p := startProc(t, home, testEnv("HOME="+home), io.Discard, "server")
	waitListening(t, p, "127.0.0.1:27586")
	if r := runCLI(t, "", "client", "set", "hello", "world"); r.code != 0 {
		t.Fatalf("set: %s", r)
	}
	if r := runCLI(t, "", "client", "get", "hello"); r.code != 0 || r.stdout != "world\n" {
		t.Fatalf("get: %s", r)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d after SIGTERM; stderr:\n%s", code, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "level=INFO") {
		t.Errorf("no startup log on stderr:\n%s", p.stderr)
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("the RAM-only server wrote files: %v", entries)
	}
}
