package main

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestManPageCurrent: docs/distkv.1 is what `distkv man` prints now (run `make man` after
// changing a command or flag), and the page names every visible command and flag.
func TestManPageCurrent(t *testing.T) {
	app := (&cliEnv{in: strings.NewReader(""), out: io.Discard, errw: io.Discard}).app()
	page := manPage(app)
	var walk func(parent string, cs []*cli.Command)
	walk = func(parent string, cs []*cli.Command) {
		for _, c := range cs {
			if c.Hidden || c.Name == "help" {
				continue
			}
			path := parent + " " + c.Name
			if !strings.Contains(page, ".SS "+roff(path)+"\n") {
				t.Errorf("the man page has no section for %q", path)
			}
			for _, f := range c.VisibleFlags() {
				if n := f.Names()[0]; !strings.Contains(page, `\fB`+roff(dashes(n))) {
					t.Errorf("the man page does not name %s's flag %s", path, dashes(n))
				}
			}
			walk(path, c.Subcommands)
		}
	}
	walk(app.Name, app.Commands)
	committed, err := os.ReadFile("../../docs/distkv.1")
	if err != nil {
		t.Fatal(err)
	}
	if string(committed) != page {
		t.Error("docs/distkv.1 is stale: run `make man`")
	}
}

func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}
