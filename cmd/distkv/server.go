package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/distkv/distkv/gossip"
	"github.com/distkv/distkv/server"
	"github.com/urfave/cli/v2"
)

// shutdownTimeout bounds the graceful shutdown after SIGINT/SIGTERM.
const shutdownTimeout = 10 * time.Second

func (e *cliEnv) serverCommand() *cli.Command {
	return &cli.Command{
		Name:  "server",
		Usage: "run a distkv node",
		Description: "With no flags it runs a single RAM-only node serving clients on " + server.DefaultClientAddr + ".\n" +
			"Every flag can also be set with the environment variable shown. SIGINT or SIGTERM shut it down gracefully.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", EnvVars: []string{"DISTKV_NAME"}, Usage: "this host's `NAME` in the cluster (default: the host name)"},
			&cli.StringFlag{Name: "client-addr", EnvVars: []string{"DISTKV_CLIENT_ADDR"}, Value: server.DefaultClientAddr, Usage: "listen for clients on `HOST:PORT`"},
			&cli.StringFlag{Name: "client-log-dir", EnvVars: []string{"DISTKV_CLIENT_LOG_DIR"}, Usage: "let admins start DistKV's change log (action log) into files in `DIR` (default: log is refused)"},
			&cli.StringFlag{Name: "data-dir", EnvVars: []string{"DISTKV_DATA_DIR"}, Usage: "keep the event log and snapshots in `DIR` (default: RAM only)"},
			&cli.StringFlag{Name: "fsync", EnvVars: []string{"DISTKV_FSYNC"}, Value: "always", Usage: "event log fsync policy: `always|interval|never`"},
			&cli.StringFlag{Name: "max-request", EnvVars: []string{"DISTKV_MAX_REQUEST"}, Usage: "largest client message: `SIZE` in bytes, or with a suffix: 4MiB, 512k (default: 4MiB)"},
			&cli.StringFlag{Name: "max-value", EnvVars: []string{"DISTKV_MAX_VALUE"}, Usage: "largest value: `SIZE` as for --max-request (default: 1MiB)"},
			&cli.StringFlag{Name: "gossip-addr", EnvVars: []string{"DISTKV_GOSSIP_ADDR"}, Usage: "gossip on `HOST:PORT` (default: none, a single node)"},
			&cli.StringFlag{Name: "peer-addr", EnvVars: []string{"DISTKV_PEER_ADDR"}, Usage: "serve the peer data plane on `HOST:PORT`"},
			&cli.StringSliceFlag{Name: "join", EnvVars: []string{"DISTKV_JOIN"}, Usage: "join the cluster through these members' gossip addresses, `HOST:PORT[,...]`"},
			&cli.StringFlag{Name: "gossip-key", EnvVars: []string{"DISTKV_GOSSIP_KEY"},
				Usage: "encrypt gossip and the peer data plane with the cluster `KEY` (base64 of 16, 24 or 32 bytes); ignored once a keyring file exists"},
			&cli.StringFlag{Name: "keyring-file", EnvVars: []string{"DISTKV_KEYRING_FILE"},
				Usage: "load the cluster keys from `FILE` (a JSON list of base64 keys, primary first) and keep it up to date (default: DATA-DIR/keyring.json)"},
			&cli.StringFlag{Name: "profile", EnvVars: []string{"DISTKV_PROFILE"}, Value: "lan", Usage: "gossip timings: `lan|test`"},
			&cli.DurationFlag{Name: "forget-after", EnvVars: []string{"DISTKV_FORGET_AFTER"},
				DefaultText: "the profile's, 1h for lan", Usage: "forget a member failed this `long`; tombstones wait for failed members"},
			&cli.IntFlag{Name: "max-peer-conns", EnvVars: []string{"DISTKV_MAX_PEER_CONNS"}, Value: 256,
				Usage: "at most `N` open connections to the peer data plane; more are closed at once (must exceed twice the cluster's size)"},
			&cli.DurationFlag{Name: "housekeep-interval", EnvVars: []string{"DISTKV_HOUSEKEEP_INTERVAL"},
				DefaultText: "2s", Usage: "run a housekeeping round (repairs, purge watermark) this `often`"},
			&cli.StringFlag{Name: "tls-cert", EnvVars: []string{"DISTKV_TLS_CERT"}, Usage: "serve clients over TLS with the certificate (chain) in `FILE` (PEM; needs --tls-key; reread on SIGHUP)"},
			&cli.StringFlag{Name: "tls-key", EnvVars: []string{"DISTKV_TLS_KEY"}, Usage: "the private key of --tls-cert, in `FILE` (PEM)"},
			&cli.StringFlag{Name: "tls-client-ca", EnvVars: []string{"DISTKV_TLS_CLIENT_CA"}, Usage: "require client certificates signed by a CA in `FILE` (PEM)"},
			&cli.IntFlag{Name: "max-conns", EnvVars: []string{"DISTKV_MAX_CONNS"}, Value: 1024, Usage: "at most `N` client connections; more are closed at once"},
			&cli.IntFlag{Name: "max-conns-per-host", EnvVars: []string{"DISTKV_MAX_CONNS_PER_HOST"}, Value: 256, Usage: "at most `N` client connections from one IP address"},
			&cli.IntFlag{Name: "max-streams", EnvVars: []string{"DISTKV_MAX_STREAMS"}, Value: 256, Usage: "at most `N` concurrent watches, get_trees and snapshots per connection"},
			&cli.DurationFlag{Name: "write-timeout", EnvVars: []string{"DISTKV_WRITE_TIMEOUT"}, Value: 30 * time.Second, Usage: "drop a client that does not take a write for this `long` (it stopped reading)"},
			&cli.DurationFlag{Name: "idle-timeout", EnvVars: []string{"DISTKV_IDLE_TIMEOUT"}, DefaultText: "never", Usage: "close a connection that sent nothing for this `long` and has no stream running"},
			&cli.StringFlag{Name: "log-level", EnvVars: []string{"DISTKV_LOG_LEVEL"}, Value: "info", Usage: "log `LEVEL`: debug, info, warn or error"},
			&cli.BoolFlag{Name: "log-json", EnvVars: []string{"DISTKV_LOG_JSON"}, Usage: "log JSON lines instead of text"},
			// Operations (docs/operations.md).
			&cli.StringFlag{Name: "admin-addr", EnvVars: []string{"DISTKV_ADMIN_ADDR"}, Value: server.DefaultAdminAddr,
				Usage: "serve /metrics, /healthz, /readyz and the status page on `HOST:PORT` (empty: off)"},
			&cli.BoolFlag{Name: "admin-pprof", EnvVars: []string{"DISTKV_ADMIN_PPROF"}, Usage: "also serve /debug/pprof/ on the admin port"},
			&cli.BoolFlag{Name: "admin-tls", EnvVars: []string{"DISTKV_ADMIN_TLS"},
				Usage: "serve the admin port over TLS with --tls-cert and --tls-key (and require --tls-client-ca's client certificates if set)"},
			&cli.StringFlag{Name: "config", EnvVars: []string{"DISTKV_CONFIG"},
				Usage: "read settings from the YAML `FILE` (keys: these flags' names); flags and environment variables override it"},
			&cli.BoolFlag{Name: "print-config", Usage: "print the effective settings as a config file and exit"},
		},
		Action: e.serverAction,
	}
}

// serverConfig maps the flags to server.Config. Every flag has a Config field; Config fields
// without a flag (WatchQueue, SnapshotEvery, HandshakeTimeout, ...) keep the server's defaults.
func serverConfig(c *cli.Context) (server.Config, error) {
	var src *configSource
	if path := c.String("config"); path != "" {
		var err error
		if src, err = loadConfigFile(c, path); err != nil {
			return server.Config{}, err
		}
	}
	cfg, err := serverFlags(c)
	return cfg, src.locate(err)
}

// serverFlags maps the flags, once the config file filled in those left unset.
func serverFlags(c *cli.Context) (server.Config, error) {
	var cfg server.Config
	if c.NArg() > 0 {
		return cfg, usagef("server takes no arguments, got %q", c.Args().First())
	}
	cfg.Name = strings.TrimSpace(c.String("name"))
	cfg.ClientAddr = c.String("client-addr")
	if err := checkHostPort("--client-addr", cfg.ClientAddr, true); err != nil {
		return cfg, err
	}
	cfg.DataDir = c.String("data-dir")
	cfg.ClientLogDir = c.String("client-log-dir")
	switch f := c.String("fsync"); f {
	case "always", "interval", "never":
		cfg.Fsync = f
	default:
		return cfg, usagef("--fsync %q: want always, interval or never", f)
	}
	var err error
	if cfg.MaxRequest, err = sizeFlag(c, "max-request"); err != nil {
		return cfg, err
	}
	if cfg.MaxValue, err = sizeFlag(c, "max-value"); err != nil {
		return cfg, err
	}
	cfg.GossipAddr = c.String("gossip-addr")
	cfg.PeerAddr = c.String("peer-addr")
	for name, v := range map[string]string{"--gossip-addr": cfg.GossipAddr, "--peer-addr": cfg.PeerAddr} {
		if v != "" {
			if err := checkHostPort(name, v, true); err != nil {
				return cfg, err
			}
		}
	}
	for _, j := range c.StringSlice("join") {
		for _, a := range strings.Split(j, ",") {
			if a = strings.TrimSpace(a); a == "" {
				continue
			}
			if err := checkHostPort("--join", a, false); err != nil {
				return cfg, err
			}
			cfg.Join = append(cfg.Join, a)
		}
	}
	if err := keyringConfig(c, &cfg); err != nil {
		return cfg, err
	}
	cfg.ForgetAfter = c.Duration("forget-after")
	if cfg.MaxPeerConns = c.Int("max-peer-conns"); cfg.MaxPeerConns < 1 {
		return cfg, usagef("--max-peer-conns %d: want at least 1", cfg.MaxPeerConns)
	}
	cfg.HousekeepInterval = c.Duration("housekeep-interval")
	cfg.TLSCert, cfg.TLSKey, cfg.TLSClientCA = c.String("tls-cert"), c.String("tls-key"), c.String("tls-client-ca")
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return cfg, usagef("--tls-cert and --tls-key go together")
	}
	if cfg.TLSClientCA != "" && cfg.TLSCert == "" {
		return cfg, usagef("--tls-client-ca needs --tls-cert and --tls-key")
	}
	for _, f := range []string{"max-conns", "max-conns-per-host", "max-streams"} {
		if c.Int(f) < 1 {
			return cfg, usagef("--%s %d: want at least 1", f, c.Int(f))
		}
	}
	cfg.MaxConns, cfg.MaxConnsPerHost, cfg.MaxStreams = c.Int("max-conns"), c.Int("max-conns-per-host"), c.Int("max-streams")
	if cfg.WriteTimeout = c.Duration("write-timeout"); cfg.WriteTimeout <= 0 {
		return cfg, usagef("--write-timeout %v: want a positive duration", cfg.WriteTimeout)
	}
	if cfg.IdleTimeout = c.Duration("idle-timeout"); cfg.IdleTimeout < 0 {
		return cfg, usagef("--idle-timeout %v: must not be negative", cfg.IdleTimeout)
	}
	switch p := c.String("profile"); p {
	case "lan", "test":
		cfg.Profile = p
	default:
		return cfg, usagef("--profile %q: want lan or test", p)
	}
	if err := adminConfig(c, &cfg); err != nil {
		return cfg, err
	}
	lvl, err := parseLevel(c.String("log-level"))
	if err != nil {
		return cfg, err
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewTextHandler(c.App.ErrWriter, opts)
	if c.Bool("log-json") {
		h = slog.NewJSONHandler(c.App.ErrWriter, opts)
	}
	cfg.Logger = slog.New(h)
	return cfg, nil
}

func (e *cliEnv) serverAction(c *cli.Context) error {
	cfg, err := serverConfig(c)
	if err != nil {
		return err
	}
	if c.Bool("print-config") {
		return printConfig(c, c.App.Writer)
	}
	srv, err := server.New(cfg)
	if err != nil {
		return failf("%v", err)
	}
	log := srv.Logger()
	// Run opens the data directory, joins the cluster and catches up before it opens the
	// client port, so the port is not opened here first.
	ctx := c.Context
	stopHUP := reloadOnHUP(srv, log)
	defer stopHUP()
	errc := make(chan error, 1)
	go func() { errc <- srv.Run(ctx) }()
	nctx, stopNotify := context.WithCancel(ctx)
	defer stopNotify()
	go notifyWhenReady(nctx, srv, log.Warn)
	var runErr error
	ran := false
	select {
	case runErr = <-errc:
		ran = true
	case <-ctx.Done():
	}
	// Always shut down before returning, even when Run failed by itself (it may have opened
	// the event log) or ended at the same moment as ctx: Shutdown is what closes the event
	// log, and main exits the process as soon as this returns.
	if ctx.Err() != nil {
		log.Info("shutting down", "timeout", shutdownTimeout)
	}
	stopNotify()
	if err := sdNotify("STOPPING=1"); err != nil {
		log.Warn("telling systemd the node stops", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	shutErr := srv.Shutdown(sctx)
	if !ran {
		select {
		case runErr = <-errc:
		case <-sctx.Done():
			// What it is stuck on, for the bug report: every goroutine's stack, on stderr.
			fmt.Fprintf(os.Stderr, "shutdown: the server did not stop within %v; its goroutines:\n", shutdownTimeout)
			pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
			return failf("shutdown: the server did not stop within %v", shutdownTimeout)
		}
	}
	switch {
	case ctx.Err() == nil:
		return failf("%v", runErr) // Run ended without being asked to
	case runErr != nil && !errors.Is(runErr, server.ErrClosed) && !errors.Is(runErr, context.Canceled):
		return failf("%v", runErr)
	case shutErr != nil:
		return failf("shutdown: %v", shutErr)
	}
	log.Info("stopped")
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, usagef("--log-level %q: want debug, info, warn or error", s)
}

func sizeFlag(c *cli.Context, name string) (int, error) {
	s := c.String(name)
	if s == "" {
		return 0, nil // the server's default
	}
	n, err := parseSize(s)
	if err != nil {
		return 0, usagef("--%s: %v", name, err)
	}
	return n, nil
}

// parseSize parses a byte count: a plain number, or one with a suffix k/K/KB/KiB (1024),
// M/MB/MiB or G/GB/GiB. Sizes are powers of 1024 whatever the spelling.
func parseSize(s string) (int, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	lower := strings.ToLower(t)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"kib", 1 << 10}, {"kb", 1 << 10}, {"k", 1 << 10}, {"mib", 1 << 20}, {"mb", 1 << 20}, {"m", 1 << 20},
		{"gib", 1 << 30}, {"gb", 1 << 30}, {"g", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(lower, u.suffix) {
			mult = u.mult
			t = strings.TrimSpace(t[:len(t)-len(u.suffix)])
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q (want a positive number of bytes, e.g. 1048576 or 1MiB)", s)
	}
	if n > (1<<31-1)/mult {
		return 0, fmt.Errorf("size %q too large", s)
	}
	return int(n * mult), nil
}

// reloadOnHUP rereads the client TLS files on every SIGHUP until the returned function is
// called. A failed reload keeps the old certificate (ReloadTLS logs why).
func reloadOnHUP(srv *server.Server, log *slog.Logger) func() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				if err := srv.ReloadTLS(); errors.Is(err, server.ErrNoTLS) {
					log.Info("SIGHUP: nothing to reload (no --tls-cert)")
				}
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

// keyringConfig loads the cluster keyring: an existing keyring file wins over --gossip-key, so
// that a restart never brings back a key that a rotation removed.
func keyringConfig(c *cli.Context, cfg *server.Config) error {
	key, file := c.String("gossip-key"), c.String("keyring-file")
	if file == "" && cfg.DataDir != "" {
		file = filepath.Join(cfg.DataDir, "keyring.json")
		if key != "" {
			if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
				return failf("--data-dir: %v", err)
			}
		}
	}
	if key != "" {
		if _, err := gossip.ParseKey(key); err != nil {
			return usagef("--gossip-key: %v", err)
		}
	}
	kr, fromFile, err := gossip.LoadKeyring(key, file)
	if err != nil {
		return failf("%v", err)
	}
	if kr == nil {
		return nil
	}
	if cfg.GossipAddr == "" {
		return usagef("--gossip-key/--keyring-file need --gossip-addr: a single node has no peers")
	}
	if fromFile && key != "" {
		if k, _ := gossip.ParseKey(key); !gossip.HasKey(kr, k) {
			fmt.Fprintf(c.App.ErrWriter, "warning: --gossip-key is not in %s, which takes precedence; ignoring it\n", file)
		}
	}
	cfg.Keyring, cfg.KeyringFile = kr, file
	return nil
}
