package main

// distkv client internal: DistKV's meta area (the nil-rooted part of the tree where users,
// ACLs and the login switch live), through the _internal actions. Admins only once logins
// are on.

import (
	"bufio"
	"context"
	"errors"

	"github.com/distkv/distkv/clientproto"
	"github.com/urfave/cli/v2"
)

func (e *cliEnv) internalCommand() *cli.Command {
	return &cli.Command{
		Name:        "internal",
		Usage:       "read and write the meta area (DistKV's None-rooted tree: auth, acl, ...)",
		Description: "PATH is the path after the meta area's nil root: 'acl.al' is (nil, \"acl\", \"al\").",
		Action:      needCommand,
		Subcommands: []*cli.Command{
			{Name: "get", Usage: "print the value at PATH", ArgsUsage: "PATH", Flags: []cli.Flag{jsonFlag()}, Action: e.internalGet},
			{Name: "set", Usage: "set the value at PATH (VALUE is YAML, as for 'client set')", ArgsUsage: "PATH VALUE",
				Flags: []cli.Flag{&cli.BoolFlag{Name: "string", Usage: "VALUE is a string, not YAML"}, jsonFlag()}, Action: e.internalSet},
			{Name: "delete", Usage: "delete the value at PATH", ArgsUsage: "PATH", Flags: []cli.Flag{jsonFlag()}, Action: e.internalDelete},
			{Name: "list", Usage: "print the names of PATH's children", ArgsUsage: "PATH", Flags: []cli.Flag{jsonFlag()}, Action: e.internalList},
			{Name: "tree", Usage: "print the entries at and below PATH", ArgsUsage: "PATH", Flags: []cli.Flag{jsonFlag()}, Action: e.internalTree},
		},
	}
}

func (e *cliEnv) internalGet(c *cli.Context) error {
	p, err := pathArgs(c, "PATH")
	if err != nil {
		return err
	}
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		v, err := cl.GetInternal(ctx, p)
		if errors.Is(err, clientproto.ErrNotFound) {
			return failf("not found: (meta) %s", p)
		}
		if err != nil {
			return err
		}
		val, err := decodeValue(v.Raw)
		if err != nil {
			return failf("%s: undecodable value: %v", p, err)
		}
		if wantJSON(c) {
			return e.printJSON(val)
		}
		return e.printYAML(val)
	})
}

func (e *cliEnv) internalSet(c *cli.Context) error {
	p, err := pathArgs(c, "PATH", "VALUE")
	if err != nil {
		return err
	}
	raw, err := valueArg(c.Args().Get(1), c.Bool("string"), e.in)
	if err != nil {
		return err
	}
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		res, err := cl.SetInternal(ctx, p, raw)
		if err != nil {
			return err
		}
		return e.printWrite(res, wantJSON(c))
	})
}

func (e *cliEnv) internalDelete(c *cli.Context) error {
	p, err := pathArgs(c, "PATH")
	if err != nil {
		return err
	}
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		res, err := cl.DeleteInternal(ctx, p)
		if err != nil {
			return err
		}
		return e.printWrite(res, wantJSON(c))
	})
}

func (e *cliEnv) internalList(c *cli.Context) error {
	p, err := pathArgs(c, "PATH")
	if err != nil {
		return err
	}
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		names, err := cl.ListInternal(ctx, p)
		if err != nil {
			return err
		}
		return e.printNames(wantJSON(c), names)
	})
}

func (e *cliEnv) internalTree(c *cli.Context) error {
	p, err := pathArgs(c, "PATH")
	if err != nil {
		return err
	}
	ep := &entryPrinter{w: bufio.NewWriter(e.out), json: wantJSON(c)}
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		err := cl.WalkInternal(ctx, p, ep.print)
		if ferr := ep.w.Flush(); err == nil {
			err = ferr
		}
		return err
	})
}
