package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// A case is one measurement: a load on a system, or distkv bench --visibility on a distkv
// group, with the CPU time of every process of the group taken before and after it.
type caseSpec struct {
	name  string
	g     *group
	sys   system   // nil for a visibility case
	addrs []string // where the clients go, round-robin
	spec  loadSpec
}

type caseResult struct {
	Round int        `json:"round"`
	Case  string     `json:"case"`
	Load  loadResult `json:"load"`
	// CPU seconds of each process of the group during the case, in the group's order.
	CPU []float64 `json:"cpu_seconds"`
	// Microseconds of CPU per operation: each process, and all of them together.
	CPUPerOp      []float64 `json:"cpu_us_per_op"`
	CPUPerOpTotal float64   `json:"cpu_us_per_op_total"`
	// distkv only: peer data plane bytes sent per write, by each node.
	PeerBytesPerOp []float64 `json:"peer_bytes_out_per_op,omitempty"`
	// distkv only, when the server has such a metric: gossip bytes sent per write.
	GossipBytesPerOp []float64 `json:"gossip_bytes_out_per_op,omitempty"`
	Vis              *visStats `json:"visibility,omitempty"`
}

type visStats struct {
	Writes  int     `json:"writes"`
	NotSeen int     `json:"not_seen"`
	P50ms   float64 `json:"p50_ms"`
	P99ms   float64 `json:"p99_ms"`
	MaxMs   float64 `json:"max_ms"`
	// Watches the server ended (an overflow): the latencies then miss what those watches
	// never saw, and the summaries leave the round out.
	WatchErrors []string `json:"watch_errors,omitempty"`
}

// settle is how long a case waits after its load before it reads the CPU times: replicas
// may still be applying what the origin pushed last.
const settle = 300 * time.Millisecond

// gossipBytesMetric is the name of a gossip bytes counter, if the server exports one.
const gossipBytesMetric = "distkv_gossip_bytes_total"

type runner struct {
	distkvBin string
	vals      map[system][][]byte
	valueSize int
	grace     time.Duration
}

func (r *runner) values(s system) [][]byte {
	if v, ok := r.vals[s]; ok {
		return v
	}
	v := values(s, r.valueSize)
	r.vals[s] = v
	return v
}

func (r *runner) run(ctx context.Context, round int, c caseSpec) (caseResult, error) {
	res := caseResult{Round: round, Case: c.name}
	var conns []conn
	if c.sys != nil {
		var err error
		if conns, err = dialAll(ctx, c.sys, c.addrs, c.spec.clients); err != nil {
			return res, err
		}
		defer closeAll(conns)
	}
	peer0 := c.g.metric("distkv_peer_bytes_total", `direction="out"`)
	gossip0 := c.g.metric(gossipBytesMetric, `direction="out"`)
	cpu0, err := cpuOf(c.g.procs)
	if err != nil {
		return res, err
	}
	if c.sys != nil {
		res.Load = runLoad(ctx, conns, c.spec, r.values(c.sys))
	} else if res.Load, res.Vis, err = r.visibility(ctx, c); err != nil {
		return res, err
	}
	time.Sleep(settle)
	cpu1, err := cpuOf(c.g.procs)
	if err != nil {
		return res, err
	}
	for _, p := range c.g.procs {
		if p.exited() {
			return res, p.failure()
		}
	}
	for i := range cpu1 {
		d := cpu1[i] - cpu0[i]
		res.CPU = append(res.CPU, d)
		res.CPUPerOp = append(res.CPUPerOp, perOpMicros(d, res.Load.Ops))
		res.CPUPerOpTotal += perOpMicros(d, res.Load.Ops)
	}
	res.PeerBytesPerOp = perOpDelta(peer0, c.g.metric("distkv_peer_bytes_total", `direction="out"`), res.Load.Ops)
	res.GossipBytesPerOp = perOpDelta(gossip0, c.g.metric(gossipBytesMetric, `direction="out"`), res.Load.Ops)
	if res.Load.Errors > 0 {
		return res, fmt.Errorf("%s: %d operations failed, the first: %s", c.name, res.Load.Errors, res.Load.FirstErr)
	}
	return res, nil
}

// perOpDelta is (b-a)/ops per node; nil when no node had the metric.
func perOpDelta(a, b []float64, ops int) []float64 {
	var out []float64
	found := false
	for i := range a {
		v := math.NaN()
		if !math.IsNaN(a[i]) && !math.IsNaN(b[i]) && ops > 0 {
			v, found = (b[i]-a[i])/float64(ops), true
		}
		out = append(out, v)
	}
	if !found {
		return nil
	}
	return out
}

// visibility runs distkv bench --visibility (cmd/distkv/bench_visibility.go) on the case's
// addresses and reads its JSON report.
func (r *runner) visibility(ctx context.Context, c caseSpec) (loadResult, *visStats, error) {
	s := c.spec
	args := []string{"bench", "--addr", strings.Join(c.addrs, ","), "--op", "set", "--visibility",
		"--clients", strconv.Itoa(s.clients), "--duration", s.duration.String(),
		"--value-size", strconv.Itoa(s.valueSize), "--keys", strconv.Itoa(s.keys),
		"--grace", r.grace.String(), "--json"}
	// With many clients the watches run in processes of their own: in the writers' process
	// they fall behind and the servers end them. One client leaves the bench process idle
	// enough; a child would only add a process wake-up per event to the figure (measured:
	// p50 about 1 ms more on the loaded 2-core machine).
	if s.clients > 1 {
		args = append(args, "--visibility-watchers", "process")
	}
	cmd := exec.CommandContext(ctx, r.distkvBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	runErr := cmd.Run() // exit 1 with a report when writes were not seen: still read it
	var rep struct {
		Ops       int     `json:"ops"`
		Errors    int     `json:"errors"`
		Seconds   float64 `json:"seconds"`
		PerSec    float64 `json:"ops_per_sec"`
		LatencyMs struct {
			P50 float64 `json:"p50"`
			P99 float64 `json:"p99"`
		} `json:"latency_ms"`
		Visibility *struct {
			Writes    int `json:"writes"`
			NotSeen   int `json:"not_seen"`
			LatencyMs struct {
				P50 float64 `json:"p50"`
				P99 float64 `json:"p99"`
				Max float64 `json:"max"`
			} `json:"latency_ms"`
			WatchErrors []string `json:"watch_errors"`
		} `json:"visibility"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.Visibility == nil {
		return loadResult{}, nil, fmt.Errorf("%s: distkv bench: %v %v: %s", c.name, runErr, err, strings.TrimSpace(errb.String()))
	}
	l := loadResult{Ops: rep.Ops, Errors: rep.Errors, Seconds: rep.Seconds, PerSec: rep.PerSec,
		P50ms: rep.LatencyMs.P50, P99ms: rep.LatencyMs.P99}
	if runErr != nil && l.Errors == 0 {
		l.FirstErr = strings.TrimSpace(errb.String())
	}
	v := rep.Visibility
	return l, &visStats{Writes: v.Writes, NotSeen: v.NotSeen, P50ms: v.LatencyMs.P50, P99ms: v.LatencyMs.P99, MaxMs: v.LatencyMs.Max,
		WatchErrors: v.WatchErrors}, nil
}
