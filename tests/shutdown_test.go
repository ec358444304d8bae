package tests

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/node"
)

// TestShutdownDuringPartition splits five `distkv server` processes (with data directories,
// fsync always) 3|2 while clients write 4 KB values to every node, and 1.5 s later, writers
// still running, sends SIGTERM to two nodes on each side: pushes to the other side are then
// blocked on full socket buffers, dials time out, and some nodes have not noticed the split
// yet. Each must exit with status 0, logging "stopped" and no error line after the signal (in
// particular not "did not stop"). The time from the signal to the exit is logged, not
// asserted: the machine is shared; the harness's stop deadline bounds the wait.
func TestShutdownDuringPartition(t *testing.T) {
	const N = 5
	w := nsSetup(t, N)
	srv := make([]*nsServer, N)
	for i := range srv {
		srv[i] = w.start(i, "--data-dir", t.TempDir())
	}
	nsWaitMembers(t, srv, nil, 60*time.Second)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range srv {
		for c := 0; c < 4; c++ {
			wg.Add(1)
			go func() { defer wg.Done(); sdWriteUntil(srv[i], c, stop) }()
		}
	}
	defer func() { close(stop); wg.Wait() }()

	// The signals come soon after the split, before every node has noticed it: pushes to the
	// other side fill the sockets' buffers and block, dials time out.
	w.partition(3, 4)
	time.Sleep(1500 * time.Millisecond)

	var sw sync.WaitGroup
	for _, i := range []int{1, 2, 3, 4} {
		sw.Add(1)
		go func() { defer sw.Done(); sdTerm(t, srv[i]) }()
	}
	sw.Wait()
}

// sdTerm sends SIGTERM to a server and checks that it exits with status 0, without an error
// line logged after the signal, and saying "stopped".
func sdTerm(t *testing.T, s *nsServer) {
	from := s.log.len()
	start := time.Now()
	if !s.signal(syscall.SIGTERM) {
		t.Errorf("%s did not exit within %v of SIGTERM:\n%s", s.name, nsStopDeadline, s.log.tail(30))
		return
	}
	t.Logf("%s exited %v after SIGTERM", s.name, time.Since(start).Round(time.Millisecond))
	after := s.log.since(from)
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("%s exited with status %d after SIGTERM, want 0", s.name, code)
	}
	for _, line := range strings.Split(after, "\n") {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, "did not stop") {
			t.Errorf("%s logged after SIGTERM: %s", s.name, line)
		}
	}
	if !strings.Contains(after, "msg=stopped") {
		t.Errorf("%s did not log \"stopped\" after SIGTERM:\n%s", s.name, after)
	}
}

// sdPad makes every value 4 KB: pushes to an unreachable peer fill its socket's buffer fast.
var sdPad = strings.Repeat("x", 4096)

// sdWriteUntil writes to one server over its own connection until stop is closed; errors
// (the server going away) are expected and only end the connection, which is dialled again.
func sdWriteUntil(s *nsServer, c int, stop <-chan struct{}) {
	for j := 0; ; {
		select {
		case <-stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cl, err := client.Dial(ctx, s.client)
		cancel()
		if err != nil {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		for ; ; j++ {
			select {
			case <-stop:
				cl.Close()
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			raw, _ := client.Encode(fmt.Sprintf("%s.%d.%d.%s", s.name, c, j, sdPad))
			_, err := cl.Set(ctx, node.StringPath("sd", s.name, fmt.Sprint(j%500)), raw)
			cancel()
			if err != nil {
				break
			}
		}
		cl.Close()
	}
}
