package main

import (
	"fmt"
	"math"
	"strings"
)

// report is what a run prints (as markdown tables) and writes as JSON.
type report struct {
	Mode    string         `json:"mode"`
	Config  map[string]any `json:"config"`
	Cases   []caseSummary  `json:"cases"`
	Targets []target       `json:"targets,omitempty"`
	Scale   []scaleRow     `json:"scale,omitempty"`
	Sizes   []sizeRow      `json:"sizes,omitempty"`
	Runs    []caseResult   `json:"runs"`
}

type caseSummary struct {
	Case     string    `json:"case"`
	PerSec   summary   `json:"ops_per_sec"`
	P50ms    summary   `json:"p50_ms"`
	P99ms    summary   `json:"p99_ms"`
	CPUTotal summary   `json:"cpu_us_per_op_total"`
	CPUProc  []summary `json:"cpu_us_per_op_by_process"`
	VisP50ms *summary  `json:"visible_p50_ms,omitempty"`
	VisP99ms *summary  `json:"visible_p99_ms,omitempty"`
	NotSeen  int       `json:"not_seen,omitempty"`
	// Rounds whose watches the server ended: left out of the visibility figures.
	WatchFailed int `json:"rounds_watch_failed,omitempty"`
}

// target is one line of the goals: distkv's figure, what it is compared with, their
// ratio (median of the per-round ratios) and the goal.
type target struct {
	Measure   string  `json:"measure"`
	Unit      string  `json:"unit"`
	Distkv    summary `json:"distkv"`
	Reference string  `json:"reference,omitempty"`
	Ref       summary `json:"reference_value"`
	Ratio     summary `json:"ratio"`
	Goal      string  `json:"goal"`
}

// series extracts one figure per round.
func series(rs []caseResult, f func(caseResult) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

func perSec(r caseResult) float64   { return r.Load.PerSec }
func cpuTotal(r caseResult) float64 { return r.CPUPerOpTotal }
func cpuProc(i int) func(caseResult) float64 {
	return func(r caseResult) float64 {
		if i < len(r.CPUPerOp) {
			return r.CPUPerOp[i]
		}
		return math.NaN()
	}
}

// cpuReplicas is the mean CPU per write of every process but the first (the origin).
func cpuReplicas(r caseResult) float64 {
	if len(r.CPUPerOp) < 2 {
		return math.NaN()
	}
	s := 0.0
	for _, v := range r.CPUPerOp[1:] {
		s += v
	}
	return s / float64(len(r.CPUPerOp)-1)
}

func visP50(r caseResult) float64 { return visField(r, func(v *visStats) float64 { return v.P50ms }) }
func visP99(r caseResult) float64 { return visField(r, func(v *visStats) float64 { return v.P99ms }) }
func visField(r caseResult, f func(*visStats) float64) float64 {
	if r.Vis == nil || len(r.Vis.WatchErrors) > 0 {
		return math.NaN()
	}
	return f(r.Vis)
}

func summarizeCases(cases []caseSpec, res map[string][]caseResult) ([]caseSummary, []caseResult) {
	var out []caseSummary
	var runs []caseResult
	for _, c := range cases {
		rs := res[c.name]
		s := caseSummary{Case: c.name, PerSec: summarize(series(rs, perSec)),
			P50ms:    summarize(series(rs, func(r caseResult) float64 { return r.Load.P50ms })),
			P99ms:    summarize(series(rs, func(r caseResult) float64 { return r.Load.P99ms })),
			CPUTotal: summarize(series(rs, cpuTotal))}
		for i := range c.g.procs {
			s.CPUProc = append(s.CPUProc, summarize(series(rs, cpuProc(i))))
		}
		if c.sys == nil {
			p50, p99 := summarize(series(rs, visP50)), summarize(series(rs, visP99))
			s.VisP50ms, s.VisP99ms = &p50, &p99
			for _, r := range rs {
				s.NotSeen += r.Vis.NotSeen
				if len(r.Vis.WatchErrors) > 0 {
					s.WatchFailed++
				}
			}
		}
		out = append(out, s)
		runs = append(runs, rs...)
	}
	return out, runs
}

func compareReport(o options, cases []caseSpec, res map[string][]caseResult) *report {
	rep := &report{Mode: "compare", Config: map[string]any{"clients": o.clients, "rounds": o.rounds,
		"duration": o.duration.String(), "keys": o.keys, "value_size": o.valueSize}}
	rep.Cases, rep.Runs = summarizeCases(cases, res)
	ratio := func(measure, unit, a string, fa func(caseResult) float64, ref, b string, fb func(caseResult) float64, goal string) target {
		sa, sb := series(res[a], fa), series(res[b], fb)
		return target{Measure: measure, Unit: unit, Distkv: summarize(sa), Reference: ref, Ref: summarize(sb),
			Ratio: summarize(roundRatios(sa, sb)), Goal: goal}
	}
	alone := func(measure, unit, a string, f func(caseResult) float64, goal string) target {
		return target{Measure: measure, Unit: unit, Distkv: summarize(series(res[a], f)),
			Ref: summarize(nil), Ratio: summarize(nil), Goal: goal}
	}
	n := fmt.Sprintf("%d clients", o.clients)
	rep.Targets = []target{
		ratio("writes/s, 1 node, "+n, "ops/s", cD1Set, perSec, "Redis", cRedisSet, perSec, ""),
		ratio("reads/s, 1 node, "+n, "ops/s", cD1Get, perSec, "Redis", cRedisGet, perSec, ""),
		ratio("writes/s, 1 node, 1 client", "ops/s", cD1Set1, perSec, "Redis", cRedisSet1, perSec, ""),
		ratio("writes/s, 3 nodes RAM, "+n+" spread", "ops/s", cD3Set, perSec, "Redis", cRedisSet, perSec, ">= 1x (item 3)"),
		ratio("writes/s, 3 nodes --fsync always, "+n+" spread", "ops/s", cD3FsyncSet, perSec, "etcd, 3 members", cEtcdSet, perSec, ">= 5x (item 3)"),
		ratio("CPU per write, 1 node", "us", cD1Set, cpuTotal, "Redis per SET", cRedisSet, cpuTotal, ""),
		ratio("CPU per request of the floor (a Go server that stores nothing)", "us", cFloorSet, cpuTotal, "Redis per SET", cRedisSet, cpuTotal, ""),
		ratio("CPU per write, 1 node, to the floor", "us", cD1Set, cpuTotal, "the floor per request", cFloorSet, cpuTotal, ""),
		ratio("CPU per write at the origin, 3 nodes, clients on n1, to the floor", "us", cD3SetN1, cpuProc(0), "the floor per request", cFloorSet, cpuTotal, ""),
		ratio("CPU per write at the origin, 3 nodes, clients on n1", "us", cD3SetN1, cpuProc(0), "Redis per SET", cRedisSet, cpuTotal, "<= 1x (item 2)"),
		ratio("CPU per write per replica, 3 nodes, clients on n1", "us", cD3SetN1, cpuReplicas, "Redis per SET", cRedisSet, cpuTotal, "<= 0.5x (item 2)"),
		ratio("CPU per write, whole cluster, 3 nodes RAM, spread", "us", cD3Set, cpuTotal, "Redis per SET", cRedisSet, cpuTotal, ""),
		ratio("CPU per write, whole cluster, 3 nodes --fsync always", "us", cD3FsyncSet, cpuTotal, "etcd per put, 3 members", cEtcdSet, cpuTotal, ""),
		alone("visible on all 3 nodes p50, "+n, "ms", cD3Vis, visP50, "<= 2 ms (item 4)"),
		alone("visible on all 3 nodes p99, "+n, "ms", cD3Vis, visP99, "<= 10 ms (item 4)"),
		alone("visible on all 3 nodes p99, 1 client", "ms", cD3Vis1, visP99, "<= 2 ms (item 4)"),
	}
	return rep
}

// fmtSum prints a summary as median (lowest–highest) with digits decimals.
func fmtSum(s summary, digits int) string {
	if math.IsNaN(s.Median) {
		return ""
	}
	if s.N < 2 || s.Min == s.Max {
		return fmt.Sprintf("%.*f", digits, s.Median)
	}
	return fmt.Sprintf("%.*f (%.*f–%.*f)", digits, s.Median, digits, s.Min, digits, s.Max)
}

func unitDigits(unit string) int {
	switch unit {
	case "ops/s":
		return 0
	case "us":
		return 1
	}
	return 2
}

func (r *report) markdown() string {
	var b strings.Builder
	if len(r.Targets) > 0 {
		b.WriteString("| measure | distkv | compared with | its value | ratio | goal |\n|---|---|---|---|---|---|\n")
		for _, t := range r.Targets {
			d := unitDigits(t.Unit)
			fmt.Fprintf(&b, "| %s (%s) | %s | %s | %s | %s | %s |\n", t.Measure, t.Unit, fmtSum(t.Distkv, d),
				t.Reference, fmtSum(t.Ref, d), fmtSum(t.Ratio, 2), t.Goal)
		}
		b.WriteString("\n")
	}
	if len(r.Cases) > 0 {
		b.WriteString("| case | ops/s | p50 ms | p99 ms | CPU us/op, all processes | CPU us/op by process | visible p50 ms | visible p99 ms |\n|---|---|---|---|---|---|---|---|\n")
		for _, c := range r.Cases {
			var procs []string
			for _, p := range c.CPUProc {
				procs = append(procs, fmt.Sprintf("%.1f", p.Median))
			}
			vis50, vis99 := "", ""
			if c.VisP50ms != nil {
				vis50, vis99 = fmtSum(*c.VisP50ms, 2), fmtSum(*c.VisP99ms, 2)
				if c.WatchFailed > 0 {
					vis99 += fmt.Sprintf(" (%d of %d rounds: watch ended by the server, left out)", c.WatchFailed, c.PerSec.N)
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", c.Case, fmtSum(c.PerSec, 0),
				fmtSum(c.P50ms, 2), fmtSum(c.P99ms, 2), fmtSum(c.CPUTotal, 1), strings.Join(procs, " / "), vis50, vis99)
		}
		b.WriteString("\n")
	}
	b.WriteString(r.scaleMarkdown())
	return b.String()
}
