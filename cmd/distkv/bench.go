package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server"
	"github.com/urfave/cli/v2"
)

// The benchmark: N workers, each with its own connection, run a workload's operation in a
// loop for a duration or until a shared count is used up; every successful operation's latency
// is recorded, and the report is computed from all of them.
//
// With --visibility the set workload also times how long each acknowledged write takes to
// become visible on every node of the --addr list (bench_visibility.go): one watch per node,
// writers spread round-robin over the nodes as always.

func (e *cliEnv) benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure a server's throughput and latency",
		Description: "Runs --clients concurrent clients, each with its own connection, spread round-robin over the\n" +
			"--addr list. set writes random bytes (msgpack bin of --value-size) to random keys bench.<i>;\n" +
			"get first writes all --keys keys, then reads random ones. Prints ops/s and latency percentiles.\n" +
			"With --visibility (set only), it also watches bench on every node of --addr and reports how long\n" +
			"after its acknowledgement each write is visible on all of them (it writes a marker value at bench\n" +
			"itself first), and how many writes were not visible everywhere within --grace after the run.\n" +
			"With --visibility-watchers process, each node's watch runs in a child process of its own, so that\n" +
			"many clients here cannot starve the watches (times are then wall clock differences, same host).\n" +
			"With --new-keys (set only), every write goes to a key not written before, bench.<run>-<client>-<i>,\n" +
			"so the directory bench grows by one child per write (how the cost grows with the data).",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "addr", EnvVars: []string{"DISTKV_ADDR"}, Value: server.DefaultClientAddr, Usage: "servers to spread the clients over, `HOST:PORT[,...]`"},
			&cli.IntFlag{Name: "clients", Value: 1, Usage: "`N` concurrent clients, each with its own connection"},
			&cli.StringFlag{Name: "op", Value: "set", Usage: "operation: `set|get`"},
			&cli.DurationFlag{Name: "duration", Value: 10 * time.Second, Usage: "run for `D` (unless --count is given)"},
			&cli.IntFlag{Name: "count", Usage: "run `N` operations in all, instead of for --duration"},
			&cli.IntFlag{Name: "value-size", Value: 256, Usage: "`BYTES` per value"},
			&cli.IntFlag{Name: "keys", Value: 10000, Usage: "`N` distinct keys"},
			&cli.BoolFlag{Name: "new-keys", Usage: "with --op set: write every value to a new key under bench (--keys is not used)"},
			&cli.BoolFlag{Name: "visibility", Usage: "with --op set: time each write's visibility on every node of --addr"},
			&cli.StringFlag{Name: "visibility-watchers", Value: watchersInline, Usage: "with --visibility: `MODE` inline runs the watches in this process, process in one child process per node (so that many writers here cannot starve them)"},
			&cli.DurationFlag{Name: "grace", Value: 10 * time.Second, Usage: "with --visibility: wait up to `D` after the run for every write to be visible everywhere"},
			jsonFlag(),
		}, clientTLSFlags()...),
		Action: e.benchAction,
	}
}

type benchConfig struct {
	addrs      []string
	clients    int
	op         string
	duration   time.Duration // used when count is 0
	count      int
	valueSize  int
	keys       int
	newKeys    bool
	visibility bool
	grace      time.Duration
	watchers   string      // --visibility-watchers
	tls        *tls.Config // nil: plaintext
	tlsArgs    []string    // the TLS flags given, for the watcher processes
}

func benchFlags(c *cli.Context) (benchConfig, error) {
	cfg := benchConfig{
		clients:    c.Int("clients"),
		op:         c.String("op"),
		duration:   c.Duration("duration"),
		count:      c.Int("count"),
		valueSize:  c.Int("value-size"),
		keys:       c.Int("keys"),
		newKeys:    c.Bool("new-keys"),
		visibility: c.Bool("visibility"),
		grace:      c.Duration("grace"),
		watchers:   c.String("visibility-watchers"),
	}
	if c.NArg() > 0 {
		return cfg, usagef("bench takes no arguments, got %q", c.Args().First())
	}
	var err error
	if cfg.tls, err = clientTLS(c); err != nil {
		return cfg, err
	}
	for _, f := range clientTLSFlags() {
		if name := f.Names()[0]; c.IsSet(name) {
			cfg.tlsArgs = append(cfg.tlsArgs, "--"+name+"="+c.String(name))
		}
	}
	for _, a := range strings.Split(c.String("addr"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			if err := checkHostPort("--addr", a, false); err != nil {
				return cfg, err
			}
			cfg.addrs = append(cfg.addrs, a)
		}
	}
	switch {
	case len(cfg.addrs) == 0:
		return cfg, usagef("--addr: no address")
	case cfg.clients < 1:
		return cfg, usagef("--clients %d: want at least 1", cfg.clients)
	case cfg.op != "set" && cfg.op != "get":
		return cfg, usagef("--op %q: want set or get", cfg.op)
	case c.IsSet("count") && c.IsSet("duration"):
		return cfg, usagef("--count and --duration exclude each other")
	case cfg.count < 0 || (c.IsSet("count") && cfg.count == 0):
		return cfg, usagef("--count %d: want at least 1", cfg.count)
	case cfg.count == 0 && cfg.duration <= 0:
		return cfg, usagef("--duration %v: want a positive duration", cfg.duration)
	case cfg.valueSize < 0:
		return cfg, usagef("--value-size %d: must not be negative", cfg.valueSize)
	case cfg.keys < 1:
		return cfg, usagef("--keys %d: want at least 1", cfg.keys)
	case cfg.newKeys && (cfg.op != "set" || cfg.visibility):
		return cfg, usagef("--new-keys needs --op set without --visibility")
	case cfg.visibility && cfg.op != "set":
		return cfg, usagef("--visibility needs --op set")
	case cfg.visibility && cfg.valueSize < visTagLen:
		return cfg, usagef("--value-size %d: --visibility needs at least %d bytes for its tag", cfg.valueSize, visTagLen)
	case !cfg.visibility && c.IsSet("grace"):
		return cfg, usagef("--grace needs --visibility")
	case cfg.watchers != watchersInline && cfg.watchers != watchersProcess:
		return cfg, usagef("--visibility-watchers %q: want %s or %s", cfg.watchers, watchersInline, watchersProcess)
	case !cfg.visibility && c.IsSet("visibility-watchers"):
		return cfg, usagef("--visibility-watchers needs --visibility")
	case cfg.grace < 0:
		return cfg, usagef("--grace %v: must not be negative", cfg.grace)
	}
	return cfg, nil
}

// workload is what the workers do.
type workload interface {
	// prepare runs once all workers are connected, before the clock starts.
	prepare(ctx context.Context, b *bench) error
	// op runs one timed operation.
	op(ctx context.Context, b *bench, w *worker) error
}

// worker is one client connection and what it measured.
type worker struct {
	id       int
	addr     string
	cl       *conn
	rng      *rand.Rand
	seq      int             // operations started, for --new-keys
	lat      []time.Duration // of successful operations
	errs     int
	firstErr error
}

type bench struct {
	cfg     benchConfig
	paths   []node.Path // bench.<i>
	values  [][]byte    // msgpack bin values of random bytes
	workers []*worker
}

// valuePool is how many distinct random values the workers choose from.
const valuePool = 256

func newBench(cfg benchConfig) *bench {
	b := &bench{cfg: cfg, paths: make([]node.Path, cfg.keys)}
	for i := range b.paths {
		b.paths[i] = node.StringPath("bench", strconv.Itoa(i))
	}
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	for range valuePool {
		v := make([]byte, cfg.valueSize)
		for i := range v {
			v[i] = byte(rng.Uint32())
		}
		b.values = append(b.values, node.AppendBinString(nil, string(v)))
	}
	return b
}

func (b *bench) randomPath(w *worker) node.Path { return b.paths[w.rng.IntN(len(b.paths))] }

func (b *bench) randomValue(w *worker) []byte { return b.values[w.rng.IntN(len(b.values))] }

type setWorkload struct{}

func (setWorkload) prepare(context.Context, *bench) error { return nil }

func (setWorkload) op(ctx context.Context, b *bench, w *worker) error {
	_, err := w.cl.Set(ctx, b.randomPath(w), b.randomValue(w))
	return err
}

// newKeysWorkload writes every value to a key of its own under bench; run tells this run's
// keys from those of earlier runs against the same server.
type newKeysWorkload struct{ run string }

func (newKeysWorkload) prepare(context.Context, *bench) error { return nil }

func (nk newKeysWorkload) op(ctx context.Context, b *bench, w *worker) error {
	w.seq++
	p := node.StringPath("bench", nk.run+"-"+strconv.Itoa(w.id)+"-"+strconv.Itoa(w.seq))
	_, err := w.cl.Set(ctx, p, b.randomValue(w))
	return err
}

// getWorkload reads random keys; prepare writes them all first, spread over the workers.
type getWorkload struct{}

func (getWorkload) prepare(ctx context.Context, b *bench) error {
	var wg sync.WaitGroup
	errs := make([]error, len(b.workers))
	for i, w := range b.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := i; k < len(b.paths); k += len(b.workers) {
				if _, err := w.cl.Set(ctx, b.paths[k], b.values[k%len(b.values)]); err != nil {
					errs[i] = w.cl.mapErr(ctx, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (getWorkload) op(ctx context.Context, b *bench, w *worker) error {
	_, err := w.cl.Get(ctx, b.randomPath(w))
	return err
}

func (e *cliEnv) benchAction(c *cli.Context) error {
	cfg, err := benchFlags(c)
	if err != nil {
		return err
	}
	ctx := c.Context
	b := newBench(cfg)
	var wl workload = setWorkload{}
	var vis *visibility
	switch {
	case cfg.visibility:
		vis = newVisibility(b)
		wl = vis
	case cfg.op == "get":
		wl = getWorkload{}
	case cfg.newKeys:
		wl = newKeysWorkload{run: strconv.FormatUint(rand.Uint64()>>32, 36)}
	}
	if err := b.connect(ctx); err != nil {
		return err
	}
	defer b.close()
	if vis != nil {
		if err := vis.start(ctx, b); err != nil {
			return err
		}
	}
	if err := wl.prepare(ctx, b); err != nil {
		if vis != nil {
			vis.stop()
		}
		return fmt.Errorf("preparing: %w", err)
	}
	res := b.run(ctx, wl)
	if vis != nil {
		res.vis = vis.finish(ctx, b)
	}
	if wantJSON(c) {
		err = e.printJSON(res.json())
	} else {
		_, err = fmt.Fprint(e.out, res.text())
	}
	if err != nil {
		return err
	}
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case res.errors > 0:
		return failf("%d operations failed; the first: %v", res.errors, res.firstErr)
	case res.vis != nil:
		return res.vis.failure()
	}
	return nil
}

// connect opens one connection per worker, round-robin over the addresses.
func (b *bench) connect(ctx context.Context) error {
	b.workers = make([]*worker, b.cfg.clients)
	errs := make([]error, len(b.workers))
	var wg sync.WaitGroup
	for i := range b.workers {
		addr := b.cfg.addrs[i%len(b.cfg.addrs)]
		w := &worker{id: i, addr: addr, rng: rand.New(rand.NewPCG(rand.Uint64(), uint64(i)))}
		b.workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.cl, errs[i] = connect(ctx, addr, b.cfg.tls)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.close()
			return err
		}
	}
	return nil
}

func (b *bench) close() {
	for _, w := range b.workers {
		if w != nil && w.cl != nil {
			w.cl.Close()
		}
	}
}

// run runs the workers until the duration is over, the count is used up or ctx ends.
func (b *bench) run(ctx context.Context, wl workload) *benchResult {
	var stop atomic.Bool
	var claimed atomic.Int64
	count := int64(b.cfg.count)
	if count > 0 {
		for _, w := range b.workers {
			w.lat = make([]time.Duration, 0, count/int64(len(b.workers))+1)
		}
	}
	var wg sync.WaitGroup
	start := time.Now()
	if count == 0 {
		t := time.AfterFunc(b.cfg.duration, func() { stop.Store(true) })
		defer t.Stop()
	}
	for _, w := range b.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if count > 0 {
					if claimed.Add(1) > count {
						return
					}
				} else if stop.Load() {
					return
				}
				t0 := time.Now()
				err := wl.op(ctx, b, w)
				d := time.Since(t0)
				if err == nil {
					w.lat = append(w.lat, d)
					continue
				}
				if ctx.Err() != nil {
					return // interrupted: not the server's fault
				}
				w.errs++
				if w.firstErr == nil {
					w.firstErr = w.cl.mapErr(ctx, err)
				}
				if errors.Is(err, clientproto.ErrClosed) {
					return // this connection is gone; the others go on
				}
			}
		}()
	}
	wg.Wait()
	res := &benchResult{cfg: b.cfg, elapsed: time.Since(start)}
	var all []time.Duration
	for _, w := range b.workers {
		all = append(all, w.lat...)
		res.errors += w.errs
		if res.firstErr == nil {
			res.firstErr = w.firstErr
		}
	}
	res.setLatencies(all)
	return res
}

type benchResult struct {
	cfg                benchConfig
	elapsed            time.Duration
	ops                int
	errors             int
	firstErr           error
	p50, p90, p99, max time.Duration
	vis                *visResult // with --visibility
}

// setLatencies computes the percentiles from every recorded latency (it sorts lat).
func (r *benchResult) setLatencies(lat []time.Duration) {
	slices.Sort(lat)
	r.ops = len(lat)
	r.p50 = percentile(lat, 50)
	r.p90 = percentile(lat, 90)
	r.p99 = percentile(lat, 99)
	if len(lat) > 0 {
		r.max = lat[len(lat)-1]
	}
}

// percentile returns the nearest-rank percentile p of sorted latencies.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func (r *benchResult) opsPerSec() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func (r *benchResult) text() string {
	var s strings.Builder
	fmt.Fprintf(&s, "bench %s: %d client(s) on %s, %d-byte values, %d keys\n",
		r.cfg.op, r.cfg.clients, strings.Join(r.cfg.addrs, ","), r.cfg.valueSize, r.cfg.keys)
	fmt.Fprintf(&s, "%d ops in %.3fs: %.1f ops/s, %d errors\n", r.ops, r.elapsed.Seconds(), r.opsPerSec(), r.errors)
	fmt.Fprintf(&s, "latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", ms(r.p50), ms(r.p90), ms(r.p99), ms(r.max))
	if r.vis != nil {
		s.WriteString(r.vis.text())
	}
	return s.String()
}

func (r *benchResult) json() orderedMap {
	addrs := make([]any, len(r.cfg.addrs))
	for i, a := range r.cfg.addrs {
		addrs[i] = a
	}
	m := orderedMap{
		{"op", r.cfg.op}, {"clients", r.cfg.clients}, {"addrs", addrs},
		{"value_size", r.cfg.valueSize}, {"keys", r.cfg.keys},
		{"ops", r.ops}, {"errors", r.errors},
		{"seconds", math.Round(r.elapsed.Seconds()*1e6) / 1e6},
		{"ops_per_sec", math.Round(r.opsPerSec()*10) / 10},
		{"latency_ms", orderedMap{{"p50", ms(r.p50)}, {"p90", ms(r.p90)}, {"p99", ms(r.p99)}, {"max", ms(r.max)}}},
	}
	if r.vis != nil {
		m = append(m, mapItem{"visibility", r.vis.json()})
	}
	return m
}
