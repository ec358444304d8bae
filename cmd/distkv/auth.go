package main

// Logins for every client command (--user, the password from DISTKV_PASSWORD, a file or a
// prompt; or --token), and the user, token and ACL commands. See docs/security.md.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/distkv/distkv/acl"
	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/node"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// loginFlags are the client command's login flags.
func loginFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "user", EnvVars: []string{"DISTKV_USER"}, Usage: "log in as `USER` (the password from $DISTKV_PASSWORD, --password-file or a prompt)"},
		&cli.StringFlag{Name: "password-file", EnvVars: []string{"DISTKV_PASSWORD_FILE"}, Usage: "read the login password from the first line of `FILE`"},
		&cli.StringFlag{Name: "token", EnvVars: []string{"DISTKV_TOKEN"}, Usage: "log in with this token (from 'auth token add') instead of a password"},
	}
}

// loginOptions turns the login flags into Dial options.
func (e *cliEnv) loginOptions(c *cli.Context) ([]client.Option, error) {
	user := c.String("user")
	if user == "" {
		if c.String("token") != "" || c.String("password-file") != "" {
			return nil, usagef("--token and --password-file need --user")
		}
		return nil, nil
	}
	if tok := c.String("token"); tok != "" {
		return []client.Option{client.WithToken(user, tok)}, nil
	}
	pw, ok := os.LookupEnv("DISTKV_PASSWORD")
	if f := c.String("password-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, usagef("--password-file: %v", err)
		}
		pw, ok = strings.SplitN(string(b), "\n", 2)[0], true
	}
	if !ok {
		var err error
		if pw, err = e.prompt(fmt.Sprintf("Password for %s: ", user)); err != nil {
			return nil, err
		}
	}
	return []client.Option{client.WithPassword(user, pw)}, nil
}

// prompt reads a secret from the terminal without echo, or else a line from stdin.
func (e *cliEnv) prompt(msg string) (string, error) {
	if f, ok := e.in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.errw, msg)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.errw)
		if err != nil {
			return "", usagef("reading the password: %v", err)
		}
		return string(b), nil
	}
	// Byte by byte, unbuffered: a later prompt reads the next line.
	var line []byte
	b := make([]byte, 1)
	for {
		n, err := e.in.Read(b)
		if n == 1 && b[0] == '\n' {
			break
		}
		line = append(line, b[:n]...)
		if err != nil {
			if !errors.Is(err, io.EOF) || len(line) == 0 {
				return "", usagef("no password: give $DISTKV_PASSWORD, --password-file, or one line on stdin")
			}
			break
		}
	}
	return strings.TrimRight(string(line), "\r"), nil
}

func (e *cliEnv) authCommand() *cli.Command {
	return &cli.Command{
		Name:   "auth",
		Usage:  "manage users, tokens and whether logins are required",
		Action: needCommand,
		Subcommands: []*cli.Command{
			{
				Name:   "user",
				Usage:  "add, list, delete users, change passwords",
				Action: needCommand,
				Subcommands: []*cli.Command{
					{
						Name:      "add",
						Usage:     "add a user (or change one), the password read from stdin or a prompt",
						ArgsUsage: "NAME",
						Flags: []cli.Flag{
							&cli.BoolFlag{Name: "admin", Usage: "may manage users, ACLs, the meta area, snapshots and keys"},
							&cli.StringFlag{Name: "acl", Usage: "bind the user to the ACL `NAME` (default: unrestricted)"},
						},
						Action: e.userAdd,
					},
					{Name: "list", Usage: "list the users", Flags: []cli.Flag{jsonFlag()}, Action: e.userList},
					{Name: "show", Usage: "show a user", ArgsUsage: "NAME", Flags: []cli.Flag{jsonFlag()}, Action: e.userShow},
					{Name: "delete", Usage: "delete a user", ArgsUsage: "NAME", Action: e.userDelete},
					{Name: "passwd", Usage: "change a user's password (read from stdin or a prompt)", ArgsUsage: "NAME", Action: e.userPasswd},
				},
			},
			{
				Name:   "token",
				Usage:  "login tokens for scripts",
				Action: needCommand,
				Subcommands: []*cli.Command{
					{Name: "add", Usage: "make a token for USER and print it (shown only once)", ArgsUsage: "USER", Action: e.tokenAdd},
					{Name: "drop", Usage: "remove a token by its id", ArgsUsage: "USER ID", Action: e.tokenDrop},
				},
			},
			{
				Name:      "method",
				Usage:     "require logins (password) or not (root)",
				ArgsUsage: "password|root",
				Action:    e.authMethod,
			},
		},
	}
}

func args(c *cli.Context, names ...string) ([]string, error) {
	a := c.Args().Slice()
	if len(a) != len(names) {
		return nil, usagef("want %s, got %d argument(s) (usage: %s %s)", strings.Join(names, " "), len(a), c.Command.HelpName, c.Command.ArgsUsage)
	}
	return a, nil
}

func (e *cliEnv) newPassword(name string) (*string, error) {
	pw, err := e.prompt(fmt.Sprintf("New password for %s: ", name))
	if err != nil {
		return nil, err
	}
	if len(pw) < 5 { // DistKV's minimum
		return nil, usagef("the password must have at least 5 characters")
	}
	return &pw, nil
}

func (e *cliEnv) userAdd(c *cli.Context) error {
	a, err := args(c, "NAME")
	if err != nil {
		return err
	}
	var ch client.UserChange
	if c.IsSet("admin") {
		v := c.Bool("admin")
		ch.Admin = &v
	}
	if c.IsSet("acl") {
		v := c.String("acl")
		ch.ACL = &v
	}
	// The new password after the login's, when both come from stdin.
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		var err error
		if ch.Password, err = e.newPassword(a[0]); err != nil {
			return err
		}
		return cl.SetUser(ctx, a[0], ch)
	})
}

func (e *cliEnv) userPasswd(c *cli.Context) error {
	a, err := args(c, "NAME")
	if err != nil {
		return err
	}
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		pw, err := e.newPassword(a[0])
		if err != nil {
			return err
		}
		return cl.SetUser(ctx, a[0], client.UserChange{Password: pw})
	})
}

func (e *cliEnv) userList(c *cli.Context) error {
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		users, err := cl.Users(ctx)
		if err != nil {
			return err
		}
		return e.printLines(wantJSON(c), users)
	})
}

func (e *cliEnv) userShow(c *cli.Context) error {
	a, err := args(c, "NAME")
	if err != nil {
		return err
	}
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		u, err := cl.GetUser(ctx, a[0])
		if err != nil {
			return err
		}
		if wantJSON(c) {
			return e.printJSON(map[string]any{"name": u.Name, "admin": u.Admin, "acl": u.ACL, "password": u.Password, "tokens": u.Tokens})
		}
		fmt.Fprintf(e.out, "name: %s\nadmin: %v\nacl: %s\npassword: %v\ntokens: [%s]\n", u.Name, u.Admin, u.ACL, u.Password, strings.Join(u.Tokens, ", "))
		return nil
	})
}

func (e *cliEnv) userDelete(c *cli.Context) error {
	a, err := args(c, "NAME")
	if err != nil {
		return err
	}
	return e.withClient(c, func(ctx context.Context, cl *conn) error { return cl.DeleteUser(ctx, a[0]) })
}

func (e *cliEnv) tokenAdd(c *cli.Context) error {
	a, err := args(c, "USER")
	if err != nil {
		return err
	}
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		tok, id, err := cl.NewToken(ctx, a[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(e.errw, "token id %s (for 'auth token drop'); the token:\n", id)
		fmt.Fprintln(e.out, tok)
		return nil
	})
}

func (e *cliEnv) tokenDrop(c *cli.Context) error {
	a, err := args(c, "USER", "ID")
	if err != nil {
		return err
	}
	return e.withClient(c, func(ctx context.Context, cl *conn) error { return cl.DropToken(ctx, a[0], a[1]) })
}

func (e *cliEnv) authMethod(c *cli.Context) error {
	a, err := args(c, "METHOD")
	if err != nil {
		return err
	}
	if a[0] != "password" && a[0] != "root" {
		return usagef("method %q: want password or root", a[0])
	}
	return e.withClient(c, func(ctx context.Context, cl *conn) error { return cl.SetAuthMethod(ctx, a[0]) })
}

func (e *cliEnv) aclCommand() *cli.Command {
	return &cli.Command{
		Name:  "acl",
		Usage: "manage ACLs (patterns with + and # wildcards, each with letters of arwcdxen)",
		Description: "Letters: a read the ACL, r read, w write, c create a value, d delete, x reach below,\n" +
			"e enumerate (get_tree, enum, watch), n create new nodes below. A path no pattern matches is denied.",
		Action: needCommand,
		Subcommands: []*cli.Command{
			{Name: "set", Usage: "give PATTERN the LETTERS in ACL NAME ('-' removes the pattern)", ArgsUsage: "NAME PATTERN LETTERS", Action: e.aclSet},
			{Name: "get", Usage: "print ACL NAME's patterns, or one pattern's letters", ArgsUsage: "NAME [PATTERN]", Flags: []cli.Flag{jsonFlag()}, Action: e.aclGet},
			{Name: "list", Usage: "list the ACLs", Flags: []cli.Flag{jsonFlag()}, Action: e.aclList},
			{
				Name:      "test",
				Usage:     "test access to PATH (DistKV's test_acl): false, true, or the letters where you may read the ACL",
				ArgsUsage: "PATH",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "mode", Usage: "the `LETTER` to test (default x)"},
					&cli.StringFlag{Name: "acl", Usage: "test the ACL `NAME` instead of your own"},
					jsonFlag(),
				},
				Action: e.aclTest,
			},
		},
	}
}

func (e *cliEnv) aclSet(c *cli.Context) error {
	a, err := args(c, "NAME", "PATTERN", "LETTERS")
	if err != nil {
		return err
	}
	pat, err := node.ParsePath(a[1])
	if err != nil {
		return usagef("%v", err)
	}
	letters := a[2]
	if letters == "-" {
		letters = ""
	}
	if err := acl.Valid(letters); err != nil {
		return usagef("%v", err)
	}
	return e.withClient(c, func(ctx context.Context, cl *conn) error { return cl.SetACL(ctx, a[0], pat, letters) })
}

func (e *cliEnv) aclGet(c *cli.Context) error {
	a := c.Args().Slice()
	if len(a) != 1 && len(a) != 2 {
		return usagef("want NAME [PATTERN] (usage: %s %s)", c.Command.HelpName, c.Command.ArgsUsage)
	}
	var pat node.Path
	if len(a) == 2 {
		var err error
		if pat, err = node.ParsePath(a[1]); err != nil {
			return usagef("%v", err)
		}
	}
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		if len(a) == 2 {
			v, err := cl.GetInternal(ctx, client.ACLPath(a[0], pat))
			if err != nil {
				return err
			}
			var s string
			if err := v.Decode(&s); err != nil {
				return err
			}
			fmt.Fprintln(e.out, s)
			return nil
		}
		base := client.ACLPath(a[0], nil)
		out := map[string]string{}
		err := cl.WalkInternal(ctx, base, func(en client.Entry) error {
			var s string
			if en.Value != nil && (client.Value{Raw: en.Value}).Decode(&s) == nil {
				out[en.Path[len(base):].String()] = s
			}
			return nil
		})
		if err != nil {
			return err
		}
		if wantJSON(c) {
			return e.printJSON(out)
		}
		keys := make([]string, 0, len(out))
		for k := range out {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(e.out, "%s: %s\n", k, out[k])
		}
		return nil
	})
}

func (e *cliEnv) aclList(c *cli.Context) error {
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		names, err := cl.ListInternal(ctx, node.StringPath("acl"))
		if err != nil {
			return err
		}
		return e.printNames(wantJSON(c), names)
	})
}

func (e *cliEnv) aclTest(c *cli.Context) error {
	p, err := pathArgs(c, "PATH")
	if err != nil {
		return err
	}
	mode := c.String("mode")
	if len(mode) > 1 || acl.Valid(mode) != nil {
		return usagef("--mode %q: want one of %s", mode, acl.Letters)
	}
	return e.withClient(c, func(ctx context.Context, cl *conn) error {
		v, err := cl.TestACL(ctx, p, mode, c.String("acl"))
		if err != nil {
			return err
		}
		if wantJSON(c) {
			return e.printJSON(v)
		}
		fmt.Fprintln(e.out, v)
		return nil
	})
}

// loginErr says why a login failed (exit 3, as any failure to connect).
func loginErr(addr string, err error) error {
	if errors.Is(err, clientproto.ErrAuth) {
		return &exitError{exitConn, fmt.Sprintf("cannot log in to %s: %s", addr, serverMsg(err))}
	}
	return nil
}
