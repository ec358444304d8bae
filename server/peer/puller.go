package peer

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/distkv/distkv/housekeeper"
	"github.com/distkv/distkv/node"
)

// GapDelay is how long a gap may stand before it is pulled: pushes and serf events race, so
// tick t+2 often arrives a moment before t+1. Milliseconds, not a housekeeping round.
const GapDelay = 20 * time.Millisecond

// PullTimeout bounds one pull request and its reply. A large gap takes several (replies are
// capped in bytes), each with its own bound: a slow link moving many big values makes
// progress instead of timing out a whole catch-up.
const PullTimeout = 10 * time.Second

// Puller fetches missing ticks soon after they are noticed: from the origin's own node if it
// is up, else from the peer that last pushed to us, else from any ready peer, trying the next
// one on each retry, with a growing pause (at most 2 s) while the gap stays.
type Puller struct {
	// Peers returns the ready peers; Missing an origin's missing ticks (gaps below its
	// highest tick heard of); Known the ticks of an origin this node holds; Pull asks one
	// peer for ticks of an origin and applies the reply.
	Peers   func() []Info
	Missing func(origin string) node.RangeSet
	Known   func(origin string) node.RangeSet
	Pull    func(ctx context.Context, from Info, origin string, ticks node.RangeSet) error
	Logger  *slog.Logger

	mu       sync.Mutex
	due      map[string]time.Time // origin -> when to pull
	tries    map[string]int       // origin -> attempts so far, to rotate sources
	lastHint string
	wake     chan struct{}
	// flight holds, for each origin being pulled, a channel closed when that pull ends. One
	// pull of an origin at a time: gap pulls, housekeeper repairs and catch-up all ask for
	// the same ticks, and transfers of the same big values in parallel only slow each other
	// until all of them time out.
	flight map[string]chan struct{}
}

func (p *Puller) init() {
	if p.due == nil {
		p.due, p.tries, p.wake = map[string]time.Time{}, map[string]int{}, make(chan struct{}, 1)
		p.flight = map[string]chan struct{}{}
	}
}

// acquire waits until no other pull of origin runs and claims it; release gives it back.
func (p *Puller) acquire(ctx context.Context, origin string) (release func(), err error) {
	for {
		p.mu.Lock()
		p.init()
		busy, ok := p.flight[origin]
		if !ok {
			done := make(chan struct{})
			p.flight[origin] = done
			p.mu.Unlock()
			return func() {
				p.mu.Lock()
				delete(p.flight, origin)
				p.mu.Unlock()
				close(done)
			}, nil
		}
		p.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Hint records the member that last pushed to this node: a good source for what it misses.
func (p *Puller) Hint(member string) {
	p.mu.Lock()
	p.lastHint = member
	p.mu.Unlock()
}

// Want schedules pulls for the gaps of these origins.
func (p *Puller) Want(gaps map[string]node.RangeSet) {
	p.mu.Lock()
	p.init()
	now := time.Now()
	for o := range gaps {
		if _, ok := p.due[o]; !ok {
			p.due[o] = now.Add(GapDelay)
		}
	}
	wake := p.wake
	p.mu.Unlock()
	select {
	case wake <- struct{}{}:
	default:
	}
}

// Run pulls what is due until ctx ends.
func (p *Puller) Run(ctx context.Context) {
	p.mu.Lock()
	p.init()
	wake := p.wake
	p.mu.Unlock()
	t := time.NewTicker(GapDelay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		p.once(ctx)
	}
}

func (p *Puller) once(ctx context.Context) {
	now := time.Now()
	p.mu.Lock()
	var ready []string
	for o, at := range p.due {
		if !now.Before(at) {
			ready = append(ready, o)
		}
	}
	hint := p.lastHint
	p.mu.Unlock()
	for _, o := range ready {
		miss := p.Missing(o)
		if miss.Empty() {
			p.mu.Lock()
			delete(p.due, o)
			delete(p.tries, o)
			p.mu.Unlock()
			continue
		}
		if src, ok := p.source(o, hint); ok {
			if err := p.PullAll(ctx, src, o, miss); err != nil {
				p.Logger.Debug("pull failed", "origin", o, "from", src.Name, "err", err)
			}
		}
		p.mu.Lock()
		p.tries[o]++
		// Back off while the gap stays: the housekeeper also repairs it.
		p.due[o] = time.Now().Add(min(time.Duration(p.tries[o])*GapDelay*5, 2*time.Second))
		p.mu.Unlock()
	}
}

// PullAll pulls ticks of an origin from one peer until this node knows all of them or a reply
// brings no progress: replies are capped in bytes, so a large gap takes several, each within
// PullTimeout. It first waits for any other pull of the origin to end, and then asks only
// for what that one did not bring. The ticks need not be missing: a housekeeper's repair names
// ticks above the highest this node heard of (the last writes of a side it was cut off from).
func (p *Puller) PullAll(ctx context.Context, from Info, origin string, ticks node.RangeSet) error {
	release, err := p.acquire(ctx, origin)
	if err != nil {
		return err
	}
	defer release()
	ticks = ticks.Minus(p.Known(origin))
	for !ticks.Empty() {
		rctx, cancel := context.WithTimeout(ctx, PullTimeout)
		err := p.Pull(rctx, from, origin, ticks)
		cancel()
		if err != nil {
			return err
		}
		left := ticks.Minus(p.Known(origin))
		if left.Len() >= ticks.Len() {
			return nil
		}
		ticks = left
	}
	return nil
}

// source picks the peer to pull an origin's ticks from.
func (p *Puller) source(origin, hint string) (Info, bool) {
	peers := p.Peers()
	if len(peers) == 0 {
		return Info{}, false
	}
	p.mu.Lock()
	try := p.tries[origin]
	p.mu.Unlock()
	self := housekeeper.MemberOf(origin)
	var first []Info
	for _, x := range peers {
		if x.Name == self {
			first = append(first, x)
		}
	}
	for _, x := range peers {
		if x.Name == hint && x.Name != self {
			first = append(first, x)
		}
	}
	for _, x := range peers {
		if x.Name != hint && x.Name != self {
			first = append(first, x)
		}
	}
	return first[try%len(first)], true
}
