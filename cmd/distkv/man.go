package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// The man page docs/distkv.1 is generated from the commands and flags (make man), so it says
// what --help says; TestManPageCurrent fails when the committed page is stale. cli's own ToMan
// names subcommands without their parents ("add" twice) and leaves out environment variables,
// so the page is written here, one section per command path, each flag as --help prints it.

func (e *cliEnv) manCommand() *cli.Command {
	return &cli.Command{
		Name:   "man",
		Usage:  "print the man page (roff), as docs/distkv.1 holds it",
		Hidden: true,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("man takes no arguments")
			}
			fmt.Fprint(e.out, manPage(c.App))
			return nil
		},
	}
}

// manPage renders app as a section 1 man page.
func manPage(app *cli.App) string {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH DISTKV 1 \"\" \"distkv\" \"User Commands\"\n.SH NAME\n%s \\- %s\n", app.Name, roff(app.Usage))
	fmt.Fprintf(&b, ".SH SYNOPSIS\n.B %s\n\\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGUMENTS\\fR...]\n", app.Name)
	fmt.Fprintf(&b, ".SH DESCRIPTION\n%s\n", roff(app.Description))
	b.WriteString(".PP\nEvery command takes \\fB\\-\\-help\\fR. Options go before arguments.\n.SH COMMANDS\n")
	env := map[string][]string{} // variable: the flag, then the commands that read it
	for _, c := range app.Commands {
		manCommand(&b, app.Name, c, env)
	}
	b.WriteString(".SH ENVIRONMENT\n")
	names := make([]string, 0, len(env))
	for n := range env {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&b, ".TP\n.B %s\nsets %s (%s)\n", n, roff(env[n][0]), roff(strings.Join(env[n][1:], ", ")))
	}
	b.WriteString(".SH EXIT STATUS\n0 ok; 1 not found, condition failed or another failure the server reported; " +
		"2 usage error (bad flags, PATH or VALUE); 3 connection problem (cannot connect, connection lost); " +
		"130 interrupted where that is not the normal way to stop.\n")
	b.WriteString(".SH SEE ALSO\ndocs/operations.md (running a cluster), docs/security.md, docs/formats.md, " +
		"deploy/distkv.service and deploy/distkv.yaml in the source tree.\n")
	return b.String()
}

// manCommand writes one command's section, then its subcommands'. env collects the flags'
// environment variables: the flag, then the commands that read it.
func manCommand(b *strings.Builder, parent string, c *cli.Command, env map[string][]string) {
	if c.Hidden || c.Name == "help" {
		return
	}
	path := parent + " " + c.Name
	fmt.Fprintf(b, ".SS %s\n", roff(path))
	usage := path
	if len(c.VisibleFlags()) > 0 {
		usage += " [OPTIONS]"
	}
	if len(c.Subcommands) > 0 {
		usage += " COMMAND"
	}
	if c.ArgsUsage != "" {
		usage += " " + c.ArgsUsage
	}
	fmt.Fprintf(b, ".B %s\n.PP\n%s.\n", roff(usage), roff(c.Usage))
	if c.Description != "" {
		fmt.Fprintf(b, ".PP\n%s\n", roff(c.Description))
	}
	for _, f := range c.VisibleFlags() {
		name, text, _ := strings.Cut(cli.FlagStringer(f), "\t")
		fmt.Fprintf(b, ".TP\n\\fB%s\\fR\n%s\n", roff(name), roff(text))
		if ev, ok := f.(interface{ GetEnvVars() []string }); ok {
			for _, v := range ev.GetEnvVars() {
				if env[v] == nil {
					env[v] = []string{strings.SplitN(name, " ", 2)[0]}
				}
				env[v] = append(env[v], path)
			}
		}
	}
	for _, s := range c.Subcommands {
		manCommand(b, path, s, env)
	}
}

// roff escapes text for a man page: backslashes, hyphens, and lines starting with a control
// character.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}
