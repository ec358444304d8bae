// Package memnet is an in-memory network for deterministic cluster tests.
//
// One Network connects many hosts inside a test process. A Host binds
// addresses ("10.0.0.1:7946") in two ways:
//
//   - Host.Transport gives a memberlist.NodeAwareTransport for serf/memberlist:
//     packets go through a buffered channel that drops when full (like a UDP
//     socket buffer); streams are in-memory pipes buffering 64 KiB each way,
//     like socket buffers, with deadlines.
//   - Host.Listen and Host.Dial give the peer data plane: net.Listener and
//     net.Conn over the same pipes.
//
// Faults apply to both planes, so a test cuts membership and data together:
//
//   - SetLoss drops a fraction of packets, chosen by a rand seeded in New.
//     Streams are reliable, as TCP is.
//   - Partition puts hosts into groups. Packets across groups are dropped,
//     dials across groups fail at once, and open streams across groups are
//     reset (reads and writes at both ends fail with ECONNRESET). Heal undoes it.
//
// Partitions name hosts, not addresses: every address a host binds belongs to
// its group. Hosts are created on first use by name; by convention a host is
// named after its IP, which is what Network.Transport does.
//
// The seed makes the loss pattern reproducible for a given sequence of packets;
// the goroutine schedule still varies between runs, so tests should poll for
// outcomes rather than expect exact packet fates.
//
// gossip's tests run real serf clusters over memnet (TestPartitionHeal: five
// nodes, a 2|3 partition and a heal).
package memnet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"syscall"
)

// firstPort is where automatic port assignment (port 0) starts, in the
// ephemeral range so that it rarely collides with fixed ports chosen by tests.
const firstPort = 49152

// Network is an in-memory network. All methods are safe for concurrent use.
type Network struct {
	mu       sync.Mutex
	rng      *rand.Rand // guarded by mu
	loss     float64
	hosts    map[string]*Host
	groups   map[string]int // host name -> partition group; absent means group 0
	bound    map[Addr]*endpoint
	streams  map[*conn]*stream // both ends of every open stream
	nextPort int
}

// endpoint is what is bound at an address: a listener, plus a transport if the
// address also takes packets.
type endpoint struct {
	host *Host
	ln   *listener
	tr   *Transport // nil for Host.Listen
}

// stream records who is at each end of a stream, so that a partition can find
// the streams it cuts.
type stream struct {
	a, b         *conn
	hostA, hostB *Host
}

// New returns an empty network whose packet loss is drawn from seed.
func New(seed int64) *Network {
	return &Network{
		rng:      rand.New(rand.NewPCG(uint64(seed), 0x6d656d6e6574)), // second word: "memnet"
		hosts:    make(map[string]*Host),
		groups:   make(map[string]int),
		bound:    make(map[Addr]*endpoint),
		streams:  make(map[*conn]*stream),
		nextPort: firstPort,
	}
}

// Host returns the host with this name, creating it on first use.
func (n *Network) Host(name string) *Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	h, ok := n.hosts[name]
	if !ok {
		h = &Host{n: n, name: name}
		n.hosts[name] = h
	}
	return h
}

// Transport is shorthand for n.Host(ip).Transport(addr), where ip is the host
// part of addr: the usual one host per IP.
func (n *Network) Transport(addr string) (*Transport, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("memnet: transport address %q: %w", addr, err)
	}
	return n.Host(host).Transport(addr)
}

// SetLoss makes the network drop this fraction (0 to 1) of all packets.
func (n *Network) SetLoss(fraction float64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.loss = min(max(fraction, 0), 1)
}

// Partition replaces the current grouping: each argument is a group of host
// names, and hosts named nowhere form one more, default group. A host named in
// several groups ends in the last. Open streams between hosts now in different
// groups are reset.
func (n *Network) Partition(groups ...[]string) {
	n.mu.Lock()
	n.groups = make(map[string]int)
	for i, g := range groups {
		for _, name := range g {
			n.groups[name] = i + 1
		}
	}
	cut := make(map[*stream]bool)
	for _, s := range n.streams {
		if n.groups[s.hostA.name] != n.groups[s.hostB.name] {
			cut[s] = true
		}
	}
	n.mu.Unlock()
	for s := range cut {
		s.a.reset() // resets both directions, so both ends
	}
}

// Heal ends any partition: all hosts can reach each other again. Streams reset
// by the partition stay broken; new ones can be dialled.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.groups = make(map[string]int)
}

// reachable reports whether packets and dials can go from a to b. Callers hold
// n.mu.
func (n *Network) reachable(a, b *Host) bool {
	return n.groups[a.name] == n.groups[b.name]
}

// bind reserves addr for ep, choosing a free port if addr's port is 0.
func (n *Network) bind(addr string, ep *endpoint, mk func(Addr) *listener) (Addr, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", fmt.Errorf("bad port %q", portStr)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if port == 0 {
		for tries := 0; ; tries++ {
			if tries > 65535-firstPort {
				return "", syscall.EADDRINUSE
			}
			p := n.nextPort
			n.nextPort++
			if n.nextPort > 65535 {
				n.nextPort = firstPort
			}
			if _, used := n.bound[Addr(net.JoinHostPort(host, strconv.Itoa(p)))]; !used {
				port = uint64(p)
				break
			}
		}
	}
	a := Addr(net.JoinHostPort(host, strconv.FormatUint(port, 10)))
	if _, used := n.bound[a]; used {
		return "", syscall.EADDRINUSE
	}
	ep.ln = mk(a)
	n.bound[a] = ep
	return a, nil
}

// unbind releases addr if it is still held by ln.
func (n *Network) unbind(addr Addr, ln *listener) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ep, ok := n.bound[addr]; ok && ep.ln == ln {
		delete(n.bound, addr)
	}
}

// ephemeralAddr names the local end of a dialled stream.
func (n *Network) ephemeralAddr(host string) Addr {
	n.mu.Lock()
	p := n.nextPort
	n.nextPort++
	if n.nextPort > 65535 {
		n.nextPort = firstPort
	}
	n.mu.Unlock()
	return Addr(net.JoinHostPort(host, strconv.Itoa(p)))
}

// packetDest decides the fate of one packet from host from to addr and returns
// the receiving transport, or nil if the packet is lost.
func (n *Network) packetDest(from *Host, addr Addr) *Transport {
	n.mu.Lock()
	defer n.mu.Unlock()
	ep, ok := n.bound[addr]
	if !ok || ep.tr == nil || !n.reachable(from, ep.host) {
		return nil
	}
	if n.loss > 0 && n.rng.Float64() < n.loss {
		return nil
	}
	return ep.tr
}

// connect creates a stream from host from (whose end is named local) to the
// listener at addr and registers it for partitions. The caller enqueues the
// returned remote end at the returned listener.
func (n *Network) connect(from *Host, local, addr Addr) (mine, theirs *conn, ln *listener, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ep, ok := n.bound[addr]
	if !ok {
		return nil, nil, nil, syscall.ECONNREFUSED
	}
	if !n.reachable(from, ep.host) {
		return nil, nil, nil, syscall.EHOSTUNREACH
	}
	mine, theirs = newPipe(local, addr)
	s := &stream{a: mine, b: theirs, hostA: from, hostB: ep.host}
	n.streams[mine], n.streams[theirs] = s, s
	mine.onClose, theirs.onClose = n.forget, n.forget
	return mine, theirs, ep.ln, nil
}

// forget drops a closed end from the stream registry.
func (n *Network) forget(c *conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.streams, c)
}
