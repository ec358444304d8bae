package memnet

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/memberlist"
)

const (
	// packetQueue is how many packets wait for memberlist before more are
	// dropped, like a UDP receive buffer (about 200 KB of 1.4 KB packets).
	packetQueue = 1024

	// maxDatagram is the largest UDP payload over IPv4. Real sockets refuse
	// larger writes, so memnet does too rather than hide such a bug.
	maxDatagram = 65507
)

// Transport is a memberlist.NodeAwareTransport bound to one address of a
// Host. Shutdown unbinds the address, closes every stream the transport
// dialled or accepted, and drops packets sent to it from then on.
type Transport struct {
	host    *Host
	ip      net.IP
	packets chan *memberlist.Packet
	shut    atomic.Bool

	// Set once by bound, before the transport is returned.
	addr Addr
	port int
	ln   *listener

	mu    sync.Mutex
	conns map[*conn]struct{} // streams owned by this transport, closed on Shutdown
}

var _ memberlist.NodeAwareTransport = (*Transport)(nil)

func newTransport(h *Host, ip net.IP) *Transport {
	return &Transport{
		host:    h,
		ip:      ip,
		packets: make(chan *memberlist.Packet, packetQueue),
		conns:   make(map[*conn]struct{}),
	}
}

func (t *Transport) bound(a Addr, ln *listener) {
	_, portStr, _ := net.SplitHostPort(string(a))
	t.port, _ = strconv.Atoi(portStr)
	t.addr, t.ln = a, ln
}

// Addr returns the bound "ip:port", with the port chosen if 0 was asked for.
func (t *Transport) Addr() string { return string(t.addr) }

// FinalAdvertiseAddr implements memberlist.Transport. Like NetTransport it
// honours an explicit advertise address and otherwise advertises the bound one.
func (t *Transport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if ip == "" {
		return t.ip, t.port, nil
	}
	adv := net.ParseIP(ip)
	if adv == nil {
		return nil, 0, fmt.Errorf("memnet: failed to parse advertise address %q", ip)
	}
	if ip4 := adv.To4(); ip4 != nil {
		adv = ip4
	}
	if port == 0 {
		port = t.port
	}
	return adv, port, nil
}

// WriteTo implements memberlist.Transport. Like UDP it reports success for
// packets that are then lost (no receiver, partition, loss, full queue).
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	if t.shut.Load() {
		return time.Time{}, &net.OpError{Op: "write", Net: "memnet", Source: t.addr, Addr: Addr(addr), Err: net.ErrClosed}
	}
	if len(b) > maxDatagram {
		return time.Time{}, &net.OpError{Op: "write", Net: "memnet", Source: t.addr, Addr: Addr(addr), Err: syscall.EMSGSIZE}
	}
	now := time.Now()
	if dest := t.host.n.packetDest(t.host, Addr(addr)); dest != nil {
		dest.deliver(&memberlist.Packet{Buf: append([]byte(nil), b...), From: t.addr, Timestamp: now})
	}
	return now, nil
}

// WriteToAddress implements memberlist.NodeAwareTransport.
func (t *Transport) WriteToAddress(b []byte, addr memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, addr.Addr)
}

// deliver queues p for memberlist or drops it. The channel is never closed
// (memberlist stops reading on its own shutdown), so a send cannot panic.
func (t *Transport) deliver(p *memberlist.Packet) {
	if t.shut.Load() {
		return
	}
	select {
	case t.packets <- p:
	default:
	}
}

// PacketCh implements memberlist.Transport.
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// DialTimeout implements memberlist.Transport.
func (t *Transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if t.shut.Load() {
		return nil, &net.OpError{Op: "dial", Net: "memnet", Source: t.addr, Addr: Addr(addr), Err: net.ErrClosed}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	local := t.host.n.ephemeralAddr(t.ip.String())
	c, err := t.host.dial(ctx, local, addr, t.track)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// DialAddressTimeout implements memberlist.NodeAwareTransport.
func (t *Transport) DialAddressTimeout(addr memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(addr.Addr, timeout)
}

// StreamCh implements memberlist.Transport.
func (t *Transport) StreamCh() <-chan net.Conn { return t.ln.ch }

// Shutdown implements memberlist.Transport. It is idempotent.
func (t *Transport) Shutdown() error {
	t.mu.Lock()
	if t.shut.Swap(true) {
		t.mu.Unlock()
		return nil
	}
	owned := make([]*conn, 0, len(t.conns))
	for c := range t.conns {
		owned = append(owned, c)
	}
	t.mu.Unlock()
	_ = t.ln.Close()
	for _, c := range owned {
		_ = c.Close() // unblocks memberlist's stream handlers at once
	}
	return nil
}

// track adopts c so that Shutdown closes it; false if already shut down.
func (t *Transport) track(c *conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shut.Load() {
		return false
	}
	t.conns[c] = struct{}{}
	next := c.onClose
	c.onClose = func(c *conn) {
		if next != nil {
			next(c)
		}
		t.mu.Lock()
		delete(t.conns, c)
		t.mu.Unlock()
	}
	return true
}
