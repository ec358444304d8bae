package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "distkv.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runEnv runs the binary with extra environment variables.
func runEnv(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append(testEnv(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// TestConfigFilePrecedence: the file sets what nothing else sets; an environment variable
// overrides the file, a flag overrides both; --print-config shows the result, which is itself
// a config file the server takes.
func TestConfigFilePrecedence(t *testing.T) {
	cfg := writeConfig(t, `# a node
name: fromfile
fsync: never
max-conns: 100
max-streams: 50
write-timeout: 5s
log-json: true
join:
  - 10.0.0.1:7946
  - 10.0.0.2:7946
`)
	out, errOut, code := runEnv(t, []string{"DISTKV_MAX_CONNS=7", "DISTKV_MAX_STREAMS=8"},
		"server", "--config", cfg, "--print-config", "--max-streams", "9")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"name: fromfile\n", "fsync: never\n", "max-conns: 7\n", "max-streams: 9\n",
		"write-timeout: 5s\n", "log-json: true\n", "join:\n  - 10.0.0.1:7946\n  - 10.0.0.2:7946\n",
		"client-addr: 127.0.0.1:27586\n", "admin-addr: 127.0.0.1:27587\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("--print-config lacks %q:\n%s", want, out)
		}
	}
	// The printed config reads back to the same settings.
	again := writeConfig(t, out)
	out2, errOut, code := runEnv(t, nil, "server", "--config", again, "--print-config")
	if code != 0 || out2 != out {
		t.Errorf("the printed config does not read back the same (exit %d, %s):\n%s\nvs\n%s", code, errOut, out2, out)
	}
	// DISTKV_CONFIG names the file too.
	out3, _, code := runEnv(t, []string{"DISTKV_CONFIG=" + cfg}, "server", "--print-config")
	if code != 0 || !strings.Contains(out3, "name: fromfile\n") {
		t.Errorf("DISTKV_CONFIG ignored (exit %d):\n%s", code, out3)
	}
}

// TestConfigFileErrors: a bad config is refused at start with the file, the line and why.
func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"unknown setting", "name: a\nfsinc: never\n", `:2: unknown setting "fsinc"`},
		{"bad int", "name: a\n\nmax-conns: lots\n", `:3: max-conns: want a whole number, got "lots"`},
		{"bad duration", "write-timeout: soon\n", `:1: write-timeout: want a duration`},
		{"bad bool", "name: a\nlog-json: maybe\n", `:2: log-json: want true or false`},
		{"refused value", "name: a\nfsync: sometimes\n", `:2: --fsync "sometimes": want always, interval or never`},
		{"refused address", "client-addr: nowhere\n", `:1: --client-addr`},
		{"list for a scalar", "name:\n  - a\n  - b\n", `:2: name takes one value, not a list`},
		{"twice", "name: a\nname: b\n", `:2: "name" set twice`},
		{"not a mapping", "- a\n- b\n", `:1: want a mapping`},
		{"yaml syntax", "name: [a\n", `:1: did not find expected`},
		{"no such file", "", "--config: open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConfig(t, tc.body)
			if tc.body == "" {
				p += ".missing"
			}
			_, errOut, code := runEnv(t, nil, "server", "--config", p)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 and %q", code, errOut, tc.want)
			}
			if tc.body != "" && !strings.Contains(errOut, p+":") {
				t.Errorf("the error does not name the file: %q", errOut)
			}
		})
	}
}

// TestConfigExample: the example config in deploy/ is one the server takes, and the unit runs
// the server with it and as Type=notify.
func TestConfigExample(t *testing.T) {
	out, errOut, code := runEnv(t, nil, "server", "--config", "../../deploy/distkv.yaml", "--print-config")
	if code != 0 || !strings.Contains(out, "data-dir: /var/lib/distkv\n") {
		t.Fatalf("deploy/distkv.yaml: exit %d, %s\n%s", code, errOut, out)
	}
	unit, err := os.ReadFile("../../deploy/distkv.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify\n", "distkv server --config /etc/distkv/distkv.yaml\n", "Restart=on-failure\n", "KillSignal=SIGTERM\n"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("deploy/distkv.service lacks %q", want)
		}
	}
}
