package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Every server listens on loopback addresses 127.0.0.5 and up, on ports in the 21xxx-22xxx
// ranges, away from the defaults that other runs on the machine use.
const (
	redisPort     = 21379
	floorPort     = 21380
	etcdClient    = 22379
	etcdPeer      = 22380
	dkvClient     = 21586
	dkvAdmin      = 21587
	dkvGossip     = 21946
	dkvPeer       = 21947
	startTimeout  = 60 * time.Second
	firstLoopback = 5
)

func loopback(i int) string { return fmt.Sprintf("127.0.0.%d", firstLoopback+i) }

func hostPort(host string, port int) string { return fmt.Sprintf("%s:%d", host, port) }

// group is the processes of one system under test.
type group struct {
	name    string
	procs   []*proc
	clients []string // client addresses, one per process
	admins  []string // distkv only: admin addresses
}

func (g *group) stop() {
	for _, p := range g.procs {
		p.stop()
	}
}

func startRedis(ctx context.Context, dir, bin, host string) (*group, error) {
	addr := hostPort(host, redisPort)
	p, err := startProc(dir, "redis", bin, "--bind", host, "--port", fmt.Sprint(redisPort),
		"--save", "", "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no",
		"--dir", dir, "--loglevel", "warning")
	if err != nil {
		return nil, err
	}
	return respGroup(ctx, "redis", p, addr)
}

// respGroup is the group of one process that answers RESP on addr, once it answers a PING.
func respGroup(ctx context.Context, name string, p *proc, addr string) (*group, error) {
	g := &group{name: name, procs: []*proc{p}, clients: []string{addr}}
	err := waitFor(ctx, name+" up", startTimeout, g.procs, func() error {
		c := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true, Protocol: 2})
		defer c.Close()
		return c.Ping(ctx).Err()
	})
	if err != nil {
		g.stop()
		return nil, err
	}
	return g, nil
}

// startFloor starts this program again as the floor's server (floor.go), on host.
func startFloor(ctx context.Context, dir, host string) (*group, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	addr := hostPort(host, floorPort)
	p, err := startProc(dir, "floor", self, "-mode", "floor-server", "-listen", addr)
	if err != nil {
		return nil, err
	}
	return respGroup(ctx, "floor", p, addr)
}

// startEtcd starts a cluster of one member per host, data dirs under dir.
func startEtcd(ctx context.Context, dir, bin string, hosts []string) (*group, error) {
	var initial []string
	for i, h := range hosts {
		initial = append(initial, fmt.Sprintf("e%d=http://%s", i+1, hostPort(h, etcdPeer)))
	}
	g := &group{name: "etcd"}
	for i, h := range hosts {
		cu := "http://" + hostPort(h, etcdClient)
		pu := "http://" + hostPort(h, etcdPeer)
		name := fmt.Sprintf("e%d", i+1)
		p, err := startProc(dir, "etcd-"+name, bin, "--name", name,
			"--data-dir", filepath.Join(dir, "etcd-"+name),
			"--listen-client-urls", cu, "--advertise-client-urls", cu,
			"--listen-peer-urls", pu, "--initial-advertise-peer-urls", pu,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "distkv-compare", "--logger", "zap", "--log-level", "warn")
		if err != nil {
			g.stop()
			return nil, err
		}
		g.procs = append(g.procs, p)
		g.clients = append(g.clients, hostPort(h, etcdClient))
	}
	for _, addr := range g.clients {
		err := waitFor(ctx, "etcd member "+addr, startTimeout, g.procs, func() error {
			c, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, DialTimeout: 2 * time.Second, Logger: nopLogger()})
			if err != nil {
				return err
			}
			defer c.Close()
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_, err = c.Put(cctx, "compare/up", "1")
			return err
		})
		if err != nil {
			g.stop()
			return nil, err
		}
	}
	return g, nil
}

func nopLogger() *zap.Logger { return zap.NewNop() }

// dkvConfig is one distkv configuration: n nodes, RAM-only or with data dirs.
type dkvConfig struct {
	name    string
	hosts   []string
	dataDir bool   // each node keeps a data dir under the run's dir
	fsync   string // with dataDir
	extra   []string
}

// startDistkv starts the nodes (the first is the one the others join) and waits until every
// node is ready and sees all of them alive.
func startDistkv(ctx context.Context, dir, bin string, cfg dkvConfig) (*group, error) {
	g := &group{name: cfg.name}
	for i, h := range cfg.hosts {
		if err := g.add(ctx, dir, bin, cfg, i, h); err != nil {
			g.stop()
			return nil, err
		}
	}
	if err := g.awaitMembers(ctx, len(cfg.hosts)); err != nil {
		g.stop()
		return nil, err
	}
	return g, nil
}

// add starts node i of cfg on host h and waits until it is ready.
func (g *group) add(ctx context.Context, dir, bin string, cfg dkvConfig, i int, h string) error {
	name := fmt.Sprintf("%s-n%d", cfg.name, i+1)
	args := []string{bin, "server", "--name", name, "--log-level", "warn",
		"--client-addr", hostPort(h, dkvClient), "--admin-addr", hostPort(h, dkvAdmin)}
	if len(cfg.hosts) > 1 {
		args = append(args, "--gossip-addr", hostPort(h, dkvGossip), "--peer-addr", hostPort(h, dkvPeer))
		if i > 0 {
			args = append(args, "--join", hostPort(cfg.hosts[0], dkvGossip))
		}
	}
	if cfg.dataDir {
		dd := filepath.Join(dir, name)
		if err := os.MkdirAll(dd, 0o755); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		args = append(args, "--data-dir", dd, "--fsync", cfg.fsync)
	}
	args = append(args, cfg.extra...)
	p, err := startProc(dir, name, args...)
	if err != nil {
		return err
	}
	g.procs = append(g.procs, p)
	g.clients = append(g.clients, hostPort(h, dkvClient))
	admin := hostPort(h, dkvAdmin)
	g.admins = append(g.admins, admin)
	return waitFor(ctx, name+" ready", startTimeout, []*proc{p}, func() error {
		_, err := httpGet("http://" + admin + "/readyz")
		return err
	})
}

// awaitMembers waits until every node's serf sees n members alive.
func (g *group) awaitMembers(ctx context.Context, n int) error {
	if n < 2 {
		return nil
	}
	for _, admin := range g.admins {
		err := waitFor(ctx, admin+" sees all members", startTimeout, g.procs, func() error {
			m, err := httpGet("http://" + admin + "/metrics")
			if err != nil {
				return err
			}
			if v, _ := metricSum(m, "distkv_members", `state="alive"`); int(v) != n {
				return fmt.Errorf("%v members alive, want %d", v, n)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// metric reads one summed metric from every node of g (NaN where a node lacks it).
func (g *group) metric(name, label string) []float64 {
	out := make([]float64, len(g.admins))
	for i, admin := range g.admins {
		out[i] = math.NaN()
		if m, err := httpGet("http://" + admin + "/metrics"); err == nil {
			if v, ok := metricSum(m, name, label); ok {
				out[i] = v
			}
		}
	}
	return out
}
