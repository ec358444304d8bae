package client

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// Option configures Dial.
type Option func(*options)

type options struct {
	tls                   *tls.Config
	user, password, token string // auth.go
	noFlow                bool
}

// WithoutFlowControl leaves the server's flow-control window unanswered, so that the
// connection's streams are not windowed: the server sends a watch's events as fast as the
// connection takes them, without waiting for acks, and still ends a watch whose client falls
// too far behind (ErrWatchOverflow). For a reader that keeps up and must not wait a round
// trip per window, such as a benchmark's watches.
func WithoutFlowControl() Option { return func(o *options) { o.noFlow = true } }

// WithTLS speaks TLS to the server with cfg. An empty ServerName is taken from the address
// Dial gets, as crypto/tls does.
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// TLSFiles builds a client TLS configuration from PEM files, as the CLI's --tls-* flags do:
// caFile verifies the server (empty: the system's roots), certFile and keyFile are the client's
// certificate for a server that asks for one (both or neither), serverName overrides the name
// checked against the server's certificate (empty: the host of the address dialed).
func TLSFiles(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS CA %s: no PEM certificate in it", caFile)
		}
		tc.RootCAs = pool
	}
	switch {
	case certFile != "" && keyFile != "":
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("TLS client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	case certFile != "" || keyFile != "":
		return nil, fmt.Errorf("a TLS client certificate needs its key and a key its certificate")
	}
	return tc, nil
}
