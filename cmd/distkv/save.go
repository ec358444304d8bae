package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v2"
)

func (e *cliEnv) saveCommand() *cli.Command {
	return &cli.Command{
		Name:  "save",
		Usage: "make the server write its whole tree as a snapshot file at PATH",
		Description: "PATH is on the server's machine and must not exist yet; a relative PATH is taken from the\n" +
			"current directory. Prints how many entries were written. Admin-only once logins are on.",
		ArgsUsage: "PATH",
		Action:    e.save,
	}
}

func (e *cliEnv) save(c *cli.Context) error {
	if c.NArg() != 1 || c.Args().First() == "" {
		return usagef("want PATH (usage: %s %s)", c.Command.HelpName, c.Command.ArgsUsage)
	}
	file, err := filepath.Abs(c.Args().First())
	if err != nil {
		return usagef("%v", err)
	}
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		n, err := cl.Save(ctx, file)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.out, "saved %d entries to %s\n", n, file)
		return err
	})
}
