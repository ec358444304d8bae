package memnet

import (
	"context"
	"fmt"
	"net"
)

// Host is one machine on the network: the unit that partitions separate. It
// binds any number of addresses; each belongs to the host's group.
type Host struct {
	n    *Network
	name string
}

// Name returns the host's name, as used by Network.Partition.
func (h *Host) Name() string { return h.name }

// Listen binds addr ("host:port"; port 0 picks a free one, an empty host means
// the host's name) and returns a listener for streams dialled to it. Addresses
// are matched as strings, without name resolution.
func (h *Host) Listen(addr string) (net.Listener, error) {
	addr, err := h.expand(addr)
	if err != nil {
		return nil, h.opError("listen", addr, err)
	}
	ep := &endpoint{host: h}
	if _, err := h.n.bind(addr, ep, func(a Addr) *listener { return newListener(h.n, a) }); err != nil {
		return nil, h.opError("listen", addr, err)
	}
	return ep.ln, nil
}

// Dial opens a stream to the listener at addr. It fails at once if nothing is
// bound there or the target is in another partition group, and waits for room
// in the listener's backlog until ctx ends.
func (h *Host) Dial(ctx context.Context, addr string) (net.Conn, error) {
	c, err := h.dial(ctx, Addr(""), addr, nil)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// dial connects to addr. local names this end (empty: an ephemeral port on the
// host's name). track, if set, adopts the dialler's end before it is returned;
// it returns false to refuse it (the owner is shutting down).
func (h *Host) dial(ctx context.Context, local Addr, addr string, track func(*conn) bool) (*conn, error) {
	addr, err := h.expand(addr)
	if err != nil {
		return nil, h.opError("dial", addr, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, h.opError("dial", addr, err)
	}
	if local == "" {
		local = h.n.ephemeralAddr(h.name)
	}
	mine, theirs, ln, err := h.n.connect(h, local, Addr(addr))
	if err != nil {
		return nil, h.opError("dial", addr, err)
	}
	if track != nil && !track(mine) {
		_ = mine.Close()
		_ = theirs.Close()
		return nil, h.opError("dial", addr, net.ErrClosed)
	}
	if err := ln.enqueue(ctx, theirs); err != nil {
		_ = mine.Close()
		_ = theirs.Close()
		return nil, h.opError("dial", addr, err)
	}
	return mine, nil
}

// Transport binds addr for a memberlist transport: packets and streams on the
// same address, as memberlist's NetTransport uses UDP and TCP on one port. The
// host part must be an IP address (memberlist advertises IPs), or empty to use
// the host's name, which then must be one.
func (h *Host) Transport(addr string) (*Transport, error) {
	addr, err := h.expand(addr)
	if err != nil {
		return nil, h.opError("listen", addr, err)
	}
	host, _, _ := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, h.opError("listen", addr, fmt.Errorf("memnet: transport needs an IP address, not %q", host))
	}
	if ip4 := ip.To4(); ip4 != nil {
		ip = ip4
	}
	t := newTransport(h, ip)
	ep := &endpoint{host: h, tr: t}
	a, err := h.n.bind(addr, ep, func(a Addr) *listener {
		ln := newListener(h.n, a)
		ln.track = t.track
		return ln
	})
	if err != nil {
		return nil, h.opError("listen", addr, err)
	}
	t.bound(a, ep.ln)
	return t, nil
}

// expand checks addr and fills in an empty host with the host's name.
func (h *Host) expand(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, err
	}
	if host == "" {
		host = h.name
	}
	return net.JoinHostPort(host, port), nil
}

func (h *Host) opError(op, addr string, err error) error {
	return &net.OpError{Op: op, Net: "memnet", Addr: Addr(addr), Err: err}
}
