package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultAdminAddr is the admin HTTP port: the client port plus one, on loopback.
const DefaultAdminAddr = "127.0.0.1:27587"

// Ready reports what /readyz answers: the node is caught up (its start, join and catch-up are
// over, no resync is under way) and serves clients.
func (s *Server) Ready() bool { return s.notReady() == "" }

// notReady says why the node is not ready, "" when it is.
func (s *Server) notReady() string {
	switch {
	case s.isClosing():
		return "stopping"
	case !s.ready.Load():
		return "starting: joining and catching up"
	}
	if c := s.clusterNow(); c != nil && c.resyncing.Load() {
		return "resyncing from a peer"
	}
	return ""
}

// clusterNow returns s.cluster for the admin port, which serves while the start sets it.
func (s *Server) clusterNow() *cluster {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cluster
}

// AdminAddr returns the admin listener's address, nil when it is off or not open yet.
func (s *Server) AdminAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admin == nil {
		return nil
	}
	return s.admin.ln.Addr()
}

// Metrics returns the handler of /metrics, for tests and embedding.
func (s *Server) Metrics() http.Handler {
	return promhttp.HandlerFor(s.met.reg, promhttp.HandlerOpts{Registry: s.met.reg})
}

type adminServer struct {
	ln  net.Listener
	srv *http.Server
}

// startAdmin opens the admin port (Config.AdminAddr) before the start, so that /healthz and
// /readyz answer during a catch-up.
func (s *Server) startAdmin() error {
	if s.cfg.AdminAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.AdminAddr)
	if err != nil {
		if s.cfg.AdminBestEffort {
			s.log.Warn("admin port not opened; serving without it", "addr", s.cfg.AdminAddr, "err", err)
			return nil
		}
		return fmt.Errorf("server: admin port: %w", err)
	}
	if s.cfg.AdminTLS {
		ln = tls.NewListener(ln, s.tlsBase)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.Metrics())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		plain(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if why := s.notReady(); why != "" {
			plain(w, http.StatusServiceUnavailable, "not ready: "+why)
			return
		}
		plain(w, http.StatusOK, "ready")
	})
	if s.cfg.AdminPprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("GET /{$}", s.statusPage)
	a := &adminServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: nil}}
	s.mu.Lock()
	s.admin = a
	s.mu.Unlock()
	go func() {
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin port stopped", "err", err)
		}
	}()
	s.log.Info("admin port open", "addr", ln.Addr().String(), "pprof", s.cfg.AdminPprof, "tls", s.cfg.AdminTLS)
	return nil
}

// stopAdmin closes the admin port; the last thing Shutdown does, so that /readyz says "not
// ready" while the node stops.
func (s *Server) stopAdmin() {
	s.mu.Lock()
	a := s.admin
	s.mu.Unlock()
	if a == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		a.srv.Close()
	}
}

func plain(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}
