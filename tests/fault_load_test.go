package tests

// The clients of TestFault: workers doing sets, deletes and conditional sets over a small key
// space, each through one connection at a time to some live node. The Go client never
// reconnects: on a connection error the op is indeterminate and the worker dials again.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/node"
)

const (
	faultKeys = 20
	// Keys written during one step; the others rest, so that a stale version brought back
	// (a resurrected delete) stays visible instead of being overwritten at once.
	faultHot        = 5
	faultWorkers    = 6
	faultOpTimeout  = 5 * time.Second
	faultOpsPerConn = 40 // then the worker moves to another node
)

// faultTarget is a node the workers may use.
type faultTarget struct{ name, addr string }

// faultLoad runs the workers and records every op.
type faultLoad struct {
	seed    uint64
	targets func() []faultTarget
	stop    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	nextID  atomic.Int64
	hot     atomic.Pointer[[]int] // the keys the workers write now
	cool    chan int              // keys just out of the hot set, to delete before they rest

	mu       sync.Mutex
	ops      []faultOp
	inflight map[string]int // by node name
}

func newFaultLoad(seed uint64, targets func() []faultTarget) *faultLoad {
	l := &faultLoad{seed: seed, targets: targets, stop: make(chan struct{}), inflight: map[string]int{},
		cool: make(chan int, faultKeys)}
	l.rotate(0)
	return l
}

// rotate picks the keys written during step k (a function of the seed and k). Half of the keys
// that go out of the hot set are deleted first, so that many rest as tombstones: those are what
// a node that missed the delete and its purge could bring back.
func (l *faultLoad) rotate(k int) {
	rng := rand.New(rand.NewPCG(l.seed, 0x5eed0000+uint64(k)))
	hot := rng.Perm(faultKeys)[:faultHot]
	if old := l.hot.Load(); old != nil {
		for _, key := range *old {
			if !slices.Contains(hot, key) && rng.IntN(2) == 0 {
				select {
				case l.cool <- key:
				default:
				}
			}
		}
	}
	l.hot.Store(&hot)
}

func (l *faultLoad) start() {
	for w := 0; w < faultWorkers; w++ {
		l.wg.Add(1)
		go l.worker(w)
	}
}

// finish stops the workers and returns every op. It may be called again.
func (l *faultLoad) finish() []faultOp {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ops
}

// inFlight returns how many ops are under way at a node.
func (l *faultLoad) inFlight(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inflight[name]
}

func (l *faultLoad) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

func faultKeyPath(i int) node.Path { return node.StringPath("f", fmt.Sprintf("k%02d", i)) }

func (l *faultLoad) worker(w int) {
	defer l.wg.Done()
	rng := rand.New(rand.NewPCG(l.seed, uint64(w)+1))
	seq := 0
	for !l.stopped() {
		ts := l.targets()
		if len(ts) == 0 {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		tg := ts[rng.IntN(len(ts))]
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		cl, err := client.Dial(ctx, tg.addr)
		cancel()
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		for n := 0; n < faultOpsPerConn && !l.stopped(); n++ {
			seq++
			if !l.one(cl, tg.name, w, seq, rng) {
				break // the connection is gone
			}
			time.Sleep(time.Duration(5+rng.IntN(25)) * time.Millisecond)
		}
		cl.Close()
	}
}

func faultStillTarget(ts []faultTarget, name string) bool {
	for _, t := range ts {
		if t.name == name {
			return true
		}
	}
	return false
}

// one does one op at a node and records it; false if the connection must be dropped.
func (l *faultLoad) one(cl *client.Client, name string, w, seq int, rng *rand.Rand) bool {
	// Counted in flight before the node is checked to be a target still: once a leaving node
	// is no target and has nothing in flight, no op can reach it.
	l.mu.Lock()
	l.inflight[name]++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.inflight[name]--
		l.mu.Unlock()
	}()
	if !faultStillTarget(l.targets(), name) {
		return false
	}
	hot := *l.hot.Load()
	k := hot[rng.IntN(len(hot))]
	r := rng.IntN(100)
	select {
	case k = <-l.cool:
		r = 0 // an unconditional delete
	default:
	}
	p := faultKeyPath(k)
	o := faultOp{worker: w, node: name, key: p.Key(), path: p.String()}
	o.del = r < 25
	var opts []client.WriteOption
	if r >= 60 && r < 90 || r >= 20 && r < 25 {
		// Conditional: on the version or value just read at this node.
		ctx, cancel := context.WithTimeout(context.Background(), faultOpTimeout)
		v, err := cl.Get(ctx, p)
		cancel()
		switch {
		case errors.Is(err, clientproto.ErrNotFound):
			o.cond = "absent"
			opts = append(opts, client.IfAbsent())
		case err != nil:
			var se *clientproto.ServerError
			return errors.As(err, &se) // no op was made; a server error keeps the connection
		case r < 75 || o.del:
			o.cond = "chain"
			opts = append(opts, client.IfChain(v.Chain[0]))
		default:
			o.cond = "prev"
			opts = append(opts, client.IfPrev(v.Raw))
		}
		if o.del && o.cond == "absent" {
			return true // deleting nothing
		}
	}
	if !o.del {
		s := fmt.Sprintf("w%d.%d", w, seq)
		if rng.IntN(10) == 0 {
			// Larger than a serf event carries: the event announces only the head.
			s += "." + strings.Repeat("x", 3000)
		}
		o.value, _ = client.Encode(s)
	}
	o.start = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), faultOpTimeout)
	var res client.WriteResult
	var err error
	if o.del {
		res, err = cl.Delete(ctx, p, opts...)
	} else {
		res, err = cl.Set(ctx, p, o.value, opts...)
	}
	cancel()
	o.end = time.Now()
	keep := true
	switch {
	case err == nil && res.Changed && len(res.Chain) > 0:
		o.out, o.origin, o.tick, o.tock = foAcked, res.Chain[0].Origin, res.Chain[0].Tick, res.Tock
	case err == nil && res.Changed:
		o.out, o.err = foIndet, "acknowledged as changed without a chain"
	case err == nil:
		o.out = foNoop
		if !o.del {
			o.err = "a set acknowledged as unchanged"
		}
	default:
		o.err = err.Error()
		var se *clientproto.ServerError
		if errors.As(err, &se) {
			switch se.Etype {
			case clientproto.EtypeChain, clientproto.EtypeCondition, clientproto.EtypeNotReady:
				o.out = foRefused // checked before anything is applied
			default:
				o.out = foIndet // "unavailable: not durable" comes after the update was applied
			}
		} else {
			o.out, keep = foIndet, false
		}
	}
	o.id = int(l.nextID.Add(1))
	l.mu.Lock()
	l.ops = append(l.ops, o)
	l.mu.Unlock()
	return keep
}
