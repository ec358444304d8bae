package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/internal/testcerts"
	"github.com/distkv/distkv/node"
)

// tlsFiles writes a CA and a server certificate it signed into a temporary directory.
func tlsFiles(t *testing.T) (ca *testcerts.CA, dir, cert, key string) {
	t.Helper()
	dir = t.TempDir()
	ca = testcerts.NewCA(t, "test CA")
	cert, key = ca.Files(t, dir, "server", "server", true)
	return ca, dir, cert, key
}

func tlsDial(t *testing.T, addr string, tc *tls.Config) (*client.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	var opts []client.Option
	if tc != nil {
		opts = append(opts, client.WithTLS(tc))
	}
	c, err := client.Dial(ctx, addr, opts...)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// roundTrip writes and reads back a value, failing the test on any error.
func roundTrip(t *testing.T, c *client.Client, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	p := node.StringPath("tls", key)
	if _, err := c.SetValue(ctx, p, key); err != nil {
		t.Fatalf("set %s: %v", key, err)
	}
	v, err := c.Get(ctx, p)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if x, _ := v.Any(); x != key {
		t.Fatalf("get %s: %v", key, x)
	}
}

func clientCert(t *testing.T, ca *testcerts.CA, cn string) tls.Certificate {
	t.Helper()
	c, k := ca.Issue(t, cn, false)
	cert, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestClientTLS(t *testing.T) {
	ca, _, cert, key := tlsFiles(t)
	s := ptStart(t, Config{TLSCert: cert, TLSKey: key, HandshakeTimeout: 500 * time.Millisecond})

	good := &tls.Config{RootCAs: ca.Pool()}
	c, err := tlsDial(t, s.Addr, good)
	if err != nil {
		t.Fatalf("TLS client: %v", err)
	}
	roundTrip(t, c, "a")

	// TLS 1.1 is refused.
	if _, err := tlsDial(t, s.Addr, &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("a TLS 1.1 client connected")
	}
	// A server certificate from an unknown CA is refused by the client.
	if _, err := tlsDial(t, s.Addr, &tls.Config{RootCAs: testcerts.NewCA(t, "other").Pool()}); err == nil {
		t.Error("the client accepted a certificate from a CA it does not trust")
	}
	// A plaintext client waiting for the greeting gets none and is closed after the handshake
	// timeout; one that sends a request first is closed at once.
	if _, err := tlsDial(t, s.Addr, nil); !errors.Is(err, clientproto.ErrClosed) {
		t.Errorf("plaintext client: %v, want a closed connection", err)
	}
	raw := s.dialNoGreeting(t)
	raw.send(ptM{"action": "get_value", "path": ptA("tls", "a")})
	if got := raw.expectClosed(); len(got) != 0 {
		t.Errorf("plaintext client got %v", got)
	}
	// Everyone else is still served.
	roundTrip(t, c, "b")
	c2, err := tlsDial(t, s.Addr, good)
	if err != nil {
		t.Fatalf("TLS client after the refusals: %v", err)
	}
	roundTrip(t, c2, "c")
}

func TestClientMTLS(t *testing.T) {
	ca, dir, cert, key := tlsFiles(t)
	s := ptStart(t, Config{TLSCert: cert, TLSKey: key, TLSClientCA: ca.CAFile(t, dir, "ca")})

	if _, err := tlsDial(t, s.Addr, &tls.Config{RootCAs: ca.Pool()}); err == nil {
		t.Error("a client without a certificate connected")
	}
	other := testcerts.NewCA(t, "other")
	wrong := &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{clientCert(t, other, "mallory")}}
	if _, err := tlsDial(t, s.Addr, wrong); err == nil {
		t.Error("a client with a certificate from another CA connected")
	}
	// A server certificate is not a client certificate (extended key usage).
	sc, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tlsDial(t, s.Addr, &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{sc}}); err == nil {
		t.Error("a client with a server-only certificate connected")
	}
	ok := &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{clientCert(t, ca, "alice")}}
	c, err := tlsDial(t, s.Addr, ok)
	if err != nil {
		t.Fatalf("client with a good certificate: %v", err)
	}
	roundTrip(t, c, "m")
}

// peerCert returns the leaf certificate the server presents to a new connection.
func peerCert(t *testing.T, addr string) *x509.Certificate {
	t.Helper()
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: ptTimeout}, Config: &tls.Config{InsecureSkipVerify: true}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	defer nc.Close()
	return nc.(*tls.Conn).ConnectionState().PeerCertificates[0]
}

func TestClientTLSReload(t *testing.T) {
	ca, dir, cert, key := tlsFiles(t)
	s := ptStart(t, Config{TLSCert: cert, TLSKey: key})
	old, err := tlsDial(t, s.Addr, &tls.Config{RootCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	first := peerCert(t, s.Addr)

	// A new certificate from a new CA, written over the old files, as a renewal would.
	ca2 := testcerts.NewCA(t, "test CA 2")
	ca2.Files(t, dir, "server", "server", true)
	if err := s.S.ReloadTLS(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	second := peerCert(t, s.Addr)
	if second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("new connections still get the old certificate after the reload")
	}
	if _, err := tlsDial(t, s.Addr, &tls.Config{RootCAs: ca.Pool()}); err == nil {
		t.Error("a client trusting only the old CA connected after the reload")
	}
	c2, err := tlsDial(t, s.Addr, &tls.Config{RootCAs: ca2.Pool()})
	if err != nil {
		t.Fatalf("client trusting the new CA: %v", err)
	}
	roundTrip(t, c2, "new")
	roundTrip(t, old, "old") // open connections keep going

	// A broken file: the reload fails and the last good certificate stays.
	if err := os.WriteFile(filepath.Join(dir, "server.crt"), []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.S.ReloadTLS(); err == nil {
		t.Fatal("reload of a broken certificate succeeded")
	}
	if got := peerCert(t, s.Addr); got.SerialNumber.Cmp(second.SerialNumber) != 0 {
		t.Error("a failed reload changed the certificate")
	}
}

func TestClientTLSConfigErrors(t *testing.T) {
	_, dir, cert, key := tlsFiles(t)
	for name, cfg := range map[string]Config{
		"cert without key": {TLSCert: cert},
		"CA without cert":  {TLSClientCA: cert},
		"missing file":     {TLSCert: filepath.Join(dir, "nope.crt"), TLSKey: key},
		"key for another":  {TLSCert: cert, TLSKey: writeOtherKey(t, dir)},
		"CA not PEM":       {TLSCert: cert, TLSKey: key, TLSClientCA: key + ".none"},
	} {
		cfg.Name = "t"
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := New(Config{Name: "t"}); err != nil {
		t.Fatal(err)
	} else if s, _ := New(Config{Name: "t"}); !errors.Is(s.ReloadTLS(), ErrNoTLS) {
		t.Error("ReloadTLS without TLS: want ErrNoTLS")
	}
}

func writeOtherKey(t *testing.T, dir string) string {
	t.Helper()
	_, k := testcerts.NewCA(t, "x").Issue(t, "x", true)
	f := filepath.Join(dir, "other.key")
	testcerts.Write(t, f, k)
	return f
}
