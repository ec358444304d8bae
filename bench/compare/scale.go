package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/node"
	"github.com/redis/go-redis/v9"
)

// The scale mode measures how distkv's costs grow. First with the number of nodes (RAM-only
// clusters of each size, one after another, each running its cases for every round): writes/s
// with the clients spread, CPU per write at the origin and per replica and bytes sent per
// write with the clients on n1, and visibility on every node. Then with the number of keys:
// one node with a data dir filled with small keys, its RSS, snapshot size, restart time, and
// the time a new node takes to join it and hold every entry.

type scaleRow struct {
	Nodes        int     `json:"nodes"`
	PerSec       summary `json:"writes_per_sec"`
	VisP99ms     summary `json:"visible_p99_ms"`
	Vis1P99ms    summary `json:"visible_p99_ms_1_client"`
	CPUOrigin    summary `json:"cpu_us_per_write_origin"`
	CPUReplica   summary `json:"cpu_us_per_write_replica"`
	PeerBytes    summary `json:"peer_bytes_out_per_write_origin"`
	PeerBytesAll summary `json:"peer_bytes_out_per_write_all"`
	GossipBytes  summary `json:"gossip_bytes_out_per_write_all"`
}

type sizeRow struct {
	Keys           int     `json:"keys"`
	RSSBytes       int64   `json:"rss_bytes"`
	RSSPerKey      float64 `json:"rss_bytes_per_key"`
	RSSRestart     int64   `json:"rss_bytes_after_restart"`
	FillSeconds    float64 `json:"fill_seconds"`
	InsertsPerSec  float64 `json:"inserts_per_sec"`
	SnapshotBytes  int64   `json:"snapshot_bytes"`
	SnapshotSecs   float64 `json:"snapshot_seconds"`
	RestartSeconds float64 `json:"restart_seconds"`
	JoinSeconds    float64 `json:"join_seconds"`
	// Redis holding the same keys and values, measured in the same run.
	RedisRSSPerKey float64 `json:"redis_rss_bytes_per_key"`
}

func runScale(ctx context.Context, o options, nodes, sizes []int) (*report, error) {
	rep := &report{Mode: "scale", Config: map[string]any{"clients": o.clients, "rounds": o.rounds,
		"duration": o.duration.String(), "keys": o.keys, "value_size": o.valueSize, "nodes": nodes, "sizes": sizes}}
	r := &runner{distkvBin: o.distkv, vals: map[system][][]byte{}, valueSize: o.valueSize, grace: o.grace}
	for _, n := range nodes {
		row, runs, err := scaleNodes(ctx, o, r, n)
		rep.Runs = append(rep.Runs, runs...)
		if err != nil {
			return rep, err
		}
		rep.Scale = append(rep.Scale, row)
	}
	for _, k := range sizes {
		row, err := scaleKeys(ctx, o, k)
		if err == nil {
			row.RedisRSSPerKey, err = redisRSSPerKey(ctx, o, k)
		}
		if err != nil {
			return rep, fmt.Errorf("%d keys: %w", k, err)
		}
		rep.Sizes = append(rep.Sizes, row)
	}
	return rep, nil
}

func scaleNodes(ctx context.Context, o options, r *runner, n int) (scaleRow, []caseResult, error) {
	row := scaleRow{Nodes: n}
	var hosts []string
	for i := range n {
		hosts = append(hosts, loopback(i))
	}
	fmt.Fprintf(o.out, "starting %d distkv nodes\n", n)
	g, err := startDistkv(ctx, o.dir, o.distkv, dkvConfig{name: fmt.Sprintf("s%d", n), hosts: hosts})
	if err != nil {
		return row, nil, err
	}
	defer g.stop()
	dk := newDistkv(o.keys)
	spec := loadSpec{op: "set", clients: o.clients, duration: o.duration, keys: o.keys, valueSize: o.valueSize}
	spread := fmt.Sprintf("%d nodes set", n)
	onN1 := fmt.Sprintf("%d nodes set, clients on n1", n)
	vis := fmt.Sprintf("%d nodes visibility", n)
	vis1 := fmt.Sprintf("%d nodes visibility, 1 client", n)
	spec1 := spec
	spec1.clients = 1
	cases := []caseSpec{{spread, g, dk, g.clients, spec}, {onN1, g, dk, g.clients[:1], spec},
		{vis, g, nil, g.clients, spec}, {vis1, g, nil, g.clients, spec1}}
	res, err := runRounds(ctx, o, r, cases)
	var runs []caseResult
	for _, c := range cases {
		runs = append(runs, res[c.name]...)
	}
	if err != nil {
		return row, runs, err
	}
	row.PerSec = summarize(series(res[spread], perSec))
	row.VisP99ms = summarize(series(res[vis], visP99))
	row.Vis1P99ms = summarize(series(res[vis1], visP99))
	row.CPUOrigin = summarize(series(res[onN1], cpuProc(0)))
	row.CPUReplica = summarize(series(res[onN1], cpuReplicas))
	row.PeerBytes = summarize(series(res[onN1], bytesOf(func(r caseResult) []float64 { return r.PeerBytesPerOp }, true)))
	row.PeerBytesAll = summarize(series(res[onN1], bytesOf(func(r caseResult) []float64 { return r.PeerBytesPerOp }, false)))
	row.GossipBytes = summarize(series(res[onN1], bytesOf(func(r caseResult) []float64 { return r.GossipBytesPerOp }, false)))
	return row, runs, nil
}

// bytesOf picks the origin's (n1's) figure, or the sum over all nodes.
func bytesOf(f func(caseResult) []float64, origin bool) func(caseResult) float64 {
	return func(r caseResult) float64 {
		v := f(r)
		if len(v) == 0 {
			return math.NaN()
		}
		if origin {
			return v[0]
		}
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s
	}
}

// Key-count runs: 16-byte values under one parent, as issue 12's measurements.
const (
	fillConns   = 4
	fillBatch   = 500
	smallValue  = 16
	insertKeys  = 100000 // new keys the insert load picks from
	restartWait = 5 * time.Minute
)

func kvPath(i int) node.Path { return node.StringPath("kvload", fmt.Sprintf("k%08d", i)) }

func scaleKeys(ctx context.Context, o options, keys int) (sizeRow, error) {
	row := sizeRow{Keys: keys}
	cfg := dkvConfig{name: fmt.Sprintf("k%d", keys), hosts: []string{loopback(0), loopback(1)}, dataDir: true, fsync: "interval"}
	a := &group{name: cfg.name}
	defer func() { a.stop() }()
	fmt.Fprintf(o.out, "%d keys: starting a node with a data dir\n", keys)
	// Node 1 of a two-node config: it gossips, so that the new node can join it later.
	one := cfg
	one.hosts = cfg.hosts[:1]
	one.extra = []string{"--gossip-addr", hostPort(cfg.hosts[0], dkvGossip), "--peer-addr", hostPort(cfg.hosts[0], dkvPeer)}
	if err := a.add(ctx, o.dir, o.distkv, one, 0, cfg.hosts[0]); err != nil {
		return row, err
	}
	rss0, err := rssBytes(a.procs[0].pid())
	if err != nil {
		return row, err
	}
	t0 := time.Now()
	if err := fillKeys(ctx, a.clients[0], keys); err != nil {
		return row, err
	}
	row.FillSeconds = time.Since(t0).Seconds()
	time.Sleep(time.Second)
	if row.RSSBytes, err = rssBytes(a.procs[0].pid()); err != nil {
		return row, err
	}
	row.RSSPerKey = float64(row.RSSBytes-rss0) / float64(keys)

	if row.SnapshotBytes, row.SnapshotSecs, err = snapshotNow(ctx, a.clients[0]); err != nil {
		return row, err
	}

	// Restart: from the process start until a get of the last filled key answers.
	a.procs[0].stop()
	a.procs, a.clients, a.admins = nil, nil, nil
	t0 = time.Now()
	if err := a.add(ctx, o.dir, o.distkv, one, 0, cfg.hosts[0]); err != nil {
		return row, err
	}
	err = waitFor(ctx, "get after restart", restartWait, a.procs, func() error {
		c, err := client.Dial(ctx, a.clients[0])
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Get(ctx, kvPath(keys-1))
		return err
	})
	if err != nil {
		return row, err
	}
	row.RestartSeconds = time.Since(t0).Seconds()
	if row.RSSRestart, err = rssBytes(a.procs[0].pid()); err != nil {
		return row, err
	}

	// Join: a new RAM-only node, from its start until it is ready and holds every entry.
	want := a.metric("distkv_entries", "")[0]
	t0 = time.Now()
	two := cfg
	two.dataDir = false
	if err := a.add(ctx, o.dir, o.distkv, two, 1, cfg.hosts[1]); err != nil {
		return row, err
	}
	err = waitFor(ctx, "join", restartWait, a.procs, func() error {
		if got := a.metric("distkv_entries", "")[1]; !(got >= want) {
			return fmt.Errorf("%v entries of %v", got, want)
		}
		return nil
	})
	if err != nil {
		return row, err
	}
	row.JoinSeconds = time.Since(t0).Seconds()
	a.procs[1].stop() // the inserts below measure the node alone

	// Inserts at this size: the same load generator on new keys under the same parent.
	sys := &distkvSystem{}
	for i := range insertKeys {
		sys.paths = append(sys.paths, kvPath(keys+i))
	}
	conns, err := dialAll(ctx, sys, a.clients[:1], o.clients)
	if err != nil {
		return row, err
	}
	lr := runLoad(ctx, conns, loadSpec{op: "set", clients: o.clients, duration: o.duration, keys: insertKeys, valueSize: smallValue}, values(sys, smallValue))
	closeAll(conns)
	if lr.Errors > 0 {
		return row, fmt.Errorf("inserts: %d failed, the first: %s", lr.Errors, lr.FirstErr)
	}
	row.InsertsPerSec = lr.PerSec

	fmt.Fprintf(o.out, "%d keys: RSS %d MiB (%.0f B/key), inserts %.0f/s, snapshot %d MB in %.2fs, restart %.2fs, join %.2fs\n",
		keys, row.RSSBytes>>20, row.RSSPerKey, row.InsertsPerSec, row.SnapshotBytes/1e6, row.SnapshotSecs, row.RestartSeconds, row.JoinSeconds)
	return row, nil
}

// redisRSSPerKey starts a Redis, writes the same keys and values as scaleKeys (pipelines of
// fillBatch SETs) and returns its RSS growth per key.
func redisRSSPerKey(ctx context.Context, o options, keys int) (float64, error) {
	g, err := startRedis(ctx, o.dir, o.redis, loopback(2))
	if err != nil {
		return 0, err
	}
	defer g.stop()
	pid := g.procs[0].pid()
	rss0, err := rssBytes(pid)
	if err != nil {
		return 0, err
	}
	c := redis.NewClient(&redis.Options{Addr: g.clients[0], DisableIdentity: true, Protocol: 2})
	defer c.Close()
	val := strings.Repeat("v", smallValue)
	for start := 0; start < keys; start += fillBatch {
		p := c.Pipeline()
		for i := start; i < min(start+fillBatch, keys); i++ {
			p.Set(ctx, fmt.Sprintf("kvload.k%08d", i), val, 0)
		}
		if _, err := p.Exec(ctx); err != nil {
			return 0, fmt.Errorf("redis fill at %d: %w", start, err)
		}
	}
	rss, err := rssBytes(pid)
	if err != nil {
		return 0, err
	}
	return float64(rss-rss0) / float64(keys), nil
}

// fillKeys writes kvload.k<i> for i < keys with Multi batches over a few connections.
func fillKeys(ctx context.Context, addr string, keys int) error {
	val := node.AppendBinString(nil, strings.Repeat("v", smallValue))
	errs := make(chan error, fillConns)
	for w := range fillConns {
		go func() {
			c, err := client.Dial(ctx, addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for start := w * fillBatch; start < keys; start += fillConns * fillBatch {
				ops := make([]client.Op, 0, fillBatch)
				for i := start; i < min(start+fillBatch, keys); i++ {
					ops = append(ops, client.Op{Path: kvPath(i), Value: val})
				}
				if _, err := c.Multi(ctx, ops); err != nil {
					errs <- fmt.Errorf("fill at %d: %w", start, err)
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range fillConns {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func snapshotNow(ctx context.Context, addr string) (int64, float64, error) {
	c, err := client.Dial(ctx, addr)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	t0 := time.Now()
	f, err := c.SnapshotNow(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("snapshot: %w", err)
	}
	took := time.Since(t0).Seconds()
	st, err := os.Stat(f)
	if err != nil {
		return 0, 0, fmt.Errorf("snapshot: %w", err)
	}
	return st.Size(), took, nil
}

func (r *report) scaleMarkdown() string {
	var b strings.Builder
	if len(r.Scale) > 0 {
		b.WriteString("| nodes | writes/s, clients spread | visible p99 ms | visible p99 ms, 1 client | CPU us/write, origin | CPU us/write, per replica | peer bytes sent/write, origin | peer bytes sent/write, all nodes | gossip bytes sent/write |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, s := range r.Scale {
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", s.Nodes, fmtSum(s.PerSec, 0), orNA(fmtSum(s.VisP99ms, 2)), fmtSum(s.Vis1P99ms, 2),
				fmtSum(s.CPUOrigin, 1), fmtSum(s.CPUReplica, 1), fmtSum(s.PeerBytes, 0), fmtSum(s.PeerBytesAll, 0), orNA(fmtSum(s.GossipBytes, 0)))
		}
		b.WriteString("\n")
	}
	if len(r.Sizes) > 0 {
		b.WriteString("| keys | RSS MiB | RSS B/key | Redis RSS B/key | fill s | inserts/s | snapshot MB | snapshot s | restart s | RSS after restart MiB | join s |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, s := range r.Sizes {
			fmt.Fprintf(&b, "| %d | %d | %.0f | %.0f | %.1f | %.0f | %.1f | %.2f | %.2f | %d | %.2f |\n", s.Keys, s.RSSBytes>>20, s.RSSPerKey, s.RedisRSSPerKey,
				s.FillSeconds, s.InsertsPerSec, float64(s.SnapshotBytes)/1e6, s.SnapshotSecs, s.RestartSeconds, s.RSSRestart>>20, s.JoinSeconds)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func orNA(s string) string {
	if s == "" {
		return "n/a"
	}
	return s
}
