package main

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/server"
	"github.com/urfave/cli/v2"
)

// keyringCommand manages the cluster key through any member's client port: serf's key manager
// does each operation on every member.
func (e *cliEnv) keyringCommand() *cli.Command {
	sub := func(name, usage string) *cli.Command {
		cmd := &cli.Command{Name: name, Usage: usage, Flags: []cli.Flag{jsonFlag()},
			Action: func(c *cli.Context) error { return e.keyring(c, name) }}
		if name != "list" {
			cmd.ArgsUsage = "KEY"
		}
		return cmd
	}
	return &cli.Command{
		Name:  "keyring",
		Usage: "list, install, use or remove cluster keys on every member",
		Description: "Rotate the cluster key without downtime: install the new KEY (base64 of 16, 24 or 32 bytes)\n" +
			"everywhere, use it (make it primary), then remove the old one. Keys are shown by id, not value.\n" +
			"A member that misses an operation (down, partitioned) must be fixed by hand: see docs/security.md.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "addr", EnvVars: []string{"DISTKV_ADDR"}, Value: server.DefaultClientAddr, Usage: "connect to the server at `HOST:PORT`"},
		}, loginFlags()...),
		Action: needCommand,
		Subcommands: []*cli.Command{
			sub("list", "show the keys installed on the members and which is primary"),
			sub("install", "add KEY to every member's keyring"),
			sub("use", "make KEY, installed everywhere, the primary key of every member"),
			sub("remove", "remove KEY, not primary anywhere, from every member"),
		},
	}
}

func (e *cliEnv) keyring(c *cli.Context, op string) error {
	key := ""
	switch {
	case op == "list" && c.NArg() > 0:
		return usagef("keyring list takes no arguments")
	case op != "list" && c.NArg() != 1:
		return usagef("keyring %s takes one KEY", op)
	case op != "list":
		key = c.Args().First()
	}
	js := wantJSON(c)
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		st, err := cl.Keyring(ctx, op, key)
		if err != nil {
			return err
		}
		if js {
			return e.printJSON(map[string]any{"nodes": st.Nodes, "responses": st.Responses,
				"keys": st.Keys, "primary": st.Primary})
		}
		return e.printKeyring(st)
	})
}

func (e *cliEnv) printKeyring(st client.KeyringStatus) error {
	w := bufio.NewWriter(e.out)
	fmt.Fprintf(w, "members: %d, answered: %d\n", st.Nodes, st.Responses)
	for _, id := range slices.Sorted(maps.Keys(st.Keys)) {
		fmt.Fprintf(w, "key %s: installed on %d", id, st.Keys[id])
		if n := st.Primary[id]; n > 0 {
			fmt.Fprintf(w, ", primary on %d", n)
		}
		fmt.Fprintln(w)
	}
	return w.Flush()
}
