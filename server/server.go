// Package server is the distkv daemon: it owns one node.Node behind a mutex and connects it to
// clients, the event log, snapshots, gossip and the housekeeper.
//
// Duties, in order, for every call into the node (see node.Effects):
//  1. under the lock: run the node, append Effects.Log to the event log (so log order is apply
//     order), route Effects.Events into the bounded watch queues;
//  2. without the lock: wait for durability per the fsync policy, then send Effects.Send to
//     peers and reply to the client.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distkv/distkv/eventlog"
	"github.com/distkv/distkv/node"
)

// ErrClosed is returned by Run after Shutdown.
var ErrClosed = errors.New("server: closed")

// Replicator receives the updates this node originated, once they are durable.
type Replicator interface {
	Send(us []*node.Update)
}

// Server is one distkv node.
type Server struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	node    *node.Node
	watches map[uint64]*watchQ
	msgs    msgHub     // msg_monitor streams
	clog    clientLog  // clientlog.go: DistKV's log action
	repl    Replicator // nil: single node; set under mu once caught up (store.recover reads it)
	logErr  error      // sticky error of the event log (e.g. disk full): writes refused
	cluster *cluster   // nil: a single node
	store   *store     // nil: RAM only
	// stoppedClean: the data directory's last run closed cleanly (a graceful stop, so it left
	// the network and the others may have purged without it), or it is new (alone.go).
	stoppedClean bool

	ready     atomic.Bool
	nextWatch atomic.Uint64
	listener  net.Listener
	conns     sync.Map // *conn, or a net.Conn in its TLS handshake -> struct{}
	adm       admission
	tlsBase   *tls.Config                // nil: plaintext; hands out tlsCur
	tlsCur    atomic.Pointer[tls.Config] // swapped by ReloadTLS
	closing   chan struct{}              // closed by Shutdown, under mu
	fatal     error                      // why the server stopped itself; Run returns it
	closeOnce sync.Once
	stopped   chan struct{} // closed when Shutdown has finished
	wg        sync.WaitGroup
	// startup is closed when Run's start (store, join, catch-up, client port) is over; nil
	// until Run begins. Shutdown cancels the start and waits for it before stopping what it
	// started. Under mu.
	startup chan struct{}
	bgOnce  sync.Once // stopBackground runs once: Run's failed start and Shutdown both call it

	met   *metrics     // metrics.go
	prop  *propagation // propagation.go
	admin *adminServer // admin.go; nil when off, under mu

	releaseGCPace func() // gcpace.go: set by start, called by stopBackground
}

// New builds a server; Run starts it.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger.With("node", cfg.Name),
		watches: make(map[uint64]*watchQ),
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
	}
	s.met = newMetrics(s)
	s.prop = newPropagation(s.met)
	if cfg.DataDir != "" {
		fs := cfg.LogFS
		if fs == nil {
			fs = eventlog.OSFS{}
		}
		s.cfg.LogFS = timedFS{fs, s.met}
	}
	// A RAM-only node starts a new history every time: its generation is its start time.
	s.node = node.New(node.Config{Origin: OriginName(cfg.Name, uint64(time.Now().UnixMilli()))})
	if err := s.initTLS(); err != nil {
		return nil, err
	}
	return s, nil
}

// OriginName returns the origin of a name's incarnation gen.
func OriginName(name string, gen uint64) string { return name + "~" + strconv.FormatUint(gen, 10) }

// Node runs fn with the node locked, for tests and tools.
func (s *Server) Node(fn func(n *node.Node)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.node)
}

// Addr returns the client listener's address once Run has started listening.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return nil
	}
	return s.listener.Addr()
}

// Listen opens the client port. Run calls it if the caller did not.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener != nil {
		return nil
	}
	select {
	case <-s.closing:
		return ErrClosed // Shutdown closed the listener already, or found none to close
	default:
	}
	l, err := net.Listen("tcp", s.cfg.ClientAddr)
	if err != nil {
		return fmt.Errorf("server: client port: %w", err)
	}
	s.listener = l
	return nil
}

// Run serves clients until ctx ends or Shutdown is called. It always returns a non-nil error:
// ErrClosed after a shutdown, also one that came while the node was still starting.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	select {
	case <-s.closing:
		s.mu.Unlock()
		return ErrClosed
	default:
	}
	if s.startup != nil {
		s.mu.Unlock()
		return errors.New("server: Run called twice")
	}
	s.startup = make(chan struct{})
	s.mu.Unlock()
	// The start ends early when ctx ends or Shutdown is called: a catch-up with unreachable
	// peers must not hold up a SIGTERM.
	sctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-sctx.Done():
		}
	}()
	err := s.start(sctx)
	interrupted := sctx.Err() != nil || s.isClosing()
	cancel()
	if err != nil {
		s.stopBackground()
	}
	close(s.startup)
	if err != nil && !interrupted {
		return err
	}
	go func() {
		select {
		case <-ctx.Done():
			s.Shutdown(context.Background())
		case <-s.closing:
		}
	}()
	if err != nil {
		<-s.stopped // cut short by ctx or Shutdown: not a failure
		return s.closedErr()
	}
	origin := s.originName()
	s.log.Info("serving clients", "addr", s.listener.Addr().String(), "origin", origin)
	for {
		nc, err := s.listener.Accept()
		if err != nil {
			select {
			case <-s.closing:
				<-s.stopped
				return s.closedErr()
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("server: accept: %w", err)
		}
		host := hostOf(nc.RemoteAddr())
		if err := s.admit(host); err != nil {
			s.refuse(nc, err)
			continue
		}
		if !s.spawn(func() { defer s.release(host); s.serveConn(nc) }) {
			s.release(host)
			nc.Close() // accepted while Shutdown ran: it will not close this one
		}
	}
}

// start opens the store, joins and catches up, then opens the client port.
func (s *Server) start(ctx context.Context) error {
	if !s.cfg.LeaveGCPace {
		s.releaseGCPace = holdGCPace(s.log)
	}
	if err := s.startAdmin(); err != nil {
		return err
	}
	if s.cfg.DataDir != "" {
		if err := s.openStore(); err != nil {
			return err
		}
	}
	if s.cfg.GossipAddr != "" {
		// Join and catch up first: the client port opens only once the node holds the
		// network's state and knows its own highest tick.
		if err := s.startCluster(ctx); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.mu.Lock()
		s.repl = s.cluster // under mu: store.recover reads it from the snapshot loop
		s.mu.Unlock()
	}
	if err := s.Listen(); err != nil {
		return err
	}
	if s.cluster != nil {
		// The client address is known now (port 0 resolved): advertise it.
		if err := s.cluster.g.SetTags(s.cluster.tags("1")); err != nil {
			s.log.Warn("setting tags", "err", err)
		}
	}
	s.ready.Store(true)
	return nil
}

// spawn runs fn in a goroutine Shutdown waits for, unless Shutdown has begun.
func (s *Server) spawn(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closing:
		return false
	default:
	}
	s.wg.Add(1) // under mu, before closing: so before Shutdown's Wait
	go func() {
		defer s.wg.Done()
		fn()
	}()
	return true
}

func (s *Server) isClosing() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

func (s *Server) originName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.node.Origin()
}

// closedErr is what Run returns after a shutdown: why the server stopped itself, if it did.
func (s *Server) closedErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fatal != nil {
		return s.fatal
	}
	return ErrClosed
}

// serveConn runs the TLS handshake, if any, then serves the connection. Both are registered in
// s.conns so that Shutdown closes them.
func (s *Server) serveConn(nc net.Conn) {
	if !s.track(nc) {
		return
	}
	tc, ok := s.handshake(nc)
	s.conns.Delete(nc)
	if !ok {
		return
	}
	c := newConn(s, tc)
	if !s.track(c) {
		return
	}
	c.serve()
	s.conns.Delete(c)
}

// track registers a connection for Shutdown, or closes it if Shutdown has begun.
func (s *Server) track(k any) bool {
	s.conns.Store(k, struct{}{})
	select {
	case <-s.closing:
		s.conns.Delete(k)
		closeTracked(k)
		return false
	default:
		return true
	}
}

func closeTracked(k any) {
	switch x := k.(type) {
	case *conn:
		x.close()
	case net.Conn:
		x.Close()
	}
}

// Shutdown stops taking connections, closes the open ones, leaves the network and closes the
// event log cleanly, waiting for all of it or for ctx. A start still under way (catch-up, state
// transfer) is cut short first. The server cannot be reused. See docs/operations.md for what
// bounds it.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		close(s.closing)
		if s.listener != nil {
			s.listener.Close()
		}
		startup := s.startup
		s.mu.Unlock()
		s.conns.Range(func(k, _ any) bool { closeTracked(k); return true })
		go func() {
			if startup != nil {
				<-startup
			}
			s.wg.Wait()
			s.stopBackground()
			close(s.stopped)
		}()
	})
	select {
	case <-s.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fail stops the server because it cannot go on correctly; Run returns err.
func (s *Server) fail(err error) {
	s.log.Error("stopping", "err", err)
	s.mu.Lock()
	if s.fatal == nil {
		s.fatal = err
	}
	s.mu.Unlock()
	go s.Shutdown(context.Background())
}

// stopBackground leaves the network and closes the store, in that order: the last writes are
// logged before the clean-close trailer.
func (s *Server) stopBackground() {
	s.bgOnce.Do(func() {
		if s.cluster != nil {
			s.cluster.shutdown(context.Background())
		}
		if s.store != nil {
			if err := s.store.close(); err != nil {
				s.log.Error("closing the event log", "err", err)
			}
		}
		s.stopAdmin()
		if s.releaseGCPace != nil {
			s.releaseGCPace()
		}
	})
}

// endWatchesLocked ends every watch with an error; the caller holds s.mu.
func (s *Server) endWatchesLocked(why string) {
	for id, q := range s.watches {
		q.reason = why
		close(q.overflow)
		delete(s.watches, id)
	}
}

// commitLocked carries out the node's effects; the caller holds s.mu. It returns the log
// sequence number to wait for (0: nothing to wait for) and the updates to send once durable.
// An update the log does not take is kept in order for store.recover, never left applied and
// unlogged, and the log's failure refuses writes until then.
func (s *Server) commitLocked() (uint64, []*node.Update, error) {
	eff := s.node.Ready()
	s.prop.committed(s.node.Origin(), eff.Log)
	for _, ev := range eff.Events {
		s.routeLocked(ev)
	}
	var seq uint64
	var err error
	if s.store != nil {
		for i, u := range eff.Log {
			if len(s.store.unlogged) > 0 {
				// Records waiting for the log go first, so that the log keeps apply order.
				s.store.unlogged = append(s.store.unlogged, eff.Log[i:]...)
				err = s.logErr
				break
			}
			sq, e := s.store.Append(s.store.encode(u))
			if e != nil {
				err = e
				s.logFailedLocked(e, eff.Log[i:])
				break
			}
			seq = max(seq, sq)
		}
	}
	return seq, eff.Send, err
}

// logSeqLocked returns the log sequence number that covers everything the node holds now
// (0: nothing to wait for); the caller holds s.mu. See visible.
func (s *Server) logSeqLocked() uint64 {
	if s.store == nil {
		return 0
	}
	return s.store.log.Last()
}

// visible waits until what the node held when logSeqLocked returned seq may leave it: this
// node's own ticks reach peers (pull replies, vectors, state transfers, pushes) only once they
// are durable per the fsync policy, so that a crash can never lose a tick a peer has seen and
// reuse it (docs/replication.md). It fails while the log is failing.
func (s *Server) visible(ctx context.Context, seq uint64) error {
	if seq == 0 || s.store == nil {
		return nil
	}
	if err := s.store.log.Wait(ctx, seq); err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	s.mu.Lock()
	err := s.logErr
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("event log failing: %w", err)
	}
	return nil
}

// finish waits for durability and hands the updates to the replicator.
func (s *Server) finish(ctx context.Context, seq uint64, send []*node.Update) error {
	if seq > 0 && s.store != nil {
		if err := s.store.Wait(ctx, seq); err != nil {
			s.logFailed(err, send)
			return err
		}
	}
	if len(send) > 0 && s.repl != nil {
		s.repl.Send(send)
	}
	return nil
}

// Logger returns the server's logger, which names the node on every line: for the process's
// own lines about it (shutdown, signals).
func (s *Server) Logger() *slog.Logger { return s.log }

// logFailed records that the log could not make this node's updates durable: writes are
// refused until they are on disk (store.recover), reads go on.
func (s *Server) logFailed(err error, own []*node.Update) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logFailedLocked(err, own)
}

func (s *Server) logFailedLocked(err error, us []*node.Update) {
	if s.logErr == nil {
		s.log.Error("event log failed: refusing writes, still serving reads", "err", err)
	}
	s.logErr = err
	if s.store != nil {
		s.store.unlogged = append(s.store.unlogged, us...)
	}
}
