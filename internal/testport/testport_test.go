package testport

import (
	"net"
	"strconv"
	"testing"
)

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, ps, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(ps)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAddr: the ports are outside the ephemeral range, distinct, and bindable.
func TestAddr(t *testing.T) {
	lo, hi := ephemeralRange()
	seen := map[int]bool{}
	for i := range 20 {
		a := Addr(t, "127.0.0.1", i%2 == 0)
		p := portOf(t, a)
		if p >= lo && p <= hi {
			t.Errorf("%s is in the ephemeral range %d-%d", a, lo, hi)
		}
		if seen[p] {
			t.Errorf("port %d handed out twice", p)
		}
		seen[p] = true
		if err := probe(a, true); err != nil {
			t.Errorf("%s cannot be bound: %v", a, err)
		}
	}
}

// TestPickSkipsTaken: a port another holder reserved, or that something else binds, is not
// handed out.
func TestPickSkipsTaken(t *testing.T) {
	lo, hi := ephemeralRange()
	mine := portOf(t, Addr(t, "127.0.0.1", false)) // reserved: its lock file is held
	a, _, err := pick("127.0.0.1", false, mine, lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	if portOf(t, a) == mine {
		t.Errorf("pick handed out the reserved port %d again", mine)
	}
	// A port nobody reserved but a plain listener holds.
	bound := portOf(t, a) + 1
	for {
		if bound > 65535 {
			bound = firstPort
		}
		if (bound >= lo && bound <= hi) || bound == defaultClientPort || bound == defaultAdminPort {
			bound++
			continue
		}
		f, ok, err := reserve(bound)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			f.Close()
			break
		}
		bound++
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(bound)))
	if err != nil {
		t.Skipf("cannot bind port %d for the test: %v", bound, err)
	}
	defer l.Close()
	b, _, err := pick("127.0.0.1", false, bound, lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	if portOf(t, b) == bound {
		t.Errorf("pick handed out port %d, which a listener holds", bound)
	}
}
