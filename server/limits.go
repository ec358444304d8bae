package server

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/distkv/distkv/clientproto"
)

// refuseLogEvery rate-limits the log lines about refused connections: a flood must not
// flood the log too.
const refuseLogEvery = 10 * time.Second

// admission counts the open client connections, in all and per source host.
type admission struct {
	mu      sync.Mutex
	total   int
	perHost map[string]int
	refused int       // since the last log line
	logged  time.Time // of the last log line
}

func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

// admit takes a slot for a connection from host, or says why not.
func (s *Server) admit(host string) error {
	a := &s.adm
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.total >= s.cfg.MaxConns:
		return fmt.Errorf("%w: %d client connections open, the server's maximum", clientproto.ErrLimit, a.total)
	case a.perHost[host] >= s.cfg.MaxConnsPerHost:
		return fmt.Errorf("%w: %d client connections open from %s, the maximum per host", clientproto.ErrLimit, a.perHost[host], host)
	}
	a.total++
	if a.perHost == nil {
		a.perHost = make(map[string]int)
	}
	a.perHost[host]++
	return nil
}

// release gives back a slot admit took.
func (s *Server) release(host string) {
	a := &s.adm
	a.mu.Lock()
	defer a.mu.Unlock()
	a.total--
	if a.perHost[host]--; a.perHost[host] <= 0 {
		delete(a.perHost, host)
	}
}

// refuse closes a connection over a limit at once. A plaintext client first gets the reason as
// a connection-level error, written without waiting for the client: a fresh socket's buffer
// takes it, and the short deadline bounds the accept loop's stall if it does not.
func (s *Server) refuse(nc net.Conn, why error) {
	if s.tlsBase == nil {
		nc.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		nc.Write(clientproto.NewMsg(0).Str("error", why.Error()).Str("etype", clientproto.EtypeLimit).Bytes())
	}
	nc.Close()
	a := &s.adm
	a.mu.Lock()
	a.refused++
	now := time.Now()
	if now.Sub(a.logged) < refuseLogEvery {
		a.mu.Unlock()
		return
	}
	n := a.refused
	a.refused, a.logged = 0, now
	a.mu.Unlock()
	s.log.Warn("refusing client connections", "refused", n, "why", why.Error(), "log_every", refuseLogEvery)
}
