package gossip

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Counters count what serf and memberlist send and receive for one node through its
// transport: UDP packets, and TCP streams (push/pull, TCP pings, large messages) with their
// bytes. Bytes are as they cross the transport: encrypted when a keyring is set, without IP,
// UDP or TCP headers.
type Counters struct {
	PacketsIn, PacketsOut, StreamsIn, StreamsOut atomic.Uint64
	// Packet and stream bytes together.
	BytesIn, BytesOut atomic.Uint64
}

// countingTransport wraps the node's transport and counts into c. Received packets and
// streams reach memberlist through one relay goroutine each (the inner transport's channels
// are read only here); that costs a channel hop per packet, no lock and no allocation. Each
// stream is wrapped once, so counting its reads and writes is two atomic adds.
type countingTransport struct {
	inner   memberlist.NodeAwareTransport
	c       *Counters
	packets chan *memberlist.Packet
	streams chan net.Conn
	stop    chan struct{}
	once    sync.Once
	relays  sync.WaitGroup
}

var _ memberlist.NodeAwareTransport = (*countingTransport)(nil)

func newCountingTransport(inner memberlist.NodeAwareTransport, c *Counters) *countingTransport {
	t := &countingTransport{inner: inner, c: c, packets: make(chan *memberlist.Packet),
		streams: make(chan net.Conn), stop: make(chan struct{})}
	t.relays.Add(2)
	go t.relayPackets()
	go t.relayStreams()
	return t
}

func (t *countingTransport) relayPackets() {
	defer t.relays.Done()
	in := t.inner.PacketCh()
	for {
		select {
		case p := <-in:
			t.c.PacketsIn.Add(1)
			t.c.BytesIn.Add(uint64(len(p.Buf)))
			select {
			case t.packets <- p:
			case <-t.stop:
				return
			}
		case <-t.stop:
			return
		}
	}
}

func (t *countingTransport) relayStreams() {
	defer t.relays.Done()
	in := t.inner.StreamCh()
	for {
		select {
		case conn := <-in:
			t.c.StreamsIn.Add(1)
			select {
			case t.streams <- &countingConn{Conn: conn, c: t.c}:
			case <-t.stop:
				_ = conn.Close()
				return
			}
		case <-t.stop:
			return
		}
	}
}

func (t *countingTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return t.inner.FinalAdvertiseAddr(ip, port)
}

func (t *countingTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (t *countingTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	ts, err := t.inner.WriteToAddress(b, a)
	if err == nil {
		t.c.PacketsOut.Add(1)
		t.c.BytesOut.Add(uint64(len(b)))
	}
	return ts, err
}

func (t *countingTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

func (t *countingTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (t *countingTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	conn, err := t.inner.DialAddressTimeout(a, timeout)
	if err != nil {
		return nil, err
	}
	t.c.StreamsOut.Add(1)
	return &countingConn{Conn: conn, c: t.c}, nil
}

func (t *countingTransport) StreamCh() <-chan net.Conn { return t.streams }

// Shutdown stops the relays, then the inner transport.
func (t *countingTransport) Shutdown() error {
	t.once.Do(func() { close(t.stop) })
	t.relays.Wait()
	return t.inner.Shutdown()
}

// countingConn counts a gossip stream's bytes.
type countingConn struct {
	net.Conn
	c *Counters
}

func (cc *countingConn) Read(b []byte) (int, error) {
	n, err := cc.Conn.Read(b)
	cc.c.BytesIn.Add(uint64(n))
	return n, err
}

func (cc *countingConn) Write(b []byte) (int, error) {
	n, err := cc.Conn.Write(b)
	cc.c.BytesOut.Add(uint64(n))
	return n, err
}

// transport returns the node's transport, counted into c: cfg.Transport, or memberlist's
// UDP/TCP transport bound to cfg.BindAddr. Memberlist builds the latter itself only when
// given none, so New does it here the way memberlist would (retrying a dynamic port whose
// UDP twin was taken) and records the bound port in ml.
func (cfg *Config) transport(ml *memberlist.Config, c *Counters) (*countingTransport, error) {
	tr := cfg.Transport
	if tr == nil {
		nc := &memberlist.NetTransportConfig{BindAddrs: []string{ml.BindAddr}, BindPort: ml.BindPort,
			Logger: ml.Logger}
		tries := 1
		if ml.BindPort == 0 {
			tries = 10
		}
		var nt *memberlist.NetTransport
		var err error
		for range tries {
			if nt, err = memberlist.NewNetTransport(nc); err == nil || !strings.Contains(err.Error(), "address already in use") {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("gossip: bind %s: %w", cfg.BindAddr, err)
		}
		if ml.BindPort == 0 {
			ml.BindPort = nt.GetAutoBindPort()
			if cfg.AdvertiseAddr == "" {
				ml.AdvertisePort = ml.BindPort
			}
		}
		tr = nt
	}
	na, ok := tr.(memberlist.NodeAwareTransport)
	if !ok {
		return nil, fmt.Errorf("gossip: transport %T is not a memberlist.NodeAwareTransport", tr)
	}
	return newCountingTransport(na, c), nil
}
