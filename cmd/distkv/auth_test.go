package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuthCLI: users, an ACL and logins from the real binary: add users with the password on
// stdin, turn logins on, log in with --password-file, a prompt (stdin) and a token; a wrong
// password and no login fail with exit 3, an ACL refusal with exit 1.
func TestAuthCLI(t *testing.T) {
	s := startServer(t)
	in := func(stdin string, args ...string) result {
		t.Helper()
		return runCLI(t, stdin, append([]string{"client", "--addr", s.addr}, args...)...)
	}
	mustOK := func(r result) string {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("%s", r)
		}
		return r.stdout
	}
	mustOK(in("admin-pw\n", "auth", "user", "add", "--admin", "admin"))
	mustOK(in("alice-pw\n", "auth", "user", "add", "--acl", "al", "alice"))
	mustOK(in("", "acl", "set", "al", "pub", "rxn"))
	mustOK(in("", "acl", "set", "al", "pub.#", "rwcx"))
	if got := mustOK(in("", "acl", "get", "al")); got != "pub: rxn\npub.#: rwcx\n" {
		t.Fatalf("acl get al: %q", got)
	}
	// --json prints objects, not Go's rendering of a map.
	if got := mustOK(in("", "acl", "get", "--json", "al")); got != `{"pub":"rxn","pub.#":"rwcx"}`+"\n" {
		t.Fatalf("acl get --json al: %q", got)
	}
	if got, want := mustOK(in("", "auth", "user", "show", "--json", "alice")),
		`{"acl":"al","admin":false,"name":"alice","password":true,"tokens":[]}`+"\n"; got != want {
		t.Fatalf("user show --json alice: %q, want %q", got, want)
	}
	mustOK(in("", "internal", "set", "config.x", "7"))
	if got := mustOK(in("", "internal", "get", "config.x")); strings.TrimSpace(got) != "7" {
		t.Fatalf("internal get: %q", got)
	}
	if got := mustOK(in("", "internal", "list", ":")); got != "acl\nauth\nconfig\n" {
		t.Fatalf("internal list: %q", got)
	}
	if got := mustOK(in("", "internal", "list", "--json", ":")); got != `["acl","auth","config"]`+"\n" {
		t.Fatalf("internal list --json: %q", got)
	}
	if got := mustOK(in("", "acl", "list")); got != "al\n" {
		t.Fatalf("acl list: %q", got)
	}
	if got := mustOK(in("", "tree", ":")); got != "" {
		t.Fatalf("the meta area shows in tree: %q", got)
	}
	mustOK(in("", "auth", "method", "password"))

	if r := in("", "get", "pub.a"); r.code != exitConn || !strings.Contains(r.stderr, "login") {
		t.Fatalf("no login: %s", r)
	}
	pwf := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwf, []byte("alice-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustOK(in("", "--user", "alice", "--password-file", pwf, "set", "pub.a", "5"))
	if got := mustOK(in("alice-pw\n", "--user", "alice", "get", "pub.a")); strings.TrimSpace(got) != "5" {
		t.Fatalf("get pub.a: %q", got)
	}
	if r := in("wrong-pw\n", "--user", "alice", "get", "pub.a"); r.code != exitConn || !strings.Contains(r.stderr, "AuthFailedError") {
		t.Fatalf("wrong password: %s", r)
	}
	if r := in("alice-pw\n", "--user", "alice", "set", "priv", "1"); r.code != exitFailed || !strings.Contains(r.stderr, "not permitted") {
		t.Fatalf("ACL refusal: %s", r)
	}
	if r := in("alice-pw\n", "--user", "alice", "auth", "user", "list"); r.code != exitFailed {
		t.Fatalf("alice lists users: %s", r)
	}
	if got := mustOK(in("admin-pw\n", "--user", "admin", "auth", "user", "list")); got != "admin\nalice\n" {
		t.Fatalf("user list: %q", got)
	}
	if got := mustOK(in("admin-pw\n", "--user", "admin", "auth", "user", "list", "--json")); got != `["admin","alice"]`+"\n" {
		t.Fatalf("user list --json: %q", got)
	}
	tok := strings.TrimSpace(mustOK(in("admin-pw\n", "--user", "admin", "auth", "token", "add", "alice")))
	mustOK(in("", "--user", "alice", "--token", tok, "get", "pub.a"))
	if got := mustOK(in("", "--user", "alice", "--token", tok, "acl", "test", "--mode", "w", "pub.a")); got != "true\n" {
		t.Fatalf("acl test: %q", got)
	}
	mustOK(in("admin-pw\nnew-alice-pw\n", "--user", "admin", "auth", "user", "passwd", "alice"))
	if r := in("alice-pw\n", "--user", "alice", "get", "pub.a"); r.code != exitConn {
		t.Fatalf("old password after passwd: %s", r)
	}
	mustOK(in("new-alice-pw\n", "--user", "alice", "get", "pub.a"))
	// snapshot save logs in too; alice's ACL does not let her walk the root, an admin's
	// snapshot holds the meta area (users, ACLs) as well.
	snap := filepath.Join(t.TempDir(), "s.dks")
	if r := runCLI(t, "new-alice-pw\n", "snapshot", "save", "--addr", s.addr, "--user", "alice", snap); r.code != exitFailed {
		t.Fatalf("alice snapshot save: %s", r)
	}
	if r := runCLI(t, "admin-pw\n", "snapshot", "save", "--addr", s.addr, "--user", "admin", snap); r.code != 0 {
		t.Fatalf("admin snapshot save: %s", r)
	}
	mustOK(in("admin-pw\n", "--user", "admin", "auth", "user", "delete", "alice"))
	if r := in("new-alice-pw\n", "--user", "alice", "get", "pub.a"); r.code != exitConn {
		t.Fatalf("deleted user: %s", r)
	}
}
