// Package testport hands tests loopback ports for child processes that must bind them, such as
// a `distkv server` started with --client-addr.
//
// Picking a port by listening on :0 and closing it leaves a gap until the child binds it, and
// another gap each time a test restarts the child on the same address: anything on the machine
// that listens on :0 or connects out may get the port meanwhile. So the ports come from outside
// the kernel's ephemeral range (net.ipv4.ip_local_port_range), which it never hands out by
// itself, and each one is reserved for the life of the test process by a flock on a file named
// after it, which every process using this package honours. The kernel drops the lock when the
// process exits, so nothing needs cleaning up.
package testport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/distkv/distkv/internal/flock"
)

const (
	// firstPort is the lowest port handed out: below it lie the common fixed service ports.
	firstPort = 15000
	// defaultClientPort and defaultAdminPort are distkv's own defaults, which a server started
	// without those flags binds.
	defaultClientPort = 27586
	defaultAdminPort  = 27587
)

var (
	mu     sync.Mutex
	cursor int        // the next candidate port; 0 until the first pick
	held   []*os.File // the lock files: open as long as the process lives
	// lockDir holds one lock file per port, one directory per user (another user's files
	// could not be opened; bound ports are still found by probing).
	lockDir = filepath.Join(os.TempDir(), "distkv-test-ports-"+strconv.Itoa(os.Getuid()))
	// ephemeral is the kernel's range for :0 listens and outgoing connections, read once.
	ephemeral = sync.OnceValues(ephemeralRange)
)

// Addr returns host:port with a port reserved for this process and free on host for TCP, and
// for UDP too when udp is set (gossip binds both on one port). It never returns a port twice.
func Addr(t testing.TB, host string, udp bool) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	lo, hi := ephemeral()
	if cursor == 0 {
		// A random start, so that concurrent test processes seldom probe the same ports.
		cursor = firstPort + rand.IntN(65536-firstPort)
	}
	addr, next, err := pick(host, udp, cursor, lo, hi)
	if err != nil {
		t.Fatalf("testport: %v", err)
	}
	cursor = next
	return addr
}

// pick tries the candidate ports from start on (wrapping around) and returns the first one it
// could reserve and bind, and the candidate after it.
func pick(host string, udp bool, start, lo, hi int) (addr string, next int, err error) {
	if err := os.MkdirAll(lockDir, 0o777); err != nil {
		return "", 0, fmt.Errorf("lock directory: %w", err)
	}
	// Keep out of the ephemeral range unless it leaves nothing else.
	avoid := lo > firstPort || hi < 65535
	port := start
	for range 65536 - firstPort {
		p := port
		port++
		if port > 65535 {
			port = firstPort
		}
		if p < firstPort || p > 65535 || (avoid && p >= lo && p <= hi) || p == defaultClientPort || p == defaultAdminPort {
			continue
		}
		f, ok, err := reserve(p)
		if err != nil {
			return "", 0, err
		}
		if !ok {
			continue // another process's
		}
		a := net.JoinHostPort(host, strconv.Itoa(p))
		if err := probe(a, udp); err != nil {
			f.Close() // taken by something that does not use this package
			continue
		}
		held = append(held, f)
		return a, port, nil
	}
	return "", 0, fmt.Errorf("no free port on %s outside the ephemeral range %d-%d", host, lo, hi)
}

// reserve takes the lock of port p without waiting; ok is false if another holder has it.
func reserve(p int) (f *os.File, ok bool, err error) {
	f, err = os.OpenFile(filepath.Join(lockDir, strconv.Itoa(p)), os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, false, fmt.Errorf("lock file of port %d: %w", p, err)
	}
	if err := flock.TryLock(f); err != nil {
		f.Close()
		if errors.Is(err, flock.ErrLocked) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("lock port %d: %w", p, err)
	}
	return f, true, nil
}

// probe checks that addr can be bound now for TCP (and UDP).
func probe(addr string, udp bool) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer l.Close()
	if udp {
		u, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		u.Close()
	}
	return nil
}

// ephemeralRange returns the kernel's range of ports for :0 binds and outgoing connections,
// or the IANA one where it cannot be read.
func ephemeralRange() (lo, hi int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 {
			lo, err1 := strconv.Atoi(f[0])
			hi, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && lo <= hi {
				return lo, hi
			}
		}
	}
	return 49152, 65535
}
