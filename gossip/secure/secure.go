// Package secure authenticates and encrypts the peer data plane with the cluster key, as a
// gossip.Network wrapper: the code above it reads and writes frames as before.
//
// Every connection starts with a mutual handshake (fresh nonces and ephemeral X25519 keys from
// both sides, authenticated by HMAC-SHA256 of the transcript under the cluster key), and then
// carries AES-256-GCM records per direction with counter nonces and session keys from HKDF. Only
// holders of an installed cluster key complete it; a plaintext peer fails it, and nothing it sent
// is ever returned by Read. The wire format is in docs/replication.md ("Secure data plane").
//
// Key rotation: the dialer uses the primary key and names it by id; the acceptor takes any
// installed key. Every CheckInterval the Network closes the connections whose key is no longer
// installed, so a removed key stops working on the data plane within that interval.
package secure

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/distkv/distkv/gossip"
)

// KeySource reports the installed cluster keys, primary first. *memberlist.Keyring is one, and
// serf's keyring operations change it in place, so the data plane follows them.
type KeySource interface {
	GetKeys() [][]byte
}

// Defaults of a Network's timers.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultCheckInterval    = time.Second
)

// Network wraps another gossip.Network. Set its fields before its first use.
type Network struct {
	inner gossip.Network
	keys  KeySource
	// HandshakeTimeout bounds a handshake; a peer slower than that is dropped.
	HandshakeTimeout time.Duration
	// CheckInterval is how often open connections are checked against the installed keys.
	CheckInterval time.Duration

	mu    sync.Mutex
	conns map[*Conn]struct{}
	stop  chan struct{} // closes the checker; nil while none runs
}

var _ gossip.Network = (*Network)(nil)

// Wrap returns inner with every connection authenticated and encrypted under keys.
func Wrap(inner gossip.Network, keys KeySource) *Network {
	return &Network{inner: inner, keys: keys, HandshakeTimeout: DefaultHandshakeTimeout,
		CheckInterval: DefaultCheckInterval, conns: map[*Conn]struct{}{}}
}

// Listen implements gossip.Network. Its Accept returns connections at once; each runs its
// handshake on first use (Read, Write or Handshake), in its reader's goroutine, so that a slow or
// hostile peer holds up nobody else.
func (n *Network) Listen(addr string) (net.Listener, error) {
	ln, err := n.inner.Listen(addr)
	if err != nil {
		return nil, err
	}
	return &listener{Listener: ln, nw: n}, nil
}

// Dial implements gossip.Network: it connects and runs the handshake, within ctx and the
// handshake timeout.
func (n *Network) Dial(ctx context.Context, addr string) (net.Conn, error) {
	raw, err := n.inner.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	c := &Conn{Conn: raw, nw: n, client: true}
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	err = c.Handshake()
	if !stop() && ctx.Err() != nil {
		c.Close()
		return nil, fmt.Errorf("secure: dial %s: %w", addr, ctx.Err())
	}
	if err != nil {
		return nil, fmt.Errorf("secure: dial %s: %w", addr, err)
	}
	return c, nil
}

type listener struct {
	net.Listener
	nw *Network
}

func (l *listener) Accept() (net.Conn, error) {
	raw, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: raw, nw: l.nw}, nil
}

// register adds an established connection to those the checker watches, unless its key is gone
// already or it is being closed.
func (n *Network) register(c *Conn) bool {
	installed := n.installed()
	n.mu.Lock()
	defer n.mu.Unlock()
	if c.closing.Load() {
		return true // Close unregisters nothing more; the caller's next use fails anyway
	}
	if !installed[c.keyID] {
		return false
	}
	n.conns[c] = struct{}{}
	if n.stop == nil {
		n.stop = make(chan struct{})
		go n.check(n.stop)
	}
	return true
}

func (n *Network) unregister(c *Conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.conns[c]; !ok {
		return
	}
	delete(n.conns, c)
	if len(n.conns) == 0 && n.stop != nil {
		close(n.stop) // no goroutine is left behind while nothing is open
		n.stop = nil
	}
}

func (n *Network) installed() map[[gossip.KeyIDLen]byte]bool {
	ids := map[[gossip.KeyIDLen]byte]bool{}
	for _, k := range n.keys.GetKeys() {
		ids[gossip.KeyID(k)] = true
	}
	return ids
}

// check closes, every CheckInterval, the connections whose key was removed.
func (n *Network) check(stop chan struct{}) {
	t := time.NewTicker(n.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		installed := n.installed()
		var drop []*Conn
		n.mu.Lock()
		for c := range n.conns {
			if !installed[c.keyID] {
				drop = append(drop, c)
			}
		}
		n.mu.Unlock()
		for _, c := range drop {
			c.Conn.Close() // no close record: to the peer this is a cut stream, an error
			c.Close()      // unregisters; may end this goroutine's stop channel
		}
	}
}
