package gossip

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/serf/serf"
)

// ErrClosed is returned by calls made after Shutdown.
var ErrClosed = errors.New("gossip: closed")

// Gossip is one node's embedded serf: membership, failure detection, tags and
// user events. Its methods are safe for concurrent use.
type Gossip struct {
	serf   *serf.Serf
	budget int           // encoded bytes one user event may take
	forget time.Duration // serf's ReconnectTimeout: when a failed member is forgotten
	logger *slog.Logger

	events   chan Event
	stop     chan struct{} // closed by Shutdown to end the pump
	pumpDone chan struct{}

	counters *Counters

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	leaves    sync.WaitGroup // serf.Leave calls still running, possibly abandoned by Leave's ctx
}

// New creates and starts a node: it binds (or takes over cfg.Transport, which
// Shutdown, or a failed New, shuts down), starts serf, and starts delivering
// events to Events. It does not join anyone.
func New(cfg Config) (*Gossip, error) {
	capacity := eventChBuffer
	if cfg.eventChCap > 0 {
		capacity = cfg.eventChCap
	}
	serfCh := make(chan serf.Event, capacity)
	g := &Gossip{
		events:   make(chan Event),
		stop:     make(chan struct{}),
		pumpDone: make(chan struct{}),
	}
	sc, err := cfg.serfConfig(serfCh, &g.closed)
	if err != nil {
		if cfg.Transport != nil {
			_ = cfg.Transport.Shutdown() // ours from New on, whatever happens
		}
		return nil, err
	}
	g.counters = cfg.Counters
	if g.counters == nil {
		g.counters = new(Counters)
	}
	tr, err := cfg.transport(sc.MemberlistConfig, g.counters)
	if err != nil {
		if cfg.Transport != nil {
			_ = cfg.Transport.Shutdown() // ours from New on, whatever happens
		}
		return nil, err
	}
	sc.MemberlistConfig.Transport = tr
	g.budget = eventBudget(sc)
	g.forget = sc.ReconnectTimeout
	g.logger = cmp.Or(cfg.Logger, slog.Default())
	// The pump starts first: serf reports this node's own join during Create.
	go func() {
		defer close(g.pumpDone)
		pump(serfCh, g.events, g.stop)
	}()
	s, err := serf.Create(sc)
	if err != nil {
		_ = tr.Shutdown() // ours from New on, whatever happens
		close(g.stop)
		<-g.pumpDone
		return nil, fmt.Errorf("gossip: %w", err)
	}
	g.serf = s
	return g, nil
}

// Counters returns what this node's gossip transport has counted (Config.Counters, if set).
func (g *Gossip) Counters() *Counters { return g.counters }

// Events returns the node's events in the order serf reported them. The queue
// behind it is unbounded, so a slow consumer costs memory, never progress. The
// channel is closed by Shutdown; events not yet received by then are dropped.
func (g *Gossip) Events() <-chan Event { return g.events }

// Join contacts the given members ("ip:port") and merges with their cluster.
// It returns how many it reached, and an error only if it reached none. Old
// user events are replayed from the cluster's ring (ignoreOld is false), so
// the consumer must treat events as idempotent anyway.
func (g *Gossip) Join(addrs []string) (int, error) {
	if g.closed.Load() {
		return 0, ErrClosed
	}
	n, err := g.serf.Join(addrs, false)
	if err != nil {
		return n, fmt.Errorf("gossip: join: %w", err)
	}
	return n, nil
}

// ForgetAfter is how long a failed member stays in Members before serf forgets it: the
// profile's, or Config.ForgetAfter.
func (g *Gossip) ForgetAfter() time.Duration { return g.forget }

// Members returns every member this node knows, itself included, in any state
// (failed and left members stay until reaped), sorted by name.
func (g *Gossip) Members() []Member {
	sms := g.serf.Members()
	ms := make([]Member, len(sms))
	for i, m := range sms {
		ms[i] = memberFromSerf(m)
	}
	slices.SortFunc(ms, func(a, b Member) int { return cmp.Compare(a.Name, b.Name) })
	return ms
}

// LocalMember returns this node as the cluster sees it; Addr carries the port
// actually bound when BindAddr asked for port 0.
func (g *Gossip) LocalMember() Member {
	return memberFromSerf(g.serf.LocalMember())
}

// SetTags replaces this node's tags and broadcasts them. It blocks until the
// update has gone out to at least one member, or for at most the profile's
// broadcast timeout (LAN 5 s, test 2 s), which it then reports as an error;
// the update still spreads later.
func (g *Gossip) SetTags(tags map[string]string) error {
	if g.closed.Load() {
		return ErrClosed
	}
	if err := g.serf.SetTags(maps.Clone(tags)); err != nil {
		return fmt.Errorf("gossip: set tags: %w", err)
	}
	return nil
}

// Leave announces a graceful leave and waits until it has spread, so that
// others see this node as left rather than failed. It then stays up for the
// profile's propagate delay (LAN 1 s, test 0.5 s) to answer probes from nodes
// that have not heard yet, so it takes at least that long. If ctx ends first,
// Leave returns ctx's error and the leave finishes in the background (within
// the profile's broadcast timeout twice plus its propagate delay); Shutdown
// may be called at once either way.
func (g *Gossip) Leave(ctx context.Context) error {
	if g.closed.Load() {
		return ErrClosed
	}
	done := make(chan error, 1)
	g.leaves.Add(1)
	go func() {
		defer g.leaves.Done()
		done <- g.leave()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("gossip: leave: %w", ctx.Err())
	}
}

// leave runs serf's Leave. Serf checks for Shutdown only on entry: a Shutdown
// while it waits for its broadcast makes memberlist panic ("leave after
// shutdown") on this goroutine. That is the one panic recovered here, since
// Leave abandoned by its ctx and followed by Shutdown is a normal sequence.
func (g *Gossip) leave() (err error) {
	defer func() {
		if r := recover(); r != nil {
			if r != "leave after shutdown" {
				panic(r)
			}
			err = ErrClosed
		}
	}()
	if err := g.serf.Leave(); err != nil {
		return fmt.Errorf("gossip: leave: %w", err)
	}
	return nil
}

// Shutdown stops the node without a goodbye (call Leave first for that): it
// closes its sockets or transport, stops serf, and closes the Events channel.
// It is idempotent; concurrent calls all return once it is done.
func (g *Gossip) Shutdown() error {
	g.closeOnce.Do(func() {
		if st := g.serf.State(); st != serf.SerfLeft {
			// Serf warns about this too, but below its logs are muted.
			g.logger.Warn("shutdown without a completed leave: others will see this node as failed",
				"component", "gossip", "state", st.String())
		}
		g.closed.Store(true)
		// The pump keeps draining while serf shuts down, so serf cannot block
		// on an event send; it stops only afterwards.
		if err := g.serf.Shutdown(); err != nil {
			g.closeErr = fmt.Errorf("gossip: shutdown: %w", err)
		}
		close(g.stop)
		<-g.pumpDone
	})
	return g.closeErr
}

// Stopped is closed once serf has shut down, by Shutdown or on its own: serf stops a node that
// loses a name conflict (another member claimed its name).
func (g *Gossip) Stopped() <-chan struct{} { return g.serf.ShutdownCh() }

// RemoveFailed declares a failed member gone (serf's force-leave): every member marks it left
// at once instead of waiting ForgetAfter, and stops reconnecting to it. It waits until the
// announcement was broadcast.
func (g *Gossip) RemoveFailed(name string) error {
	if g.closed.Load() {
		return ErrClosed
	}
	if err := g.serf.RemoveFailedNode(name); err != nil {
		return fmt.Errorf("gossip: remove %s: %w", name, err)
	}
	return nil
}
