package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/testport"
)

// The process tests run the real binary, built once here.
var binPath string

// Generous deadlines: the machine may be small and busy, and the binary may be race-enabled.
const (
	startDeadline = 60 * time.Second
	cmdDeadline   = 60 * time.Second
	lineDeadline  = 30 * time.Second
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "distkv-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binPath = filepath.Join(dir, "distkv")
	// A plain build, even under -race: a race-enabled binary starts slowly, and the tests
	// start it about a hundred times. The concurrent code (bench) also runs in-process in
	// TestBenchInProcess, where -race sees it.
	cmd := exec.Command("go", "build", "-o", binPath, ".")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the distkv binary:", err)
		return 1
	}
	// bench --visibility-watchers process starts this binary's bench-watcher, not the test's.
	benchSelf = func() (string, error) { return binPath, nil }
	return m.Run()
}

// testEnv is the environment for the binary: ours without DISTKV_* settings.
func testEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DISTKV_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// runCLI runs the binary to completion.
func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = testEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		t.Fatalf("distkv %s: %v (%s)", strings.Join(args, " "), err, r)
	}
	return r
}

// syncBuffer collects a process's stderr for failure reports.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freePort returns a loopback address reserved for this test process (see testport), for a
// server process to bind.
func freePort(t *testing.T) string {
	t.Helper()
	return testport.Addr(t, "127.0.0.1", false)
}

// proc is a background distkv process.
type proc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
	err    error // of Wait, once done is closed
}

func startProc(t *testing.T, dir string, env []string, stdout io.Writer, args ...string) *proc {
	t.Helper()
	p := &proc{stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binPath, args...)
	p.cmd.Dir = dir
	p.cmd.Env = env
	p.cmd.Stdout = stdout
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

// stop sends sig and returns the exit code.
func (p *proc) stop(t *testing.T, sig os.Signal) int {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(cmdDeadline):
		t.Fatalf("%s did not stop after %v; stderr:\n%s", p.cmd.Args, sig, p.stderr)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatalf("%s: %v", p.cmd.Args, p.err)
	}
	return 0
}

// waitListening polls addr until it accepts connections or p exits.
func waitListening(t *testing.T, p *proc, addr string) {
	t.Helper()
	deadline := time.Now().Add(startDeadline)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-p.done:
			t.Fatalf("server exited early (%v); stderr:\n%s", p.err, p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not listening on %s after %v; stderr:\n%s", addr, startDeadline, p.stderr)
		}
	}
}

// testServer is a `distkv server` on a free port.
type testServer struct {
	addr string
	p    *proc
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	addr := freePort(t)
	p := startProc(t, t.TempDir(), testEnv(), io.Discard, "server", "--client-addr", addr, "--name", "t1")
	waitListening(t, p, addr)
	s := &testServer{addr: addr, p: p}
	t.Cleanup(func() {
		if code := p.stop(t, syscall.SIGTERM); code != 0 {
			t.Errorf("server exit code %d after SIGTERM; stderr:\n%s", code, p.stderr)
		}
	})
	return s
}

// client runs `distkv client --addr ADDR args...`.
func (s *testServer) client(t *testing.T, args ...string) result {
	t.Helper()
	return runCLI(t, "", append([]string{"client", "--addr", s.addr}, args...)...)
}

// ok runs a client command that must succeed and returns its stdout.
func (s *testServer) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := s.client(t, args...)
	if r.code != 0 {
		t.Fatalf("distkv client %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// lineReader reads a process's stdout lines with a deadline.
type lineReader struct {
	lines chan string
}

func newLineReader(r io.Reader) *lineReader {
	lr := &lineReader{lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lr.lines <- sc.Text()
		}
		close(lr.lines)
	}()
	return lr
}

func (lr *lineReader) next(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-lr.lines:
		if !ok {
			t.Fatal("output ended")
		}
		return l
	case <-time.After(lineDeadline):
		t.Fatalf("no line within %v", lineDeadline)
	}
	return ""
}
