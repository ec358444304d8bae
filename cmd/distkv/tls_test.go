package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/internal/testcerts"
	"github.com/distkv/distkv/node"
)

// TestClientTLSFlags runs a TLS server that requires client certificates and talks to it with
// the client, bench and snapshot commands; then renews its certificate with SIGHUP.
func TestClientTLSFlags(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "cli CA")
	caFile := ca.CAFile(t, dir, "ca")
	srvCert, srvKey := ca.Files(t, dir, "server", "server", true)
	cliCert, cliKey := ca.Files(t, dir, "client", "alice", false)

	addr := freePort(t)
	p := startProc(t, dir, testEnv(), io.Discard, "server", "--client-addr", addr, "--name", "t1",
		"--tls-cert", srvCert, "--tls-key", srvKey, "--tls-client-ca", caFile)
	waitListening(t, p, addr)
	t.Cleanup(func() {
		if code := p.stop(t, syscall.SIGTERM); code != 0 {
			t.Errorf("server exit code %d after SIGTERM; stderr:\n%s", code, p.stderr)
		}
	})

	// A plaintext client gets no greeting: it fails once the server's handshake timeout or
	// its own greeting timeout passes. Run it beside the rest.
	plain := make(chan result, 1)
	go func() { plain <- runCLI(t, "", "client", "--addr", addr, "get", "x") }()

	tlsArgs := func(caf string, extra ...string) []string {
		return append([]string{"--tls-ca", caf, "--tls-cert", cliCert, "--tls-key", cliKey}, extra...)
	}
	cl := func(args ...string) result {
		return runCLI(t, "", append([]string{"client", "--addr", addr}, args...)...)
	}
	mustOK := func(r result) string {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("%s; server stderr:\n%s", r, p.stderr)
		}
		return r.stdout
	}
	mustOK(cl(tlsArgs(caFile, "set", "x", "42")...))
	if got := mustOK(cl(tlsArgs(caFile, "get", "x")...)); got != "42\n" {
		t.Errorf("get over TLS: %q", got)
	}
	// The certificate names the server "server" and 127.0.0.1, not "other".
	mustOK(cl(tlsArgs(caFile, "--tls-server-name", "server", "get", "x")...))
	if r := cl(tlsArgs(caFile, "--tls-server-name", "other", "get", "x")...); r.code != exitConn {
		t.Errorf("wrong server name: %s", r)
	}
	// No client certificate, or the flags half given.
	if r := cl("--tls-ca", caFile, "get", "x"); r.code != exitConn {
		t.Errorf("without a client certificate: %s", r)
	}
	if r := cl("--tls-ca", caFile, "--tls-cert", cliCert, "get", "x"); r.code != exitUsage {
		t.Errorf("--tls-cert without --tls-key: %s", r)
	}
	// The Go client, with the files the flags name.
	tc, err := client.TLSFiles(caFile, cliCert, cliKey, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdDeadline)
	defer cancel()
	gc, err := client.Dial(ctx, addr, client.WithTLS(tc))
	if err != nil {
		t.Fatalf("Go client over TLS: %v", err)
	}
	if v, err := gc.Get(ctx, node.StringPath("x")); err != nil {
		t.Fatalf("Go client get: %v", err)
	} else if x, _ := v.Any(); fmt.Sprint(x) != "42" {
		t.Errorf("Go client get: %#v", x)
	}
	gc.Close()
	// bench and snapshot save take the same flags.
	mustOK(runCLI(t, "", append([]string{"bench", "--addr", addr, "--clients", "2", "--count", "20"}, tlsArgs(caFile)...)...))
	snap := filepath.Join(dir, "snap")
	mustOK(runCLI(t, "", append([]string{"snapshot", "save", "--addr", addr}, tlsArgs(caFile, snap)...)...))

	// Renewal: a certificate from another CA over the same files, then SIGHUP.
	ca2 := testcerts.NewCA(t, "cli CA 2")
	ca2File := ca2.CAFile(t, dir, "ca2")
	ca2.Files(t, dir, "server", "server", true)
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(cmdDeadline)
	for cl(tlsArgs(ca2File, "get", "x")...).code != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the new certificate is not served after SIGHUP; stderr:\n%s", p.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := cl(tlsArgs(caFile, "get", "x")...); r.code != exitConn {
		t.Errorf("the old certificate is still served: %s", r)
	}
	// A broken renewal: logged, the last good certificate stays.
	if err := os.WriteFile(srvKey, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	for !strings.Contains(p.stderr.String(), "TLS reload failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no error logged for a broken certificate; stderr:\n%s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mustOK(cl(tlsArgs(ca2File, "get", "x")...))

	if r := <-plain; r.code != exitConn {
		t.Errorf("plaintext client: %s", r)
	}
}
