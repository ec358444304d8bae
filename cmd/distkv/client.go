package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/server"
	"github.com/urfave/cli/v2"
)

// dialTimeout bounds connecting and the server's greeting.
const dialTimeout = 10 * time.Second

// stopTimeout bounds telling the server to stop a stream when we are interrupted.
const stopTimeout = 2 * time.Second

func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "print JSON instead of YAML-ish text"}
}

func (e *cliEnv) clientCommand() *cli.Command {
	return &cli.Command{
		Name:      "client",
		Usage:     "talk to a distkv server",
		ArgsUsage: "COMMAND [flags] ARGS",
		Description: "PATH is DistKV's string form: dot-separated strings, with ':' escapes and typed elements\n" +
			"(a.b:42 is (\"a\", \"b\", 42); ':' alone is the root). Flags go before arguments.\n" +
			"Exit codes: 0 ok, 1 not found or condition failed, 2 usage error, 3 connection problem.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "addr", EnvVars: []string{"DISTKV_ADDR"}, Value: server.DefaultClientAddr, Usage: "connect to the server at `HOST:PORT`"},
			jsonFlag(),
		}, append(clientTLSFlags(), loginFlags()...)...),
		Action: needCommand,
		Subcommands: []*cli.Command{
			e.authCommand(),
			e.aclCommand(),
			e.internalCommand(),
			e.msgCommand(),
			e.nodeCommand(),
			e.saveCommand(),
			e.logCommand(),
			{
				Name:      "get",
				Usage:     "print the value at PATH",
				ArgsUsage: "PATH",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "chain", Usage: "also print the chain (the versions, newest first)"}, jsonFlag()},
				Action:    e.get,
			},
			{
				Name:      "set",
				Usage:     "set the value at PATH",
				ArgsUsage: "PATH VALUE",
				Description: "VALUE is YAML: a bare word is a string, 42 an integer, 1.5 a float, true a bool, [1, 2] a list,\n" +
					"'{a: 1}' a map, null nil, '!!binary aGk=' bytes. '-' reads VALUE from stdin. Prints the new chain\n" +
					"head ORIGIN:TICK, or nothing when nothing changed (--idem).",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "string", Usage: "VALUE is a string, not YAML (with '-': stdin verbatim)"},
					&cli.BoolFlag{Name: "if-absent", Usage: "only if PATH has no value"},
					&cli.StringFlag{Name: "if-chain", Usage: "only if the current version is `ORIGIN:TICK`"},
					&cli.BoolFlag{Name: "idem", Usage: "do nothing if the value is already equal"},
					jsonFlag(),
				},
				Action: e.set,
			},
			{
				Name:      "delete",
				Usage:     "delete the value at PATH",
				ArgsUsage: "PATH",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "tree", Usage: "delete every value at and below PATH and print how many"},
					&cli.StringFlag{Name: "if-chain", Usage: "only if the current version is `ORIGIN:TICK`"},
					jsonFlag(),
				},
				Action: e.delete,
			},
			{
				Name:      "list",
				Usage:     "print the names of PATH's children, one per line",
				ArgsUsage: "PATH",
				Flags:     []cli.Flag{jsonFlag()},
				Action:    e.list,
			},
			{
				Name:      "tree",
				Usage:     "print the entries at and below PATH, one 'path: value' per line",
				ArgsUsage: "PATH",
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "min-depth", Usage: "skip entries less than `N` levels below PATH"},
					&cli.IntFlag{Name: "max-depth", Value: -1, Usage: "skip entries more than `N` levels below PATH (-1: no limit)"},
					&cli.BoolFlag{Name: "empty", Usage: "include entries without a value"},
					jsonFlag(),
				},
				Action: e.tree,
			},
			{
				Name:      "watch",
				Usage:     "print changes at and below PATH as they happen, until interrupted",
				ArgsUsage: "PATH",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "fetch", Usage: "first print the current entries, then a '--- uptodate' line"},
					&cli.IntFlag{Name: "max-depth", Value: -1, Usage: "ignore entries more than `N` levels below PATH (-1: no limit)"},
					jsonFlag(),
				},
				Action: e.watch,
			},
			{
				Name:   "status",
				Usage:  "print the server's state",
				Flags:  []cli.Flag{jsonFlag()},
				Action: e.status,
			},
		},
	}
}

// wantJSON reports whether --json was given at any level (client or subcommand).
func wantJSON(c *cli.Context) bool {
	for _, l := range c.Lineage() {
		if l.Command != nil && l.Command.Name != "" && l.Bool("json") {
			return true
		}
	}
	return false
}

// pathArgs checks the argument count and parses the first argument as a path.
func pathArgs(c *cli.Context, names ...string) (node.Path, error) {
	args := c.Args().Slice()
	if len(args) != len(names) {
		usage := c.Command.HelpName + " " + c.Command.ArgsUsage
		if len(args) > len(names) {
			for _, a := range args[1:] {
				if len(a) > 1 && a[0] == '-' {
					return nil, usagef("flags go before arguments: %q (usage: %s)", a, usage)
				}
			}
		}
		return nil, usagef("want %s, got %d argument(s) (usage: %s)", strings.Join(names, " "), len(args), usage)
	}
	p, err := node.ParsePath(args[0])
	if err != nil {
		return nil, usagef("%v", err)
	}
	return p, nil
}

// checkHostPort checks a HOST:PORT flag; port 0 (any free port) only for listeners.
func checkHostPort(flag, addr string, listen bool) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("%s %q: %v", flag, addr, strings.TrimPrefix(err.Error(), "address "+addr+": "))
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || (n == 0 && !listen) {
		return usagef("%s %q: bad port %q", flag, addr, port)
	}
	return nil
}

// conn is one client connection with what the error messages need.
type conn struct {
	*client.Client
	addr string
}

// connect dials addr, with TLS unless tc is nil; failures are connection errors (exit 3).
func connect(ctx context.Context, addr string, tc *tls.Config, opts ...client.Option) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := client.Dial(dctx, addr, append(dialOptions(tc), opts...)...)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if le := loginErr(addr, err); le != nil {
			return nil, le
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, &exitError{exitConn, fmt.Sprintf("cannot connect to %s: no greeting within %v", addr, dialTimeout)}
		}
		return nil, &exitError{exitConn, fmt.Sprintf("cannot connect to %s: %s", addr, closedCause(err))}
	}
	return &conn{Client: c, addr: addr}, nil
}

func closedCause(err error) string {
	s := err.Error()
	if i := strings.Index(s, clientproto.ErrClosed.Error()+": "); i >= 0 {
		s = s[i+len(clientproto.ErrClosed.Error())+2:]
	}
	return oneLine(s)
}

// withClient connects to --addr, runs fn and maps the errors fn returns to exit codes.
func (e *cliEnv) withClient(c *cli.Context, fn func(ctx context.Context, cl *conn) error) error {
	addr := c.String("addr")
	if err := checkHostPort("--addr", addr, false); err != nil {
		return err
	}
	tc, err := clientTLS(c)
	if err != nil {
		return err
	}
	login, err := e.loginOptions(c)
	if err != nil {
		return err
	}
	ctx := c.Context
	cl, err := connect(ctx, addr, tc, login...)
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.mapErr(ctx, fn(ctx, cl))
}

// mapErr turns client errors into exit errors.
func (cl *conn) mapErr(ctx context.Context, err error) error {
	var ee *exitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		return err
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return ctx.Err() // interrupted
	case errors.Is(err, clientproto.ErrClosed):
		return &exitError{exitConn, fmt.Sprintf("connection to %s lost: %s", cl.addr, closedCause(err))}
	case errors.Is(err, clientproto.ErrChain), errors.Is(err, clientproto.ErrCondition):
		return failf("condition failed: %s", serverMsg(err))
	case errors.Is(err, clientproto.ErrNotFound):
		return failf("not found: %s", strings.TrimPrefix(err.Error(), clientproto.ErrNotFound.Error()+": "))
	}
	return failf("%s", serverMsg(err))
}

// conditionErr names the path in a failed condition's message.
func conditionErr(p node.Path, err error) error {
	if errors.Is(err, clientproto.ErrChain) || errors.Is(err, clientproto.ErrCondition) {
		return failf("condition failed at %s: %s", p, serverMsg(err))
	}
	return err
}

// serverMsg returns the server's own message of an error reply.
func serverMsg(err error) string {
	var se *clientproto.ServerError
	if errors.As(err, &se) {
		return oneLine(se.Msg)
	}
	return oneLine(err.Error())
}

func (e *cliEnv) get(c *cli.Context) error {
	p, err := pathArgs(c, "PATH")
	if err != nil {
		return err
	}
	js := wantJSON(c)
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		v, err := cl.Get(ctx, p)
		if errors.Is(err, clientproto.ErrNotFound) {
			return failf("not found: %s", p)
		}
		if err != nil {
			return err
		}
		val, err := decodeValue(v.Raw)
		if err != nil {
			return failf("%s: undecodable value: %v", p, err)
		}
		if !c.Bool("chain") {
			if js {
				return e.printJSON(val)
			}
			return e.printYAML(val)
		}
		if js {
			return e.printJSON(orderedMap{{"value", val}, {"chain", chainJSON(v.Chain)}, {"tock", v.Tock}})
		}
		return e.printYAML(orderedMap{{"value", val}, {"chain", chainStrings(v.Chain)}, {"tock", v.Tock}})
	})
}

// parseLink parses ORIGIN:TICK; the origin may contain colons, the tick is after the last.
func parseLink(s string) (node.Link, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return node.Link{}, usagef("--if-chain %q: want ORIGIN:TICK", s)
	}
	t, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil || t == 0 {
		return node.Link{}, usagef("--if-chain %q: bad tick %q", s, s[i+1:])
	}
	return node.Link{Origin: s[:i], Tick: t}, nil
}

func (e *cliEnv) set(c *cli.Context) error {
	p, err := pathArgs(c, "PATH", "VALUE")
	if err != nil {
		return err
	}
	var opts []client.WriteOption
	if c.Bool("if-absent") && c.IsSet("if-chain") {
		return usagef("--if-absent and --if-chain exclude each other")
	}
	if c.Bool("if-absent") {
		opts = append(opts, client.IfAbsent())
	}
	if c.IsSet("if-chain") {
		l, err := parseLink(c.String("if-chain"))
		if err != nil {
			return err
		}
		opts = append(opts, client.IfChain(l))
	}
	if c.Bool("idem") {
		opts = append(opts, client.Idem())
	}
	raw, err := valueArg(c.Args().Get(1), c.Bool("string"), e.in)
	if err != nil {
		return err
	}
	js := wantJSON(c)
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		res, err := cl.Set(ctx, p, raw, opts...)
		if err != nil {
			return conditionErr(p, err)
		}
		return e.printWrite(res, js)
	})
}

// printWrite prints a write's result: the new chain head, nothing if nothing changed, or
// {changed, chain} in JSON.
func (e *cliEnv) printWrite(res client.WriteResult, js bool) error {
	if js {
		return e.printJSON(orderedMap{{"changed", res.Changed}, {"chain", chainJSON(res.Chain)}})
	}
	if res.Changed && len(res.Chain) > 0 {
		_, err := fmt.Fprintln(e.out, linkString(res.Chain[0]))
		return err
	}
	return nil
}

func (e *cliEnv) delete(c *cli.Context) error {
	p, err := pathArgs(c, "PATH")
	if err != nil {
		return err
	}
	js := wantJSON(c)
	if c.Bool("tree") {
		if c.IsSet("if-chain") {
			return usagef("--tree and --if-chain exclude each other")
		}
		return e.withClient(c, func(ctx context.Context, cl *conn) error {
			n, err := cl.DeleteTree(ctx, p)
			if err != nil {
				return err
			}
			if js {
				return e.printJSON(orderedMap{{"deleted", n}})
			}
			_, err = fmt.Fprintln(e.out, n)
			return err
		})
	}
	var opts []client.WriteOption
	if c.IsSet("if-chain") {
		l, err := parseLink(c.String("if-chain"))
		if err != nil {
			return err
		}
		opts = append(opts, client.IfChain(l))
	}
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		res, err := cl.Delete(ctx, p, opts...)
		if err != nil {
			return conditionErr(p, err)
		}
		return e.printWrite(res, js)
	})
}

func (e *cliEnv) list(c *cli.Context) error {
	p, err := pathArgs(c, "PATH")
	if err != nil {
		return err
	}
	js := wantJSON(c)
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		names, err := cl.List(ctx, p)
		if err != nil {
			return err
		}
		return e.printNames(js, names)
	})
}

// printNames prints path elements as a JSON list of strings, or one per line.
func (e *cliEnv) printNames(js bool, names []node.Element) error {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n.String()
	}
	return e.printLines(js, out)
}

// printLines prints items as a JSON list, or one per line.
func (e *cliEnv) printLines(js bool, items []string) error {
	if js {
		return e.printJSON(items)
	}
	w := bufio.NewWriter(e.out)
	for _, s := range items {
		fmt.Fprintln(w, s)
	}
	return w.Flush()
}

func depthOptions(c *cli.Context) (client.TreeOptions, error) {
	var o client.TreeOptions
	if c.Command.Names()[0] == "tree" {
		o.MinDepth = c.Int("min-depth")
		o.Empty = c.Bool("empty")
		if o.MinDepth < 0 {
			return o, usagef("--min-depth %d: must not be negative", o.MinDepth)
		}
	}
	if md := c.Int("max-depth"); md >= 0 {
		o.MaxDepth, o.Limited = md, true
		if md < o.MinDepth {
			return o, usagef("--max-depth %d is below --min-depth %d", md, o.MinDepth)
		}
	} else if md != -1 {
		return o, usagef("--max-depth %d: want N >= 0, or -1 for no limit", md)
	}
	return o, nil
}

func (e *cliEnv) tree(c *cli.Context) error {
	p, err := pathArgs(c, "PATH")
	if err != nil {
		return err
	}
	o, err := depthOptions(c)
	if err != nil {
		return err
	}
	ep := &entryPrinter{w: bufio.NewWriter(e.out), json: wantJSON(c)}
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		err := cl.Walk(ctx, p, o, ep.print)
		if ferr := ep.w.Flush(); err == nil {
			err = ferr
		}
		return err
	})
}

func (e *cliEnv) watch(c *cli.Context) error {
	p, err := pathArgs(c, "PATH")
	if err != nil {
		return err
	}
	to, err := depthOptions(c)
	if err != nil {
		return err
	}
	o := client.WatchOptions{TreeOptions: to, Fetch: c.Bool("fetch")}
	// Flushed after every event, so that each is visible (to a pipe too) as it comes.
	ep := &entryPrinter{w: bufio.NewWriter(e.out), json: wantJSON(c), flush: true}
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		st, err := cl.Watch(ctx, p, o)
		if err != nil {
			return err
		}
		for {
			ent, err := st.Next(ctx)
			switch {
			case errors.Is(err, client.ErrUptodate):
				if err := ep.uptodate(); err != nil {
					return err
				}
				continue
			case errors.Is(err, client.ErrEnd):
				return nil
			case err != nil && ctx.Err() != nil:
				// Interrupted: the normal way to end a watch.
				sctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
				st.Close(sctx)
				cancel()
				return nil
			case err != nil:
				var se *clientproto.ServerError
				if errors.As(err, &se) {
					return failf("watch ended by the server: %s", oneLine(se.Msg))
				}
				return err
			}
			if err := ep.print(ent); err != nil {
				return err
			}
		}
	})
}

func (e *cliEnv) status(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("status takes no arguments")
	}
	js := wantJSON(c)
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		raw, err := cl.StateRaw(ctx)
		if err != nil {
			return err
		}
		st, err := decodeValue(raw)
		if err != nil {
			return failf("undecodable get_state reply: %v", err)
		}
		m, ok := st.(orderedMap)
		if !ok {
			return failf("get_state reply is not a map")
		}
		m = m.without("seq")
		if js {
			return e.printJSON(m)
		}
		w := bufio.NewWriter(e.out)
		writeStatus(w, m)
		return w.Flush()
	})
}
