package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/gossip"
	"github.com/distkv/distkv/gossip/wire"
	"github.com/distkv/distkv/housekeeper"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server/peer"
)

// Member tags. Part of the protocol between servers.
const (
	tagPeer   = "peer"   // the peer data plane's address
	tagClient = "client" // the client port
	tagReady  = "ready"  // "1" once the node holds the network's state
	tagOrigin = "origin" // the node's current origin (name~gen)
	tagWait   = "wait"   // "1" while the node waits to hear from the network (alone.go)
)

// cluster is the server's part in a network: serf, the peer data plane and the housekeeper.
type cluster struct {
	s        *Server
	g        *gossip.Gossip
	plane    *peer.Plane
	peerAddr string

	mu     sync.Mutex
	events []*node.Update // local updates not yet announced over serf
	// eventsOver: more were made than could fit one event; events holds only the newest.
	eventsOver bool
	ready      bool
	// What catch-up heard, for the wait (alone.go): a vector of a sure member, one of a
	// waiting member; and whether DIR/members named other members at start.
	heardSure, heardWaiting, rememberedAtStart bool
	// repairing: the repair worker runs; repairNext is the newest list it has yet to do.
	repairing  bool
	repairNext []wire.Repair

	// peak is the largest membership seen (failed members count, members that left do not):
	// only a strict majority of it may purge tombstones, so that of two sides that forgot each
	// other in a long partition at most one purges, and the other keeps its deletes for the
	// resync (docs/housekeeping.md). seen is every member by name, with when it was last seen
	// alive. Both are kept in DIR/members (members.go); saved is what the file holds.
	peak   int
	seen   map[string]time.Time
	saved  memberMemo
	saveMu sync.Mutex // one write of DIR/members at a time

	resyncing   atomic.Bool     // one background resync at a time
	alone       atomic.Bool     // waiting to hear from the network: writes wait (alone.go)
	stateMu     sync.Mutex      // one state transfer at a time (catch-up, resync)
	antiEntropy atomic.Bool     // one anti-entropy pass at a time
	aeLogged    map[string]bool // divergences logged already (under mu)
	// pushTo is the ready peers Send pushes to, refreshed on member events so that the write
	// path does not copy serf's member list on every update.
	pushTo atomic.Pointer[[]peerInfo]

	puller   *peer.Puller
	wm       housekeeper.Watermark
	house    houseState
	kick     chan struct{}   // run a housekeeping round now
	ctx      context.Context // ends at shutdown
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// startCluster starts serf and the peer listener, joins the network, catches up with it and
// only then returns: the caller opens the client port afterwards.
func (s *Server) startCluster(ctx context.Context) error {
	cfg := s.cfg
	c := &cluster{s: s, aeLogged: map[string]bool{}, seen: map[string]time.Time{}, kick: make(chan struct{}, 1)}
	if err := c.loadMembers(); err != nil {
		return err
	}
	c.rememberedAtStart = len(c.remembered()) > 0
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.puller = &peer.Puller{Peers: func() []peerInfo { return c.others(true) }, Missing: c.missingOf, Known: c.knownOf,
		Pull: s.met.countedPull(c.pullFrom), Logger: s.log}
	peerAddr := cfg.PeerAddr
	if peerAddr == "" {
		host, _, err := net.SplitHostPort(cfg.GossipAddr)
		if err != nil {
			return fmt.Errorf("server: --gossip-addr: %w", err)
		}
		peerAddr = net.JoinHostPort(host, "0")
	}
	plane, err := peer.Listen(peer.Config{Network: cfg.Network, MaxFrame: cfg.MaxPeerFrame, MaxConns: cfg.MaxPeerConns,
		HelloTimeout: cfg.PeerHelloTimeout, IdleTimeout: cfg.PeerIdleTimeout, Hello: c.hello, Logger: s.log,
		Counters: &s.met.peer}, peerAddr, c)
	if err != nil {
		return fmt.Errorf("server: peer port: %w", err)
	}
	c.plane, c.peerAddr = plane, advertised(plane.Addr().String(), peerAddr)
	s.mu.Lock()
	origin := s.node.Origin()
	s.mu.Unlock()
	g, err := gossip.New(gossip.Config{
		Name:        cfg.Name,
		BindAddr:    cfg.GossipAddr,
		Transport:   cfg.Transport,
		Counters:    &s.met.gossip,
		Profile:     cfg.Profile,
		ForgetAfter: cfg.ForgetAfter,
		Keyring:     cfg.Keyring,
		KeyringFile: cfg.KeyringFile,
		Logger:      s.log,
		Tags: map[string]string{tagPeer: c.peerAddr, tagClient: cfg.ClientAddr,
			tagReady: "0", tagOrigin: origin},
	})
	if err != nil {
		plane.Close()
		return err
	}
	c.g = g
	s.mu.Lock() // the admin port reads it during the start (clusterNow)
	s.cluster = c
	s.mu.Unlock()
	c.wg.Add(5)
	go func() { defer c.wg.Done(); c.plane.Serve() }()
	go func() { defer c.wg.Done(); c.beaconLoop() }()
	go func() { defer c.wg.Done(); c.eventLoop() }()
	go func() { defer c.wg.Done(); c.puller.Run(c.ctx) }()
	go func() { defer c.wg.Done(); c.houseLoop() }()

	if len(cfg.Join) > 0 {
		c.join(ctx)
		c.wg.Add(1)
		go func() { defer c.wg.Done(); c.rejoinLoop() }()
	}
	// The client port opens only once the node holds the network's state. Retry while there
	// are ready peers to learn from; with none left, this node is the network.
	for delay, deadline := 200*time.Millisecond, time.Now().Add(2*time.Minute); ; delay = min(2*delay, 5*time.Second) {
		err := c.catchUp(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err() // shutting down: Run stops what was started
		}
		if time.Now().After(deadline) {
			s.log.Error("catching up with the network failed; serving what this node has", "err", err)
			break
		}
		s.log.Warn("catching up with the network failed; retrying", "err", err, "in", delay)
		if !sleepCtx(ctx, delay) {
			return ctx.Err()
		}
	}
	if err := c.decideWait(); err != nil {
		return err
	}
	c.mu.Lock()
	c.ready = true
	c.mu.Unlock()
	c.refreshPeers()
	if err := g.SetTags(c.tags("1")); err != nil {
		s.log.Warn("setting the ready tag", "err", err)
	}
	return nil
}

// advertised replaces an unspecified listen host with the configured one.
func advertised(bound, configured string) string {
	h, p, err := net.SplitHostPort(bound)
	if err != nil || (h != "" && h != "0.0.0.0" && h != "::") {
		return bound
	}
	ch, _, _ := net.SplitHostPort(configured)
	return net.JoinHostPort(ch, p)
}

func (c *cluster) tags(ready string) map[string]string {
	c.s.mu.Lock()
	origin := c.s.node.Origin()
	c.s.mu.Unlock()
	client := c.s.cfg.ClientAddr
	if a := c.s.Addr(); a != nil {
		client = a.String()
	}
	tags := map[string]string{tagPeer: c.peerAddr, tagClient: client, tagReady: ready, tagOrigin: origin}
	if c.alone.Load() {
		tags[tagWait] = "1"
	}
	return tags
}

// join contacts the --join addresses until one answers or JoinTimeout passes; after that
// serf's reconnect loop and later joins find the others.
func (c *cluster) join(ctx context.Context) {
	deadline := time.Now().Add(c.s.cfg.JoinTimeout)
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		n, err := c.joinCtx(ctx, c.s.cfg.Join)
		if n > 0 {
			c.s.log.Info("joined the network", "contacted", n)
			return
		}
		if ctx.Err() != nil {
			return
		}
		if time.Now().After(deadline) {
			c.s.log.Warn("could not reach any --join address; starting alone, retrying in the background", "err", err)
			return
		}
		sleepCtx(ctx, delay)
	}
}

// joinCtx joins through addrs, giving up when ctx ends: serf's join to an unreachable address
// waits for memberlist's TCP timeout (10 s in the LAN profile), which must not hold up a
// shutdown. The abandoned join ends by itself; serf's shutdown makes it fail.
func (c *cluster) joinCtx(ctx context.Context, addrs []string) (int, error) {
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := c.g.Join(addrs)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		return r.n, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// sleepCtx waits for d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// rejoinLoop keeps the --join addresses in the network: serf forgets a member that stayed
// failed for ForgetAfter and stops reconnecting to it, so after a long partition nothing would
// bring the sides together again. Joining an address that is already a member is cheap.
func (c *cluster) rejoinLoop() {
	every := time.Minute
	if c.s.cfg.Profile == gossip.ProfileTest {
		every = 2 * time.Second
	}
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(every):
		}
		alive := map[string]bool{}
		for _, m := range c.g.Members() {
			if m.Status == gossip.StatusAlive {
				alive[m.Addr] = true
			}
		}
		var lost []string
		for _, a := range c.s.cfg.Join {
			if !alive[a] && a != c.s.cfg.GossipAddr {
				lost = append(lost, a)
			}
		}
		if len(lost) == 0 {
			continue
		}
		if n, _ := c.joinCtx(c.ctx, lost); n > 0 {
			c.s.log.Info("rejoined", "addrs", lost)
			c.kickHouse()
		}
	}
}

// peerInfo is another member as the data plane needs it.
type peerInfo = peer.Info

// others returns the alive members with a peer address, other than this node; readyOnly keeps
// the ready ones.
func (c *cluster) others(readyOnly bool) []peerInfo {
	var out []peerInfo
	for _, m := range c.g.Members() {
		if m.Name == c.s.cfg.Name || m.Status != gossip.StatusAlive || m.Tags[tagPeer] == "" {
			continue
		}
		p := peerInfo{Name: m.Name, Peer: m.Tags[tagPeer], Origin: m.Tags[tagOrigin], Ready: m.Tags[tagReady] == "1",
			Waiting: m.Tags[tagWait] == "1"}
		if readyOnly && !p.Ready {
			continue
		}
		out = append(out, p)
	}
	return out
}

// refreshPeers recomputes the ready peers Send pushes to.
func (c *cluster) refreshPeers() {
	ps := c.others(true)
	c.pushTo.Store(&ps)
}

func (c *cluster) peerByName(name string) (peerInfo, bool) {
	for _, p := range c.others(false) {
		if p.Name == name {
			return p, true
		}
	}
	return peerInfo{}, false
}

// majority reports whether n members are a strict majority of the largest membership seen.
func (c *cluster) majority(n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return 2*n > c.peak
}

// left lowers the peak for members that left gracefully: they are gone on purpose.
func (c *cluster) left(n int) {
	c.mu.Lock()
	c.peak = max(c.peak-n, 1)
	c.mu.Unlock()
}

// ranking returns the housekeeping ranking of the alive ready members, this node included when
// it is ready.
func (c *cluster) ranking() []string {
	var ms []housekeeper.Member
	for _, m := range c.g.Members() {
		ready := m.Tags[tagReady] == "1"
		if m.Name == c.s.cfg.Name {
			c.mu.Lock()
			ready = c.ready
			c.mu.Unlock()
		}
		ms = append(ms, housekeeper.Member{Name: m.Name, Alive: m.Status == gossip.StatusAlive, Ready: ready})
	}
	return housekeeper.Rank(ms)
}

func (c *cluster) kickHouse() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// shutdown leaves the network gracefully and stops every goroutine.
func (c *cluster) shutdown(ctx context.Context) {
	c.stopOnce.Do(func() {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := c.g.Leave(lctx); err != nil && !errors.Is(err, gossip.ErrClosed) {
			c.s.log.Debug("leaving the network", "err", err)
		}
		cancel()
		c.cancel()
		c.plane.Close() // before c.wg.Wait: its connections start goroutines of c.wg
		c.g.Shutdown()
	})
	c.wg.Wait()
}

// appendClusterState adds the cluster's view to a get_state reply.
func (s *Server) appendClusterState(m *clientproto.Msg) {
	c := s.cluster
	if c == nil {
		return
	}
	ms := c.g.Members()
	m.Key("members").Array(len(ms))
	for _, x := range ms {
		sub := &clientproto.Msg{}
		sub.Str("name", x.Name).Str("status", x.Status.String()).Bool("ready", x.Tags[tagReady] == "1").
			Bool("waiting", x.Tags[tagWait] == "1").
			Str("origin", x.Tags[tagOrigin]).Str("peer", x.Tags[tagPeer]).Str("client", x.Tags[tagClient])
		m.AppendRaw(sub.Bytes())
	}
	m.Bool("waiting", c.alone.Load())
	rank := c.ranking()
	hk := ""
	if len(rank) > 0 {
		hk = rank[0]
	}
	m.Str("housekeeper", hk)
	if hk == s.cfg.Name {
		// Only the housekeeper compares every member's state; others would only guess.
		h := c.houseStatus()
		m.Bool("converged", h.converged).Uint("house_rounds", h.rounds).
			Uint("divergences", h.divergences).Uint("repaired", h.repaired)
	}
}
