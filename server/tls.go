package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
)

// loadTLS reads the client port's certificate, key and client CA into a TLS configuration.
func loadTLS(cfg Config) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("server: TLS certificate: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if cfg.TLSClientCA != "" {
		pem, err := os.ReadFile(cfg.TLSClientCA)
		if err != nil {
			return nil, fmt.Errorf("server: TLS client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("server: TLS client CA %s: no PEM certificate in it", cfg.TLSClientCA)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// initTLS loads the certificate once and builds the listener's configuration, which hands
// every handshake the configuration loaded last, so that ReloadTLS affects new connections
// only. Without TLSCert it does nothing.
func (s *Server) initTLS() error {
	if s.cfg.TLSCert == "" {
		return nil
	}
	tc, err := loadTLS(s.cfg)
	if err != nil {
		return err
	}
	s.tlsCur.Store(tc)
	s.tlsBase = &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.tlsCur.Load(), nil
		},
	}
	return nil
}

// ErrNoTLS is returned by ReloadTLS on a server without TLS.
var ErrNoTLS = errors.New("server: no TLS certificate configured")

// ReloadTLS reads the certificate, key and client CA files again (cmd/distkv calls it on
// SIGHUP). New connections get the new ones, open ones keep theirs. On failure the old ones
// stay in use and the error is logged and returned.
func (s *Server) ReloadTLS() error {
	if s.tlsBase == nil {
		return ErrNoTLS
	}
	tc, err := loadTLS(s.cfg)
	if err != nil {
		s.log.Error("TLS reload failed, keeping the old certificate", "err", err)
		return err
	}
	s.tlsCur.Store(tc)
	attrs := []any{"cert", s.cfg.TLSCert}
	if leaf := tc.Certificates[0].Leaf; leaf != nil {
		attrs = append(attrs, "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
	}
	s.log.Info("TLS certificate reloaded", attrs...)
	return nil
}

// handshake runs the TLS handshake of a new client connection, bounded by HandshakeTimeout.
// A failure (a plaintext client, a missing or unknown client certificate) is logged at debug
// level only: anyone can cause it.
func (s *Server) handshake(nc net.Conn) (net.Conn, bool) {
	if s.tlsBase == nil {
		return nc, true
	}
	tc := tls.Server(nc, s.tlsBase)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		s.log.Debug("client TLS handshake failed", "client", nc.RemoteAddr().String(), "err", err)
		nc.Close()
		return nil, false
	}
	return tc, true
}
