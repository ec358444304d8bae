package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

// The compare mode: Redis, the floor (floor.go), a 3-member etcd and three distkv
// configurations (1 node; 3 nodes RAM-only; 3 nodes --fsync always) all run at once, and
// every round runs every case once in the same order, so that outside load hits all of them
// alike.

type options struct {
	distkv, redis, etcd string // binaries
	dir                 string // temp dir: logs, data dirs
	clients             int
	rounds              int
	duration            time.Duration
	keys                int
	valueSize           int
	grace               time.Duration
	out                 io.Writer
}

// Case names, used by the report.
const (
	cRedisSet    = "redis set"
	cRedisSet1   = "redis set, 1 client"
	cRedisGet    = "redis get"
	cFloorSet    = "floor set (a Go server that stores nothing)"
	cD1Set       = "distkv 1 node set"
	cD1Set1      = "distkv 1 node set, 1 client"
	cD1Get       = "distkv 1 node get"
	cD3Set       = "distkv 3 nodes RAM set"
	cD3SetN1     = "distkv 3 nodes RAM set, clients on n1"
	cEtcdSet     = "etcd 3 members put"
	cD3FsyncSet  = "distkv 3 nodes fsync always set"
	cD3FsyncSetN = "distkv 3 nodes fsync always set, clients on n1"
	cD3Vis       = "distkv 3 nodes RAM visibility"
	cD3Vis1      = "distkv 3 nodes RAM visibility, 1 client"
)

type systems struct {
	redis, floor, etcd, d1, d3, d3f *group
}

func (s *systems) stop() {
	for _, g := range []*group{s.redis, s.floor, s.etcd, s.d1, s.d3, s.d3f} {
		if g != nil {
			g.stop()
		}
	}
}

func startAll(ctx context.Context, o options) (*systems, error) {
	s := &systems{}
	var err error
	fmt.Fprintln(o.out, "starting redis, the floor, etcd (3 members), distkv (1 node; 3 nodes RAM; 3 nodes --fsync always)")
	if s.redis, err = startRedis(ctx, o.dir, o.redis, loopback(0)); err != nil {
		return s, err
	}
	if s.floor, err = startFloor(ctx, o.dir, loopback(0)); err != nil {
		return s, err
	}
	if s.etcd, err = startEtcd(ctx, o.dir, o.etcd, []string{loopback(1), loopback(2), loopback(3)}); err != nil {
		return s, err
	}
	if s.d1, err = startDistkv(ctx, o.dir, o.distkv, dkvConfig{name: "d1", hosts: []string{loopback(4)}}); err != nil {
		return s, err
	}
	if s.d3, err = startDistkv(ctx, o.dir, o.distkv, dkvConfig{name: "d3", hosts: []string{loopback(5), loopback(6), loopback(7)}}); err != nil {
		return s, err
	}
	s.d3f, err = startDistkv(ctx, o.dir, o.distkv, dkvConfig{name: "d3f", hosts: []string{loopback(8), loopback(9), loopback(10)},
		dataDir: true, fsync: "always"})
	return s, err
}

func compareCases(o options, s *systems) []caseSpec {
	dk, rd, et := newDistkv(o.keys), newRedis(o.keys), newEtcd(o.keys)
	spec := func(op string, clients int) loadSpec {
		return loadSpec{op: op, clients: clients, duration: o.duration, keys: o.keys, valueSize: o.valueSize}
	}
	n, one := o.clients, 1
	return []caseSpec{
		{cRedisSet, s.redis, rd, s.redis.clients, spec("set", n)},
		{cFloorSet, s.floor, rd, s.floor.clients, spec("set", n)},
		{cD1Set, s.d1, dk, s.d1.clients, spec("set", n)},
		{cRedisGet, s.redis, rd, s.redis.clients, spec("get", n)},
		{cD1Get, s.d1, dk, s.d1.clients, spec("get", n)},
		{cRedisSet1, s.redis, rd, s.redis.clients, spec("set", one)},
		{cD1Set1, s.d1, dk, s.d1.clients, spec("set", one)},
		{cD3Set, s.d3, dk, s.d3.clients, spec("set", n)},
		{cD3SetN1, s.d3, dk, s.d3.clients[:1], spec("set", n)},
		{cEtcdSet, s.etcd, et, s.etcd.clients, spec("set", n)},
		{cD3FsyncSet, s.d3f, dk, s.d3f.clients, spec("set", n)},
		{cD3FsyncSetN, s.d3f, dk, s.d3f.clients[:1], spec("set", n)},
		{cD3Vis, s.d3, nil, s.d3.clients, spec("set", n)},
		{cD3Vis1, s.d3, nil, s.d3.clients, spec("set", one)},
	}
}

// prepareGets writes every key once on the systems that are read, before the first round.
func prepareGets(ctx context.Context, r *runner, cases []caseSpec) error {
	done := map[*group]bool{}
	for _, c := range cases {
		if c.spec.op != "get" || done[c.g] {
			continue
		}
		done[c.g] = true
		conns, err := dialAll(ctx, c.sys, c.addrs, c.spec.clients)
		if err != nil {
			return err
		}
		err = fill(ctx, conns, c.spec.keys, r.values(c.sys))
		closeAll(conns)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	return nil
}

// runRounds runs every case once per round, in order, and returns the results by case.
func runRounds(ctx context.Context, o options, r *runner, cases []caseSpec) (map[string][]caseResult, error) {
	res := map[string][]caseResult{}
	for round := 1; round <= o.rounds; round++ {
		for _, c := range cases {
			cr, err := r.run(ctx, round, c)
			if err != nil {
				return res, fmt.Errorf("round %d: %s: %w", round, c.name, err)
			}
			fmt.Fprintf(o.out, "round %d  %-50s %9.0f ops/s  p99 %7.2f ms  cpu %6.1f us/op%s\n",
				round, c.name, cr.Load.PerSec, cr.Load.P99ms, cr.CPUPerOpTotal, visNote(cr.Vis))
			res[c.name] = append(res[c.name], cr)
		}
	}
	return res, nil
}

func visNote(v *visStats) string {
	if v == nil {
		return ""
	}
	s := fmt.Sprintf("  visible p50 %.2f p99 %.2f ms (%d not seen)", v.P50ms, v.P99ms, v.NotSeen)
	if len(v.WatchErrors) > 0 {
		s += fmt.Sprintf("; %d watch(es) ended by the server, round left out: %s", len(v.WatchErrors), v.WatchErrors[0])
	}
	return s
}

func runCompare(ctx context.Context, o options) (*report, error) {
	s, err := startAll(ctx, o)
	defer s.stop()
	if err != nil {
		return nil, err
	}
	r := &runner{distkvBin: o.distkv, vals: map[system][][]byte{}, valueSize: o.valueSize, grace: o.grace}
	cases := compareCases(o, s)
	if err := prepareGets(ctx, r, cases); err != nil {
		return nil, err
	}
	res, err := runRounds(ctx, o, r, cases)
	if err != nil {
		return nil, err
	}
	return compareReport(o, cases, res), nil
}
