package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distkv/distkv/server"
	"github.com/urfave/cli/v2"
)

// parseServer runs the server command's flag handling only, returning its config and stderr.
func parseServer(t *testing.T, args ...string) (server.Config, string, error) {
	t.Helper()
	var errw bytes.Buffer
	e := &cliEnv{in: strings.NewReader(""), out: &bytes.Buffer{}, errw: &errw}
	app := e.app()
	var cfg server.Config
	var cerr error
	for _, cmd := range app.Commands {
		if cmd.Name == "server" {
			cmd.Action = func(c *cli.Context) error { cfg, cerr = serverConfig(c); return nil }
		}
	}
	if err := app.Run(append([]string{"distkv", "server"}, args...)); err != nil {
		return cfg, errw.String(), err
	}
	return cfg, errw.String(), cerr
}

func TestKeyringFlags(t *testing.T) {
	k1 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	k2 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 16))
	dir := filepath.Join(t.TempDir(), "data")
	g := []string{"--gossip-addr", "127.0.0.1:0"}

	// First start: the key seeds DATA_DIR/keyring.json.
	cfg, _, err := parseServer(t, append(g, "--data-dir", dir, "--gossip-key", k1)...)
	if err != nil || cfg.Keyring == nil || cfg.KeyringFile != filepath.Join(dir, "keyring.json") {
		t.Fatalf("first start: %v, %+v", err, cfg.KeyringFile)
	}
	b, err := os.ReadFile(cfg.KeyringFile)
	if err != nil || !strings.Contains(string(b), k1) {
		t.Fatalf("keyring file: %q, %v", b, err)
	}
	if fi, _ := os.Stat(cfg.KeyringFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("keyring file mode %v, want 0600", fi.Mode().Perm())
	}
	// Later starts: the file wins over another --gossip-key, with a warning; no flag is needed.
	cfg, stderr, err := parseServer(t, append(g, "--data-dir", dir, "--gossip-key", k2)...)
	if err != nil || len(cfg.Keyring.GetKeys()) != 1 || base64.StdEncoding.EncodeToString(cfg.Keyring.GetKeys()[0]) != k1 {
		t.Fatalf("restart with another key: %v", err)
	}
	if !strings.Contains(stderr, "ignoring it") {
		t.Errorf("no warning about the ignored --gossip-key: %q", stderr)
	}
	if cfg, _, err = parseServer(t, append(g, "--data-dir", dir)...); err != nil || cfg.Keyring == nil {
		t.Fatalf("restart without the flag: %v, keyring %v", err, cfg.Keyring)
	}
	// A RAM-only node keeps no file; a bad key, a broken file or no gossip address are errors.
	if cfg, _, err = parseServer(t, append(g, "--gossip-key", k2)...); err != nil || cfg.Keyring == nil || cfg.KeyringFile != "" {
		t.Fatalf("RAM-only: %v, %q", err, cfg.KeyringFile)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`["c2hvcnQ="]`), 0o600)
	for _, args := range [][]string{
		append(g, "--gossip-key", "bm90IDE2IGJ5dGVz"),
		append(g, "--gossip-key", "not base64!"),
		append(g, "--keyring-file", bad),
		{"--gossip-key", k1},
	} {
		if _, _, err := parseServer(t, args...); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	if cfg, _, err := parseServer(t, g...); err != nil || cfg.Keyring != nil {
		t.Errorf("no key: %v, keyring %v", err, cfg.Keyring)
	}
}
