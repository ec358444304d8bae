// Command compare drives distkv, Redis and a 3-member etcd with the same load generator, in
// one run, and prints medians and ratios (make compare); with -mode scale it measures how
// distkv's costs grow with the number of nodes and the number of keys (make scale). It starts
// every server itself, on loopback, and reads their CPU time from /proc. docs/performance.md
// says how to run it and how to read it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func run() error {
	var o options
	mode := flag.String("mode", "compare", "compare (distkv, Redis, etcd) or scale (distkv: nodes and keys); floor-server is the floor's process (floor.go), which compare starts")
	listen := flag.String("listen", "", "floor-server: the address to listen on")
	flag.StringVar(&o.distkv, "distkv", "bin/distkv", "the distkv binary")
	flag.StringVar(&o.redis, "redis-server", "redis-server", "the redis-server binary")
	flag.StringVar(&o.etcd, "etcd", "etcd", "the etcd binary")
	flag.IntVar(&o.clients, "clients", 64, "concurrent clients, each with its own connection")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every case once")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each case's load")
	flag.IntVar(&o.keys, "keys", 10000, "distinct keys the load writes and reads")
	flag.IntVar(&o.valueSize, "value-size", 256, "bytes per value")
	flag.DurationVar(&o.grace, "grace", 10*time.Second, "visibility: wait up to this long for every write to be seen")
	nodes := flag.String("nodes", "3,5,10", "scale: cluster sizes")
	sizes := flag.String("sizes", "10000,1000000", "scale: key counts")
	jsonOut := flag.String("json", "", "also write the report as JSON to this file")
	keep := flag.Bool("keep", false, "keep the run's directory (logs, data dirs)")
	flag.Parse()
	o.out = os.Stdout
	if *mode == "floor-server" {
		l, err := net.Listen("tcp", *listen)
		if err != nil {
			return err
		}
		return floorServe(l)
	}
	switch {
	case flag.NArg() > 0:
		return fmt.Errorf("no arguments expected, got %q", flag.Arg(0))
	case o.clients < 1 || o.rounds < 1 || o.duration <= 0 || o.keys < 1 || o.valueSize < 16:
		return errors.New("want -clients, -rounds, -keys >= 1, -duration > 0, -value-size >= 16 (distkv bench --visibility tags values)")
	}
	ns, err := intList(*nodes)
	if err != nil {
		return fmt.Errorf("-nodes: %w", err)
	}
	ks, err := intList(*sizes)
	if err != nil {
		return fmt.Errorf("-sizes: %w", err)
	}
	if o.dir, err = os.MkdirTemp("", "distkv-compare-"); err != nil {
		return err
	}
	if *keep {
		fmt.Fprintln(o.out, "run directory:", o.dir)
	} else {
		defer os.RemoveAll(o.dir)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var rep *report
	switch *mode {
	case "compare":
		rep, err = runCompare(ctx, o)
	case "scale":
		rep, err = runScale(ctx, o, ns, ks)
	default:
		return fmt.Errorf("-mode %q: want compare or scale", *mode)
	}
	if rep == nil {
		return err
	}
	// A run that failed or was interrupted part way still reports what it measured.
	if err != nil {
		fmt.Fprintf(o.out, "\nstopped early (%v); what was measured:\n", err)
	}
	return errors.Join(err, writeReport(o, rep, *jsonOut))
}

func writeReport(o options, rep *report, jsonOut string) error {
	rep.Config["command"] = strings.Join(os.Args, " ")
	fmt.Fprintf(o.out, "\n%s", rep.markdown())
	if jsonOut == "" {
		return nil
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	fmt.Fprintln(o.out, "wrote", jsonOut)
	return nil
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}
