package tests

// Real `distkv server` processes, each in its own network namespace, for partition tests.
// Helpers here are prefixed "ns" so that other test files of the package can have their own.
//
// The network (all of it created here and removed by t.Cleanup, nothing leaves the machine):
//
//	root namespace:  bridge nsA (data, no address)      bridge nsM (management, 10.202.<id>.1/24)
//	                  |      (bridge nsB: a second data bridge, where the minority goes)
//	namespace i:     veth vdata (10.201.<id>.(10+i)/24) veth vmgmt (10.202.<id>.(10+i)/24)
//	                 gossip and peer plane on d          client port on m
//
// A partition moves the data veths of one group from bridge nsA to bridge nsB: each group
// still talks within itself, not to the other. The management bridge stays up, so the test
// (in the root namespace) reaches every node's client port all along.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distkv/distkv/clientproto/client"
)

const (
	nsStartDeadline = 60 * time.Second
	nsStopDeadline  = 20 * time.Second
)

// nsNet is the bridges and namespaces of one test.
type nsNet struct {
	t        *testing.T
	id       int // tells this test's links and subnets from any other's
	n        int
	brA, brB string
	brM      string
	ns       []string
	dataVeth []string // host side of each namespace's data veth
}

// nsRun runs a command (ip ...) and fails the test if it fails.
func nsRun(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := nsTry(name, args...); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

func nsTry(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// nsSetup builds n namespaces on the bridges, or skips the test when that is not possible
// (not root, no ip(8), no namespace support).
func nsSetup(t *testing.T, n int) *nsNet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip(8) (iproute2) is not installed")
	}
	probe := fmt.Sprintf("dkvprobe%d", os.Getpid())
	if out, err := nsTry("ip", "netns", "add", probe); err != nil {
		t.Skipf("cannot create a network namespace (ip netns add): %v: %s", err, strings.TrimSpace(out))
	}
	nsTry("ip", "netns", "del", probe)

	// Pick an id (the third octet of the subnets, part of every link's name) that no other
	// test run uses: the first whose bridge can be created and whose management subnet (it
	// gets an address in the root namespace) is not routed here yet.
	var w *nsNet
	for k := 0; k < 50 && w == nil; k++ {
		id := (os.Getpid()+k*37)%200 + 20 // 20..219
		c := &nsNet{t: t, id: id, n: n,
			brA: fmt.Sprintf("dkv%da", id), brB: fmt.Sprintf("dkv%db", id), brM: fmt.Sprintf("dkv%dm", id)}
		if out, _ := nsTry("ip", "-4", "route", "show", "to", "match", c.mgmtIP(-1)); strings.Contains(out, "/") {
			continue
		}
		if nsLinksWithID(id) || nsNamespaceWithID(id) { // a run that died left them behind
			continue
		}
		if _, err := nsTry("ip", "link", "add", c.brA, "type", "bridge"); err != nil {
			continue
		}
		w = c
	}
	if w == nil {
		t.Skip("no free subnet / link names for the test network")
	}
	t.Cleanup(w.teardown)
	for _, br := range []string{w.brB, w.brM} {
		nsRun(t, "ip", "link", "add", br, "type", "bridge")
	}
	for _, br := range []string{w.brA, w.brB, w.brM} {
		nsRun(t, "ip", "link", "set", "dev", br, "up")
	}
	id := w.id
	nsRun(t, "ip", "addr", "add", w.mgmtIP(-1)+"/24", "dev", w.brM)
	for i := 0; i < n; i++ {
		ns := fmt.Sprintf("dkv%dns%d", id, i)
		w.ns = append(w.ns, ns)
		nsRun(t, "ip", "netns", "add", ns)
		nsRun(t, "ip", "-n", ns, "link", "set", "lo", "up")
		for _, kind := range []struct{ tag, dev, br, ip string }{{"d", "vdata", w.brA, w.dataIP(i)}, {"m", "vmgmt", w.brM, w.mgmtIP(i)}} {
			host := fmt.Sprintf("dkv%d%s%d", id, kind.tag, i)
			peer := fmt.Sprintf("dkv%d%s%dp", id, kind.tag, i)
			nsRun(t, "ip", "link", "add", host, "type", "veth", "peer", "name", peer)
			nsRun(t, "ip", "link", "set", peer, "netns", ns)
			nsRun(t, "ip", "-n", ns, "link", "set", "dev", peer, "name", kind.dev)
			nsRun(t, "ip", "-n", ns, "addr", "add", kind.ip+"/24", "dev", kind.dev)
			nsRun(t, "ip", "-n", ns, "link", "set", "dev", kind.dev, "up")
			nsRun(t, "ip", "link", "set", "dev", host, "master", kind.br)
			nsRun(t, "ip", "link", "set", "dev", host, "up")
			if kind.tag == "d" {
				w.dataVeth = append(w.dataVeth, host)
			}
		}
	}
	return w
}

// nsLinksWithID reports whether any link of the root namespace is named for test network id.
func nsLinksWithID(id int) bool {
	out, _ := nsTry("ip", "-o", "link", "show")
	return nsNamedFor(out, id)
}

// nsNamespaceWithID reports whether any network namespace is named for test network id.
func nsNamespaceWithID(id int) bool {
	out, _ := nsTry("ip", "netns", "list")
	return nsNamedFor(out, id)
}

// nsNamedFor reports whether out names anything "dkv<id>" followed by a letter.
func nsNamedFor(out string, id int) bool {
	return regexp.MustCompile(fmt.Sprintf("dkv%d[a-z]", id)).MatchString(out)
}

// dataIP is node i's address on the data bridge; mgmtIP(i) its client address (mgmtIP(-1)
// is the root namespace's address on the management bridge).
func (w *nsNet) dataIP(i int) string { return fmt.Sprintf("10.201.%d.%d", w.id, 10+i) }
func (w *nsNet) mgmtIP(i int) string {
	if i < 0 {
		return fmt.Sprintf("10.202.%d.1", w.id)
	}
	return fmt.Sprintf("10.202.%d.%d", w.id, 10+i)
}

// partition moves the data links of the given nodes to the second bridge: they reach each
// other, and no one else.
func (w *nsNet) partition(nodes ...int) {
	for _, i := range nodes {
		nsRun(w.t, "ip", "link", "set", "dev", w.dataVeth[i], "master", w.brB)
	}
}

// heal puts every data link back on the first bridge.
func (w *nsNet) heal() {
	for _, v := range w.dataVeth {
		nsRun(w.t, "ip", "link", "set", "dev", v, "master", w.brA)
	}
}

func (w *nsNet) teardown() {
	for _, ns := range w.ns {
		nsTry("ip", "netns", "del", ns) // removes its veths, and so their host sides
	}
	for _, br := range []string{w.brA, w.brB, w.brM} {
		nsTry("ip", "link", "del", br)
	}
}

// nsLog collects a process's output for failure reports.
type nsLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *nsLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// len is how many bytes were logged so far; since(n) returns what came after.
func (l *nsLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

func (l *nsLog) since(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b.Bytes()[n:])
}

func (l *nsLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := strings.Split(strings.TrimRight(l.b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// nsServer is one distkv server process in its namespace.
type nsServer struct {
	name   string
	client string // client address, reachable from the root namespace
	cmd    *exec.Cmd
	log    *nsLog
	done   chan struct{}
	cl     *client.Client
}

// nsEnv is the environment for the binary: ours without DISTKV_* settings.
func nsEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DISTKV_") {
			env = append(env, kv)
		}
	}
	return env
}

// start runs `distkv server` in namespace i, joining node 0 (unless it is node 0), and
// returns once its client port answers. Stopped by t.Cleanup: SIGTERM, then SIGKILL.
func (w *nsNet) start(i int, extra ...string) *nsServer {
	w.t.Helper()
	var args []string
	if i > 0 {
		args = append(args, "--join", net.JoinHostPort(w.dataIP(0), "7946"))
	}
	s, err := w.spawn(i, fmt.Sprintf("n%d", i), append(args, extra...)...)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { s.stop(w.t) })
	if err := s.await(nsStartDeadline); err != nil {
		w.t.Fatal(err)
	}
	return s
}

// spawn starts a server called name in namespace i, with its addresses there and args, without
// waiting for it.
func (w *nsNet) spawn(i int, name string, args ...string) (*nsServer, error) {
	s := &nsServer{name: name, client: net.JoinHostPort(w.mgmtIP(i), "27586"), log: &nsLog{}, done: make(chan struct{})}
	args = append([]string{"netns", "exec", w.ns[i], distkvBin, "server", "--name", name, "--profile", "test",
		"--client-addr", s.client,
		"--gossip-addr", net.JoinHostPort(w.dataIP(i), "7946"),
		"--peer-addr", net.JoinHostPort(w.dataIP(i), "7947")}, args...)
	s.cmd = exec.Command("ip", args...) // ip netns exec execs the server: the same process
	s.cmd.Env = nsEnv()
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	return s, nil
}

// await dials the server until it serves clients (once it has caught up), for at most d.
func (s *nsServer) await(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		cl, err := client.Dial(ctx, s.client)
		cancel()
		if err == nil {
			s.cl = cl
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("%s exited while starting: %v\n%s", s.name, s.cmd.ProcessState, s.log.tail(40))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not serve clients on %s within %v: %v\n%s", s.name, s.client, d, err, s.log.tail(40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *nsServer) stop(t *testing.T) {
	if s.cl != nil {
		s.cl.Close()
	}
	select {
	case <-s.done:
		return
	default:
	}
	if !s.signal(syscall.SIGTERM) {
		t.Logf("%s did not stop within %v of SIGTERM: killed it", s.name, nsStopDeadline)
	}
	if t.Failed() {
		t.Logf("%s's last log lines:\n%s", s.name, s.log.tail(30))
	}
}

// signal sends sig and waits for the exit: a process still running nsStopDeadline later is
// killed, and signal says false.
func (s *nsServer) signal(sig os.Signal) bool {
	s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
		return true
	case <-time.After(nsStopDeadline):
		s.cmd.Process.Kill()
		<-s.done
		return false
	}
}

// state asks a server for its state.
func (s *nsServer) state() (*client.State, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.cl.State(ctx)
}
