package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/distkv/distkv/server"
)

// sd_notify (systemd's Type=notify; deploy/distkv.service): the server tells the service
// manager READY=1 once it is ready (caught up and serving clients, as /readyz) and STOPPING=1
// when it begins to shut down, by a datagram to the unix socket named by $NOTIFY_SOCKET (a
// leading "@" is Linux's abstract namespace). Without the variable it does nothing.

// sdNotify sends one state message, if there is a socket to send it to.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// notifyWhenReady sends READY=1 once srv is ready, unless ctx ends first. The server has no
// readiness callback; polling it is cheap and bounded by the poll interval.
func notifyWhenReady(ctx context.Context, srv *server.Server, log func(string, ...any)) {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if srv.Ready() {
				if err := sdNotify("READY=1\nSTATUS=serving clients"); err != nil {
					log("telling systemd the node is ready", "err", err)
				}
				return
			}
		}
	}
}
