// Package tests runs real distkv server processes on loopback addresses (127.0.0.x) and checks
// that they replicate: writes through the CLI and the Go client at different nodes, then every
// node's get_state digest agrees and every node's full tree is identical.
//
// TestMain builds the binary once (distkvBin) for every test of the package. The cluster tests
// skip (saying why) when cmd/distkv or its cluster flags are missing.
package tests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var (
	// distkvBin is the distkv executable built by TestMain; empty if it could not be built.
	distkvBin string
	// skipWhy says why the cluster tests cannot run (no cmd/distkv, no cluster flags).
	skipWhy string
)

// repoRoot returns the module root: the directory of `go env GOMOD`, or two levels above this
// file.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err == nil {
		if mod := strings.TrimSpace(string(out)); mod != "" && mod != os.DevNull {
			return filepath.Dir(mod), nil
		}
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate the repository root")
	}
	return filepath.Dir(filepath.Dir(file)), nil
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "distkv-tests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var fatal string
	skipWhy, fatal = build(dir)
	if fatal != "" {
		// cmd/distkv exists but does not build: that is a failure, not a reason to skip.
		fmt.Fprintln(os.Stderr, "tests:", fatal)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build builds cmd/distkv into dir (setting distkvBin) and checks its server command for the
// cluster flags. It returns why the cluster tests must skip ("" if they can run), and a fatal
// error if the command exists but cannot be built.
func build(dir string) (skip, fatal string) {
	root, err := repoRoot()
	if err != nil {
		return err.Error(), ""
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "distkv")); err != nil {
		return "cmd/distkv does not exist yet: " + err.Error(), ""
	}
	bin := filepath.Join(dir, "distkv")
	args := []string{"build", "-o", bin}
	if os.Getenv("DISTKV_TEST_RACE") != "" {
		args = append(args, "-race") // servers built with the race detector: slower, stricter
	}
	cmd := exec.Command("go", append(args, "./cmd/distkv")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Sprintf("go build ./cmd/distkv failed: %v\n%s", err, out)
	}
	distkvBin = bin
	help, err := exec.Command(bin, "server", "--help").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("distkv server --help failed: %v\n%s", err, help), ""
	}
	var missing []string
	for _, f := range []string{"--gossip-addr", "--peer-addr", "--join", "--profile"} {
		if !bytes.Contains(help, []byte(f)) {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return "distkv server lacks the cluster flags " + strings.Join(missing, ", "), ""
	}
	return "", ""
}

// needCluster skips a cluster test when the binary cannot run one.
func needCluster(t *testing.T) {
	t.Helper()
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
}
