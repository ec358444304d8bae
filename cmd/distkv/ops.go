package main

import (
	"github.com/distkv/distkv/server"
	"github.com/urfave/cli/v2"
)

// adminConfig maps the admin port's flags. The default address is best effort: a second node
// on the same host (or a test cluster) runs on without it; an address given explicitly must
// open.
func adminConfig(c *cli.Context, cfg *server.Config) error {
	cfg.AdminAddr = c.String("admin-addr")
	if cfg.AdminAddr != "" {
		if err := checkHostPort("--admin-addr", cfg.AdminAddr, true); err != nil {
			return err
		}
	}
	cfg.AdminBestEffort = !c.IsSet("admin-addr")
	cfg.AdminPprof = c.Bool("admin-pprof")
	if cfg.AdminPprof && cfg.AdminAddr == "" {
		return usagef("--admin-pprof needs --admin-addr")
	}
	if cfg.AdminTLS = c.Bool("admin-tls"); cfg.AdminTLS && (cfg.AdminAddr == "" || c.String("tls-cert") == "") {
		return usagef("--admin-tls needs --admin-addr and --tls-cert/--tls-key")
	}
	return nil
}
