// Command distkv is distkv's command line: the server, a client for every client action, and a
// benchmark.
//
// Exit codes: 0 ok; 1 not found, condition failed or another failure the server reported;
// 2 usage errors (bad flags, bad PATH, bad VALUE); 3 connection problems (cannot connect,
// connection lost); 130 interrupted (SIGINT/SIGTERM) where that is not the normal way to stop.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/distkv/distkv/server"
	"github.com/urfave/cli/v2"
)

// version is the CLI's version; release builds set it with -ldflags "-X main.version=...".
// commit is the VCS commit, set by `make build` (-X main.commit=...) where the build has no VCS
// stamp of its own (-buildvcs=false).
var version, commit = "", ""

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1 // not found, condition failed, server error
	exitUsage       = 2 // bad flags, path or value
	exitConn        = 3 // cannot connect, connection lost
	exitInterrupted = 130
)

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// run runs the CLI and returns the exit code. Nothing below it calls os.Exit, so every deferred
// cleanup (the server's shutdown in particular) runs before the process ends.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal, restore the default handling: a second one kills at once.
		<-ctx.Done()
		stop()
	}()
	e := &cliEnv{in: stdin, out: stdout, errw: stderr}
	err := e.app().RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	code, msg := classify(err)
	if msg != "" {
		fmt.Fprintln(stderr, msg)
	}
	return code
}

// cliEnv holds the process's streams, so that commands never touch os.Std* directly.
type cliEnv struct {
	in   io.Reader
	out  io.Writer
	errw io.Writer
}

// exitError is an error with its exit code and the one-line message to print.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usagef(format string, a ...any) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf(format, a...)}
}

func failf(format string, a ...any) error {
	return &exitError{code: exitFailed, msg: fmt.Sprintf(format, a...)}
}

// classify maps an error that reached main to an exit code and a message.
func classify(err error) (int, string) {
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		return ee.code, ee.msg
	case errors.Is(err, context.Canceled):
		return exitInterrupted, "interrupted"
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		// cli's own exit errors (its help command for an unknown topic, for instance).
		code := ec.ExitCode()
		if code == 3 || code == 0 {
			code = exitUsage
		}
		return code, oneLine(err.Error())
	}
	return exitFailed, oneLine(err.Error())
}

// oneLine keeps messages to one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func (e *cliEnv) app() *cli.App {
	app := &cli.App{
		Name:  "distkv",
		Usage: "a masterless gossip-replicated key-value store",
		Description: "PATH is DistKV's string form: dot-separated strings, with ':' escapes and typed elements\n" +
			"(a.b:42 is (\"a\", \"b\", 42); ':' alone is the root). Flags go before arguments.\n" +
			"Exit codes: 0 ok, 1 not found or condition failed, 2 usage error, 3 connection problem.",
		Writer:         e.out,
		ErrWriter:      e.errw,
		HideVersion:    true,
		Reader:         e.in,
		ExitErrHandler: func(*cli.Context, error) {}, // never os.Exit inside Run: main does it
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("unknown command %q (see 'distkv --help')", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		Commands: []*cli.Command{
			e.serverCommand(),
			e.clientCommand(),
			e.benchCommand(),
			e.benchWatcherCommand(),
			e.snapshotCommand(),
			e.keyringCommand(),
			{
				Name:   "version",
				Usage:  "print the version",
				Action: e.versionAction,
			},
			e.completionCommand(),
			e.manCommand(),
		},
		EnableBashCompletion: true,
	}
	app.OnUsageError = onUsageError
	setUsageHandlers(app.Commands)
	return app
}

// needCommand is the action of a command that only groups subcommands: `distkv client` alone
// shows its help, an unknown subcommand is a usage error.
func needCommand(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("unknown command %q (see '%s --help')", c.Args().First(), c.Command.HelpName)
	}
	return cli.ShowSubcommandHelp(c)
}

// onUsageError turns cli's flag parsing errors into exit code 2 with a one-line message,
// instead of cli's default of printing the whole help on stdout.
func onUsageError(c *cli.Context, err error, _ bool) error {
	name := "distkv"
	if c.Command != nil && c.Command.HelpName != "" {
		name = c.Command.HelpName
	}
	return usagef("%s: %v (see '%s --help')", name, err, name)
}

func setUsageHandlers(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = onUsageError
		setUsageHandlers(c.Subcommands)
	}
}

func (e *cliEnv) versionAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("version takes no arguments")
	}
	pv := make([]string, len(server.Version))
	for i, v := range server.Version {
		pv[i] = fmt.Sprint(v)
	}
	fmt.Fprintf(e.out, "distkv %s (protocol %s, %s %s/%s)\n", cliVersion(), strings.Join(pv, "."),
		runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

func cliVersion() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	rev, dirty := commit, false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		v += " commit " + rev
		if dirty {
			v += "+modified"
		}
	}
	return v
}
