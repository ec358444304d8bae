package main

import (
	"context"

	"github.com/urfave/cli/v2"
)

func (e *cliEnv) logCommand() *cli.Command {
	return &cli.Command{
		Name:   "log",
		Usage:  "start or stop the server's continuous change log (DistKV's log)",
		Action: needCommand,
		Subcommands: []*cli.Command{
			{Name: "start", Usage: "log every change into NAME in the server's --client-log-dir, after the current entries",
				Description: "NAME is a plain file name and must not exist yet; a running log is replaced once the new\n" +
					"one is ready. The file is DistKV's msgpack stream (docs/formats.md). Admin-only once logins are on.",
				ArgsUsage: "NAME",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "incremental", Usage: "only changes, not the current entries first"}},
				Action:    e.logStart},
			{Name: "stop", Usage: "stop the server's running change log", Action: e.logStop},
		},
	}
}

func (e *cliEnv) logStart(c *cli.Context) error {
	if c.NArg() != 1 || c.Args().First() == "" {
		return usagef("want NAME (usage: %s %s)", c.Command.HelpName, c.Command.ArgsUsage)
	}
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		return cl.StartLog(ctx, c.Args().First(), !c.Bool("incremental"))
	})
}

func (e *cliEnv) logStop(c *cli.Context) error {
	return e.withClient(c, func(ctx context.Context, cl *conn) error { return cl.StopLog(ctx) })
}
