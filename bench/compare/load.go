package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The load generator, the same for every system: clients workers, each with its own
// connection, spread round-robin over the addresses, each setting (or getting) random keys of
// keys distinct ones with values of valueSize random bytes, for a duration. Only the adapter
// (systems.go) differs: how a connection is opened and how one set or get is sent.

// conn is one client connection to a system; k indexes the system's key names.
type conn interface {
	set(ctx context.Context, k int, v []byte) error
	get(ctx context.Context, k int) error
	close()
}

// system is how the generator talks to one kind of server.
type system interface {
	name() string
	dial(ctx context.Context, addr string) (conn, error)
	// value turns random bytes into what set sends (distkv: a msgpack bin).
	value(raw []byte) []byte
}

type loadSpec struct {
	op        string // set or get
	clients   int
	duration  time.Duration
	keys      int
	valueSize int
}

type loadResult struct {
	Ops      int     `json:"ops"`
	Errors   int     `json:"errors"`
	FirstErr string  `json:"first_error,omitempty"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"ops_per_sec"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
}

// valuePool is how many distinct random values the workers pick from.
const valuePool = 64

func values(s system, size int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([][]byte, valuePool)
	for i := range out {
		raw := make([]byte, size)
		for j := range raw {
			raw[j] = byte(rng.Uint32())
		}
		out[i] = s.value(raw)
	}
	return out
}

// dialAll opens n connections round-robin over addrs.
func dialAll(ctx context.Context, s system, addrs []string, n int) ([]conn, error) {
	conns := make([]conn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns[i], errs[i] = s.dial(ctx, addrs[i%len(addrs)])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAll(conns)
		return nil, fmt.Errorf("%s: connecting: %w", s.name(), err)
	}
	return conns, nil
}

func closeAll(conns []conn) {
	for _, c := range conns {
		if c != nil {
			c.close()
		}
	}
}

// fill writes every key once, spread over the connections (before a get load).
func fill(ctx context.Context, conns []conn, keys int, vals [][]byte) error {
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := i; k < keys; k += len(conns) {
				if err := c.set(ctx, k, vals[k%len(vals)]); err != nil {
					errs[i] = fmt.Errorf("filling key %d: %w", k, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// runLoad runs the workers over conns for spec.duration; every successful operation's
// latency counts.
func runLoad(ctx context.Context, conns []conn, spec loadSpec, vals [][]byte) loadResult {
	var stop atomic.Bool
	lat := make([][]time.Duration, len(conns))
	nerr := make([]int, len(conns))
	firstErr := make([]error, len(conns))
	var wg sync.WaitGroup
	t := time.AfterFunc(spec.duration, func() { stop.Store(true) })
	defer t.Stop()
	start := time.Now()
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(rand.Uint64(), uint64(i)))
			l := make([]time.Duration, 0, 1<<14)
			for !stop.Load() && ctx.Err() == nil {
				k := rng.IntN(spec.keys)
				t0 := time.Now()
				var err error
				if spec.op == "get" {
					err = c.get(ctx, k)
				} else {
					err = c.set(ctx, k, vals[rng.IntN(len(vals))])
				}
				if err != nil {
					nerr[i]++
					if firstErr[i] == nil {
						firstErr[i] = err
					}
					if nerr[i] > 100 {
						break // this connection is broken; the others go on
					}
					continue
				}
				l = append(l, time.Since(t0))
			}
			lat[i] = l
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	r := loadResult{Seconds: elapsed.Seconds()}
	for i := range conns {
		all = append(all, lat[i]...)
		r.Errors += nerr[i]
		if r.FirstErr == "" && firstErr[i] != nil {
			r.FirstErr = firstErr[i].Error()
		}
	}
	slices.Sort(all)
	r.Ops = len(all)
	r.PerSec = float64(r.Ops) / elapsed.Seconds()
	r.P50ms, r.P99ms = msOf(percentile(all, 50)), msOf(percentile(all, 99))
	return r
}
