package main

import (
	"bufio"
	"context"
	"strconv"

	"github.com/urfave/cli/v2"
)

func (e *cliEnv) nodeCommand() *cli.Command {
	return &cli.Command{
		Name:   "node",
		Usage:  "inspect an origin (a node's boot generation, NAME~N)",
		Action: needCommand,
		Subcommands: []*cli.Command{
			{Name: "ticks", Usage: "print the ticks of ORIGIN that the entries still hold, ascending, one per line",
				ArgsUsage: "ORIGIN",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "current", Usage: "only the ticks that head an entry"},
					&cli.IntFlag{Name: "max", Usage: "print at most `N` ticks (0: all)"},
					jsonFlag(),
				},
				Action: e.nodeTicks},
			{Name: "drop", Usage: "declare a node gone for good (DistKV's kill_node): NAME is a member (all its origins) or an origin; refused while it runs or heads an entry",
				ArgsUsage: "NAME",
				Action:    e.nodeDrop},
		},
	}
}

func (e *cliEnv) nodeTicks(c *cli.Context) error {
	if c.NArg() != 1 || c.Args().First() == "" {
		return usagef("want ORIGIN (usage: %s %s)", c.Command.HelpName, c.Command.ArgsUsage)
	}
	if c.Int("max") < 0 {
		return usagef("--max must not be negative")
	}
	origin := c.Args().First()
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		ticks, err := cl.NodeTicks(ctx, origin, c.Int("max"), c.Bool("current"))
		if err != nil {
			return err
		}
		if wantJSON(c) {
			v := make([]any, len(ticks))
			for i, t := range ticks {
				v[i] = t
			}
			return e.printJSON(v)
		}
		w := bufio.NewWriter(e.out)
		for _, t := range ticks {
			w.WriteString(strconv.FormatUint(t, 10) + "\n")
		}
		return w.Flush()
	})
}

func (e *cliEnv) nodeDrop(c *cli.Context) error {
	if c.NArg() != 1 || c.Args().First() == "" {
		return usagef("want NAME (usage: %s %s)", c.Command.HelpName, c.Command.ArgsUsage)
	}
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		return cl.KillNode(ctx, c.Args().First())
	})
}
